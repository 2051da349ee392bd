"""The closed-loop evaluation (evaluation/): honest carry-forward, metrics, bootstrap, outputs.

Tiny cohorts (tens of patients, a few weeks) and the fake models of tests/fakes.py.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaluation.arms as arms_mod
from evaluation.arms import (
    ARM_FACTORIES,
    FIXED_RX,
    OPTIONAL_ARMS,
    ArmEnv,
    DosewiseArm,
    FixedArm,
    delivered_plan,
)
from evaluation.loop import run_arm, run_evaluation
from evaluation.metrics import (
    METRICS,
    SUBGROUPS,
    arm_metrics,
    bootstrap_counts,
    met_of,
    paired_difference,
    patient_frame,
)
from evaluation.report import write_report
from evaluation.retrain import temporary_settings
from evaluation.tracking import EXPERIMENT, flatten_metrics, log_evaluation
from features.contract.convert import prescription_to_row
from features.contract.rest import Prescription
from features.contract.tables import RX_COLUMNS
from features.settings import Settings
from tests.fakes import fake_models

REQUIRED = (
    "vo2peak_change",
    "strength_change_pct",
    "at_target",
    "ae_moderate_or_serious_per_1000",
    "ae_moderate_or_serious_per_100_patients",
    "dropout",
    "attendance",
    "aerobic_met_min_per_week",
    "resistance_volume_load_per_week",
    "guideline_violations",
)


def env() -> ArmEnv:
    models = fake_models()
    return ArmEnv(models_loader=lambda: models)


@pytest.fixture(scope="module")
def small_result() -> dict:
    return run_evaluation(env(), 40, 3, seed=2, replicates=50)


# ---- the loop carries the prescription exactly ------------------------------------------------
def _recorded_weeks(monkeypatch, patients: int, seed: int) -> list[tuple[pd.DataFrame, list]]:
    """The Dosewise arm's weeks as (the snapshot it was given, the responses it got), 4 weeks."""
    calls: list[tuple[pd.DataFrame, list]] = []
    real = arms_mod.recommend

    def spy(snapshot, history, week, models, cfg):
        responses = real(snapshot, history, week, models, cfg)
        calls.append((snapshot.copy(), responses))
        return responses

    monkeypatch.setattr(arms_mod, "recommend", spy)
    run_arm("dosewise", DosewiseArm, env(), patients, 4, seed=seed)
    assert len(calls) == 4
    return calls


def test_dosewise_arm_carries_forward_exactly_what_was_prescribed(monkeypatch) -> None:
    """Next week's rx_* columns are the previous prescription, bands included: with the old
    band-midpoint carry-forward, rx_aerobic_pct_hrmax_high fell by half a band each week."""
    calls = _recorded_weeks(monkeypatch, 30, seed=3)
    checked = 0
    for (_, before), (after, _) in itertools.pairwise(calls):
        rx_next = after.set_index(after["patient_id"].astype(str))
        for resp in before:
            rx = resp.prescription
            if rx is None or (rx.aerobic is None and rx.resistance is None):
                continue
            want = prescription_to_row(rx)
            got = rx_next.loc[resp.patient_id]
            for col in RX_COLUMNS:
                if col == "rx_restrictions":
                    assert got[col] == want[col]
                elif want[col] is not None:
                    assert float(got[col]) == float(want[col]), col
            checked += 1
    assert checked > 30


def test_dosewise_arm_hands_back_every_kept_reference(monkeypatch) -> None:
    """A deload or a week the envelope held below the reference (kernel 2026.12.3) returns a
    reference unlike the plan; next week's snapshot carries it as ref_* (as a REST client that
    hands `progression_reference` back), and otherwise no ref_* is sent."""
    calls = _recorded_weeks(monkeypatch, 40, seed=4)
    kept = plain = 0
    for (_, before), (after, _) in itertools.pairwise(calls):
        nxt = after.set_index(after["patient_id"].astype(str))
        for resp in before:
            if resp.prescription is None or resp.reference_plan is None:
                continue
            ref = resp.reference_plan.as_dict()
            differs = resp.decision == "regress" or resp.scored.plan != resp.reference_plan
            row = nxt.loc[resp.patient_id]
            if differs:
                assert float(row["ref_aerobic_minutes"]) == ref["aerobic_minutes"]
                assert float(row["ref_resistance_pct_1rm"]) == ref["resistance_pct_1rm"]
                kept += 1
            else:
                assert "ref_aerobic_minutes" not in nxt or pd.isna(row["ref_aerobic_minutes"])
                plain += 1
    assert kept > 0 and plain > 0


def test_the_stateless_arm_states_nothing(monkeypatch) -> None:
    """`--extra-arm stateless`: the policy is never told the current prescription nor handed a
    reference (every rx_* and ref_* blank), whatever the arm prescribed the week before."""
    seen: list[pd.DataFrame] = []
    real = arms_mod.recommend

    def spy(snapshot, history, week, models, cfg):
        seen.append(snapshot.copy())
        return real(snapshot, history, week, models, cfg)

    monkeypatch.setattr(arms_mod, "recommend", spy)
    run = run_arm("stateless", OPTIONAL_ARMS["stateless"], env(), 30, 3, seed=3)
    assert len(seen) == 3
    for snap in seen:
        for col in [*RX_COLUMNS, *(c for c in snap.columns if c.startswith("ref_"))]:
            assert snap[col].isna().all(), col
    assert (run.log["aerobic_sessions"] > 0).sum() > 30  # it prescribes, week after week


def test_cli_runs_an_extra_arm_only_when_asked(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from dosewise_cli import app

    monkeypatch.setenv("DOSEWISE_ROOT", str(tmp_path))
    out = CliRunner().invoke(app, ["evaluate-policy", "--extra-arm", "nope", "--no-mlflow"])
    assert out.exit_code == 2
    assert "unknown --extra-arm 'nope'" in out.output and "stateless" in out.output
    assert "stateless" not in ARM_FACTORIES  # the standard arms stay four


def test_the_patient_does_the_middle_of_each_band() -> None:
    plan = delivered_plan(FIXED_RX)
    assert plan["aerobic_pct_hrmax"] == 70.0  # middle of 64-76% HRmax
    assert plan["aerobic_sessions"] == 3 and plan["aerobic_minutes"] == 30
    assert plan["resistance_sessions"] == 2 and plan["resistance_pct_1rm"] == 60.0
    assert set(delivered_plan(None).values()) == {0.0}


def test_fixed_arm_never_drifts_and_is_checked_every_week(monkeypatch) -> None:
    """Every week the fixed dose itself is clamped into that week's envelope: never last week's
    (clamped) dose, so it cannot drift; where the envelope allows 3 x 30 minutes, 30 it is."""
    asked: list[Prescription | None] = []
    real = arms_mod.clamp

    def spy(rx, res):
        out = real(rx, res)
        asked.append(rx)
        env = res.envelope
        room = env.aerobic_minutes_max >= 30 and env.aerobic_weekly_volume_max >= 90
        if out is not None and out.aerobic is not None and room:
            assert out.aerobic.minutes_per_session == 30
        return out

    monkeypatch.setattr(arms_mod, "clamp", spy)
    run = run_arm("fixed", FixedArm, env(), 30, 4, seed=3)
    assert len(asked) == 30 * 4 and all(rx is FIXED_RX for rx in asked)
    allowed = run.log[run.log["decision"] == "allowed"]
    assert (allowed["aerobic_minutes"] <= 30).all() and (allowed["aerobic_minutes"] == 30).any()
    assert len(run.log) == 30 * 4
    assert run.log["violation"].sum() == 0


# ---- metrics on a hand-made arm output ---------------------------------------------------------
def hand_made() -> pd.DataFrame:
    """Two patients, one week. p1: two aerobic sessions (30 min at 70%, 20 min at 60%), one
    resistance session (2 sets x 10 at 50%), one moderate AE; p2: one missed session, on hold."""
    week = pd.Timestamp("2026-01-05")
    sessions = pd.DataFrame(
        {
            "patient_id": ["p1", "p1", "p1", "p2"],
            "date": [week, week + pd.Timedelta(days=2), week + pd.Timedelta(days=4), week],
            "modality": ["aerobic", "aerobic", "resistance", "aerobic"],
            "attended": [True, True, True, False],
            "completed_minutes": [30.0, 20.0, 26.0, np.nan],
            "completed_sets": [np.nan, np.nan, 2.0, np.nan],
            "planned_pct_hrmax": [70.0, 60.0, np.nan, 70.0],
            "planned_pct_1rm": [np.nan, np.nan, 50.0, np.nan],
            "planned_reps": [np.nan, np.nan, 10.0, np.nan],
            "adverse_event": ["none", "moderate", "none", "none"],
        }
    )
    plan = {
        "aerobic_sessions": 5.0,
        "aerobic_minutes": 30.0,
        "aerobic_pct_hrmax": 70.0,
        "resistance_sessions": 2.0,
        "resistance_sets": 2.0,
        "resistance_reps": 10.0,
        "resistance_pct_1rm": 50.0,
    }
    log = pd.DataFrame(
        [
            {"patient_id": "p1", "decision": "allowed", "violation": False, "week": week} | plan,
            {"patient_id": "p2", "decision": "hold", "violation": False, "week": week}
            | dict.fromkeys(plan, 0.0),
        ]
    )
    baseline = pd.DataFrame(
        {"patient_id": ["p1", "p2"], "vo2": [20.0, 15.0], "strength": [30.0, 20.0]}
        | {g: [True, False] for g in SUBGROUPS}
    )
    final = pd.DataFrame(
        {
            "patient_id": ["p1", "p2"],
            "vo2": [21.0, 14.5],
            "strength": [33.0, 20.0],
            "dropped": [False, True],
        }
    )
    tol = np.array([1.0, 0.0, 1.0, np.nan])
    return patient_frame(baseline, final, log, sessions, tol)


def test_metrics_of_a_hand_made_arm() -> None:
    frame = hand_made()
    p1 = frame.loc["p1"]
    assert p1["met_min"] == pytest.approx(30 * 4.5 + 20 * 2.5)  # 60% HRmax is light: 2.5 MET
    assert p1["moderate_min"] == 30.0
    assert p1["volume_load"] == pytest.approx(2 * 10 * 0.5)
    m = arm_metrics(frame, weeks=1)
    assert m["vo2peak_change"] == pytest.approx((1.0 - 0.5) / 2)
    assert m["strength_change_pct"] == pytest.approx((10.0 + 0.0) / 2)
    assert m["ae_moderate_or_serious_per_1000"] == pytest.approx(1000 / 3)
    assert m["ae_moderate_or_serious_per_100_patients"] == pytest.approx(50.0)
    assert m["dropout"] == 0.5
    assert m["attendance"] == pytest.approx(3 / 4)
    assert m["aerobic_met_min_per_week"] == pytest.approx((135 + 50) / 2)
    # p2 is on hold (not eligible); p1's plan is 5 x 30 = 150 min at 70% + 2 resistance: at target
    assert m["at_target"] == 1.0
    assert m["at_target_delivered"] == 0.0  # p1 did 30 min at >= 64% HRmax and 1 resistance
    assert m["guideline_violations"] == 0
    assert m["patients"] == 2
    assert set(METRICS) == set(m)


def test_met_per_band_follows_the_acsm_table() -> None:
    np.testing.assert_array_equal(
        met_of([40, 57, 63.9, 64, 76.9, 77, 90]), [2, 2.5, 2.5, 4.5, 4.5, 6, 6]
    )
    assert np.isnan(met_of([np.nan])[0])


# ---- bootstrap ---------------------------------------------------------------------------------
def paired_frames(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"p{i}" for i in range(n)], name="patient_id")
    base = pd.DataFrame({c: 0.0 for c in {m.numerator for m in METRICS.values()}}, index=idx)
    for c in {m.denominator for m in METRICS.values() if m.denominator}:
        base[c] = 1.0
    ref = base.copy()
    arm = base.copy()
    ref["vo2_change"] = rng.normal(1.0, 1.0, n)
    arm["vo2_change"] = ref["vo2_change"] + rng.normal(0.5, 0.5, n)
    return arm, ref


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (50, 800):
        arm, ref = paired_frames(n, seed=1)
        d = paired_difference(arm, ref, 1, bootstrap_counts(n, 400, seed=7))["vo2peak_change"]
        assert d["low"] <= d["estimate"] <= d["high"]
        assert d["estimate"] == pytest.approx((arm["vo2_change"] - ref["vo2_change"]).mean())
        widths.append(d["high"] - d["low"])
    assert widths[1] < 0.5 * widths[0]


def test_paired_difference_needs_the_same_patients() -> None:
    arm, ref = paired_frames(10, seed=1)
    with pytest.raises(ValueError, match="same patients"):
        paired_difference(arm, ref.iloc[::-1], 1, bootstrap_counts(10, 5, seed=0))


# ---- the result ------------------------------------------------------------------------------
def test_result_has_every_key_the_issue_names(small_result: dict) -> None:
    for arm in ("fixed", "progression", "dosewise"):
        for metric in REQUIRED:
            assert metric in small_result["arms"][arm], (arm, metric)
        for g in SUBGROUPS:
            for metric in REQUIRED:
                assert metric in small_result["subgroups"][g][arm], (g, arm, metric)
    diff = small_result["differences"]["dosewise-fixed"]["vo2peak_change"]
    assert diff["low"] <= diff["high"]
    assert set(small_result["subgroup_differences"]["sarcopenic"]) == {
        "progression-fixed",
        "dosewise-fixed",
        "oracle-fixed",  # the oracle arm: the same search on the simulator's truth
    }
    assert len(small_result["trajectories"]["dosewise"]["met_min"]) == 3
    json.dumps(small_result, default=float)  # JSON-able
    assert small_result["arms"]["fixed"]["guideline_violations"] == 0


def test_a_registered_arm_runs_with_the_simulators_truth(monkeypatch) -> None:
    seen: list[pd.DataFrame] = []

    class TruthAwareFixed(FixedArm):
        def prescribe(self, snapshot, history, week, results):
            plans = pd.DataFrame(
                [{"patient_id": p} | delivered_plan(FIXED_RX) for p in snapshot["patient_id"]]
            )
            seen.append(self.env.truth(plans))
            return super().prescribe(snapshot, history, week, results)

    monkeypatch.setitem(ARM_FACTORIES, "oracle", TruthAwareFixed)
    result = run_evaluation(env(), 20, 2, seed=2, replicates=20)
    assert "oracle" in result["arms"] and "oracle-fixed" in result["differences"]
    assert len(seen) == 2 and seen[0]["p_tolerate_aerobic"].between(0, 1).all()
    # same dose, same patients, same coin flips: the oracle-shaped copy equals fixed exactly
    assert result["arms"]["oracle"] == result["arms"]["fixed"]


# ---- report and MLflow -----------------------------------------------------------------------
def test_report_is_self_contained_and_written_atomically(small_result, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    write_report(path, small_result)
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2  # forest plot + trajectories
    assert "<script src" not in text and "dosewise-fixed" in text

    def fail(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_report(path, small_result | {"scenario": "other"})
    assert path.read_text(encoding="utf-8") == text  # the old report is intact
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left


def test_mlflow_run_has_params_metrics_and_artifacts(small_result, tmp_path) -> None:
    from mlflow import MlflowClient

    from evaluation.arms import policy_config

    settings = temporary_settings(Settings(), tmp_path)
    report = tmp_path / "r.html"
    write_report(report, small_result)
    cfg = policy_config(settings)
    run_id = log_evaluation(settings, small_result, cfg, report)
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.params["scenario"] == "base" and run.data.params["seed"] == "2"
    assert run.data.params["policy.tolerance_threshold"] == str(cfg.tolerance_threshold)
    metrics = run.data.metrics
    assert metrics["arms.dosewise.vo2peak_change"] == pytest.approx(
        small_result["arms"]["dosewise"]["vo2peak_change"]
    )
    assert "subgroups.sarcopenic.fixed.strength_change_pct" in metrics
    assert "differences.dosewise-fixed.vo2peak_change.low" in metrics
    assert len(metrics) == len(flatten_metrics(small_result))
    names = {a.path for a in client.list_artifacts(run_id)}
    assert names == {"closed_loop.json", "r.html"}


def test_cli_names_an_unknown_scenario(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from dosewise_cli import app

    monkeypatch.setenv("DOSEWISE_ROOT", str(tmp_path))
    out = CliRunner().invoke(app, ["evaluate-policy", "--scenario", "nope", "--no-mlflow"])
    assert out.exit_code == 2
    assert "unknown --scenario 'nope'" in out.output and "long-sessions-harder" in out.output


def test_temporary_settings_move_every_path(tmp_path: Path) -> None:
    s = temporary_settings(Settings(), tmp_path)
    for value in (s.data_dir, s.mlruns_dir, s.mlflow_tracking_uri, s.audit_db_url):
        assert str(tmp_path.resolve()) in str(value)


def _imports(package: str) -> set[str]:
    """Top-level names of every module imported anywhere under `package` (static)."""
    import ast

    found: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_evaluation_is_the_only_place_where_simulator_and_policy_meet() -> None:
    assert {"training", "serving"} <= _imports("evaluation")
    assert not {"training", "evaluation"} & _imports("serving")
    assert not {"serving", "evaluation"} & _imports("training")


def test_a_named_scenario_runs_in_its_own_world_without_params() -> None:
    from training.simulator.scenarios import scenario_params

    named = run_evaluation(env(), 20, 2, seed=2, scenario="weak-dose-tolerance", replicates=10)
    explicit = run_evaluation(
        env(), 20, 2, seed=2, scenario="weak-dose-tolerance",
        params=scenario_params("weak-dose-tolerance"), replicates=10,
    )  # fmt: skip
    base = run_evaluation(env(), 20, 2, seed=2, replicates=10)
    assert named["arms"] == explicit["arms"]
    assert named["arms"]["fixed"]["tolerated_share"] != base["arms"]["fixed"]["tolerated_share"]

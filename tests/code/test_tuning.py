"""`dosewise tune-policy` (evaluation/tuning.py): the tuning protocol as a command.

Tiny cohorts and the fake models of tests/fakes.py; the numbers are the closed loop's, so these
tests check the protocol (seeds, arms, rule, parsing, MLflow), not a policy's quality.
"""

from __future__ import annotations

import math

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from evaluation.retrain import temporary_settings
from evaluation.tracking import TUNING_EXPERIMENT, log_tuning
from evaluation.tuning import (
    CANDIDATE,
    DEFAULTS,
    Rule,
    check_seeds,
    failures,
    parse_overrides,
    tune,
)
from features.settings import Settings
from serving.policy import PolicyConfig
from tests.fakes import fake_arm_env


def test_overrides_are_typed_and_a_bad_one_is_named() -> None:
    got = parse_overrides(
        ["aerobic_weight=3.5", "max_aerobic_sessions=5", "frequency_first=false",
         "aerobic_intensity_grid=-3,0"],
        PolicyConfig(),
    )  # fmt: skip
    assert got == {
        "aerobic_weight": 3.5,
        "max_aerobic_sessions": 5,
        "frequency_first": False,
        "aerobic_intensity_grid": (-3.0, 0.0),
    }
    with pytest.raises(ValueError, match=r"aerobic_wieght: not a PolicyConfig field.*aerobic_w"):
        parse_overrides(["aerobic_wieght=3"], PolicyConfig())
    with pytest.raises(ValueError, match="frequency_first=maybe: expected true or false"):
        parse_overrides(["frequency_first=maybe"], PolicyConfig())
    with pytest.raises(ValueError, match=r"max_aerobic_sessions=4\.5"):
        parse_overrides(["max_aerobic_sessions=4.5"], PolicyConfig())
    with pytest.raises(ValueError, match="start_aerobic=3,30: expected 3 comma-separated"):
        parse_overrides(["start_aerobic=3,30"], PolicyConfig())
    assert parse_overrides(["start_aerobic=3,30,70"], PolicyConfig()) == {
        "start_aerobic": (3.0, 30.0, 70.0)
    }
    with pytest.raises(ValueError, match="expected name=value"):
        parse_overrides(["aerobic_weight"], PolicyConfig())
    with pytest.raises(ValueError, match="NaN"):
        parse_overrides(["risk_price=nan"], PolicyConfig())


def test_the_evaluation_seeds_are_never_tuned_on(cli_root) -> None:
    check_seeds([101, 102])
    with pytest.raises(ValueError, match="--seeds 5, 6: evaluation seeds"):
        check_seeds([5, 101, 6])
    from dosewise_cli import app

    def run(*args: str) -> tuple[int, str]:
        out = CliRunner().invoke(app, ["tune-policy", *args, "--no-mlflow"])
        return out.exit_code, " ".join(out.output.split())  # words, not terminal line breaks

    code, text = run("--seeds", "101,6")
    assert code == 2 and "--seeds 6: evaluation seeds are never tuned on" in text
    code, text = run("--seeds", "101,x")
    assert code == 2 and "--seeds '101,x': expected comma-separated integers" in text
    code, text = run("--scenarios", "base,nope")
    assert code == 2 and "unknown scenario 'nope'" in text and "weak-dose-tolerance" in text
    code, text = run("--set", "risk_prise=1")
    assert code == 2 and "risk_prise: not a PolicyConfig field" in text and "risk_price" in text


def _row(**kw) -> dict:
    row = {
        "scenario": "base",
        "arm": CANDIDATE,
        "guideline_violations": 0,
        "ae_change": -0.05,
        "strength_gain": 0.1,
        "sarcopenic_strength_gain": 0.1,
        "worst_subgroup": "ecog_2",
        "worst_subgroup_vo2_gap": -0.05,
        "dropout_change": -0.01,
    }
    return row | kw


def test_the_rule_names_each_breach() -> None:
    assert failures(_row()) == []
    assert failures(_row(ae_change=0.01)) == ["AEs over fixed"]
    assert failures(_row(strength_gain=-0.01)) == ["strength under fixed"]
    assert failures(_row(sarcopenic_strength_gain=-0.01)) == ["sarcopenic strength under fixed"]
    assert failures(_row(worst_subgroup_vo2_gap=-0.11)) == ["ecog_2 VO2peak under fixed - 0.1"]
    assert failures(_row(dropout_change=0.001)) == ["dropout over fixed"]
    assert failures(_row(guideline_violations=1)) == ["guideline violations"]
    assert failures(_row(ae_change=math.nan)) == ["AEs over fixed"]  # unknown is not a pass
    # a stress scenario asks only for AEs with the margin, whatever else moved
    stress = _row(scenario="weak-dose-tolerance", strength_gain=-1.0)
    assert failures(stress | {"ae_change": -0.03}) == []
    assert failures(stress | {"ae_change": -0.02}) == ["AEs not 2.5% under fixed"]
    assert failures(stress | {"ae_change": -0.02}, Rule(stress_ae_margin=0.01)) == []


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Settings, dict]:
    settings = temporary_settings(Settings(), tmp_path_factory.mktemp("tune"))
    result = tune(
        settings,
        {"risk_price": 2.0},
        seeds=[101],
        scenarios=["base", "long-sessions-harder"],
        patients=30,
        weeks=3,
        env_factory=fake_arm_env,
    )
    return settings, result


def test_every_seed_and_scenario_runs_the_candidate_and_todays_defaults(tuned) -> None:
    _, result = tuned
    rows = result["rows"]
    assert [(r["seed"], r["scenario"], r["arm"]) for r in rows] == [
        (101, "base", CANDIDATE),
        (101, "base", DEFAULTS),
        (101, "long-sessions-harder", CANDIDATE),
        (101, "long-sessions-harder", DEFAULTS),
    ]
    assert result["policy"]["risk_price"] == 2.0 and result["overrides"] == {"risk_price": 2.0}
    for r in rows:
        assert r["failures"] == failures(r)
        assert r["fixed_ae_per_100"] >= 0 and math.isfinite(r["vo2peak_ratio"])
    assert set(result["passes"]) == {CANDIDATE, DEFAULTS}
    assert result["passes"][CANDIDATE] == all(not r["failures"] for r in rows[::2])
    assert set(result["means"][CANDIDATE]) == {"base", "long-sessions-harder"}


def test_a_candidate_equal_to_the_defaults_gives_the_same_rows(tuned) -> None:
    settings, first = tuned
    same = tune(
        settings, {}, seeds=[101], scenarios=["base"], patients=30, weeks=3,
        env_factory=fake_arm_env,
    )  # fmt: skip
    cand, dflt = same["rows"]
    assert {k: v for k, v in cand.items() if k != "arm"} == {
        k: v for k, v in dflt.items() if k != "arm"
    }
    assert dflt == first["rows"][1]  # today's defaults: the same numbers run after run


def test_worker_processes_give_the_serial_rows(tuned) -> None:
    settings, first = tuned
    parallel = tune(
        settings, {"risk_price": 2.0}, seeds=[101], scenarios=["base", "long-sessions-harder"],
        patients=30, weeks=3, jobs=2, env_factory=fake_arm_env,
    )  # fmt: skip
    assert parallel["rows"] == first["rows"]


def test_the_mlflow_run_holds_the_configuration_the_rows_and_the_verdict(tuned, tmp_path) -> None:
    from evaluation.tuning_report import write_tuning_report

    settings, result = tuned
    report = tmp_path / "tune.html"
    write_tuning_report(report, result)
    run_id = log_tuning(settings, result, report)
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == TUNING_EXPERIMENT
    assert run.data.params["policy.risk_price"] == "2.0"
    assert run.data.params["overrides"] == "risk_price=2.0" and run.data.params["seeds"] == "101"
    key = f"{CANDIDATE}.base.s101.vo2peak_ratio"
    assert run.data.metrics[key] == pytest.approx(result["rows"][0]["vo2peak_ratio"])
    expected = "pass" if result["passes"][CANDIDATE] else "fail"
    assert run.data.tags[f"rule.{CANDIDATE}"] == expected
    assert {a.path for a in client.list_artifacts(run_id)} == {"tuning.json", "tune.html"}


def test_the_report_is_one_self_contained_file_with_every_row(tuned, tmp_path) -> None:
    from evaluation.tuning_report import write_tuning_report

    _, result = tuned
    path = tmp_path / "tune.html"
    write_tuning_report(path, result)
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 1 and "<script src" not in text
    assert text.count("<td>long-sessions-harder</td>") == 2  # candidate and defaults
    assert "risk_price=2.0" in text
    verdict = "keeps the rule" if result["passes"][CANDIDATE] else "breaks the rule"
    assert f"<td>{CANDIDATE}</td><td>{verdict}</td>" in text
    assert [p.name for p in tmp_path.iterdir()] == ["tune.html"]  # no temporary left


def test_the_terminal_shows_every_row_and_the_mean_over_seeds(tuned) -> None:
    from rich.console import Console

    from evaluation.tables import print_tuning

    _, result = tuned
    two = result | {"seeds": [101, 102]}  # the means table appears with more than one seed
    console = Console(width=250, record=True)
    print_tuning(two, console)
    text = console.export_text()
    assert text.count("long-sessions-harder") == 4  # 2 rows + 2 means (candidate, defaults)
    mean = result["means"][CANDIDATE]["base"]["vo2peak_ratio"]
    assert "Mean over seeds 101, 102" in text and f"{mean:.3f}" in text
    verdict = "keeps" if result["passes"][CANDIDATE] else "breaks"
    assert f"{CANDIDATE}: {verdict} the tuning rule" in text

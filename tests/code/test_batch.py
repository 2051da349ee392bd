"""Batch scoring (pandas engine): rows, errors file, point in time, REST parity, atomicity, exits.

Uses the fake models of `tests/fakes.py` (no trained registry) and a small synthetic cohort made
here, so the tests do not depend on the simulator. Spark parity is in tests/integration.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contract.convert import requests_to_columns
from features.contract.rest import RecommendRequest
from features.contract.tables import PATIENT_LIST_FIELDS, PATIENT_NESTED, RX_COLUMNS
from features.contract.vocab import CANCER_TYPES, LIST_SEPARATOR
from features.settings import Settings
from serving import batch
from serving.batch import (
    OUTPUT_COLUMNS,
    errors_path,
    flatten_response,
    parse_as_of,
    run_score,
    select_snapshots,
)
from tests.fakes import fake_models

REF_DAY = pd.Timestamp("2026-03-02")  # sessions end before this day; default as_of = REF_DAY
ROOT = Path(__file__).resolve().parents[2]


# --- a synthetic cohort -------------------------------------------------------------------------
def make_cohort(
    n_patients: int, sessions_per_patient: int = 8, seed: int = 0, prefix: str = "pt"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid patients (a few with older and future snapshots) and their sessions, vectorised."""
    rng = np.random.default_rng(seed)
    n = n_patients
    ids = np.array([f"{prefix}-{i:06d}" for i in range(n)], dtype=object)
    ecog = rng.choice([0, 1, 1, 2, 2, 3], n)
    chemo = rng.random(n) < 0.4
    sites = np.where(rng.random(n) < 0.1, "bone", np.where(rng.random(n) < 0.05, "lung;liver", ""))
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "as_of": REF_DAY - pd.to_timedelta(rng.integers(1, 20, n), unit="D"),
            "age": rng.integers(25, 85, n),
            "sex": rng.choice(["female", "male", "unknown"], n, p=[0.55, 0.43, 0.02]),
            "height_cm": rng.normal(168, 9, n).round(1),
            "weight_kg": rng.normal(72, 12, n).round(1),
            "cancer_type": rng.choice(CANCER_TYPES, n),
            "stage": rng.choice(["I", "II", "III", "IV"], n),
            "metastatic_sites": sites,
            "treatment_phase": np.where(chemo, "chemotherapy", "post_treatment"),
            "days_since_infusion": np.where(chemo, rng.integers(0, 21, n), np.nan),
            "ecog": ecog,
            "comorbidities": rng.choice(["", "diabetes", "lymphedema;arthritis"], n),
            "medical_clearance": rng.random(n) < 0.5,
            "resistance_experience": rng.choice(["none", "novice", "experienced"], n),
            "sarcopenia": rng.random(n) < 0.3,
            "resting_hr": rng.normal(76, 9, n).round(),
            "systolic_bp": rng.normal(125, 12, n).round(),
            "diastolic_bp": rng.normal(78, 8, n).round(),
            "spo2": rng.normal(97, 1.2, n).clip(88, 100).round(),
            "temperature_c": rng.normal(36.7, 0.3, n).round(1),
            "hemoglobin_g_dl": rng.normal(12, 1.5, n).round(1),
            "platelets_10e9_l": rng.normal(230, 60, n).round(),
            "anc_10e9_l": rng.normal(3.5, 1.2, n).clip(0.2).round(2),
            "fatigue": rng.integers(0, 8, n).astype(float),
            "pain": rng.integers(0, 6, n).astype(float),
            "vomiting_24h": rng.random(n) < 0.03,
            "vo2peak_ml_kg_min": rng.normal(22, 5, n).clip(8).round(1),
            "six_minute_walk_m": rng.normal(480, 80, n).clip(100).round(),
            "grip_strength_kg": rng.normal(28, 8, n).clip(5).round(1),
        }
    )
    has_rx = rng.random(n) < 0.5
    rx = {
        "rx_aerobic_sessions": 3.0,
        "rx_aerobic_minutes": 25.0,
        "rx_aerobic_pct_hrmax_low": 60.0,
        "rx_aerobic_pct_hrmax_high": 64.0,
        "rx_aerobic_rpe_low": 11.0,
        "rx_aerobic_rpe_high": 13.0,
        "rx_resistance_sessions": 2.0,
        "rx_resistance_sets": 2.0,
        "rx_resistance_reps_low": 10.0,
        "rx_resistance_reps_high": 12.0,
        "rx_resistance_pct_1rm_low": 45.0,
        "rx_resistance_pct_1rm_high": 50.0,
    }
    for col, value in rx.items():
        patients[col] = np.where(has_rx, value, np.nan)
    patients["rx_restrictions"] = ""
    patients["true_capacity"] = rng.random(n)  # simulator-style truth column: must be ignored
    # older snapshots (different vitals) and snapshots after the scoring date
    old = patients.sample(frac=0.2, random_state=seed).copy()
    old["as_of"] = old["as_of"] - pd.Timedelta(days=28)
    old["resting_hr"] = 125.0  # would be a hold if (wrongly) used
    future = patients.sample(frac=0.1, random_state=seed + 1).copy()
    future["as_of"] = REF_DAY + pd.Timedelta(days=10)
    future["ecog"] = 4  # would be a refer if (wrongly) used
    patients = pd.concat([patients, old, future], ignore_index=True)
    patients = patients.sample(frac=1.0, random_state=seed).reset_index(drop=True)

    k = sessions_per_patient
    pid = np.repeat(ids, k)
    m = len(pid)
    aerobic = rng.random(m) < 0.65
    attended = rng.random(m) < 0.8
    day = REF_DAY - pd.to_timedelta(rng.integers(1, 7 * 8, m), unit="D")
    planned = np.where(aerobic, rng.choice([20.0, 25.0, 30.0], m), 35.0)
    sessions = pd.DataFrame(
        {
            "patient_id": pid,
            "date": day,
            "modality": np.where(aerobic, "aerobic", "resistance"),
            "planned_minutes": planned,
            "planned_pct_hrmax": np.where(aerobic, rng.choice([55.0, 60.0, 66.0], m), np.nan),
            "planned_pct_1rm": np.where(aerobic, np.nan, rng.choice([40.0, 50.0, 60.0], m)),
            "planned_sets": np.where(aerobic, np.nan, 2.0),
            "planned_reps": np.where(aerobic, np.nan, 12.0),
            "attended": attended,
            "completed_minutes": np.where(
                attended & aerobic, planned * rng.uniform(0.7, 1, m), np.nan
            ),
            "completed_sets": np.where(attended & ~aerobic, 2.0, np.nan),
            "rpe": np.where(attended, rng.integers(9, 16, m), np.nan),
            "avg_hr": np.where(attended & aerobic, rng.integers(95, 140, m), np.nan),
            "adverse_event": rng.choice(["none", "none", "none", "mild", "moderate"], m),
            "pain": np.where(attended, rng.integers(0, 5, m), np.nan),
            "fatigue": np.where(attended, rng.integers(0, 6, m), np.nan),
            "p_attend": rng.random(m),  # truth column: must be ignored
        }
    )
    sessions = sessions.sort_values(["patient_id", "date"]).reset_index(drop=True)
    return patients, sessions


BAD = {
    "age": "pt-000003",  # age 300
    "cancer_type": "pt-000007",  # unknown cancer type
    "as_of": "pt-000011",  # unreadable snapshot date
    "date": "pt-000013",  # a session with an unreadable date
    "rpe": "pt-000017",  # a session with RPE 40
    "ecog": "pt-000019",  # ECOG "abc" (not a number)
    "rx_restrictions": "pt-000023",  # unknown restriction
}


def inject_errors(
    patients: pd.DataFrame, sessions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bad values of every kind, one patient each (ids in BAD); returns object-typed copies."""
    p = patients.astype({"age": object, "cancer_type": object, "ecog": object, "as_of": object})
    s = sessions.astype({"date": object, "rpe": object})
    current = p.groupby("patient_id")["as_of"].transform(
        lambda x: x[pd.to_datetime(x) <= REF_DAY].max()
    )
    is_cur = p["as_of"] == current
    p.loc[(p["patient_id"] == BAD["age"]) & is_cur, "age"] = 300
    p.loc[(p["patient_id"] == BAD["cancer_type"]) & is_cur, "cancer_type"] = "martian"
    p.loc[p["patient_id"] == BAD["as_of"], "as_of"] = "not-a-date"
    p.loc[(p["patient_id"] == BAD["ecog"]) & is_cur, "ecog"] = "abc"
    p.loc[(p["patient_id"] == BAD["rx_restrictions"]) & is_cur, "rx_restrictions"] = "no_fun"
    s.loc[s.index[s["patient_id"] == BAD["date"]][0], "date"] = "2026-02-31"
    s.loc[s.index[s["patient_id"] == BAD["rpe"]][1], "rpe"] = 40
    return p, s


def write_cohort(folder: Path, patients: pd.DataFrame, sessions: pd.DataFrame, fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (("patients", patients), ("sessions", sessions)):
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def cohort_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 patients as CSV with one bad row of each kind (text in numeric columns included)."""
    p, s = make_cohort(300, seed=3)
    p, s = inject_errors(p, s)
    return write_cohort(tmp_path_factory.mktemp("cohort300"), p, s, "csv")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(root=tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def scored_300(cohort_300: Path, settings: Settings, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "scores.csv"
    code = run_score(settings, cohort_300, out, "pandas", None, 64, None, None, None, fake_models())
    assert code == 0
    return out


# --- output -------------------------------------------------------------------------------------
def test_one_row_per_valid_patient_with_contract_columns(scored_300: Path) -> None:
    out = pd.read_csv(scored_300)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out["patient_id"].is_unique and out["patient_id"].is_monotonic_increasing
    assert len(out) == 300 - len(BAD)
    assert not set(BAD.values()) & set(out["patient_id"])
    assert (out["as_of"] == "2026-03-02").all()  # default: day after the latest session
    assert set(out["decision"]) <= {"progress", "maintain", "regress", "hold", "refer"}
    for text in out["rules"]:
        assert isinstance(json.loads(text), list)
    for text in out["explanation"]:
        assert all({"feature", "contribution"} <= set(e) for e in json.loads(text))
    dosed = out[out["decision"].isin(["hold", "refer"])]
    assert dosed["aerobic_sessions_per_week"].isna().all()
    assert dosed["predicted_tolerance"].isna().all()
    assert (out["tolerance_model_version"].astype(str) == "0").all()


def test_errors_file_names_field_and_reason(scored_300: Path) -> None:
    errors = pd.read_csv(errors_path(scored_300), keep_default_na=False)
    assert list(errors.columns) == ["patient_id", "table", "field", "reason"]
    by_patient = {pid: g for pid, g in errors.groupby("patient_id")}
    assert set(by_patient) == set(BAD.values())
    for field, pid in BAD.items():
        rows = by_patient[pid]
        assert field in set(rows["field"]), (field, rows)
    age = by_patient[BAD["age"]]
    assert "must be <= 110" in age["reason"].iloc[0] and "300" in age["reason"].iloc[0]
    assert "martian" in by_patient[BAD["cancer_type"]]["reason"].iloc[0]
    assert (by_patient[BAD["date"]]["table"] == "sessions").all()
    assert "40" in by_patient[BAD["rpe"]]["reason"].iloc[0]
    assert "number" in by_patient[BAD["ecog"]]["reason"].iloc[0]


def test_optional_columns_reach_the_kernel_and_unknown_facts_are_written(
    settings: Settings, tmp_path: Path
) -> None:
    """Guideline 2026.12.0 in batch: the additive optional patient columns (here glucose and
    bone_fracture_risk) are validated and read by the kernel; unknown_facts is an output column."""
    p, s = make_cohort(12, seed=9)
    ids = sorted(p["patient_id"].unique())
    low_glucose, no_platelets, bad_risk = ids[0], ids[1], ids[2]
    p["glucose_mg_dl"] = np.where(p["patient_id"] == low_glucose, 50.0, np.nan)
    p["bone_fracture_risk"] = np.where(p["patient_id"] == bad_risk, "severe", None)
    mine = p["patient_id"] == no_platelets
    p.loc[mine, ["treatment_phase", "days_since_infusion", "ecog", "metastatic_sites"]] = [
        "chemotherapy",
        10.0,
        1,
        "",
    ]
    p.loc[mine, ["platelets_10e9_l", "resting_hr", "temperature_c", "vomiting_24h"]] = [
        np.nan,
        70.0,
        36.6,
        False,
    ]
    folder = write_cohort(tmp_path / "c", p, s, "parquet")
    out = tmp_path / "scores.csv"
    assert run_score(settings, folder, out, models=fake_models()) == 0
    rows = pd.read_csv(out, keep_default_na=False).set_index("patient_id")
    assert list(rows.reset_index().columns) == list(OUTPUT_COLUMNS)
    assert rows.loc[low_glucose, "decision"] == "hold"
    assert "hold.glucose" in json.loads(rows.loc[low_glucose, "rules"])
    assert rows.loc[no_platelets, "decision"] not in ("hold", "refer")
    assert "platelets_10e9_l" in rows.loc[no_platelets, "unknown_facts"].split(";")
    assert "no_resistance" in rows.loc[no_platelets, "restrictions"].split(";")
    assert bad_risk not in rows.index
    errors = pd.read_csv(errors_path(out), keep_default_na=False)
    assert "bone_fracture_risk" in set(errors.loc[errors["patient_id"] == bad_risk, "field"])


def test_snapshot_point_in_time() -> None:
    p = pd.DataFrame(
        {
            "patient_id": ["a", "a", "a", "b", "c", "c"],
            "as_of": ["2026-01-01", "2026-02-01", "2026-04-01", "2026-05-01", "2026-01-01", None],
            "ecog": [1, 2, 4, 0, 1, 1],
        }
    )
    snaps, errors = select_snapshots(p, dt.date(2026, 3, 1))
    assert snaps.set_index("patient_id")["ecog"].to_dict() == {"a": 2}
    assert set(errors["patient_id"]) == {"b", "c"}
    assert set(errors["field"]) == {"as_of"}


def test_default_as_of() -> None:
    s = pd.DataFrame({"date": ["2026-01-05", "2026-01-09", "garbage"]})
    assert parse_as_of(None, s) == dt.date(2026, 1, 10)
    assert parse_as_of("2026-02-01", s) == dt.date(2026, 2, 1)
    assert parse_as_of(None, s.iloc[:0]) == dt.date.today()


def test_chunking_does_not_change_results(cohort_300: Path, settings: Settings, tmp_path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_score(settings, cohort_300, a, chunk_size=7, models=fake_models()) == 0
    assert run_score(settings, cohort_300, b, chunk_size=1000, models=fake_models()) == 0
    assert a.read_bytes() == b.read_bytes()


def test_parquet_output_equals_csv(cohort_300: Path, settings: Settings, scored_300, tmp_path):
    out = tmp_path / "s.parquet"
    assert run_score(settings, cohort_300, out, chunk_size=64, models=fake_models()) == 0
    pq = pd.read_parquet(out)
    assert str(pq["aerobic_sessions_per_week"].dtype) == "Int64"
    pq.to_csv(tmp_path / "again.csv", index=False)
    assert (tmp_path / "again.csv").read_bytes() == scored_300.read_bytes()


def test_truth_columns_are_ignored(settings: Settings, tmp_path: Path) -> None:
    p, s = make_cohort(40, seed=9)
    a = write_cohort(tmp_path / "a", p, s, "parquet")
    p2 = p.assign(true_capacity=-p["true_capacity"])
    s2 = s.assign(p_attend=0.0)
    b = write_cohort(tmp_path / "b", p2, s2, "parquet")
    assert run_score(settings, a, tmp_path / "a.csv", models=fake_models()) == 0
    assert run_score(settings, b, tmp_path / "b.csv", models=fake_models()) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


# --- REST parity --------------------------------------------------------------------------------
def _opt(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def row_to_request(prow: pd.Series, sessions: pd.DataFrame, as_of: dt.date) -> RecommendRequest:
    """What a clinical system would POST for this patient."""
    nested_keys = {k for keys in PATIENT_NESTED.values() for k in keys}
    patient: dict[str, Any] = {}
    for key, value in prow.items():
        if key in nested_keys or key in RX_COLUMNS or key in ("as_of", "true_capacity"):
            continue
        if key in PATIENT_LIST_FIELDS:
            patient[key] = [x for x in str(_opt(value) or "").split(LIST_SEPARATOR) if x]
        elif key in ("age", "ecog", "days_since_infusion"):
            patient[key] = None if _opt(value) is None else int(value)
        elif key in ("medical_clearance", "sarcopenia"):
            patient[key] = None if _opt(value) is None else bool(value)
        else:
            patient[key] = _opt(value)
    for group, keys in PATIENT_NESTED.items():
        patient[group] = {k: _opt(prow.get(k)) for k in keys}  # optional ones may be absent
    patient["symptoms"]["vomiting_24h"] = bool(prow["vomiting_24h"])
    rows = []
    for _, r in sessions.iterrows():
        d = {k: _opt(v) for k, v in r.items() if k not in ("patient_id", "p_attend")}
        d["date"] = pd.Timestamp(d["date"]).date()
        for k in (
            "planned_sets",
            "planned_reps",
            "completed_sets",
            "rpe",
            "avg_hr",
            "pain",
            "fatigue",
        ):
            if d.get(k) is not None:
                d[k] = int(d[k])
        rows.append(d)
    rx = None
    if _opt(prow.get("rx_aerobic_sessions")) is not None:
        rx = {
            "aerobic": {
                "sessions_per_week": int(prow["rx_aerobic_sessions"]),
                "minutes_per_session": prow["rx_aerobic_minutes"],
                "intensity_pct_hrmax": {
                    "low": prow["rx_aerobic_pct_hrmax_low"],
                    "high": prow["rx_aerobic_pct_hrmax_high"],
                },
                "rpe": {
                    "low": int(prow["rx_aerobic_rpe_low"]),
                    "high": int(prow["rx_aerobic_rpe_high"]),
                },
            },
            "resistance": {
                "sessions_per_week": int(prow["rx_resistance_sessions"]),
                "sets": int(prow["rx_resistance_sets"]),
                "reps": {
                    "low": int(prow["rx_resistance_reps_low"]),
                    "high": int(prow["rx_resistance_reps_high"]),
                },
                "intensity_pct_1rm": {
                    "low": prow["rx_resistance_pct_1rm_low"],
                    "high": prow["rx_resistance_pct_1rm_high"],
                },
            },
            "restrictions": [],
        }
    return RecommendRequest.model_validate(
        {"patient": patient, "sessions": rows, "current_prescription": rx, "as_of": as_of}
    )


def test_rest_path_gives_the_batch_row(settings: Settings, tmp_path: Path) -> None:
    from serving.policy import recommend

    p, s = make_cohort(30, seed=5)
    folder = write_cohort(tmp_path / "c", p, s, "parquet")
    out = tmp_path / "scores.csv"
    assert run_score(settings, folder, out, models=fake_models()) == 0
    batch_rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("patient_id")
    as_of = dt.date(2026, 3, 2)
    snaps, _ = select_snapshots(p, as_of)
    checked = 0
    for pid in ["pt-000000", "pt-000004", "pt-000012", *snaps["patient_id"].iloc[20:23]]:
        prow = snaps[snaps["patient_id"] == pid].iloc[0]
        req = row_to_request(prow, s[s["patient_id"] == pid], as_of)
        pf, sf = requests_to_columns([req])  # exactly what the REST service passes
        resp = recommend(pf, sf, as_of, fake_models(), batch.policy_config(settings))[0]
        rest_row = pd.DataFrame([flatten_response(resp)])
        rest_row = batch.finalize_scored(rest_row)
        rest_row.to_csv(tmp_path / "one.csv", index=False)
        one = pd.read_csv(tmp_path / "one.csv", dtype=str, keep_default_na=False)
        assert one.set_index("patient_id").loc[pid].to_dict() == batch_rows.loc[pid].to_dict()
        checked += 1
    assert checked == 6


# --- atomicity ----------------------------------------------------------------------------------
def test_writer_failure_leaves_no_file(
    cohort_300: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "scores.parquet"

    def broken(df: pd.DataFrame, path: Path, suffix: str) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(batch.output, "_write_frame", broken)
    with pytest.raises(OSError, match="disk full"):
        run_score(settings, cohort_300, out, models=fake_models())
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")] == []


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from features.settings import Settings
from serving import batch
from tests.fakes import fake_models

def slow(df, path, suffix):
    path.write_text("patient_id,as_of\\n" + "half,written\\n" * 10)
    Path(sys.argv[3]).write_text("writing")
    time.sleep(60)

batch.output._write_frame = slow
batch.run_score(Settings(root=sys.argv[4]), Path(sys.argv[1]), Path(sys.argv[2]),
                models=fake_models())
"""


def test_killed_job_leaves_no_file(cohort_300: Path, tmp_path: Path) -> None:
    out, marker = tmp_path / "scores.csv", tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(cohort_300), str(out), str(marker), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the job never reached the writer"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()


# --- exit codes ---------------------------------------------------------------------------------
def test_no_champion_is_exit_2_with_a_clear_message(cohort_300: Path, tmp_path: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    out = tmp_path / "s.csv"
    code = run_score(Settings(root=tmp_path), cohort_300, out, console=console)
    assert code == 2
    assert "No champion" in console.export_text()
    assert not out.exists()


def test_nothing_scorable_is_exit_1(settings: Settings, tmp_path: Path) -> None:
    p, s = make_cohort(5, seed=1)
    p["age"] = 300
    folder = write_cohort(tmp_path / "c", p, s, "parquet")
    out = tmp_path / "s.csv"
    assert run_score(settings, folder, out, models=fake_models()) == 1
    assert not out.exists()
    assert len(pd.read_csv(errors_path(out))) == 5


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"engine": "dask"}, "--engine"),
        ({"out": "scores.json"}, "--out"),
        ({"as_of": "03/02/2026"}, "--as-of"),
        ({"cohort": "missing"}, "patients"),
    ],
)
def test_job_errors_are_exit_2(
    kwargs: dict, needle: str, cohort_300: Path, settings: Settings, tmp_path: Path
) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    args = {"cohort": cohort_300, "out": tmp_path / "s.csv", "engine": "pandas", "as_of": None}
    args |= kwargs
    args["cohort"] = tmp_path / args["cohort"] if kwargs.get("cohort") else args["cohort"]
    args["out"] = tmp_path / args["out"] if isinstance(args["out"], str) else args["out"]
    code = run_score(settings, console=console, models=fake_models(), **args)
    assert code == 2
    assert needle in console.export_text()


def test_cli_without_champion(cohort_300: Path, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from dosewise_cli import app
    from features.settings import get_settings

    monkeypatch.setenv("DOSEWISE_ROOT", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["score", str(cohort_300), "--out", str(tmp_path / "x.csv")]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2


def test_report_is_self_contained(cohort_300: Path, settings: Settings, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code = run_score(settings, cohort_300, tmp_path / "s.csv", report=report, models=fake_models())
    assert code == 0
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 3
    assert 'src="http' not in text and "<link" not in text
    assert "Decisions" in text and "cancer type" in text


def test_worker_models_pin_versions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import serving.models
    from serving.batch import spark_session as batch_spark

    calls: list[int] = []

    def fake_load(settings: Settings):
        calls.append(1)
        return fake_models()

    monkeypatch.setattr(serving.models, "load_champions", fake_load)
    monkeypatch.setattr(batch_spark, "_MODELS", {})
    src = batch_spark.RegistryModels(Settings(root=tmp_path), "0", "0")
    assert batch_spark.worker_models(src) is batch_spark.worker_models(src)
    assert len(calls) == 1  # loaded once per worker process
    with pytest.raises(RuntimeError, match="champion changed"):
        batch_spark.worker_models(batch_spark.RegistryModels(Settings(root=tmp_path), "1", "0"))

"""The monitoring loop end to end on simulated deployments (issue #15 items 2 and 3): rows
written by the production path, no false alarm without a shift, the right signal within two
weeks of each shift, realised performance from labels, and the command's contract (exit codes,
JSON, HTML report, one MLflow run with weekly steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from features.settings import Settings
from monitoring.run import run_monitor
from serving.audit import audit_log, make_engine
from serving.audit_verify import verify
from serving.monitoring import monitoring_log
from tests.monitoring.conftest import AT_WEEK, START, UNTIL


def _monitor(root: Path, out: Path) -> dict:
    url = f"sqlite:///{out / 'audit.db'}"
    return run_monitor(Settings(root=root), START, UNTIL, out, url)


def _week(n: int) -> str:
    """ISO week label of deployment week n (from 1)."""
    day = START + pd.Timedelta(weeks=n - 1)
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _first_alarm(result: dict, signal: str) -> str | None:
    weeks = sorted(a["week"] for a in result["alarms"] if a["signal"].startswith(signal))
    return weeks[0] if weeks else None


def test_deployment_writes_audit_and_monitoring_rows_like_the_service(monitor_root, deployments):
    out = deployments("none")
    meta = json.loads((out / "deployment.json").read_text())
    engine = make_engine(f"sqlite:///{out / 'audit.db'}")
    with engine.connect() as conn:
        audits = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        mons = conn.execute(select(func.count()).select_from(monitoring_log)).scalar_one()
        as_of = conn.execute(select(func.min(monitoring_log.c.as_of))).scalar_one()
    assert audits == mons == meta["recommendations"] > 0
    assert as_of == START.isoformat()  # the unrecorded run-in weeks are not in the tables
    assert verify(engine).ok
    engine.dispose()
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert not {"p_attend", "p_tolerate", "true_tolerated"} & set(sessions.columns)
    assert sessions["date"].max() <= pd.Timestamp(UNTIL)


def test_no_shift_is_healthy_every_week_and_matches_training(monitor_root, deployments):
    result = _monitor(monitor_root, deployments("none"))
    assert result["alarms"] == [], [a["why"] for a in result["alarms"]]
    assert all(h["healthy"] for h in result["health"]) and len(result["health"]) == 5
    total = {
        r["kind"]: r for r in result["performance"] if r["week"] == "all" and r["subgroup"] == "all"
    }
    assert total["adherence"]["n"] > 1000 and total["tolerance"]["n"] > 1000
    for kind in ("tolerance", "adherence"):  # realised figures near the held-out ones
        held = result["heldout"][f"{kind}:1"]
        assert abs(total[kind]["ece"] - held["ece"]) < 0.05
        assert total[kind]["auroc"] > 0.6
    groups = {r["subgroup"] for r in result["performance"]}
    assert {"on_chemotherapy", "stage_iv_or_palliative", "ecog_2_plus", "age_70_plus"} <= groups


@pytest.mark.parametrize(
    ("shift", "signal"),
    [
        ("tolerance", "calibration (tolerance)"),
        ("logging", "feature drift"),
        ("cohort-mix", "feature drift"),
    ],
)
def test_each_shift_raises_the_right_alarm_within_two_weeks(
    monitor_root, deployments, shift, signal
):
    result = _monitor(monitor_root, deployments(shift))
    first = _first_alarm(result, signal)
    assert first is not None, [a["why"] for a in result["alarms"]]
    assert _week(AT_WEEK) <= first <= _week(AT_WEEK + 2)
    assert all(a["week"] >= _week(AT_WEEK) for a in result["alarms"])  # nothing before it
    if shift == "logging":
        named = {f for a in result["alarms"] for f in a.get("features", [])}
        assert any(f.startswith("rpe_") for f in named), named
    if shift == "cohort-mix":
        named = {f for a in result["alarms"] for f in a.get("features", [])}
        assert named & {"stage", "age", "phase_chemotherapy", "phase_palliative"}, named


def test_monitor_command_exit_codes_report_json_and_mlflow(monitor_root, deployments, tmp_path):
    from dosewise_cli import app
    from features.settings import get_settings

    env = {"DOSEWISE_ROOT": str(monitor_root)}
    runner = CliRunner()
    get_settings.cache_clear()  # the command reads settings from this environment
    healthy, shifted = deployments("none"), deployments("tolerance")
    args = ["monitor", "--since", START.isoformat(), "--until", UNTIL.isoformat()]

    ok = runner.invoke(
        app,
        [*args, "--sessions", str(healthy), "--db-url", f"sqlite:///{healthy / 'audit.db'}"],
        env=env,
    )
    assert ok.exit_code == 0, ok.output
    text = " ".join(ok.output.split())  # rich wraps lines
    assert "Realised vs held-out vs expected" in text and "model-based concordance" in text
    assert "van Klaveren" in text and "tolerance v1: " in text
    report = tmp_path / "monitor.html"
    bad = runner.invoke(
        app,
        [
            *args,
            "--sessions",
            str(shifted),
            "--db-url",
            f"sqlite:///{shifted / 'audit.db'}",
            "--report",
            str(report),
            "--json",
        ],
        env=env,
    )
    assert bad.exit_code == 3, bad.output
    result = json.loads(bad.stdout)
    assert result["status"] == "alarm" and result["recommendation"].startswith("retrain")
    html = report.read_text()
    assert "<img src='data:image/png;base64," in html and "calibration (tolerance)" in html
    reading = {r["kind"]: r for r in result["performance_reading"]}
    assert set(reading) == {"tolerance", "adherence"}
    for r in reading.values():
        held = result["heldout"][f"{r['kind']}:1"]
        assert r["heldout_auroc"] == held["auroc"] and r["heldout_ece"] == held["ece"]
        total = next(
            p
            for p in result["performance"]
            if (p["kind"], p["week"], p["subgroup"]) == (r["kind"], "all", "all")
        )
        assert r["realised_auroc"] == total["auroc"]
        assert r["expected_auroc"] == total["expected_auroc"]
        assert r["expected_name"] == "model-based concordance (mbc)" and r["reading"]
        assert html.count(r["reading"].split(":")[0]) >= 1
    assert "Realised vs held-out vs expected" in html and "Stat Med 2016" in html
    assert result["scored_plans"] == {"recommended": result["recommendations"]}

    from mlflow import MlflowClient

    client = MlflowClient(Settings(root=monitor_root).mlflow_tracking_uri)
    exp = client.get_experiment_by_name("dosewise-monitoring")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2  # one run per call
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.tags["status"] == "alarm"
    history = client.get_metric_history(run.info.run_id, "performance.tolerance.all.ece")
    assert {m.step for m in history} >= {int(_week(AT_WEEK).replace("-W", ""))}

    missing = runner.invoke(
        app, [*args, "--db-url", f"sqlite:///{tmp_path / 'none.db'}", "--no-mlflow"], env=env
    )
    assert missing.exit_code == 2 and "cannot run" in missing.output
    wrong = runner.invoke(app, ["monitor", "--since", "2026-13-01", "--until", "x"], env=env)
    assert wrong.exit_code == 2 and "--since" in wrong.output
    empty = runner.invoke(
        app,
        [
            "monitor",
            "--since",
            "2020-01-01",
            "--until",
            "2020-02-01",
            "--no-mlflow",
            "--db-url",
            f"sqlite:///{healthy / 'audit.db'}",
        ],
        env=env,
    )
    assert empty.exit_code == 2 and "no recommendations" in empty.output
    get_settings.cache_clear()

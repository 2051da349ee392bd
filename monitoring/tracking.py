"""Log one `dosewise monitor` call to the MLflow experiment `dosewise-monitoring`: one run per
call, every weekly figure with `step` = the ISO week as `YYYYWW` (so the UI plots it over time),
window totals at step 0, the thresholds as params, the result JSON and the report as artifacts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from features.settings import Settings
from training.tracking_runs import experiment_id, log_batches, log_result_files, tracking_client

EXPERIMENT = "dosewise-monitoring"


def week_step(week: str) -> int:
    """`2026-W07` -> 202607; anything else (the window total) -> 0."""
    if len(week) == 8 and week[4:6] == "-W":
        return int(week[:4]) * 100 + int(week[6:])
    return 0


def metric_points(result: dict[str, Any]) -> list[tuple[str, float, int]]:
    """(key, value, step) of every finite figure of a monitor result."""
    out: list[tuple[str, float, int]] = []

    def add(key: str, value: Any, week: str) -> None:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(float(value)):
            out.append((key, float(value), week_step(week)))

    for r in result["prediction_drift"]:
        for m in ("psi", "js", "mean", "n"):
            add(f"prediction.{r['kind']}.{m}", r.get(m), r["week"])
    for r in result["feature_drift"] + result["feature_drift_weekly"]:
        add(f"feature.{r['feature']}.psi", r["psi"], r["week"])
    for r in result["performance"]:
        for m in (
            "auroc",
            "brier",
            "ece",
            "calibration_slope",
            "calibration_intercept",
            "n",
            "expected_auroc",
            "expected_ece",
            "expected_brier",
        ):
            add(f"performance.{r['kind']}.{r['subgroup']}.{m}", r.get(m), r["week"])
    for r in result.get("expected_before_labels", []):
        for m in ("expected_auroc", "expected_ece", "expected_brier"):
            add(f"before_labels.{r['kind']}.{m}", r.get(m), r["week"])
    for r in result.get("performance_reading", []):
        for m in ("heldout_auroc", "heldout_ece", "estimator_check_auroc"):
            add(f"reading.{r['kind']}.{m}", r.get(m), "all")
    for r in result["decision_mix"]:
        for k, v in r.items():
            if k not in ("week", "n"):
                add(f"decisions.{k}", v, r["week"])
        add("decisions.n", r["n"], r["week"])
    for h in result["health"]:
        add("healthy", 1.0 if h["healthy"] else 0.0, h["week"])
    add("alarms", len(result["alarms"]), "all")
    return out


def log_monitoring(settings: Settings, result: dict[str, Any], report: Path | None) -> str:
    """One MLflow run with every figure; returns its run id."""
    client = tracking_client(settings)
    from mlflow.entities import Metric, Param

    exp_id = experiment_id(client, settings, EXPERIMENT)
    run = client.create_run(exp_id, run_name=f"monitor-{result['since']}-{result['until']}")
    run_id = run.info.run_id
    params = [Param(f"threshold.{k}", str(v)) for k, v in result["thresholds"].items()]
    params += [Param("since", result["since"]), Param("until", result["until"])]
    params += [Param(f"versions.{k}", ",".join(v)) for k, v in result["versions"].items()]
    metrics = [Metric(k, v, 0, s) for k, v, s in metric_points(result)]
    log_batches(client, run_id, metrics, params)
    client.set_tag(run_id, "status", result["status"])
    log_result_files(client, run_id, "monitoring.json", result, 1, report)
    client.set_terminated(run_id)
    return run_id

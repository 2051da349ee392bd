"""Log a closed-loop evaluation to MLflow (experiment `dosewise-closed-loop`): a thin wrapper.

Params: every field of the policy's `PolicyConfig`, the scenario, seeds and sizes. Metrics: every
number of `arms`, `subgroups` and the paired differences, under their JSON paths
(`arms.dosewise.vo2peak_change`, `differences.dosewise-fixed.vo2peak_change.low`, ...).
Artifacts: the result JSON and the HTML report when there is one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from features.settings import Settings, apply_offline_environment

EXPERIMENT = "dosewise-closed-loop"


def flatten_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Every finite number under arms / subgroups / differences, keyed by its dotted JSON path."""
    out: dict[str, float] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif (
            isinstance(node, int | float)
            and not isinstance(node, bool)
            and math.isfinite(float(node))
        ):
            out[prefix] = float(node)

    for key in ("arms", "subgroups", "differences", "subgroup_differences"):
        walk(key, result.get(key, {}))
    return out


def policy_params(cfg: Any) -> dict[str, str]:
    """The policy configuration as MLflow params (dataclass fields, or a dict)."""
    fields = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    return {f"policy.{k}": str(v) for k, v in fields.items()}


def log_evaluation(
    settings: Settings,
    result: dict[str, Any],
    cfg: Any,
    report: Path | None = None,
    extra_params: dict[str, Any] | None = None,
) -> str:
    """One MLflow run with params, metrics and artifacts; returns its run id."""
    apply_offline_environment()
    import mlflow
    from mlflow import MlflowClient

    assert settings.mlruns_dir is not None
    settings.mlruns_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.mlflow_tracking_uri
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = (
        exp.experiment_id
        if exp is not None
        else client.create_experiment(EXPERIMENT, artifact_location=settings.mlflow_artifact_root)
    )
    params = policy_params(cfg) | {
        "scenario": result["scenario"],
        "patients": str(result["patients"]),
        "weeks": str(result["weeks"]),
        "seed": str(result["seed"]),
        "bootstrap_seed": str(result["bootstrap"]["seed"]),
        "bootstrap_replicates": str(result["bootstrap"]["replicates"]),
        "arms": ",".join(result["arms"]),
    }
    params |= {k: str(v) for k, v in (extra_params or {}).items()}
    retrained = str(result.get("models", "")).startswith("retrained")
    name = f"{result['scenario']}-seed{result['seed']}" + ("-retrain" if retrained else "")
    run = client.create_run(exp_id, run_name=name)
    run_id = run.info.run_id
    from mlflow.entities import Metric, Param

    metrics = [Metric(k, v, 0, 0) for k, v in flatten_metrics(result).items()]
    param_list = [Param(k, v[:6000]) for k, v in params.items()]
    for i in range(0, max(len(metrics), 1), 900):  # MLflow takes at most 1000 per batch
        client.log_batch(run_id, metrics=metrics[i : i + 900], params=param_list if i == 0 else [])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "closed_loop.json"
        path.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
        client.log_artifact(run_id, str(path))
    if report is not None and Path(report).exists():
        client.log_artifact(run_id, str(report))
    client.set_terminated(run_id)
    del mlflow  # imported for its side effects on the tracking store (offline settings)
    return run_id

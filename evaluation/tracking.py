"""Log a closed-loop evaluation to MLflow (experiment `dosewise-closed-loop`): a thin wrapper.

Params: every field of the policy's `PolicyConfig`, the scenario, seeds and sizes. Metrics: every
number of `arms`, `subgroups` and the paired differences, under their JSON paths
(`arms.dosewise.vo2peak_change`, `differences.dosewise-fixed.vo2peak_change.low`, ...).
Artifacts: the result JSON and the HTML report when there is one.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from evaluation.tables import overrides_text
from features.settings import Settings
from training.tracking_runs import experiment_id, log_batches, log_result_files, tracking_client

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
    client = tracking_client(settings)
    exp_id = experiment_id(client, settings, EXPERIMENT)
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
    log_batches(client, run_id, metrics, param_list)
    log_result_files(client, run_id, "closed_loop.json", result, 2, report)
    client.set_terminated(run_id)
    return run_id


TUNING_EXPERIMENT = "dosewise-policy-tuning"


def log_tuning(settings: Settings, result: dict[str, Any], report: Path | None = None) -> str:
    """One MLflow run per `tune-policy`: the candidate's configuration as params, every row's
    numbers as metrics (`<arm>.<scenario>.s<seed>.<name>`), the verdict as tags, the JSON and
    the HTML report when there is one."""
    client = tracking_client(settings)
    exp_id = experiment_id(client, settings, TUNING_EXPERIMENT)
    from mlflow.entities import Metric, Param

    params = policy_params(result["policy"]) | {
        "seeds": ",".join(map(str, result["seeds"])),
        "scenarios": ",".join(result["scenarios"]),
        "patients": str(result["patients"]),
        "weeks": str(result["weeks"]),
        "overrides": overrides_text(result["overrides"], ","),
    }
    metrics = []
    for r in result["rows"]:
        prefix = f"{r['arm']}.{r['scenario']}.s{r['seed']}"
        for k, v in r.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                metrics.append(Metric(f"{prefix}.{k}", float(v), 0, 0))
    changes = result["overrides"]
    name = "tune-" + (overrides_text(changes, "-") if changes else "defaults")
    run = client.create_run(exp_id, run_name=name[:200])
    run_id = run.info.run_id
    log_batches(client, run_id, metrics, [Param(k, v[:6000]) for k, v in params.items()])
    for arm, ok in result["passes"].items():
        client.set_tag(run_id, f"rule.{arm}", "pass" if ok else "fail")
    log_result_files(client, run_id, "tuning.json", result, 2, report)
    client.set_terminated(run_id)
    return run_id

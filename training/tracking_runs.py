"""The MLflow plumbing the result trackers share (`evaluation/tracking.py` for the closed loop,
`monitoring/tracking.py` for `dosewise monitor`): the experiment under the project's artifact
root, metrics and params in batches MLflow accepts, and the result JSON plus the HTML report as
artifacts. The callers choose what to log; this module only logs it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.settings import Settings, apply_offline_environment

BATCH = 900  # MLflow takes at most 1000 metrics per log_batch call


def tracking_client(settings: Settings) -> Any:
    """An `MlflowClient` on the project's tracking store (offline, folder created)."""
    apply_offline_environment()
    from mlflow import MlflowClient

    assert settings.mlruns_dir is not None
    settings.mlruns_dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(settings.mlflow_tracking_uri)


def experiment_id(client: Any, settings: Settings, name: str) -> str:
    """The id of experiment `name`, created under the project's artifact root when missing."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(name, artifact_location=settings.mlflow_artifact_root))


def log_batches(client: Any, run_id: str, metrics: Sequence[Any], params: Sequence[Any]) -> None:
    """Every metric in batches of `BATCH`, the params with the first batch (one call at least)."""
    for i in range(0, max(len(metrics), 1), BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + BATCH], params=params if i == 0 else [])


def log_result_files(
    client: Any, run_id: str, name: str, result: Any, indent: int, report: Path | None
) -> None:
    """The result as the JSON artifact `name`, and the report file when there is one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(result, indent=indent, default=float), encoding="utf-8")
        client.log_artifact(run_id, str(path))
    if report is not None and Path(report).exists():
        client.log_artifact(run_id, str(report))

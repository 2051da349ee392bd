"""The champions' reference distributions, read from the registry (`training.registry`).

A version promoted before reference distributions were stored (or registered by hand) has no
`reference_artifacts` tag; its reference is then computed the same way from the held-out rows
logged with its run (`heldout/test.parquet`), so older champions can be monitored too.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training import registry
from training.train import TEST_SET_ARTIFACT


def load_reference(client: MlflowClient, name: str, version: str) -> dict[str, Any] | None:
    """The stored reference of a model version, else one computed from its held-out rows;
    None when neither exists (a version not in this registry, or without held-out rows)."""
    try:
        mv = client.get_model_version(name, version)
    except MlflowException:
        return None
    if registry.REFERENCE_TAG in mv.tags:
        return registry.load_reference(client, name, version)
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=TEST_SET_ARTIFACT
        )
        model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    except (MlflowException, OSError):
        return None
    test = pd.read_parquet(local)
    cols = [c.name for c in info.signature.inputs.inputs]
    p = model.predict_proba(test[cols])[:, 1]
    ref = registry.reference_distributions(test[cols], p)
    ref["heldout_predictions"] = p
    return ref


def heldout_metrics(client: MlflowClient, name: str, version: str) -> dict[str, float]:
    """The held-out figures a version was registered with (its `auroc`, `ece`, ... tags)."""
    try:
        tags = client.get_model_version(name, version).tags
    except MlflowException:
        return {}
    out = {}
    for key in ("auroc", "brier", "ece"):
        try:
            out[key] = float(tags[key])
        except (KeyError, ValueError):
            continue
    return out

"""Thin wrapper around the MLflow registry: configuration, registration, aliases, promotion, and
the champion's reference distributions that production monitoring compares against."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.settings import Settings, apply_offline_environment

EXPERIMENT = "dosewise"
# A challenger may be at most this much worse than the champion on the same held-out rows and
# still be promoted (noise between retrains on equal data); ECE may rise by at most ECE_MARGIN.
AUROC_MARGIN = 0.002
ECE_MARGIN = 0.005


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at the project's SQLite store and artifact root (both absolute)."""
    apply_offline_environment()
    assert settings.mlruns_dir is not None
    settings.mlruns_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=settings.mlflow_artifact_root)
    mlflow.set_experiment(EXPERIMENT)
    return client


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Version number behind an alias, or None when the model or alias does not exist."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def has_champion(settings: Settings) -> bool:
    client = configure(settings)
    return all(
        alias_version(client, name, settings.champion_alias) is not None
        for name in (settings.tolerance_model_name, settings.adherence_model_name)
    )


@dataclass(frozen=True)
class PromotionDecision:
    model: str
    promoted: bool
    reason: str
    challenger: str | None
    champion_before: str | None


def decide(challenger: dict[str, float], champion: dict[str, float] | None) -> tuple[bool, str]:
    """The promotion gate: no worse than the champion on the same held-out rows, within margins."""
    if champion is None:
        return True, "no champion yet"
    d_auc = challenger["auroc"] - champion["auroc"]
    d_ece = challenger["ece"] - champion["ece"]
    if d_auc < -AUROC_MARGIN:
        return (
            False,
            f"AUROC {challenger['auroc']:.4f} < champion {champion['auroc']:.4f} - {AUROC_MARGIN}",
        )
    if d_ece > ECE_MARGIN:
        return False, f"ECE {challenger['ece']:.4f} > champion {champion['ece']:.4f} + {ECE_MARGIN}"
    return True, (
        f"AUROC {challenger['auroc']:.4f} vs champion {champion['auroc']:.4f} "
        f"(margin {AUROC_MARGIN}),"
        f" ECE {challenger['ece']:.4f} vs {champion['ece']:.4f} (margin {ECE_MARGIN})"
    )


# --------------------------------------------------------------------------------------------
# reference distributions of a champion (issue #15): what production monitoring compares with
# --------------------------------------------------------------------------------------------
REFERENCE_DIR = "reference"
REFERENCE_TAG = "reference_artifacts"
PREDICTION_BINS = 20
FEATURE_BINS = 10


def feature_histogram(values: np.ndarray, bins: int = FEATURE_BINS) -> dict[str, Any]:
    """Counts of one feature on held-out rows: quantile bin edges (so each bin holds data, as
    PSI needs), plus the missing count (a feature that goes missing in production is drift)."""
    x = np.asarray(values, dtype=float)
    present = x[np.isfinite(x)]
    if present.size == 0:
        return {"edges": [], "counts": [], "missing": int(x.size)}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if edges.size == 1:  # a constant feature: one bin
        edges = np.array([edges[0], edges[0]])
    counts, _ = np.histogram(present, bins=edges)
    return {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "missing": int(x.size - present.size),
    }


def reference_distributions(features: pd.DataFrame, predictions: np.ndarray) -> dict[str, Any]:
    """The held-out prediction histogram and one histogram per feature (JSON-able)."""
    p = np.asarray(predictions, dtype=float)
    counts, edges = np.histogram(p, bins=PREDICTION_BINS, range=(0.0, 1.0))
    return {
        "n": len(p),
        "predictions": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        "features": {
            c: feature_histogram(pd.to_numeric(features[c], errors="coerce").to_numpy(float))
            for c in features.columns
        },
    }


def store_reference(
    client: MlflowClient,
    name: str,
    version: str,
    features: pd.DataFrame,
    predictions: np.ndarray,
) -> str:
    """Log a champion's reference distributions (held-out predictions, per-feature histograms)
    as artifacts of the model version's run under `reference/`, and tag the version with where
    they are. Only model inputs and scores: no patient ids."""
    mv = client.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pd.DataFrame({"prediction": np.asarray(predictions, dtype=float)}).to_parquet(
            folder / "predictions.parquet", index=False
        )
        hist = reference_distributions(features, predictions)
        (folder / "histograms.json").write_text(json.dumps(hist, indent=1))
        for file in ("predictions.parquet", "histograms.json"):
            client.log_artifact(mv.run_id, str(folder / file), artifact_path=REFERENCE_DIR)
    uri = f"runs:/{mv.run_id}/{REFERENCE_DIR}"
    client.set_model_version_tag(name, version, REFERENCE_TAG, uri)
    return uri


def load_reference(client: MlflowClient, name: str, version: str) -> dict[str, Any]:
    """A model version's reference distributions (what `store_reference` logged)."""
    uri = client.get_model_version(name, version).tags[REFERENCE_TAG]
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    hist = json.loads((local / "histograms.json").read_text())
    hist["heldout_predictions"] = pd.read_parquet(local / "predictions.parquet")[
        "prediction"
    ].to_numpy()
    return hist

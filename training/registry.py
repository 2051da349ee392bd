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

from features.registry import stale_columns
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


@dataclass(frozen=True)
class ChampionFeatures:
    """What a champion was trained on: its FEATURE_SET version ("?" untagged) and the columns it
    reads whose meaning this code has changed since (`features.registry.stale_columns`)."""

    feature_set_version: str
    stale: tuple[str, ...]


def champion_features(settings: Settings) -> dict[str, ChampionFeatures | None]:
    """Per registered model, its champion's features (None: no champion)."""
    client = configure(settings)
    found: dict[str, ChampionFeatures | None] = {}
    for name in (settings.tolerance_model_name, settings.adherence_model_name):
        try:
            mv = client.get_model_version_by_alias(name, settings.champion_alias)
            info = mlflow.models.get_model_info(f"models:/{name}@{settings.champion_alias}")
        except (MlflowException, OSError):
            found[name] = None
            continue
        built_on = mv.tags.get("feature_set_version")
        columns = [c.name for c in info.signature.inputs.inputs]
        found[name] = ChampionFeatures(built_on or "?", tuple(stale_columns(columns, built_on)))
    return found


def servable(found: dict[str, ChampionFeatures | None]) -> bool:
    """Both champions exist and read the features this code computes: one fed a column whose
    meaning changed after it was trained does not count (serving refuses it, `serving.models`),
    so the main job trains instead of skipping."""
    return all(c is not None and not c.stale for c in found.values())


def has_champion(settings: Settings) -> bool:
    return servable(champion_features(settings))


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


# On deployment logs (`train --data` with a gate window) the challenger must *beat* the
# champion on the most recent labelled weeks, not merely match it: its Brier score (a proper
# score: calibration and discrimination together) lower by more than RECENT_BRIER_SE paired
# standard errors, and its AUROC at most RECENT_AUROC_MARGIN below. Why Brier first: after a
# shift such as "patients tolerate less than the models believe" the champion still ranks
# patients as well (AUROC unchanged) but every probability is too high, and the policy acts on
# the probabilities (thresholds, expected intolerant sessions); a challenger fitted on a few
# months of one clinic's logs ranks slightly worse than a champion fitted on a 5,000-patient
# cohort, hence the AUROC margin (0.03: three times the week-to-week noise of a 1,000-session
# AUROC, and below the 0.07 discrimination alarm of `dosewise monitor`). Without a shift the
# champion's Brier is as good or better, so nothing is promoted.
RECENT_BRIER_SE = 2.0
RECENT_AUROC_MARGIN = 0.03


def decide_on_recent_weeks(
    y: np.ndarray, challenger: np.ndarray, champion: np.ndarray | None
) -> tuple[bool, str]:
    """The promotion gate on deployment logs: promote only a challenger that beats the champion
    on the same recent labelled rows (see RECENT_BRIER_SE, RECENT_AUROC_MARGIN)."""
    from training.evaluate import expected_calibration_error, safe_auroc

    if champion is None:
        return True, "no champion yet"
    y = np.asarray(y, dtype=float)
    se_ch = (np.asarray(challenger, dtype=float) - y) ** 2
    se_cp = (np.asarray(champion, dtype=float) - y) ** 2
    diff = se_ch - se_cp
    gain = -float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
    auc_ch, auc_cp = safe_auroc(y.astype(int), challenger), safe_auroc(y.astype(int), champion)
    ece_ch = expected_calibration_error(y, challenger)
    ece_cp = expected_calibration_error(y, champion)
    figures = (
        f"on {len(y)} recent labelled rows: Brier {se_ch.mean():.4f} vs champion "
        f"{se_cp.mean():.4f} (gain {gain:+.4f}, paired SE {se:.4f}), AUROC {auc_ch:.4f} vs "
        f"{auc_cp:.4f}, ECE {ece_ch:.4f} vs {ece_cp:.4f}"
    )
    if not gain > RECENT_BRIER_SE * se:
        return False, f"not better: Brier gain below {RECENT_BRIER_SE} x SE {figures}"
    if auc_ch < auc_cp - RECENT_AUROC_MARGIN:
        return False, f"AUROC more than {RECENT_AUROC_MARGIN} below the champion's {figures}"
    return True, f"better {figures}"


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

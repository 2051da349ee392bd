"""Thin wrapper around the MLflow registry: configuration, registration, aliases, promotion."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
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

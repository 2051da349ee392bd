"""Champion models from the MLflow registry (never from training/ code), ready for the policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.settings import Settings, apply_offline_environment
from serving.policy import Models

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """No champion (or it failed to load): the service answers 503, never a guess."""


@dataclass
class RegistryPredictor:
    """A registered sklearn-flavour model (LightGBM, maybe isotonic-calibrated) and its columns."""

    name: str
    version: str
    model: object
    columns: list[str]

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self.model.predict_proba(X[self.columns])[:, 1]  # type: ignore[attr-defined]

    def explain(self, X: pd.DataFrame) -> np.ndarray | None:  # noqa: N803
        """Per-feature contributions (log-odds, TreeSHAP) of the underlying booster."""
        booster = _booster(self.model)
        if booster is None:
            return None
        return booster.predict(X[self.columns].to_numpy(dtype=float), pred_contrib=True)


def _booster(model: object):
    inner = model
    cal = getattr(model, "calibrated_classifiers_", None)
    if cal:
        inner = cal[0].estimator
        inner = getattr(inner, "estimator", inner)  # FrozenEstimator
    return getattr(inner, "booster_", None)


def load_champions(settings: Settings) -> Models:
    """Load both `@champion` models; raises ModelUnavailableError when either is missing."""
    apply_offline_environment()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    loaded = {}
    for kind, name in (
        ("tolerance", settings.tolerance_model_name),
        ("adherence", settings.adherence_model_name),
    ):
        try:
            mv = client.get_model_version_by_alias(name, settings.champion_alias)
            uri = f"models:/{name}@{settings.champion_alias}"
            model = mlflow.sklearn.load_model(uri)
            info = mlflow.models.get_model_info(uri)
        except (MlflowException, OSError) as exc:
            raise ModelUnavailableError(f"{name}@{settings.champion_alias}: not available") from exc
        columns = [c.name for c in info.signature.inputs.inputs]
        loaded[kind] = RegistryPredictor(name, str(mv.version), model, columns)
        log.info("loaded %s version %s", name, mv.version)
    return Models(tolerance=loaded["tolerance"], adherence=loaded["adherence"])

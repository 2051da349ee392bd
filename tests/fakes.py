"""Stand-in models with the Predictor shape, for tests that must not depend on a trained model.

They are deliberately simple and monotone: probability falls with dose and ECOG, so policy
behaviour can be checked against a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evaluation.arms import ArmEnv
    from features.settings import Settings
    from serving.policy import Recommendation

from serving.policy import Models


def _col(X: np.ndarray | pd.DataFrame, name: str) -> np.ndarray:
    """A feature of a policy matrix (columns = FEATURE_SET.columns) or of a DataFrame."""
    from features import FEATURE_SET

    if isinstance(X, np.ndarray):
        return np.nan_to_num(X[:, FEATURE_SET.columns.index(name)].astype(float), nan=0.0)
    if name not in X:
        return np.zeros(len(X))
    return np.nan_to_num(X[name].to_numpy(dtype=float), nan=0.0)


@dataclass
class FakeTolerance:
    name: str = "fake-tolerance"
    version: str = "0"
    scale: float = 1.0
    constant: float | None = None

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(X), self.constant)
        z = (
            3.0
            - 0.03 * _col(X, "aerobic_minutes")
            - 0.04 * (_col(X, "aerobic_pct_hrmax") - 60)
            - 0.02 * (_col(X, "resistance_pct_1rm") - 50)
            - 0.3 * _col(X, "aerobic_sessions")
            - 0.5 * _col(X, "ecog")
        ) * self.scale
        return 1.0 / (1.0 + np.exp(-z))

    def explain(self, X: np.ndarray | pd.DataFrame) -> np.ndarray | None:
        from features import FEATURE_SET

        out = np.zeros((len(X), len(FEATURE_SET.columns) + 1))
        cols = list(FEATURE_SET.columns)
        if "aerobic_minutes" in cols:
            out[:, cols.index("aerobic_minutes")] = -0.03 * _col(X, "aerobic_minutes")
        return out


@dataclass
class FakeAdherence:
    name: str = "fake-adherence"
    version: str = "0"
    constant: float | None = None

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(X), self.constant)
        z = 2.5 - 0.25 * (_col(X, "aerobic_sessions") + _col(X, "resistance_sessions"))
        return 1.0 / (1.0 + np.exp(-z))

    def explain(self, X: np.ndarray | pd.DataFrame) -> np.ndarray | None:
        return None


def fake_models(**kw) -> Models:
    return Models(tolerance=FakeTolerance(**kw), adherence=FakeAdherence())


def hold_recommendation() -> Recommendation:
    """A typed hold recommendation (no dose) for tests of what reads one (pages, CDS cards)."""
    import datetime as dt

    from serving.guidelines.kernel import FiredRule
    from serving.policy import ModelVersion, Recommendation

    return Recommendation(
        patient_id="p",
        as_of=dt.date(2026, 11, 20),
        decision="hold",
        prescription=None,
        predictions=None,
        explanation=(),
        rules=(FiredRule("hold.fever", "hold", "fever", "c"),),
        tolerance_model=ModelVersion("t", "1"),
        adherence_model=ModelVersion("a", "1"),
        guideline_version="g",
        unknown_facts=(),
        reference_plan=None,
        progression_reference=None,
    )


def fake_arm_env(settings: Settings) -> ArmEnv:
    """An evaluation environment on the fake models (importable: spawned workers load it)."""
    from evaluation.arms import ArmEnv

    models = fake_models()
    return ArmEnv(settings=settings, models_loader=lambda: models)

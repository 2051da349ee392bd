"""Calibration must keep the model's resolution between nearby doses: the policy chooses between
candidate weeks whose predicted tolerance differs a little. Training calibrates with Platt
scaling (strictly increasing), not isotonic regression, whose steps tie nearby probabilities
(training.models.calibrate_if_better: with isotonic the closed loop put 6 points fewer patients
at the guideline target, with AUROC, Brier and ECE unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from training.models import LgbmConfig, calibrate_if_better, fit_lightgbm


def _data(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """P(tolerate) falls with minutes and rises with fitness; `shift` moves the log-odds (a
    world the model was not fitted on, which calibration corrects)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"minutes": rng.uniform(10, 60, n), "fitness": rng.normal(0, 1, n)})
    logit = 2.5 - 0.05 * X["minutes"] + 0.8 * X["fitness"] + shift
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def _ladder() -> pd.DataFrame:
    """One patient's candidate doses: 10 to 60 minutes, one minute apart."""
    return pd.DataFrame({"minutes": np.arange(10.0, 61.0), "fitness": 0.3})


def _model(seed: int):
    """A monotone LightGBM fitted on the world without a shift."""
    X, y = _data(6000, 0.0, seed)
    X_val, y_val = _data(2000, 0.0, seed + 1)
    return fit_lightgbm(
        X, y, X_val, y_val, frozenset({"minutes"}), seed=0, config=LgbmConfig(n_estimators=200)
    )


def test_calibration_corrects_a_shift_and_keeps_every_dose_apart() -> None:
    model = _model(0)
    X_cal, y_cal = _data(6000, -1.0, 2)  # the world moved: tolerance is lower
    calibrated, kind = calibrate_if_better(model, X_cal, y_cal)
    assert kind == "sigmoid"
    raw = model.predict_proba(_ladder())[:, 1]
    cal = calibrated.predict_proba(_ladder())[:, 1]  # type: ignore[attr-defined]
    X_new, y_new = _data(6000, -1.0, 3)
    p_new = calibrated.predict_proba(X_new)[:, 1]  # type: ignore[attr-defined]
    assert p_new.mean() < model.predict_proba(X_new)[:, 1].mean()
    assert abs(p_new.mean() - y_new.mean()) < 0.03
    # the ranking of the ladder is the model's, and doses the model tells apart stay apart
    apart = np.diff(raw) != 0
    assert apart.sum() >= 10
    assert np.all(np.sign(np.diff(cal))[apart] == np.sign(np.diff(raw))[apart])
    # what isotonic regression would have done to the same ladder (why it is not used)
    iso = CalibratedClassifierCV(FrozenEstimator(model), method="isotonic").fit(X_cal, y_cal)
    iso_cal = iso.predict_proba(_ladder())[:, 1]
    assert np.sum(np.diff(iso_cal)[apart] == 0) > 0


def test_calibration_on_a_small_split_never_reorders_doses() -> None:
    """Without a shift, on 400 rows: calibration is kept or not as the held-out half says (here
    by noise), and either way the model's order of the doses is kept."""
    model = _model(4)
    X_cal, y_cal = _data(400, 0.0, 6)
    calibrated, kind = calibrate_if_better(model, X_cal, y_cal)
    if kind == "none":
        assert calibrated is model
    cal = calibrated.predict_proba(_ladder())[:, 1]  # type: ignore[attr-defined]
    raw = model.predict_proba(_ladder())[:, 1]
    assert np.all(np.sign(np.diff(cal)) == np.sign(np.diff(raw)))

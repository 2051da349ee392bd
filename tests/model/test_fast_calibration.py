"""The serving fast path's isotonic step (serving.models._calibrate) gives exactly what the
scikit-learn calibrator gives, inside, at and beyond the fitted range."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from serving.models import _calibrate


@pytest.mark.parametrize("out_of_bounds", ["clip", "nan"])
def test_isotonic_fast_path_equals_sklearn(out_of_bounds: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-2 * x))).astype(float)
    iso = IsotonicRegression(out_of_bounds=out_of_bounds, y_min=0, y_max=1).fit(x, y)
    probe = np.r_[np.linspace(-6, 6, 301), x[:20], iso.X_thresholds_]
    np.testing.assert_allclose(
        _calibrate(iso, probe), iso.predict(probe), rtol=0, atol=1e-12, equal_nan=True
    )


def test_platt_fast_path_equals_sklearn() -> None:
    """Platt scaling (what training registers since 2026-12) through the fast path."""
    from sklearn.calibration import _SigmoidCalibration

    rng = np.random.default_rng(1)
    p = rng.random(500)
    y = (rng.random(500) < 0.2 + 0.6 * p).astype(float)
    platt = _SigmoidCalibration().fit(p, y)
    probe = np.r_[np.linspace(-0.5, 1.5, 201), p[:20]]
    np.testing.assert_allclose(_calibrate(platt, probe), platt.predict(probe), rtol=0, atol=1e-15)

"""The link functions of the simulator's logistic models."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def probit_scale(sd: float) -> float:
    """E[sigmoid(x + sd z)] ~ sigmoid(x / this) (probit approximation): noise integrated out."""
    return float(np.sqrt(1.0 + np.pi * sd**2 / 8.0))

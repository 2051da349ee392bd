"""The numbers behind every monitoring figure: drift between two histograms (PSI, Jensen-Shannon)
and realised performance of probabilities against labels (AUROC, Brier, ECE, calibration slope
and intercept). Plain numpy on counts, so the same code serves 100 rows or 100,000.

AUROC and ECE are the training code's own (`training.evaluate`), so a realised figure and the
held-out figure a model was promoted on are the same quantity.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import brier_score_loss

from training.evaluate import expected_calibration_error, safe_auroc

# Empty bins get this share before the logs (PSI and JS are undefined on a zero).
EPSILON = 1e-4


def _shares(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    total = c.sum()
    if total <= 0:
        return np.full(c.shape, 1.0 / max(len(c), 1))
    p = np.maximum(c / total, EPSILON)
    return p / p.sum()


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins:
    sum (q - p) ln(q / p); 0.1 is a small shift, 0.25 a large one (the industry's rule of thumb).
    NaN when either side is empty (no data is not "no drift")."""
    if np.sum(reference) <= 0 or np.sum(current) <= 0:
        return float("nan")
    p, q = _shares(reference), _shares(current)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_noise(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI expected from sampling alone when nothing shifted: two samples of sizes n1 and n2 over
    k occupied bins give PSI ~ chi-square(k - 1) x (1/n1 + 1/n2), mean (k - 1)(1/n1 + 1/n2). A
    week of 150 rows against a 300-row baseline over 10 bins is ~0.09 of pure noise, so a fixed
    0.25 threshold alone raises false alarms in small clinics."""
    n1, n2 = float(np.sum(reference)), float(np.sum(current))
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    k = int(np.count_nonzero(np.asarray(reference) + np.asarray(current)))
    return max(k - 1, 0) * (1.0 / n1 + 1.0 / n2)


def js_divergence(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, so in [0, 1]) of two count vectors over the same bins;
    symmetric and bounded, unlike PSI. NaN when either side is empty."""
    if np.sum(reference) <= 0 or np.sum(current) <= 0:
        return float("nan")
    p, q = _shares(reference), _shares(current)
    m = (p + q) / 2
    return float(0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m)))


def bin_counts(values: np.ndarray, edges: list[float] | np.ndarray) -> np.ndarray:
    """Counts of finite values in the reference's bins; values outside the outer edges fall in
    the outer bins (a shift past the training range is the drift we want to see), plus one last
    bin for missing values."""
    x = np.asarray(values, dtype=float)
    e = np.asarray(edges, dtype=float)
    missing = int(np.sum(~np.isfinite(x)))
    present = x[np.isfinite(x)]
    n_bins = max(len(e) - 1, 1)
    if len(e) < 2:
        counts = np.array([present.size])
    else:
        inner = e[1:-1]
        idx = np.searchsorted(inner, present, side="right")
        counts = np.bincount(idx, minlength=n_bins)[:n_bins]
    return np.append(counts, missing).astype(float)


def data_edges(values: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin edges for drift against a sample: one bin per value for a feature with at most
    `bins` distinct values (flags, ECOG, stage: quantile edges would merge 0 and 1 into one
    bin and hide any change of their shares), else quantile edges as the stored reference."""
    x = np.asarray(values, dtype=float)
    present = np.unique(x[np.isfinite(x)])
    if present.size == 0:
        return np.array([])
    if present.size == 1:
        return np.array([present[0], present[0]])
    if present.size <= bins:
        return np.concatenate([[present[0]], (present[:-1] + present[1:]) / 2, [present[-1]]])
    return np.unique(np.quantile(x[np.isfinite(x)], np.linspace(0, 1, bins + 1)))


def reference_counts(hist: dict) -> np.ndarray:
    """A stored feature histogram (`training.registry.feature_histogram`) as counts + missing."""
    counts = list(hist.get("counts") or [])
    if not hist.get("edges"):
        counts = [0]
    return np.array([*counts, hist.get("missing", 0)], dtype=float)


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the logistic recalibration `logit P(y) = a + b logit(p)`
    (Cox 1958): 1 and 0 when calibrated; a slope below 1 means over-confident predictions, an
    intercept below 0 predictions too high. NaN with a single class or constant predictions."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    if len(y) < 2 or len(np.unique(y)) < 2 or np.ptp(p) < 1e-9:
        return float("nan"), float("nan")
    x = np.log(p / (1 - p))
    a, b = 0.0, 1.0
    for _ in range(50):  # Newton-Raphson on the two-parameter log-likelihood
        eta = np.clip(a + b * x, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        w = np.maximum(mu * (1 - mu), 1e-12)
        g = np.array([np.sum(y - mu), np.sum((y - mu) * x)])
        h = np.array([[np.sum(w), np.sum(w * x)], [np.sum(w * x), np.sum(w * x * x)]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return float("nan"), float("nan")
        a, b = a + step[0], b + step[1]
        if np.max(np.abs(step)) < 1e-8:
            break
    if not (math.isfinite(a) and math.isfinite(b)):
        return float("nan"), float("nan")
    return float(b), float(a)


def auroc_se(auroc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC from its value and class sizes (Hanley and McNeil 1982):
    the noise a weekly AUROC has even when nothing changed (~0.02 on 1,400 sessions at 86%
    tolerated); NaN when undefined."""
    a = float(auroc)
    if not math.isfinite(a) or n_pos < 1 or n_neg < 1:
        return float("nan")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def performance(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Realised performance of probabilities `p` on labels `y` (NaN where undefined)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(y)
    if n == 0:
        nan = float("nan")
        return {
            "n": 0.0,
            "positive_rate": nan,
            "mean_prediction": nan,
            "auroc": nan,
            "auroc_se": nan,
            "brier": nan,
            "ece": nan,
            "calibration_slope": nan,
            "calibration_intercept": nan,
        }
    slope, intercept = calibration_slope_intercept(y, p)
    auroc = safe_auroc(y.astype(int), p)
    n_pos = int(y.sum())
    return {
        "n": float(n),
        "positive_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
        "auroc": auroc,
        "auroc_se": auroc_se(auroc, n_pos, n - n_pos),
        "brier": float(brier_score_loss(y.astype(int), p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-mass bins of (mean prediction, observed rate, n): the reliability diagram."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    return [
        {"predicted": float(p[i].mean()), "observed": float(y[i].mean()), "n": float(len(i))}
        for i in np.array_split(order, bins)
        if len(i)
    ]

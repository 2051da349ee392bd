"""Confidence-based expected performance: the AUROC, ECE and Brier score that predictions imply
if they are calibrated (the idea of NannyML's CBPE), from the predictions alone.

Why: realised AUROC depends on who is being predicted as much as on the model. Under Dosewise
the policy serves doses it predicts are tolerated, so the served predictions span a narrower
range than the training cohort's randomised doses, and a perfectly good model discriminates
less in service (case-mix). If each prediction p is the true probability, its label is
Bernoulli(p), and the AUROC and ECE that follow are computable before any label exists:

* expected AUROC = E[concordant pairs] / E[positive-negative pairs]
  = sum_{i != j} p_i (1 - p_j) [p_i > p_j] (+ half for ties) / sum_{i != j} p_i (1 - p_j),
  the ratio of expectations, as CBPE computes it (exact for the pairs, an approximation of the
  expected ratio that is unbiased to O(1/n));
* expected ECE = the sampling floor of the training code's ECE (10 equal-mass bins): per bin,
  E|mean(y) - mean(p)| with y ~ Bernoulli(p), exactly (Poisson-binomial) for bins of up to
  `EXACT_BIN` rows and by the normal approximation sqrt(2/pi) sd above it;
* expected Brier = mean p (1 - p).

Realised far below expected is model decay (the labels no longer follow the predictions);
realised equal to expected but below the held-out figure is case-mix. Applied to the champion's
held-out predictions, the expected figures should reproduce the held-out ones (a check of the
estimator and of the held-out calibration, reported by `monitor`).
"""

from __future__ import annotations

import math

import numpy as np

BINS = 10  # training.evaluate.expected_calibration_error's bins
EXACT_BIN = 400  # bins up to this size get the exact Poisson-binomial expectation


def expected_auroc(p: np.ndarray, w: np.ndarray | None = None) -> float:
    """AUROC expected if each label is Bernoulli(p_i); weights `w` count rows (e.g. sessions per
    prediction); NaN when fewer than two rows or every p is 0 or 1 on one side."""
    p = np.asarray(p, dtype=float)
    w = np.ones_like(p) if w is None else np.asarray(w, dtype=float)
    ok = np.isfinite(p) & np.isfinite(w) & (w > 0)
    p, w = p[ok], w[ok]
    if len(p) < 2:
        return float("nan")
    values, inv = np.unique(p, return_inverse=True)  # ascending, ties grouped
    pos = np.bincount(inv, weights=w * p, minlength=len(values))
    neg = np.bincount(inv, weights=w * (1 - p), minlength=len(values))
    own = np.bincount(inv, weights=w * p * (1 - p), minlength=len(values))  # a row with itself
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])  # negatives with a smaller p
    concordant = np.sum(pos * below) + 0.5 * np.sum(pos * neg - own)
    pairs = pos.sum() * neg.sum() - own.sum()
    return float(concordant / pairs) if pairs > 0 else float("nan")


def _bin_floor(p: np.ndarray) -> float:
    """E|mean(y) - mean(p)| for independent y_i ~ Bernoulli(p_i) (one bin)."""
    n = len(p)
    mean = p.mean()
    if n <= EXACT_BIN:
        dist = np.zeros(n + 1)
        dist[0] = 1.0
        for k, pk in enumerate(p):  # Poisson-binomial by dynamic programming
            dist[1 : k + 2] = dist[1 : k + 2] * (1 - pk) + dist[: k + 1] * pk
            dist[0] *= 1 - pk
        return float(np.sum(dist * np.abs(np.arange(n + 1) / n - mean)))
    return math.sqrt(2 / math.pi) * math.sqrt(float(np.sum(p * (1 - p)))) / n


def expected_ece(p: np.ndarray, bins: int = BINS) -> float:
    """ECE (equal-mass bins, as `training.evaluate.expected_calibration_error`) expected from
    sampling alone if the predictions are calibrated: the floor a realised ECE sits on."""
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p)]
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = sum(len(idx) * _bin_floor(p[idx]) for idx in np.array_split(order, bins) if len(idx))
    return float(total / len(p))


def expected_brier(p: np.ndarray, w: np.ndarray | None = None) -> float:
    """Brier score expected if each label is Bernoulli(p): the weighted mean of p (1 - p)."""
    p = np.asarray(p, dtype=float)
    w = np.ones_like(p) if w is None else np.asarray(w, dtype=float)
    ok = np.isfinite(p) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(p[ok] * (1 - p[ok]), weights=w[ok]))


def expected_performance(p: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """`expected_auroc`, `expected_ece`, `expected_brier` and the expected positive rate.
    With weights, ECE is computed on the rows repeated by their rounded weights."""
    p = np.asarray(p, dtype=float)
    if w is None:
        rows = p
    else:
        reps = np.rint(np.nan_to_num(np.asarray(w, dtype=float))).clip(0).astype(int)
        rows = np.repeat(p, reps)
    ok = np.isfinite(p) if w is None else np.isfinite(p) & (np.asarray(w, dtype=float) > 0)
    wv = None if w is None else np.asarray(w, dtype=float)[ok]
    return {
        "expected_auroc": expected_auroc(p, w),
        "expected_ece": expected_ece(rows),
        "expected_brier": expected_brier(p, w),
        "expected_positive_rate": float(np.average(p[ok], weights=wv)) if ok.any() else math.nan,
    }

"""Held-out evaluation: discrimination, calibration, oracle and baselines, subgroups, plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-mass bins: weighted mean |observed rate - mean prediction|."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, bins)
    total = 0.0
    for idx in chunks:
        if len(idx):
            total += len(idx) * abs(y[idx].mean() - p[idx].mean())
    return float(total / len(y))


def safe_auroc(y: np.ndarray, p: np.ndarray) -> float:
    """AUROC, or NaN when only one class is present (tiny subgroups)."""
    y = np.asarray(y)
    ok = ~np.isnan(np.asarray(p, dtype=float))
    if ok.sum() == 0 or len(np.unique(y[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(y[ok], np.asarray(p, dtype=float)[ok]))


def core_metrics(
    y: np.ndarray,
    p: np.ndarray,
    *,
    baseline: np.ndarray,
    heuristic: np.ndarray,
    oracle: np.ndarray,
) -> dict[str, float]:
    """The metrics every registered version carries (DESIGN.md section 8)."""
    return {
        "auroc": safe_auroc(y, p),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "baseline_auroc": safe_auroc(y, baseline),
        "heuristic_auroc": safe_auroc(y, heuristic),
        "oracle_auroc": safe_auroc(y, oracle),
        "n_test": float(len(y)),
        "positive_rate": float(np.mean(y)),
    }


def subgroup_auroc(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> dict[str, float]:
    """AUROC within each level of each grouping column (cancer type, ECOG, metastatic, age band)."""
    out: dict[str, float] = {}
    for col in groups.columns:
        values = groups[col].astype(str).to_numpy()
        for level in sorted(set(values)):
            mask = values == level
            if mask.sum() >= 50:
                out[f"auroc__{col}__{level}"] = safe_auroc(y[mask], p[mask])
    return out


def plot_calibration(y: np.ndarray, p: np.ndarray, oracle: np.ndarray, title: str, path: Path):
    """Reliability diagram over 10 equal-mass bins, model and oracle side by side."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for probs, label in ((p, "model"), (oracle, "oracle (simulator truth)")):
        if np.isnan(probs).all():
            continue
        order = np.argsort(probs, kind="stable")
        chunks = np.array_split(order, 10)
        ax.plot(
            [probs[c].mean() for c in chunks],
            [y[c].mean() for c in chunks],
            marker="o",
            label=label,
        )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_importance(names: list[str], gains: np.ndarray, title: str, path: Path, top: int = 20):
    """Horizontal bar chart of the top features by total gain."""
    order = np.argsort(gains)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(order) + 1))
    ax.barh([names[i] for i in order], gains[order])
    ax.set_xlabel("total gain")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def age_band(age: pd.Series) -> pd.Series:
    return pd.cut(
        age, [0, 50, 65, 75, 200], labels=["under50", "50-64", "65-74", "75plus"], right=False
    )

"""From recommendations, their labels and the champions' references to the monitoring figures:
prediction drift and feature drift per ISO week, the decision mix, and realised performance per
week, model version and subgroup. Pure functions of frames: no database, no MLflow.

Which reference: prediction drift compares each model's served predictions with that model
version's held-out predictions; feature drift compares the model input rows with the adherence
model's held-out feature histograms, because adherence examples are built, like a served
request, at the start of the week (tolerance examples sit at each session's date).
Candidate-dose features are left out of feature drift: they are the policy's choice, not the
population, and a served input row is built without a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features import FEATURE_SET
from monitoring import stats

KINDS = ("tolerance", "adherence")
LABEL = {"tolerance": "tolerated", "adherence": "attended"}
PREDICTION_EDGES = np.linspace(0.0, 1.0, 21)
# Features whose drift is monitored: who the patients are and what their history says.
MONITORED_FEATURES = FEATURE_SET.profile + FEATURE_SET.history


def subgroup_masks(frame_features: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Subgroups of recommendations from their input rows (the closed-loop report's groups)."""
    col = {n: frame_features[:, names.index(n)] for n in ("age", "stage", "ecog")}
    chemo = frame_features[:, names.index("phase_chemotherapy")]
    palliative = frame_features[:, names.index("phase_palliative")]
    with np.errstate(invalid="ignore"):
        return {
            "on_chemotherapy": chemo == 1,
            "stage_iv_or_palliative": (col["stage"] >= 4) | (palliative == 1),
            "ecog_2_plus": col["ecog"] >= 2,
            "age_70_plus": col["age"] >= 70,
        }


def prediction_counts(p: np.ndarray) -> np.ndarray:
    """Counts of predictions in 20 equal bins on [0, 1] (the reference's bins)."""
    x = np.asarray(p, dtype=float)
    x = x[np.isfinite(x)]
    counts, _ = np.histogram(np.clip(x, 0.0, 1.0), bins=PREDICTION_EDGES)
    return counts.astype(float)


def prediction_drift(
    recs: pd.DataFrame, references: Mapping[tuple[str, str], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """PSI and JS of each week's served predictions vs the serving version's reference."""
    out = []
    for kind in KINDS:
        for (week, version), g in recs.groupby(["week", f"{kind}_version"], sort=True):
            p = g[f"pred_{kind}"].to_numpy(float)
            p = p[np.isfinite(p)]
            ref = references.get((kind, str(version)))
            cur = prediction_counts(p)
            row = {"kind": kind, "week": week, "version": str(version), "n": len(p)}
            row["mean"] = float(p.mean()) if len(p) else float("nan")
            if ref is None:
                row |= {"psi": float("nan"), "js": float("nan"), "reference": False}
            else:
                refc = np.asarray(ref["predictions"]["counts"], dtype=float)
                row |= {
                    "psi": stats.psi(refc, cur),
                    "js": stats.js_divergence(refc, cur),
                    "reference": True,
                    "reference_mean": float(np.mean(ref["heldout_predictions"])),
                }
            out.append(row)
    return out


def feature_drift(
    recs: pd.DataFrame,
    matrix: np.ndarray,
    names: tuple[str, ...],
    references: Mapping[tuple[str, str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """PSI of every monitored feature per week vs the adherence version's feature histograms
    (`week = "all"` for the whole window), with the missing share of each side."""
    out = []
    weeks = recs["week"].to_numpy()
    versions = recs["adherence_version"].astype(str).to_numpy()
    groups = [("all", v, versions == v) for v in np.unique(versions)]
    groups += [
        (w, v, (weeks == w) & (versions == v))
        for w in np.unique(weeks)
        for v in np.unique(versions)
    ]
    for week, version, mask in groups:
        if not mask.any():
            continue
        ref = references.get(("adherence", version))
        if ref is None:
            continue
        sub = matrix[mask]
        for name in MONITORED_FEATURES:
            hist = ref["features"].get(name)
            if hist is None:
                continue
            j = names.index(name)
            refc = stats.reference_counts(hist)
            cur = stats.bin_counts(sub[:, j], hist.get("edges") or [])
            out.append(
                {
                    "week": week,
                    "version": version,
                    "feature": name,
                    "psi": stats.psi(refc, cur),
                    "missing": float(cur[-1] / max(cur.sum(), 1)),
                    "reference_missing": float(refc[-1] / max(refc.sum(), 1)),
                    "n": int(mask.sum()),
                }
            )
    return out


def decision_mix(recs: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of each decision per week."""
    counts = recs.groupby(["week", "decision"]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    return [
        {"week": w, "n": int(counts.loc[w].sum()), **{d: float(shares.loc[w, d]) for d in shares}}
        for w in shares.index
    ]


def realised_performance(
    recs: pd.DataFrame, labels: pd.DataFrame, groups: Mapping[str, np.ndarray]
) -> list[dict[str, Any]]:
    """AUROC, Brier, ECE, calibration slope and intercept per kind, per (week, version) and per
    (version, subgroup) over the window (`week = "all"`, `subgroup = "all"` for totals)."""
    out = []
    if labels.empty:
        return out
    rec = labels["rec"].to_numpy(int)
    for kind in KINDS:
        y = labels[LABEL[kind]].to_numpy(float)
        p = recs[f"pred_{kind}"].to_numpy(float)[rec]
        ok = np.isfinite(y) & np.isfinite(p)
        week = recs["week"].to_numpy()[rec]
        version = recs[f"{kind}_version"].astype(str).to_numpy()[rec]
        parts: list[tuple[str, str, str, np.ndarray]] = []
        for v in np.unique(version[ok]):
            vm = ok & (version == v)
            parts.append(("all", v, "all", vm))
            parts += [(w, v, "all", vm & (week == w)) for w in np.unique(week[vm])]
            parts += [("all", v, g, vm & m[rec]) for g, m in groups.items()]
        for w, v, g, m in parts:
            out.append(
                {"kind": kind, "week": w, "version": v, "subgroup": g}
                | stats.performance(y[m], p[m])
            )
    return out


def reliability_curves(recs: pd.DataFrame, labels: pd.DataFrame) -> dict[str, list[dict]]:
    """The window's reliability diagram per kind (all versions together)."""
    out: dict[str, list[dict]] = {}
    if labels.empty:
        return out
    rec = labels["rec"].to_numpy(int)
    for kind in KINDS:
        y = labels[LABEL[kind]].to_numpy(float)
        p = recs[f"pred_{kind}"].to_numpy(float)[rec]
        ok = np.isfinite(y) & np.isfinite(p)
        out[kind] = stats.reliability(y[ok], p[ok]) if ok.any() else []
    return out

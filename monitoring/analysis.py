"""From recommendations, their labels and the champions' references to the monitoring figures:
prediction drift and feature drift per ISO week, the decision mix, and realised performance per
week, model version and subgroup. Pure functions of frames: no database, no MLflow.

Two references: each figure is compared with the champion's held-out reference (stored at
promotion; `*_reference` keys) and with the serving version's deployment baseline, its first
`monitor_baseline_weeks` weeks in service (`psi`, `js`), which is what the alarms read. Why both:
under Dosewise the served predictions and the dose-driven history features differ from the
training cohort's by design (the policy picks well-tolerated doses where training doses were
randomised), by PSI 0.2-0.4 on predictions and up to 1.1 on RPE features in a no-shift
deployment; a threshold loose enough for that would miss real shifts. The baseline has the
policy's own shape, so a change after it is a change in the world.

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
from monitoring import expected, stats

KINDS = ("tolerance", "adherence")
LABEL = {"tolerance": "tolerated", "adherence": "attended"}
PREDICTION_EDGES = np.linspace(0.0, 1.0, 21)
# Features whose drift is monitored: who the patients are and what their history says.
MONITORED_FEATURES = FEATURE_SET.profile + FEATURE_SET.history
# History features that count or measure the doses given (planned sessions, minutes, intensity,
# session spacing), and the tolerated and completed shares of those doses: under Dosewise they
# follow the policy's choices (which differ from the training cohort's randomised doses by
# design, and adapt to the record: minutes step back when most sessions were not tolerated), so
# they are reported and ranked but raise no alarm; a patient population that tolerates less than
# the model believes shows in the tolerance calibration instead. Everything else about the
# patient and how they responded (RPE, pain, fatigue, adverse events, attendance) raises alarms.
_DOSE_PATTERNS = (
    "n_planned",
    "completed_minutes",
    "sessions_per_week",
    "minutes_mean",
    "weekly_minutes",
    "pct_hrmax_mean",
    "pct_1rm_mean",
    "sets_mean",
    "n_sessions_total",
    "days_since_last",
    "days_since_first",
    "tolerated_rate",
    "intolerant_streak",
    "completion_rate",
)
DOSE_HISTORY = tuple(f for f in FEATURE_SET.history if any(p in f for p in _DOSE_PATTERNS))
ALARM_FEATURES = tuple(f for f in MONITORED_FEATURES if f not in DOSE_HISTORY)


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
    recs: pd.DataFrame,
    references: Mapping[tuple[str, str], dict[str, Any] | None],
    baseline: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per week and serving version: PSI and JS of the served predictions vs the version's
    deployment baseline (`psi`, `js`: its first weeks in service), and vs the champion's
    held-out reference (`psi_reference`, `js_reference`)."""
    out = []
    nan = float("nan")
    for kind in KINDS:
        col, vcol = f"pred_{kind}", f"{kind}_version"
        for (week, version), g in recs.groupby(["week", vcol], sort=True):
            p = g[col].to_numpy(float)
            p = p[np.isfinite(p)]
            cur = prediction_counts(p)
            row: dict[str, Any] = {"kind": kind, "week": week, "version": str(version)}
            row |= {"n": len(p), "mean": float(p.mean()) if len(p) else nan}
            ref = references.get((kind, str(version)))
            row["reference"] = ref is not None
            if ref is not None:
                refc = np.asarray(ref["predictions"]["counts"], dtype=float)
                row["psi_reference"] = stats.psi(refc, cur)
                row["js_reference"] = stats.js_divergence(refc, cur)
                row["reference_mean"] = float(np.mean(ref["heldout_predictions"]))
            else:
                row |= {"psi_reference": nan, "js_reference": nan, "reference_mean": nan}
            base = _baseline_rows(baseline, vcol, str(version))
            in_base = base is not None and week in set(base["week"])
            if base is None or in_base:
                row |= {"psi": nan, "js": nan, "baseline_mean": nan, "in_baseline": in_base}
            else:
                b = base[col].to_numpy(float)
                b = b[np.isfinite(b)]
                bc = prediction_counts(b)
                row |= {
                    "psi": stats.psi(bc, cur),
                    "psi_noise": stats.psi_noise(bc, cur),
                    "js": stats.js_divergence(bc, cur),
                    "baseline_mean": float(b.mean()) if len(b) else nan,
                    "baseline_n": len(b),
                    "in_baseline": False,
                }
            out.append(row)
    return out


def _baseline_rows(baseline: pd.DataFrame | None, vcol: str, version: str) -> pd.DataFrame | None:
    if baseline is None or baseline.empty:
        return None
    flag = f"baseline_{vcol.removesuffix('_version')}"
    rows = baseline[(baseline[vcol].astype(str) == version) & baseline[flag].astype(bool)]
    return None if rows.empty else rows


def feature_drift(
    recs: pd.DataFrame,
    matrix: np.ndarray,
    names: tuple[str, ...],
    references: Mapping[tuple[str, str], dict[str, Any] | None],
    baseline: pd.DataFrame | None = None,
    baseline_matrix: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """PSI of every monitored feature per week (`week = "all"` for the window): vs the adherence
    version's deployment baseline (`psi`, in bins made from the baseline: one per value for
    discrete features) and vs its held-out histograms (`psi_reference`, in their stored
    quantile bins), with the missing shares. Recommendations with a dose
    only (hold and refer weeks have no planned sessions, so no training example either)."""
    out = []
    nan = float("nan")
    dosed = np.isfinite(recs["pred_adherence"].to_numpy(float))
    weeks = np.where(dosed, recs["week"].to_numpy(), "")
    versions = np.where(dosed, recs["adherence_version"].astype(str).to_numpy(), "")
    vs, ws = np.unique(versions[dosed]), np.unique(weeks[dosed])
    groups = [("all", v, versions == v) for v in vs]
    groups += [(w, v, (weeks == w) & (versions == v)) for w in ws for v in vs]
    base_edges: dict[tuple[str, str], np.ndarray] = {}  # bins of the baseline, per feature
    for week, version, mask in groups:
        if not mask.any():
            continue
        ref = references.get(("adherence", version))
        if ref is None:
            continue
        base_mask = None
        in_base = False
        if baseline is not None and baseline_matrix is not None and len(baseline):
            base_mask = (
                (baseline["adherence_version"].astype(str).to_numpy() == version)
                & np.isfinite(baseline["pred_adherence"].to_numpy(float))
                & baseline["baseline_adherence"].to_numpy(bool)
            )
            in_base = week in set(baseline["week"].to_numpy()[base_mask])
            if not base_mask.any() or in_base:
                base_mask = None
        sub = matrix[mask]
        for name in MONITORED_FEATURES:
            hist = ref["features"].get(name)
            if hist is None:
                continue
            j = names.index(name)
            edges = hist.get("edges") or []
            refc = stats.reference_counts(hist)
            cur = stats.bin_counts(sub[:, j], edges)
            row = {
                "week": week,
                "version": version,
                "feature": name,
                "psi_reference": stats.psi(refc, cur),
                "missing": float(cur[-1] / max(cur.sum(), 1)),
                "reference_missing": float(refc[-1] / max(refc.sum(), 1)),
                "n": int(mask.sum()),
                "alarm_eligible": name in ALARM_FEATURES,
                "in_baseline": in_base,
                "psi": nan,
                "baseline_missing": nan,
            }
            if base_mask is not None:
                base_values = baseline_matrix[base_mask, j]
                key = (version, name)
                if key not in base_edges:
                    base_edges[key] = stats.data_edges(base_values)
                bc = stats.bin_counts(base_values, base_edges[key])
                cc = stats.bin_counts(sub[:, j], base_edges[key])
                row["psi"] = stats.psi(bc, cc)
                row["psi_noise"] = stats.psi_noise(bc, cc)
                row["baseline_missing"] = float(bc[-1] / max(bc.sum(), 1))
            out.append(row)
    return out


def decision_mix(recs: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of each decision per week."""
    counts = recs.groupby(["week", "decision"]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    return [
        {"week": w, "n": int(counts.loc[w].sum()), **{d: float(shares.loc[w, d]) for d in shares}}
        for w in shares.index
    ]


def _label_predictions(recs: pd.DataFrame, labels: pd.DataFrame, kind: str) -> np.ndarray:
    """The prediction each label is scored against (`outcomes.session_predictions`)."""
    if f"p_{kind}" in labels:
        return labels[f"p_{kind}"].to_numpy(float)
    return recs[f"pred_{kind}"].to_numpy(float)[labels["rec"].to_numpy(int)]


def realised_performance(
    recs: pd.DataFrame, labels: pd.DataFrame, groups: Mapping[str, np.ndarray]
) -> list[dict[str, Any]]:
    """AUROC, Brier, ECE, calibration slope and intercept per kind, per (week, version) and per
    (version, subgroup) over the window (`week = "all"`, `subgroup = "all"` for totals), each
    beside what the same predictions imply if calibrated (`expected_auroc`, `expected_ece`,
    `expected_brier`: `monitoring.expected`), so case-mix and model decay can be told apart."""
    out = []
    if labels.empty:
        return out
    rec = labels["rec"].to_numpy(int)
    per_modality = (
        labels["per_modality"].to_numpy(bool)
        if "per_modality" in labels
        else np.zeros(len(labels), bool)
    )
    for kind in KINDS:
        y = labels[LABEL[kind]].to_numpy(float)
        p = _label_predictions(recs, labels, kind)
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
                | expected.expected_performance(p[m])
                | {"per_modality_share": float(per_modality[m].mean()) if m.any() else 0.0}
            )
    return out


def expected_before_labels(recs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per kind, ISO week and version, the performance the served predictions imply before any
    label exists: each prescribed modality's prediction weighted by its prescribed sessions
    (adherence: every planned session is a label) or by sessions x P(attend) (tolerance: only
    attended sessions are). Rows without per-modality predictions (before migration 0005) use
    the served prediction with weight 1."""
    out = []
    for kind in KINDS:
        vcol = f"{kind}_version"
        for (week, version), g in recs.groupby(["week", vcol], sort=True):
            ps, ws = [], []
            for m in ("aerobic", "resistance"):
                col = f"pred_{kind}_{m}"
                if col not in g:
                    continue
                p = g[col].to_numpy(float)
                w = g[f"sessions_{m}"].to_numpy(float)
                if kind == "tolerance":
                    w = w * g[f"pred_adherence_{m}"].to_numpy(float)
                ps.append(p)
                ws.append(w)
            p = np.concatenate(ps) if ps else np.array([])
            w = np.concatenate(ws) if ws else np.array([])
            fin = np.isfinite(p) & np.isfinite(w)
            if not fin.any():  # old rows: the served prediction, one per recommendation
                p = g[f"pred_{kind}"].to_numpy(float)
                w = np.ones_like(p)
                fin = np.isfinite(p)
            out.append(
                {"kind": kind, "week": week, "version": str(version), "n": int(fin.sum())}
                | expected.expected_performance(p[fin], w[fin])
            )
    return out


def estimator_check(
    references: Mapping[tuple[str, str], dict[str, Any] | None],
    heldout: Mapping[tuple[str, str], dict[str, float]],
) -> list[dict[str, Any]]:
    """The expected figures computed on each version's held-out predictions (the training
    case-mix) beside the held-out figures it was promoted on: they agree when the held-out
    predictions are calibrated, which is what makes the expected figures a valid yardstick."""
    out = []
    for (kind, version), ref in sorted(references.items()):
        if ref is None or ref.get("heldout_predictions") is None:
            continue
        p = np.asarray(ref["heldout_predictions"], dtype=float)
        held = heldout.get((kind, version), {})
        out.append(
            {
                "kind": kind,
                "version": version,
                "n": int(np.isfinite(p).sum()),
                "heldout_auroc": held.get("auroc", float("nan")),
                "heldout_ece": held.get("ece", float("nan")),
                "heldout_brier": held.get("brier", float("nan")),
            }
            | expected.expected_performance(p)
        )
    return out


def reliability_curves(recs: pd.DataFrame, labels: pd.DataFrame) -> dict[str, list[dict]]:
    """The window's reliability diagram per kind (all versions together)."""
    out: dict[str, list[dict]] = {}
    if labels.empty:
        return out
    for kind in KINDS:
        y = labels[LABEL[kind]].to_numpy(float)
        p = _label_predictions(recs, labels, kind)
        ok = np.isfinite(y) & np.isfinite(p)
        out[kind] = stats.reliability(y[ok], p[ok]) if ok.any() else []
    return out

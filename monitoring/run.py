"""`dosewise monitor`: read the window's recommendations, label them from the logged sessions,
compute drift and realised performance, judge them against the thresholds in settings.

Exit codes: 0 healthy, 3 a threshold crossed (the alarm says which, in which week and why, and
recommends retraining), 2 could not run (no database, no rows in the window, no reference).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.settings import Settings
from monitoring import analysis
from monitoring.outcomes import label_sessions
from monitoring.reading import AGREE, CASE_MIX_CITATION, EXPECTED_CITATION, performance_reading
from monitoring.store import read_baseline, read_recommendations

HEALTHY, ALARM, CANNOT_RUN = 0, 3, 2


class MonitorError(RuntimeError):
    """The monitor could not run (exit 2); the message says why."""


def thresholds(settings: Settings) -> dict[str, float]:
    return {
        "prediction_psi": settings.monitor_prediction_psi,
        "prediction_js": settings.monitor_prediction_js,
        "feature_psi": settings.monitor_feature_psi,
        "auroc_drop": settings.monitor_auroc_drop,
        "ece": settings.monitor_ece,
        "min_rows": settings.monitor_min_rows,
        "min_labels": settings.monitor_min_labels,
        "baseline_weeks": settings.monitor_baseline_weeks,
    }


def load_references(
    settings: Settings, recs: pd.DataFrame
) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], dict[str, float]]]:
    """Reference distributions and held-out figures of every model version in the window."""
    from monitoring.reference import heldout_metrics, load_reference
    from training import registry

    client = registry.configure(settings)
    refs: dict[tuple[str, str], Any] = {}
    heldout: dict[tuple[str, str], dict[str, float]] = {}
    for kind in analysis.KINDS:
        pairs = recs[[f"{kind}_model", f"{kind}_version"]].drop_duplicates()
        for name, version in pairs.itertuples(index=False):
            refs[(kind, str(version))] = load_reference(client, str(name), str(version))
            heldout[(kind, str(version))] = heldout_metrics(client, str(name), str(version))
    return refs, heldout


def read_sessions(folder: Path) -> pd.DataFrame:
    """The sessions table of a cohort folder (parquet or CSV, the usual format)."""
    from features.io import read_table

    return read_table(folder, "sessions")


def analyse(
    recs: pd.DataFrame,
    matrix: np.ndarray,
    sessions: pd.DataFrame | None,
    refs: dict[tuple[str, str], Any],
    heldout: dict[tuple[str, str], dict[str, float]],
    limits: dict[str, float],
    baseline: pd.DataFrame | None = None,
    baseline_matrix: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every figure of a window and the verdict (pure: frames in, JSON-able dict out).

    `baseline` (with `baseline_tolerance` / `baseline_adherence` flags) holds each serving
    version's first weeks in service, from `read_baseline`."""
    names = FEATURE_SET.columns
    labels = label_sessions(recs, sessions) if sessions is not None else pd.DataFrame()
    groups = analysis.subgroup_masks(matrix, names)
    pred = analysis.prediction_drift(recs, refs, baseline)
    feat = analysis.feature_drift(recs, matrix, names, refs, baseline, baseline_matrix)
    perf = analysis.realised_performance(recs, labels, groups)
    base_perf: dict[tuple[str, str], dict[str, float]] = {}
    if baseline is not None and sessions is not None and len(baseline):
        for kind in analysis.KINDS:
            rows = baseline[baseline[f"baseline_{kind}"].astype(bool)]
            base_labels = label_sessions(rows.reset_index(drop=True), sessions)
            for r in analysis.realised_performance(rows.reset_index(drop=True), base_labels, {}):
                if r["kind"] == kind and r["week"] == "all":
                    base_perf[(kind, r["version"])] = r
    weeks = sorted(recs["week"].unique().tolist())
    result: dict[str, Any] = {
        "recommendations": len(recs),
        "labelled_sessions": len(labels),
        "weeks": weeks,
        "versions": {
            kind: sorted(recs[f"{kind}_version"].astype(str).unique().tolist())
            for kind in analysis.KINDS
        },
        "heldout": {f"{k}:{v}": m for (k, v), m in heldout.items()},
        "baseline_performance": {f"{k}:{v}": m for (k, v), m in base_perf.items()},
        "baseline_weeks": _baseline_weeks(baseline),
        "thresholds": limits,
        "prediction_drift": pred,
        "feature_drift": sorted(
            (r for r in feat if r["week"] == "all"), key=lambda r: -_num(r["psi"])
        ),
        "feature_drift_weekly": [r for r in feat if r["week"] != "all"],
        "decision_mix": analysis.decision_mix(recs),
        "performance": perf,
        "expected_before_labels": analysis.expected_before_labels(recs),
        "estimator_check": analysis.estimator_check(refs, heldout),
        "reliability": analysis.reliability_curves(recs, labels),
        "missing_reference": sorted({f"{k}:{v}" for (k, v), r in refs.items() if r is None}),
        "scored_plans": _scored_plans(recs),
    }
    result["performance_reading"] = performance_reading(
        perf, result["heldout"], result["estimator_check"], limits["ece"]
    )
    result["reading_notes"] = {
        "agreement": AGREE,
        "expected": "what the served predictions imply if they are correct: AUROC = the "
        "model-based concordance (mbc), the case-mix-corrected c-statistic; ECE = its sampling "
        "floor; Brier = mean p(1 - p)",
        "citations": [EXPECTED_CITATION, CASE_MIX_CITATION],
    }
    result["alarms"] = judge(result, base_perf, limits)
    alarm_weeks = {a["week"] for a in result["alarms"]}
    result["health"] = [
        {"week": w, "healthy": w not in alarm_weeks, "signals": _signals(result["alarms"], w)}
        for w in weeks
    ]
    result["status"] = "alarm" if result["alarms"] else "healthy"
    result["recommendation"] = (
        "retrain: "
        + "; ".join(sorted({a["signal"] for a in result["alarms"]}))
        + " (dosewise train --data <deployment logs>; the promotion gate compares on the most "
        "recent labelled weeks)"
        if result["alarms"]
        else "no action: every week within the thresholds"
    )
    return result


def _scored_plans(recs: pd.DataFrame) -> dict[str, int]:
    """Recommendations per scored plan: `recommended` (active) or `usual_care` (shadow)."""
    if "scored_plan" not in recs:
        return {"recommended": len(recs)}
    return {str(k): int(v) for k, v in recs["scored_plan"].value_counts().sort_index().items()}


def _baseline_weeks(baseline: pd.DataFrame | None) -> dict[str, list[str]]:
    if baseline is None or baseline.empty:
        return {}
    out = {}
    for kind in analysis.KINDS:
        rows = baseline[baseline[f"baseline_{kind}"].astype(bool)]
        for v, g in rows.groupby(f"{kind}_version"):
            out[f"{kind}:{v}"] = sorted(g["week"].unique().tolist())
    return out


def _num(x: float) -> float:
    return -1.0 if x is None or not math.isfinite(x) else float(x)


def _noise(x: float | None) -> float:
    """The sampling PSI added to the threshold (0 when unknown)."""
    return 0.0 if x is None or not math.isfinite(x) else float(x)


def _signals(alarms: list[dict[str, Any]], week: str) -> list[str]:
    return sorted({a["signal"] for a in alarms if a["week"] == week})


def judge(
    result: dict[str, Any],
    baseline_perf: dict[tuple[str, str], dict[str, float]],
    limits: dict[str, float],
) -> list[dict[str, Any]]:
    """Every threshold crossed, per ISO week, each with the figure, the limit and why.

    Performance is judged against what the week's own predictions imply (`monitoring.expected`)
    rather than against the held-out figures, because realised AUROC moves with the case-mix
    (a served population with a narrower spread of risk is harder to rank, by design under
    Dosewise): calibration alarms when ECE exceeds its sampling floor by `ece`; discrimination
    when AUROC falls below the expected AUROC (less the estimator's bias on the held-out rows,
    where expected and held-out should agree) by `auroc_drop` plus two standard errors."""
    alarms: list[dict[str, Any]] = []
    estimator_bias = {
        (c["kind"], c["version"]): c["expected_auroc"] - c["heldout_auroc"]
        for c in result.get("estimator_check", [])
        if math.isfinite(c.get("expected_auroc", math.nan))
        and math.isfinite(c.get("heldout_auroc", math.nan))
    }
    for r in result["prediction_drift"]:
        if r["n"] < limits["min_rows"]:
            continue
        for metric, key in (("psi", "prediction_psi"), ("js", "prediction_js")):
            noise = _noise(r.get("psi_noise")) if metric == "psi" else 0.0
            if _num(r[metric]) > limits[key] + noise:
                alarms.append(
                    {
                        "week": r["week"],
                        "signal": f"prediction drift ({r['kind']})",
                        "metric": metric,
                        "value": r[metric],
                        "threshold": limits[key],
                        "why": f"{r['kind']} predictions {metric.upper()} {r[metric]:.3f} > "
                        f"{limits[key]} vs v{r['version']}'s first weeks in service (mean "
                        f"{r['mean']:.3f} vs {r['baseline_mean']:.3f}; vs the held-out "
                        f"reference PSI {r['psi_reference']:.3f})",
                    }
                )
    by_week: dict[str, list[dict[str, Any]]] = {}
    for r in result["feature_drift_weekly"]:
        if (
            r["alarm_eligible"]
            and r["n"] >= limits["min_rows"]
            and _num(r["psi"]) > limits["feature_psi"] + _noise(r.get("psi_noise"))
        ):
            by_week.setdefault(r["week"], []).append(r)
    for week, rows in by_week.items():
        rows.sort(key=lambda r: -r["psi"])
        top = ", ".join(
            f"{r['feature']} {r['psi']:.2f} (missing {r['missing']:.0%} vs "
            f"{r['baseline_missing']:.0%})"
            for r in rows[:5]
        )
        alarms.append(
            {
                "week": week,
                "signal": "feature drift",
                "metric": "psi",
                "value": rows[0]["psi"],
                "threshold": limits["feature_psi"],
                "features": [r["feature"] for r in rows],
                "why": f"{len(rows)} feature(s) PSI > {limits['feature_psi']} vs the first weeks "
                f"in service: {top}",
            }
        )
    for r in result["performance"]:
        if r["week"] == "all" or r["subgroup"] != "all" or r["n"] < limits["min_labels"]:
            continue
        kind = r["kind"]
        floor = _noise(r.get("expected_ece"))
        if _num(r["ece"]) > limits["ece"] + floor:
            alarms.append(
                {
                    "week": r["week"],
                    "signal": f"calibration ({kind})",
                    "metric": "ece",
                    "value": r["ece"],
                    "threshold": limits["ece"] + floor,
                    "why": f"{kind} ECE {r['ece']:.3f} > {limits['ece']} + {floor:.3f} (the "
                    f"sampling floor if calibrated) on {int(r['n'])} labelled sessions: "
                    f"predicted {r['mean_prediction']:.3f}, observed {r['positive_rate']:.3f} "
                    f"(slope {r['calibration_slope']:.2f}, intercept "
                    f"{r['calibration_intercept']:.2f})",
                }
            )
        want = _num(r.get("expected_auroc"))
        bias = _noise(estimator_bias.get((kind, r["version"])))
        margin = limits["auroc_drop"] + 2 * _noise(r.get("auroc_se"))
        if want >= 0 and _num(r["auroc"]) >= 0 and r["auroc"] < want - bias - margin:
            alarms.append(
                {
                    "week": r["week"],
                    "signal": f"discrimination ({kind})",
                    "metric": "auroc",
                    "value": r["auroc"],
                    "threshold": want - bias - margin,
                    "why": f"{kind} AUROC {r['auroc']:.3f} < {want - bias:.3f} (what the "
                    f"predictions imply if calibrated, {want:.3f}, less the estimator's bias "
                    f"on the held-out rows, {bias:+.3f}) - {limits['auroc_drop']} - 2 x SE "
                    f"{_noise(r.get('auroc_se')):.3f} on {int(r['n'])} labelled sessions",
                }
            )
    return sorted(alarms, key=lambda a: (a["week"], a["signal"]))


def run_monitor(
    settings: Settings,
    since: dt.date,
    until: dt.date,
    sessions_dir: Path | None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Read, analyse and judge one window; raises MonitorError when it cannot run."""
    from sqlalchemy.exc import SQLAlchemyError

    from serving.audit import make_engine

    url = db_url or settings.audit_db_url
    assert url is not None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        raise MonitorError(f"no monitoring database at {parsed.database}")
    engine = make_engine(url)
    try:
        recs, matrix = read_recommendations(engine, since, until, FEATURE_SET.columns)
        baseline, baseline_matrix = read_baseline(
            engine,
            settings.monitor_baseline_weeks,
            FEATURE_SET.columns,
            (since, until, recs, matrix),
        )
    except SQLAlchemyError as exc:
        raise MonitorError(f"cannot read monitoring_log ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    if recs.empty:
        raise MonitorError(f"no recommendations with as_of in {since} .. {until}")
    sessions = read_sessions(sessions_dir) if sessions_dir is not None else None
    refs, heldout = load_references(settings, recs)
    if all(r is None for r in refs.values()):
        raise MonitorError("no reference distribution for any served model version")
    result = analyse(
        recs, matrix, sessions, refs, heldout, thresholds(settings), baseline, baseline_matrix
    )
    return {"since": since.isoformat(), "until": until.isoformat()} | result

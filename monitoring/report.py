"""Self-contained HTML report of `dosewise monitor --report FILE.html`: the verdict and alarms,
drift over time (prediction PSI per model, the most drifted features), reliability diagrams,
the decision mix per week, and the tables. One file, plots embedded, written atomically."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

from features.html_report import DECISION_COLOURS, png_base64, write_html

COLOURS = {"tolerance": "#1d3557", "adherence": "#e76f51"}


def plot_drift(result: dict[str, Any]) -> str:
    """Prediction PSI per week and model, and the weekly PSI of the five most drifted features."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    weeks = result["weeks"]
    for kind, colour in COLOURS.items():
        rows = {r["week"]: r["psi"] for r in result["prediction_drift"] if r["kind"] == kind}
        a1.plot(weeks, [rows.get(w, math.nan) for w in weeks], "o-", color=colour, label=kind)
    a1.axhline(result["thresholds"]["prediction_psi"], ls="--", color="grey", label="threshold")
    a1.set_title("prediction drift (PSI vs reference)")
    top = [r["feature"] for r in result["feature_drift"] if r.get("alarm_eligible")][:5]
    for name in top:
        rows = {r["week"]: r["psi"] for r in result["feature_drift_weekly"] if r["feature"] == name}
        a2.plot(weeks, [rows.get(w, math.nan) for w in weeks], "o-", label=name)
    a2.axhline(result["thresholds"]["feature_psi"], ls="--", color="grey")
    a2.set_title("feature drift (PSI), most drifted")
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.legend(fontsize=7)
    return png_base64(fig)


def plot_reliability(result: dict[str, Any]) -> str | None:
    curves = result.get("reliability") or {}
    if not any(curves.values()):
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8))
    axes = axes if len(curves) > 1 else [axes]
    for ax, (kind, bins) in zip(axes, curves.items(), strict=True):
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.plot(
            [b["predicted"] for b in bins],
            [b["observed"] for b in bins],
            "o-",
            color=COLOURS.get(kind),
        )
        ax.set_xlabel("predicted")
        ax.set_ylabel("observed")
        ax.set_title(f"reliability: {kind}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    return png_base64(fig)


def plot_decisions(result: dict[str, Any]) -> str:
    mix = result["decision_mix"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    weeks = [m["week"] for m in mix]
    bottom = [0.0] * len(mix)
    for decision, colour in DECISION_COLOURS.items():
        share = [m.get(decision, 0.0) for m in mix]
        ax.bar(weeks, share, bottom=bottom, color=colour, label=decision)
        bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    ax.set_title("decision mix per week")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    return png_base64(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.3f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render(result: dict[str, Any]) -> str:
    verdict = "ALARM" if result["alarms"] else "healthy"
    alarms = (
        "<ul>"
        + "".join(
            f"<li><b>{html.escape(a['week'])}</b> {html.escape(a['why'])}</li>"
            for a in result["alarms"]
        )
        + "</ul>"
        if result["alarms"]
        else "<p>No threshold crossed.</p>"
    )
    rel = plot_reliability(result)
    perf = [r for r in result["performance"] if r["subgroup"] == "all"]
    groups = [r for r in result["performance"] if r["subgroup"] != "all"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Dosewise monitoring</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:"
        "collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
        "</style></head><body>",
        f"<h1>Dosewise monitoring {html.escape(result['since'])} .. "
        f"{html.escape(result['until'])}: {verdict}</h1>",
        f"<p>{result['recommendations']} recommendations, {result['labelled_sessions']} "
        f"labelled sessions; {html.escape(result['recommendation'])}</p>",
        "<h2>Alarms</h2>",
        alarms,
        "<h2>Health per week</h2>",
        _table(
            [h | {"signals": ", ".join(h["signals"])} for h in result["health"]],
            ["week", "healthy", "signals"],
        ),
        "<h2>Drift over time</h2>",
        f"<img src='data:image/png;base64,{plot_drift(result)}'>",
        _table(result["prediction_drift"], ["kind", "week", "version", "n", "mean", "psi", "js"]),
        "<h2>Feature drift, ranked (whole window)</h2>",
        _table(
            result["feature_drift"][:30],
            ["feature", "psi", "missing", "reference_missing", "alarm_eligible", "n"],
        ),
        "<h2>Realised performance</h2>",
        f"<img src='data:image/png;base64,{rel}'>" if rel else "<p>No labels yet.</p>",
        _table(
            perf,
            [
                "kind",
                "week",
                "version",
                "n",
                "positive_rate",
                "mean_prediction",
                "auroc",
                "expected_auroc",
                "auroc_se",
                "brier",
                "expected_brier",
                "ece",
                "expected_ece",
                "calibration_slope",
                "calibration_intercept",
                "per_modality_share",
            ],
        ),
        "<p>expected_*: what the same predictions imply if they are calibrated (confidence-based"
        " expected performance, from the predictions alone); realised well below expected is"
        " model decay, realised equal to expected but below held-out is case-mix.</p>",
        *_reading_section(result),
        "<h3>Expected performance before labels (per week)</h3>",
        _table(
            result.get("expected_before_labels", []),
            ["kind", "week", "version", "n", "expected_auroc", "expected_ece", "expected_brier"],
        ),
        "<h3>Estimator check: expected figures on the held-out rows vs held-out figures</h3>",
        _table(
            result.get("estimator_check", []),
            [
                "kind",
                "version",
                "n",
                "heldout_auroc",
                "expected_auroc",
                "heldout_ece",
                "expected_ece",
                "heldout_brier",
                "expected_brier",
            ],
        ),
        "<h3>By subgroup (whole window)</h3>",
        _table(
            groups,
            [
                "kind",
                "subgroup",
                "version",
                "n",
                "auroc",
                "brier",
                "ece",
                "calibration_slope",
                "calibration_intercept",
            ],
        ),
        "<h2>Decision mix</h2>",
        f"<img src='data:image/png;base64,{plot_decisions(result)}'>",
        "<h2>Thresholds</h2>",
        _table([result["thresholds"]], list(result["thresholds"])),
        "</body></html>",
    ]
    return "\n".join(parts)


def _reading_section(result: dict[str, Any]) -> list[str]:
    """Realised beside held-out and expected (mbc), the sentence that reads them, the sources."""
    rows = result.get("performance_reading", [])
    if not rows:
        return []
    notes = result.get("reading_notes", {})
    cites = "".join(f"<li>{html.escape(c)}</li>" for c in notes.get("citations", []))
    return [
        "<h3>Realised vs held-out vs expected (whole window)</h3>",
        _table(
            rows,
            [
                "kind",
                "version",
                "n",
                "realised_auroc",
                "heldout_auroc",
                "expected_auroc",
                "realised_ece",
                "heldout_ece",
                "expected_ece",
                "estimator_check_auroc",
                "verdict",
                "calibration_off",
            ],
        ),
        "<ul>"
        + "".join(
            f"<li><b>{html.escape(r['kind'])} v{html.escape(r['version'])}</b>: "
            f"{html.escape(r['reading'])}</li>"
            for r in rows
        )
        + "</ul>",
        f"<p>expected_auroc: the {html.escape(rows[0]['expected_name'])}, "
        f"{html.escape(rows[0]['expected_meaning'])}; estimator_check_auroc is the same "
        "estimator on the held-out predictions, which should give held-out. Sources:</p>"
        f"<ul>{cites}</ul>",
    ]


def write_report(path: Path, result: dict[str, Any]) -> None:
    write_html(path, render(result))

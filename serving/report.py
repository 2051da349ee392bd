"""A small self-contained HTML report of a batch run (`dosewise score --report report.html`).

One file, no external assets (PNG plots embedded as base64), so it can be mailed or archived next
to the scores. Written atomically like every other batch output.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from features.contract.vocab import DECISIONS
from features.html_report import (
    DECISION_COLOURS,
    html_table,
    image_sections,
    page_head,
    png_base64,
    write_html,
)


def weekly_doses(scored: pd.DataFrame) -> pd.DataFrame:
    """Aerobic weekly minutes (sessions x minutes) and resistance weekly load.

    Resistance load = sessions x sets x mid reps x mid %1RM / 100 ("relative volume load", in
    reps at 100% 1RM), a single number that rises with every resistance dose component.
    """
    aer = scored["aerobic_sessions_per_week"].astype(float) * scored[
        "aerobic_minutes_per_session"
    ].astype(float)
    reps = (scored["resistance_reps_low"].astype(float) + scored["resistance_reps_high"]) / 2
    pct = (scored["resistance_pct_1rm_low"] + scored["resistance_pct_1rm_high"]) / 2
    res = (
        scored["resistance_sessions_per_week"].astype(float)
        * scored["resistance_sets"].astype(float)
        * reps
        * pct
        / 100
    )
    return pd.DataFrame({"aerobic_weekly_minutes": aer, "resistance_weekly_load": res})


def plot_decisions(scored: pd.DataFrame) -> str:
    counts = scored["decision"].value_counts()
    order = [d for d in DECISIONS if d in counts] + [d for d in counts.index if d not in DECISIONS]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(
        order, [counts[d] for d in order], color=[DECISION_COLOURS.get(d, "#999") for d in order]
    )
    ax.set_ylabel("patients")
    ax.set_title("Decisions")
    return png_base64(fig, dpi=90)


def plot_doses(scored: pd.DataFrame) -> str:
    doses = weekly_doses(scored)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, col, label in (
        (axes[0], "aerobic_weekly_minutes", "aerobic minutes / week"),
        (axes[1], "resistance_weekly_load", "resistance load / week (reps at 1RM)"),
    ):
        values = doses[col].dropna()
        if len(values):
            ax.hist(values, bins=min(30, max(5, values.nunique())), color="#457b9d")
        else:
            ax.text(0.5, 0.5, "no doses", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.set_ylabel("patients")
    fig.suptitle("Prescribed weekly dose (patients with a dose)")
    return png_base64(fig, dpi=90)


def plot_tolerance_by_cancer(scored: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.4))
    if "cancer_type" in scored and scored["predicted_tolerance"].notna().any():
        data = scored.dropna(subset=["predicted_tolerance"])
        groups = sorted(data["cancer_type"].dropna().unique())
        ax.boxplot(
            [data.loc[data["cancer_type"] == g, "predicted_tolerance"].to_numpy() for g in groups],
            tick_labels=groups,
            showfliers=False,
        )
        ax.tick_params(axis="x", rotation=30)
    else:
        ax.text(0.5, 0.5, "no predictions", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("predicted tolerance")
    ax.set_title("Predicted tolerance of the recommended dose, by cancer type")
    return png_base64(fig, dpi=90)


def render_report(
    scored: pd.DataFrame, errors: pd.DataFrame, summary: dict[str, Any], meta: dict[str, Any]
) -> str:
    """The report as one HTML string."""
    doses = weekly_doses(scored)
    dose_rows = [
        (
            name,
            int(doses[col].notna().sum()),
            f"{np.nanmedian(doses[col]):.0f}" if doses[col].notna().any() else "-",
        )
        for name, col in (
            ("aerobic minutes / week", "aerobic_weekly_minutes"),
            ("resistance load / week", "resistance_weekly_load"),
        )
    ]
    err_by_field = (
        errors.groupby(["table", "field"]).size().sort_values(ascending=False).head(15)
        if len(errors)
        else pd.Series(dtype=int)
    )
    images = {
        "Decisions": plot_decisions(scored),
        "Weekly doses (aerobic minutes, resistance load)": plot_doses(scored),
        "Predicted tolerance by cancer type": plot_tolerance_by_cancer(scored),
    }
    meta_rows = [(k, v) for k, v in meta.items() if k != "per_second"]
    return (
        page_head("Dosewise batch report", 960)
        + f"""<h1>Dosewise batch report</h1>
<p>Research software, not a medical device: every recommendation is for review by a qualified
exercise professional or clinician.</p>
<h2>Run</h2>{html_table(meta_rows, ("", ""))}
<h2>Decisions</h2>{html_table(list(summary["decisions"].items()), ("decision", "patients"))}
<h2>Most frequent rules</h2>{html_table(summary["top_rules"], ("rule", "patients"))}
<h2>Doses</h2>{html_table(dose_rows, ("dose", "patients", "median"))}
{image_sections(images)}
<h2>Invalid rows</h2><p>{summary["error_rows"]} rows, {summary["error_patients"]} patients
(see the errors file).</p>
{html_table([(*k, v) for k, v in err_by_field.items()], ("table", "field", "rows"))}
<script type="application/json" id="summary">{html.escape(json.dumps(summary, default=str))}
</script></body></html>
"""
    )


def write_report(
    path: Path,
    scored: pd.DataFrame,
    errors: pd.DataFrame,
    summary: dict[str, Any],
    meta: dict[str, Any],
) -> None:
    write_html(path, render_report(scored, errors, summary, meta))

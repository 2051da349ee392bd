"""Self-contained HTML report of a closed-loop evaluation (`evaluate-policy --report FILE.html`).

One file, no external assets (PNG plots embedded as base64), written atomically: a forest plot of
the paired arm differences with their 95% bootstrap intervals (overall and per subgroup), the dose
trajectories of every arm, and the tables of the terminal.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

from evaluation.tables import SHOWN
from features.html_report import html_table, image_sections, page_head, png_base64, write_html

FOREST_METRICS = (
    "vo2peak_change",
    "strength_change_pct",
    "at_target",
    "ae_moderate_or_serious_per_1000",
    "ae_moderate_or_serious_per_100_patients",
    "dropout",
)
COLOURS = ("#1d3557", "#e76f51", "#2a9d8f", "#9b5de5", "#e9c46a")


def plot_forest(result: dict[str, Any]) -> str:
    """One panel per metric; rows = overall then each subgroup; one marker per comparison."""
    comparisons = list(result["differences"])
    rows = [("overall", result["differences"])] + [
        (g, d) for g, d in result["subgroup_differences"].items()
    ]
    fig, axes = plt.subplots(
        1, len(FOREST_METRICS), figsize=(3.1 * len(FOREST_METRICS), 0.45 * len(rows) + 1.6)
    )
    for ax, metric in zip(axes, FOREST_METRICS, strict=True):
        for k, comp in enumerate(comparisons):
            off = (k - (len(comparisons) - 1) / 2) * 0.22
            for i, (_, diffs) in enumerate(rows):
                d = diffs.get(comp, {}).get(metric)
                if d is None:
                    continue
                y = len(rows) - 1 - i + off
                ax.plot([d["low"], d["high"]], [y, y], color=COLOURS[k % len(COLOURS)], lw=1.5)
                ax.plot(
                    d["estimate"],
                    y,
                    "o",
                    color=COLOURS[k % len(COLOURS)],
                    ms=4,
                    label=comp if i == 0 else None,
                )
        ax.axvline(0, color="#888", lw=0.8, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r[0] for r in reversed(rows)] if ax is axes[0] else [])
        ax.set_title(SHOWN[metric][0], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.08))
    fig.suptitle("Arm minus fixed, 95% paired bootstrap interval", y=1.12)
    return png_base64(fig)


def plot_trajectories(result: dict[str, Any]) -> str:
    """Weekly mean prescribed dose per arm (patients allowed to exercise that week)."""
    panels = (
        ("met_min", "aerobic MET-min / week"),
        ("resistance_sessions", "resistance sessions / week"),
        ("pct_hrmax", "aerobic intensity (%HRmax)"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for k, (arm, traj) in enumerate(result["trajectories"].items()):
            ax.plot(traj["week"], traj[key], marker=".", color=COLOURS[k % len(COLOURS)], label=arm)
        ax.set_xlabel("week")
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Prescribed dose per arm (patients allowed to exercise)", y=1.04)
    return png_base64(fig)


def _fmt(metric: str, value: float) -> str:
    return SHOWN[metric][1].format(value) if value == value else "-"


def render_report(result: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """The report as one HTML string."""
    arms = list(result["arms"])
    arm_rows = [
        (label, *[_fmt(m, result["arms"][a][m]) for a in arms]) for m, (label, _) in SHOWN.items()
    ]
    diff_rows = [
        (
            label,
            *[
                f"{_fmt(m, d[m]['estimate'])} [{_fmt(m, d[m]['low'])}, {_fmt(m, d[m]['high'])}]"
                for d in result["differences"].values()
            ],
        )
        for m, (label, _) in SHOWN.items()
        if m != "patients"
    ]
    images = {"Arm differences (forest plot)": plot_forest(result)} if result["differences"] else {}
    images["Dose trajectories"] = plot_trajectories(result)
    run = {k: result[k] for k in ("scenario", "patients", "weeks", "seed")} | (meta or {})
    title = f"Dosewise closed-loop evaluation ({result['scenario']})"
    return (
        page_head(title, 1200)
        + f"""<h1>{html.escape(title)}</h1>
<p>Simulated patients, not a clinical trial: the dose-response is the simulator's assumption
(training/SIMULATOR.md). Every arm ran on the same patients with common random numbers.</p>
<h2>Run</h2>{html_table(list(run.items()), ("", ""))}
<h2>Arms</h2>{html_table(arm_rows, ("metric", *arms))}
<h2>Differences vs fixed (95% bootstrap interval)</h2>
{html_table(diff_rows, ("metric", *result["differences"]))}
{image_sections(images)}
<script type="application/json" id="result">{html.escape(json.dumps(result, default=float))}
</script></body></html>
"""
    )


def write_report(path: Path, result: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Render and write atomically (temporary file in the same folder, then rename)."""
    write_html(path, render_report(result, meta))

"""Self-contained HTML report of `dosewise tune-policy --report FILE.html`: where the candidate
and today's defaults sit against the fixed dose, per scenario and seed, beside the rule's lines."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

from evaluation.report import COLOURS
from evaluation.tables import TUNING_COLUMNS, overrides_text, tuning_cells
from features.html_report import html_table, image_sections, page_head, png_base64, write_html

VO2_GOAL = 1.15  # issue 10: base VO2peak change at least 1.15 x the fixed dose's
# (row key, label, the line to read it against, scale)
PANELS = (
    ("vo2peak_ratio", "VO2peak change x fixed", 1.0, 1.0),
    ("strength_gain", "strength change - fixed (points)", 0.0, 1.0),
    ("ae_change", "AEs per 100 patients vs fixed (%)", 0.0, 100.0),
)


def plot_rows(result: dict[str, Any]) -> str:
    """One column per scenario, one row per measure; a marker per seed and arm."""
    scenarios, seeds = result["scenarios"], result["seeds"]
    arms = list(dict.fromkeys(r["arm"] for r in result["rows"]))
    fig, axes = plt.subplots(
        len(PANELS), len(scenarios), figsize=(3.6 * len(scenarios), 2.4 * len(PANELS)),
        squeeze=False,
    )  # fmt: skip
    margin = -100.0 * result["rule"]["stress_ae_margin"]
    for j, sc in enumerate(scenarios):
        for i, (key, label, line, scale) in enumerate(PANELS):
            ax = axes[i][j]
            for k, arm in enumerate(arms):
                rows = [r for r in result["rows"] if r["arm"] == arm and r["scenario"] == sc]
                xs = [seeds.index(r["seed"]) + (k - (len(arms) - 1) / 2) * 0.15 for r in rows]
                ax.plot(
                    xs, [scale * r[key] for r in rows], "o", color=COLOURS[k % len(COLOURS)],
                    label=arm, ms=5,
                )  # fmt: skip
            ax.axhline(line, color="#888", lw=0.8, ls="--")
            if key == "ae_change" and sc != "base":
                ax.axhline(margin, color="#c0392b", lw=0.8, ls=":")  # the rule's margin
            if key == "vo2peak_ratio" and sc == "base":
                ax.axhline(VO2_GOAL, color="#2a9d8f", lw=0.8, ls=":")  # issue 10's goal
            ax.set_xticks(range(len(seeds)))
            ax.set_xticklabels([f"seed {s}" for s in seeds], fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            if i == 0:
                ax.set_title(sc, fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "Against the fixed dose (dashed); dotted: the stress scenarios' AE margin (red), "
        f"the base VO2peak goal {VO2_GOAL:g} x (green)"
    )
    fig.tight_layout()
    return png_base64(fig)


def render_tuning_report(result: dict[str, Any]) -> str:
    """The report as one HTML string: the plot, the rows with what each breaks, the verdict."""
    rows = [(*tuning_cells(r), "; ".join(r["failures"]) or "ok") for r in result["rows"]]
    header = (*TUNING_COLUMNS, "rule")
    overrides = overrides_text(result["overrides"])
    verdict = [(arm, "keeps the rule" if ok else "breaks the rule")
               for arm, ok in result["passes"].items()]  # fmt: skip
    title = "Dosewise policy tuning"
    return (
        page_head(title, 1200)
        + f"""<h1>{html.escape(title)}</h1>
<p>Candidate: today's defaults with {html.escape(overrides)}; {result["patients"]} patients x
{result["weeks"]} weeks per closed loop, tuning seeds only. Simulated patients: the
dose-response is the simulator's assumption (training/SIMULATOR.md).</p>
<h2>Verdict</h2>{html_table(verdict, ("arm", "tuning rule"))}
{image_sections({"Against the fixed dose": plot_rows(result)})}
<h2>Rows</h2>{html_table(rows, header)}
<script type="application/json" id="result">{html.escape(json.dumps(result, default=float))}
</script></body></html>
"""
    )


def write_tuning_report(path: Path, result: dict[str, Any]) -> None:
    """Render and write atomically."""
    write_html(path, render_tuning_report(result))

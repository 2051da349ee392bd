"""The closed-loop result as rich tables in the terminal: arms, differences, subgroups."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

# Metrics shown in the terminal, with their labels and number format (the JSON has them all).
SHOWN = {
    "vo2peak_change": ("VO2peak change (mL/kg/min)", "{:+.2f}"),
    "strength_change_pct": ("strength change (%)", "{:+.2f}"),
    "at_target": ("at target, last week (prescribed)", "{:.1%}"),
    "at_target_delivered": ("at target, last week (delivered)", "{:.1%}"),
    "ae_moderate_or_serious_per_1000": ("moderate/serious AE per 1,000 sessions", "{:.2f}"),
    "ae_moderate_or_serious_per_100_patients": ("moderate/serious AE per 100 patients", "{:.2f}"),
    "dropout": ("dropout", "{:.1%}"),
    "attendance": ("attendance", "{:.1%}"),
    "tolerated_share": ("tolerated (of attended)", "{:.1%}"),
    "aerobic_met_min_per_week": ("aerobic MET-min / patient-week", "{:.0f}"),
    "moderate_minutes_per_week": ("minutes >= 64% HRmax / patient-week", "{:.1f}"),
    "resistance_volume_load_per_week": ("resistance volume-load / patient-week", "{:.1f}"),
    "zero_stimulus_weeks": ("booked weeks with no fitness stimulus", "{:.1%}"),
    "guideline_violations": ("guideline violations", "{:.0f}"),
    "patients": ("patients", "{:.0f}"),
}
SUBGROUP_LABELS = {
    "vo2peak_change": "VO2peak",
    "strength_change_pct": "strength %",
    "ae_moderate_or_serious_per_100_patients": "AE/100 pts",
}
SUBGROUP_METRICS = tuple(SUBGROUP_LABELS)


def _fmt(metric: str, value: float) -> str:
    return SHOWN[metric][1].format(value) if value == value else "-"


def _ci(metric: str, d: dict[str, float]) -> str:
    f = SHOWN[metric][1]
    return f"{f.format(d['estimate'])} [{f.format(d['low'])}, {f.format(d['high'])}]"


def arms_table(result: dict[str, Any]) -> Table:
    arms = list(result["arms"])
    table = Table(
        title=f"Closed loop, scenario {result['scenario']}: {result['patients']} patients x "
        f"{result['weeks']} weeks, seed {result['seed']}"
    )
    table.add_column("metric")
    for a in arms:
        table.add_column(a, justify="right")
    for metric, (label, _) in SHOWN.items():
        table.add_row(label, *[_fmt(metric, result["arms"][a][metric]) for a in arms])
    return table


def differences_table(result: dict[str, Any]) -> Table:
    diffs = result["differences"]
    table = Table(title="Paired differences vs fixed, 95% bootstrap interval over patients")
    table.add_column("metric")
    for key in diffs:
        table.add_column(key, justify="right")
    for metric, (label, _) in SHOWN.items():
        if metric == "patients":
            continue
        table.add_row(label, *[_ci(metric, diffs[k][metric]) for k in diffs])
    return table


def subgroups_table(result: dict[str, Any]) -> Table:
    arms = list(result["arms"])
    table = Table(title="Subgroups (n = patients in the subgroup)")
    table.add_column("subgroup")
    table.add_column("n", justify="right")
    table.add_column("metric")
    for a in arms:
        table.add_column(a, justify="right")
    first = next(iter(result["subgroup_differences"].values()), {})
    shown = [k for k in first if not k.startswith("progression")]
    for key in shown:
        table.add_column(key, justify="right")
    for g, by_arm in result["subgroups"].items():
        n = f"{by_arm[arms[0]]['patients']:.0f}"
        for i, metric in enumerate(SUBGROUP_METRICS):
            diffs = result["subgroup_differences"].get(g, {})
            table.add_row(
                g if i == 0 else "",
                n if i == 0 else "",
                SUBGROUP_LABELS[metric],
                *[_fmt(metric, by_arm[a][metric]) for a in arms],
                *[_ci(metric, diffs[k][metric]) for k in shown],
            )
    return table


def print_evaluation(result: dict[str, Any], console: Console) -> None:
    """Arms, differences and subgroups; violation examples if any."""
    console.print(arms_table(result))
    if result["differences"]:
        console.print(differences_table(result))
    console.print(subgroups_table(result))
    for arm, examples in result.get("violation_examples", {}).items():
        for ex in examples:
            console.print(f"[red]violation ({arm})[/]: {ex}")


# `dosewise tune-policy`: the columns every view of a row shares (terminal, HTML report)
TUNING_COLUMNS = ("seed", "scenario", "arm", "VO2peak x fixed", "strength pts", "sarcopenic pts",
                  "AE/100 pts vs fixed", "at target")  # fmt: skip


def tuning_cells(r: dict[str, Any]) -> tuple[str, ...]:
    """One row's `TUNING_COLUMNS` as text."""
    return (
        str(r["seed"]), r["scenario"], r["arm"], f"{r['vo2peak_ratio']:.3f}",
        f"{r['strength_gain']:+.2f}", f"{r['sarcopenic_strength_gain']:+.2f}",
        f"{r['ae_per_100']:.1f} vs {r['fixed_ae_per_100']:.1f} ({r['ae_change']:+.1%})",
        f"{r['at_target']:.1%}",
    )  # fmt: skip


def overrides_text(overrides: dict[str, Any], sep: str = ", ") -> str:
    """The candidate's changes to the defaults, `name=value`, or "none"."""
    return sep.join(f"{k}={v}" for k, v in overrides.items()) or "none"


def tuning_table(result: dict[str, Any]) -> Table:
    """One row per seed, scenario and arm, read against the fixed dose."""
    overrides = overrides_text(result["overrides"])
    table = Table(
        title=f"Policy tuning vs the fixed dose: {result['patients']} patients x "
        f"{result['weeks']} weeks; candidate = defaults with {overrides}"
    )
    for name in (*TUNING_COLUMNS, "worst subgroup VO2", "rule"):
        table.add_column(name, justify="left" if name in ("scenario", "arm", "rule") else "right")
    for r in result["rows"]:
        worst = "-"
        if r["worst_subgroup"]:
            worst = f"{r['worst_subgroup']} {r['worst_subgroup_vo2_gap']:+.3f}"
        rule = "[green]ok[/]" if not r["failures"] else "[red]" + "; ".join(r["failures"]) + "[/]"
        table.add_row(*tuning_cells(r), worst, rule)
    return table


def tuning_means_table(result: dict[str, Any]) -> Table:
    """The rows' mean over seeds per scenario and arm: one seed's noise is larger than most
    differences between candidates (today's defaults: weak-dose-tolerance AEs -4% to +8% vs
    fixed over seeds 101-106)."""
    table = Table(title=f"Mean over seeds {', '.join(map(str, result['seeds']))}")
    for name in ("scenario", "arm", "VO2peak x fixed", "strength pts", "sarcopenic pts",
                 "AE/100 pts vs fixed", "at target"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("scenario", "arm") else "right")
    for sc in result["scenarios"]:
        for arm, per in result["means"].items():
            m = per[sc]
            table.add_row(
                sc, arm, f"{m['vo2peak_ratio']:.3f}", f"{m['strength_gain']:+.2f}",
                f"{m['sarcopenic_strength_gain']:+.2f}", f"{m['ae_change']:+.1%}",
                f"{m['at_target']:.1%}",
            )  # fmt: skip
    return table


def print_tuning(result: dict[str, Any], console: Console) -> None:
    console.print(tuning_table(result))
    if len(result["seeds"]) > 1:
        console.print(tuning_means_table(result))
    for arm, ok in result["passes"].items():
        verdict = "[green]keeps the tuning rule[/]" if ok else "[red]breaks the tuning rule[/]"
        console.print(f"{arm}: {verdict}")

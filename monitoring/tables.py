"""The terminal view of a monitor result: verdict, alarms, health per week, drift and realised
performance (rich tables)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def _f(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)


def _pair(row: dict[str, Any]) -> str:
    """Realised AUROC with the expected one (if calibrated) in brackets."""
    return f"{_f(row.get('auroc', math.nan))} ({_f(row.get('expected_auroc', math.nan))})"


def print_monitoring(result: dict[str, Any], console: Console) -> None:
    weeks = Table(title=f"Dosewise monitoring {result['since']} .. {result['until']}")
    for col in (
        "week",
        "n",
        "tol PSI",
        "adh PSI",
        "top feature PSI",
        "tol ECE",
        "tol AUROC (exp)",
        "adh AUROC (exp)",
        "status",
    ):
        weeks.add_column(col, justify="right" if col != "status" else "left")
    pred = {(r["kind"], r["week"]): r for r in result["prediction_drift"]}
    perf = {
        (r["kind"], r["week"]): r
        for r in result["performance"]
        if r["subgroup"] == "all" and r["week"] != "all"
    }
    feats: dict[str, float] = {}
    for r in result["feature_drift_weekly"]:
        if r.get("alarm_eligible") and math.isfinite(r["psi"]):
            feats[r["week"]] = max(feats.get(r["week"], 0.0), r["psi"])
    for h in result["health"]:
        w = h["week"]
        weeks.add_row(
            w,
            str(pred.get(("tolerance", w), {}).get("n", "")),
            _f(pred.get(("tolerance", w), {}).get("psi", math.nan)),
            _f(pred.get(("adherence", w), {}).get("psi", math.nan)),
            _f(feats.get(w, math.nan)),
            _f(perf.get(("tolerance", w), {}).get("ece", math.nan)),
            _pair(perf.get(("tolerance", w), {})),
            _pair(perf.get(("adherence", w), {})),
            "[green]healthy[/]" if h["healthy"] else "[red]" + ", ".join(h["signals"]) + "[/]",
        )
    console.print(weeks)
    overall = Table(title="Realised performance over the window (all weeks)")
    for col in (
        "model",
        "version",
        "subgroup",
        "n",
        "AUROC",
        "expected",
        "held-out AUROC",
        "Brier",
        "ECE",
        "ECE floor",
        "slope",
        "intercept",
    ):
        overall.add_column(col)
    for r in result["performance"]:
        if r["week"] != "all":
            continue
        held = result["heldout"].get(f"{r['kind']}:{r['version']}", {}).get("auroc", math.nan)
        overall.add_row(
            r["kind"],
            r["version"],
            r["subgroup"],
            str(int(r["n"])),
            _f(r["auroc"]),
            _f(r.get("expected_auroc", math.nan)),
            _f(held),
            _f(r["brier"]),
            _f(r["ece"]),
            _f(r.get("expected_ece", math.nan)),
            _f(r["calibration_slope"]),
            _f(r["calibration_intercept"]),
        )
    if result["performance"]:
        console.print(overall)
    else:
        console.print("No labels yet (give --sessions with the sessions logged since).")
    print_reading(result, console)
    for c in result.get("estimator_check", []):
        console.print(
            f"Estimator check {c['kind']} v{c['version']}: on its held-out rows expected AUROC "
            f"{c['expected_auroc']:.3f} vs held-out {c['heldout_auroc']:.3f}, expected ECE "
            f"{c['expected_ece']:.4f} vs {c['heldout_ece']:.4f}"
        )
    top = ", ".join(f"{r['feature']} {r['psi']:.2f}" for r in result["feature_drift"][:5])
    console.print(f"Most drifted features over the window: {top}")
    for a in result["alarms"]:
        console.print(f"[red]ALARM[/] {a['week']} {a['signal']}: {a['why']}")
    console.print(
        f"[bold]{'ALARM' if result['alarms'] else 'healthy'}[/]: {result['recommendation']}"
    )


def print_reading(result: dict[str, Any], console: Console) -> None:
    """Realised beside held-out and expected (case-mix-corrected) per model, and what it means."""
    rows = result.get("performance_reading", [])
    if not rows:
        return
    table = Table(title="Realised vs held-out vs expected (whole window)")
    for col in (
        "model",
        "version",
        "n",
        "AUROC realised",
        "held-out",
        "expected (mbc)",
        "ECE realised",
        "held-out",
        "expected floor",
        "verdict",
    ):
        table.add_column(col, justify="left" if col in ("model", "verdict") else "right")
    for r in rows:
        table.add_row(
            r["kind"],
            r["version"],
            str(int(r["n"])),
            _f(r["realised_auroc"]),
            _f(r["heldout_auroc"]),
            _f(r["expected_auroc"]),
            _f(r["realised_ece"]),
            _f(r["heldout_ece"]),
            _f(r["expected_ece"]),
            r["verdict"] + (", calibration off" if r.get("calibration_off") else ""),
        )
    console.print(table)
    for r in rows:
        console.print(f"{r['kind']} v{r['version']}: {r['reading']}")
    notes = result.get("reading_notes", {})
    first = rows[0]
    console.print(
        f"expected AUROC = the {first['expected_name']}, {first['expected_meaning']} "
        f"({first['expected_citation']})."
    )
    if notes.get("citations"):
        console.print(f"case mix and the c-statistic: {notes['citations'][-1]}.")

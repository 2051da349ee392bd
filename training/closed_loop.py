"""Closed-loop evaluation: run policies in the simulator on the same patients and compare outcomes.

Policies are injected (the CLI builds them from serving/), so training/ never imports serving/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.labels import tolerated
from training.simulator import Simulator

VIGOROUS_PCT_HRMAX = 77.0


def arm_metrics(patients: pd.DataFrame, sessions: pd.DataFrame, weeks: int) -> dict[str, float]:
    """Outcome figures of one arm: dose delivered, attendance, safety, fitness, dropout."""
    s = sessions.assign(tol=tolerated(sessions))
    att = s[s["attended"]]
    n_pat = patients["patient_id"].nunique()
    aer_ok = att[(att["modality"] == "aerobic") & (att["tol"] == 1)]
    weight = np.where(aer_ok["planned_pct_hrmax"] >= VIGOROUS_PCT_HRMAX, 2.0, 1.0)
    delivered = float((aer_ok["completed_minutes"].fillna(0) * weight).sum())
    ae = att["adverse_event"].value_counts()
    n_att = max(len(att), 1)
    first = patients.sort_values("as_of").groupby("patient_id").first()
    last = patients.sort_values("as_of").groupby("patient_id").last()
    vo2 = "true_vo2peak" if "true_vo2peak" in patients else "vo2peak_ml_kg_min"
    dropped = (
        float(last["true_dropped_out"].astype(bool).mean())
        if "true_dropped_out" in last
        else float("nan")
    )
    return {
        "delivered_modeq_min_per_week": delivered / (n_pat * weeks),
        "attendance": float(s["attended"].mean()) if len(s) else float("nan"),
        "tolerated_rate": float(att["tol"].mean()) if len(att) else float("nan"),
        "planned_sessions": float(len(s)),
        "attended_sessions": float(len(att)),
        "ae_mild_per_1000": 1000 * float(ae.get("mild", 0)) / n_att,
        "ae_moderate_per_1000": 1000 * float(ae.get("moderate", 0)) / n_att,
        "ae_serious_per_1000": 1000 * float(ae.get("serious", 0)) / n_att,
        "ae_moderate_or_serious_per_1000": 1000
        * float(ae.get("moderate", 0) + ae.get("serious", 0))
        / n_att,
        "vo2peak_change": float((last[vo2] - first[vo2]).mean()),
        "dropout": dropped,
    }


def run_evaluation(
    arms: Mapping[str, tuple[Callable[[], Any], Any]],
    n_patients: int,
    weeks: int,
    seed: int,
    console: Console | None = None,
) -> dict[str, Any]:
    """Simulate every arm on the same patients (same seed) and collect its figures."""
    console = console or Console(stderr=True)
    out: dict[str, Any] = {"patients": n_patients, "weeks": weeks, "seed": seed, "arms": {}}
    for name, (factory, counter) in arms.items():
        console.print(f"[bold]arm {name}[/]: simulating {n_patients} patients x {weeks} weeks")
        policy = factory()
        patients, sessions = Simulator(n_patients=n_patients, seed=seed).run(weeks, policy=policy)
        metrics = arm_metrics(patients, sessions, weeks)
        metrics["guideline_violations"] = float(counter.violations)
        metrics["plans_checked"] = float(counter.weeks_checked)
        out["arms"][name] = metrics
    fixed = out["arms"].get("fixed")
    dosewise = out["arms"].get("dosewise")
    if fixed and dosewise:
        base = fixed["delivered_modeq_min_per_week"]
        out["dosewise_vs_fixed_delivered_ratio"] = (
            dosewise["delivered_modeq_min_per_week"] / base if base else float("nan")
        )
    return out


def print_evaluation(result: dict[str, Any], console: Console) -> None:
    arms = list(result["arms"])
    table = Table(
        title=f"Closed loop: {result['patients']} patients x {result['weeks']} weeks, "
        f"seed {result['seed']}"
    )
    table.add_column("metric")
    for a in arms:
        table.add_column(a, justify="right")
    for metric in result["arms"][arms[0]]:
        table.add_row(metric, *[f"{result['arms'][a][metric]:.3f}" for a in arms])
    console.print(table)
    if "dosewise_vs_fixed_delivered_ratio" in result:
        console.print(
            f"Dosewise delivers {result['dosewise_vs_fixed_delivered_ratio']:.2f}x the tolerated "
            "moderate-equivalent minutes of the fixed guideline dose."
        )

"""Policies for the closed-loop evaluation, each a function (snapshot, history, week) -> plans.

Three arms on the same simulated patients (issue 4): (a) the fixed guideline dose, (b) a rule-based
+/-10% progression, (c) the Dosewise policy with the champion models. Every arm goes through the
guideline kernel (holds and refers give no sessions; doses are clamped into the envelope), and an
independent checker counts any plan outside the envelope as a guideline violation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import build
from features.labels import tolerated
from features.schemas import AerobicDose, IntRange, Prescription, Range, ResistanceDose
from features.settings import Settings
from serving.guidelines import kernel as gk
from serving.policy import PLAN_COLUMNS, Models, PolicyConfig, kernel_facts, recommend

PolicyFn = Callable[[pd.DataFrame, pd.DataFrame, pd.Timestamp], pd.DataFrame]

FIXED_PLAN = {
    "aerobic_sessions": 3,
    "aerobic_minutes": 30.0,
    "aerobic_pct_hrmax": 70.0,  # middle of 64-76% HRmax
    "resistance_sessions": 2,
    "resistance_sets": 2,
    "resistance_reps": 12,
    "resistance_pct_1rm": 60.0,
}


def plan_to_rx(plan: dict) -> Prescription:
    """A week plan (point doses) as a Prescription with degenerate bands, for the kernel checks."""
    aerobic = resistance = None
    if plan["aerobic_sessions"] >= 1 and plan["aerobic_minutes"] > 0:
        p = float(plan["aerobic_pct_hrmax"])
        aerobic = AerobicDose(
            sessions_per_week=int(plan["aerobic_sessions"]),
            minutes_per_session=float(plan["aerobic_minutes"]),
            intensity_pct_hrmax=Range(low=p, high=p),
            rpe=IntRange(low=12, high=13),
        )
    if plan["resistance_sessions"] >= 1 and plan["resistance_sets"] >= 1:
        q = float(plan["resistance_pct_1rm"])
        reps = int(plan["resistance_reps"])
        resistance = ResistanceDose(
            sessions_per_week=int(plan["resistance_sessions"]),
            sets=int(plan["resistance_sets"]),
            reps=IntRange(low=reps, high=reps),
            intensity_pct_1rm=Range(low=q, high=q),
        )
    return Prescription(aerobic=aerobic, resistance=resistance)


def rx_to_plan(rx: Prescription | None) -> dict:
    """The point dose a patient is asked to do: the middle of each prescribed band."""
    plan = dict.fromkeys(PLAN_COLUMNS, 0.0)
    if rx is None:
        return plan
    if rx.aerobic is not None:
        a = rx.aerobic
        plan |= {
            "aerobic_sessions": a.sessions_per_week,
            "aerobic_minutes": a.minutes_per_session,
            "aerobic_pct_hrmax": (a.intensity_pct_hrmax.low + a.intensity_pct_hrmax.high) / 2,
        }
    if rx.resistance is not None:
        r = rx.resistance
        plan |= {
            "resistance_sessions": r.sessions_per_week,
            "resistance_sets": r.sets,
            "resistance_reps": round((r.reps.low + r.reps.high) / 2),
            "resistance_pct_1rm": (r.intensity_pct_1rm.low + r.intensity_pct_1rm.high) / 2,
        }
    return plan


def rx_columns(plan: dict | None) -> dict:
    """The rx_* patients-table columns for a current plan (None: no current prescription)."""
    if plan is None or not (plan["aerobic_sessions"] or plan["resistance_sessions"]):
        return {}
    out = {}
    if plan["aerobic_sessions"]:
        out |= {
            "rx_aerobic_sessions": plan["aerobic_sessions"],
            "rx_aerobic_minutes": plan["aerobic_minutes"],
            "rx_aerobic_pct_hrmax_low": plan["aerobic_pct_hrmax"],
            "rx_aerobic_pct_hrmax_high": plan["aerobic_pct_hrmax"],
        }
    if plan["resistance_sessions"]:
        out |= {
            "rx_resistance_sessions": plan["resistance_sessions"],
            "rx_resistance_sets": plan["resistance_sets"],
            "rx_resistance_pct_1rm_low": plan["resistance_pct_1rm"],
            "rx_resistance_pct_1rm_high": plan["resistance_pct_1rm"],
        }
    return out


def kernel_results(
    snapshot: pd.DataFrame,
    history: pd.DataFrame,
    week: pd.Timestamp,
    current: dict[str, dict],
) -> list[gk.KernelResult]:
    """The kernel's verdict for every patient of the week's snapshot, given current plans."""
    keys = pd.DataFrame({"patient_id": snapshot["patient_id"].astype(str), "as_of": week})
    base = build(snapshot, history, keys)
    hist = base.to_dict("records")
    rows = snapshot.to_dict("records")
    return [
        gk.evaluate(kernel_facts(row | rx_columns(current.get(str(row["patient_id"]))), h))
        for row, h in zip(rows, hist, strict=True)
    ]


@dataclass
class ViolationCounter:
    """Independent audit: re-evaluates the kernel and checks every plan an arm hands out."""

    weeks_checked: int = 0
    violations: int = 0
    examples: list[str] = field(default_factory=list)

    def check(self, results: list[gk.KernelResult], plans: pd.DataFrame) -> None:
        for res, plan in zip(results, plans.to_dict("records"), strict=True):
            self.weeks_checked += 1
            has_dose = plan["aerobic_sessions"] >= 1 or plan["resistance_sessions"] >= 1
            rx = plan_to_rx(plan) if has_dose else None
            rx = rx.model_copy(update={"restrictions": list(res.restrictions)}) if rx else None
            problems = gk.check_prescription(rx, res)
            if problems:
                self.violations += 1
                if len(self.examples) < 5:
                    self.examples.append("; ".join(problems))


def _apply_kernel(plan: dict, res: gk.KernelResult) -> dict:
    if res.decision != "allowed":
        return dict.fromkeys(PLAN_COLUMNS, 0.0)
    rx = gk.clamp_prescription(plan_to_rx(plan), res)
    return rx_to_plan(rx) | {"resistance_reps": plan["resistance_reps"]} if rx else rx_to_plan(None)


class _Arm:
    def __init__(self, counter: ViolationCounter) -> None:
        self.current: dict[str, dict] = {}
        self.counter = counter

    def __call__(self, snapshot: pd.DataFrame, history: pd.DataFrame, week: pd.Timestamp):
        results = kernel_results(snapshot, history, week, self.current)
        plans = self.plans(snapshot, history, week, results)
        self.counter.check(results, plans)
        for row in plans.to_dict("records"):
            if row["aerobic_sessions"] or row["resistance_sessions"]:
                self.current[str(row["patient_id"])] = {k: row[k] for k in PLAN_COLUMNS}
        return plans

    def plans(self, snapshot, history, week, results) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError


class FixedArm(_Arm):
    """(a) 3 x 30 min at 64-76% HRmax + 2 x resistance 2 x 12 at 60% 1RM, kernel applied."""

    def plans(self, snapshot, history, week, results):
        rows = [
            {"patient_id": str(pid)} | _apply_kernel(dict(FIXED_PLAN), res)
            for pid, res in zip(snapshot["patient_id"], results, strict=True)
        ]
        return pd.DataFrame(rows)


class ProgressionArm(_Arm):
    """(b) +10% after a tolerated week, -10% after an intolerant one, kernel applied."""

    def plans(self, snapshot, history, week, results):
        last = history[history["date"] >= week - pd.Timedelta(days=7)]
        last = last.assign(tol=tolerated(last))
        att = last[last["attended"]]
        intolerant = set(att.loc[att["tol"] == 0, "patient_id"].astype(str))
        tolerated_week = set(att["patient_id"].astype(str)) - intolerant
        rows = []
        for pid, res in zip(snapshot["patient_id"].astype(str), results, strict=True):
            plan = dict(self.current.get(pid, FIXED_PLAN))
            factor = 1.1 if pid in tolerated_week else 0.9 if pid in intolerant else 1.0
            for k in ("aerobic_minutes", "resistance_pct_1rm"):
                plan[k] = float(np.round(plan[k] * factor)) if plan[k] else FIXED_PLAN[k]
            for k in ("aerobic_sessions", "resistance_sessions", "resistance_sets"):
                plan[k] = plan[k] or FIXED_PLAN[k]
            rows.append({"patient_id": pid} | _apply_kernel(plan, res))
        return pd.DataFrame(rows)


class DosewiseArm(_Arm):
    """(c) the Dosewise policy (serving.policy.recommend) with the champion models."""

    def __init__(self, counter: ViolationCounter, models: Models, cfg: PolicyConfig) -> None:
        super().__init__(counter)
        self.models = models
        self.cfg = cfg

    def plans(self, snapshot, history, week, results):
        snap = snapshot.copy()
        rx = pd.DataFrame(
            [rx_columns(self.current.get(str(p))) for p in snap["patient_id"]], index=snap.index
        )
        for col in rx.columns:
            snap[col] = rx[col]
        responses = recommend(snap, history, week, self.models, self.cfg)
        rows = []
        for resp in responses:
            plan = rx_to_plan(resp["prescription"])
            rows.append({"patient_id": resp["patient_id"]} | plan)
        return pd.DataFrame(rows)


def build_arms(
    settings: Settings, models: Models | None = None
) -> dict[str, tuple[Callable[[], PolicyFn], ViolationCounter]]:
    """Factories for the three arms (each call gives a fresh arm) and their violation counters."""
    if models is None:
        from serving.models import load_champions

        models = load_champions(settings)
    cfg = PolicyConfig(
        tolerance_threshold=settings.tolerance_threshold,
        adherence_threshold=settings.adherence_threshold,
    )
    counters = {name: ViolationCounter() for name in ("fixed", "progression", "dosewise")}
    return {
        "fixed": (lambda: FixedArm(counters["fixed"]), counters["fixed"]),
        "progression": (lambda: ProgressionArm(counters["progression"]), counters["progression"]),
        "dosewise": (
            lambda: DosewiseArm(counters["dosewise"], models, cfg),
            counters["dosewise"],
        ),
    }

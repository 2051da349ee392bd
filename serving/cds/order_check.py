"""order-sign: compare exercise orders being signed with the guideline envelope for this patient.

The envelope comes from the guideline kernel (`serving.guidelines.evaluate`) on the same facts
`/recommend` would give it: the patient mapped from FHIR, the history facts the feature pipeline
computes from the sessions, no current prescription (so no progression limit; only the hard
limits, holds and refers apply). An order inside the envelope gets no card. An order outside it
(or any exercise order under a hold or refer) gets a critical card naming the rules, with one
suggestion: update the order to the kernel's clamp of it (checked again: the replacement is
inside the envelope), delete what cannot be given, and for a refer create a referral.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.contract.convert import requests_to_columns
from features.contract.rest import RecommendRequest
from serving.cds import orders
from serving.guidelines import (
    KernelResult,
    check_prescription,
    clamp_prescription,
    evaluate,
    facts_from_request,
)
from serving.guidelines.kernel import HISTORY_FACTS


def history_facts(req: RecommendRequest) -> dict[str, Any]:
    """The kernel's history facts for a request, from the feature pipeline (as the policy does)."""
    from features import FEATURE_SET
    from features.pipeline import build_rows

    patients, sessions = requests_to_columns([req])
    as_of = np.datetime64(req.as_of or dt.date.today(), "ns")
    keys = {
        "patient_id": np.array([req.patient.patient_id], dtype=object),
        "as_of": np.array([as_of], dtype="datetime64[ns]"),
    }
    row = build_rows(patients, sessions, keys).rows()[0]
    cols = list(FEATURE_SET.columns)
    return {name: row[cols.index(name)] for name in HISTORY_FACTS}


def kernel_for(req: RecommendRequest) -> KernelResult:
    """The kernel's verdict for this patient now (no current prescription)."""
    return evaluate(facts_from_request(req.patient, None, history_facts(req)))


@dataclass
class OrderCheck:
    """What the check found: nothing (empty problems) or the problems and the fix."""

    problems: list[str] = field(default_factory=list)
    replacements: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    unstated: list[str] = field(default_factory=list)
    # exercise orders whose dose could not be read (no sessions per week): (order, why)
    unchecked: list[tuple[str, str]] = field(default_factory=list)


def _floor(result: KernelResult) -> dict[str, float]:
    env = result.envelope
    return {
        "aerobic_intensity": env.aerobic_pct_hrmax_min,
        "aerobic_minutes": max(env.aerobic_minutes_min, 1.0),
        "resistance_intensity": env.resistance_pct_1rm_min,
        "resistance_sets": max(env.resistance_sets_min, 1),
        "resistance_reps": max(env.resistance_reps_min, 1),
    }


def check_orders(
    draft: list[Mapping[str, Any]],
    result: KernelResult,
    patient_id: str,
    reason: str | None,
    unreadable: Sequence[Mapping[str, Any]] = (),
) -> OrderCheck:
    """Check every exercise order (each alone, then all together for the weekly totals).
    `unreadable`: exercise orders that are not valid FHIR; under a hold or refer they are
    removed like the others (the caller warns about them otherwise)."""
    out = OrderCheck()
    floor = _floor(result)
    required = list(result.restrictions)
    read: list[tuple[Mapping[str, Any], str, Any]] = []
    undosed: list[Mapping[str, Any]] = []
    for res in draft:
        modality, dose, unstated = orders.read_order(res, floor)
        out.unstated += [u if u == "modality" else f"{modality} {u}" for u in unstated]
        if dose is None:
            undosed.append(res)
            continue
        read.append((res, modality, dose))
    if result.decision != "allowed" and (read or undosed or unreadable):
        # no exercise may be ordered now: every exercise order goes, dose readable or not
        out.problems.append(f"decision is {result.decision}: no exercise dose may be ordered now")
        out.deletions = [_ref(res) for res, _, _ in read]
        out.deletions += [_ref(res) for res in (*undosed, *unreadable)]
        out.deletions = [d for d in out.deletions if d]
        if result.decision == "refer":
            ids = [r.id for r in result.fired if r.kind == "refer"]
            out.created.append(orders.build_referral(patient_id, ids, reason))
        return out
    out.unchecked = [
        (orders.order_label(res), "sessions per week: not stated as a number per period")
        for res in undosed
    ]
    if not read:
        return out
    for res, modality, dose in read:
        rx = orders.prescription_of({modality: dose}, required)
        out.problems += [f"{_label(res)}: {p}" for p in check_prescription(rx, result)]
        if orders.stated_modality(res) is None:  # read as aerobic: it may be meant as resistance
            out.problems += [f"{_label(res)}: {p}" for p in _as_resistance(dose, result)]
    by_modality: dict[str, tuple[Mapping[str, Any], Any]] = {}
    for res, modality, dose in read:
        by_modality.setdefault(modality, (res, dose))
    if len(by_modality) == 2 and len(read) == 2:
        combined = orders.prescription_of({m: d for m, (_, d) in by_modality.items()}, required)
        week = [
            p
            for p in check_prescription(combined, result)
            if "week" in p or "sessions/week (aerobic + resistance)" in p
        ]
        out.problems += [f"all exercise orders together: {p}" for p in week]
    if not out.problems:
        return out
    fix_rx = orders.prescription_of({m: d for m, (_, d) in by_modality.items()}, required)
    safe = clamp_prescription(fix_rx, result)
    if safe is not None and check_prescription(safe, result):
        raise RuntimeError("the clamped order is outside the envelope")  # a kernel bug
    for modality, (res, _) in by_modality.items():
        dose = getattr(safe, modality) if safe is not None else None
        if dose is None:
            out.deletions += [d for d in [_ref(res)] if d]
        else:
            out.replacements.append(
                orders.build_service_request(
                    patient_id,
                    modality,
                    dose,
                    list(safe.restrictions),
                    reason,
                    base=res,  # type: ignore[union-attr]
                )
            )
    for res, modality, _ in read:  # a second order of one modality: the first one carries the dose
        if by_modality[modality][0] is not res:
            out.deletions += [d for d in [_ref(res)] if d]
    return out


def _as_resistance(dose: Any, result: KernelResult) -> list[str]:
    """What an order that does not state its modality breaks if it is resistance training: a
    missing fact must not make it pass where resistance is closed or less frequent."""
    env = result.envelope
    if not env.resistance_allowed:
        return ["modality not stated, and resistance training is not allowed this week"]
    if dose.sessions_per_week > env.resistance_sessions_max:
        return [
            f"modality not stated: as resistance training, {dose.sessions_per_week} "
            f"sessions/week is above the {env.resistance_sessions_max:g} allowed"
        ]
    return []


def _label(res: Mapping[str, Any]) -> str:
    return orders.order_label(res)


def _ref(res: Mapping[str, Any]) -> str | None:
    """The reference a delete action names (None for an order without an id: it cannot be)."""
    label = orders.order_label(res)
    return label if label.startswith("ServiceRequest/") else None

"""What a review page shows, computed once at recommend time from the validated request and
the response (nothing of the raw request is kept: weekly sums, names and dates of the data used).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from features.contract.rest import RecommendRequest, Session
from serving.policy.result import Contribution, Recommendation

log = logging.getLogger("dosewise.serving.ui")

KIND_ORDER = {"hold": 0, "refer": 1, "cap": 2, "restriction": 3, "progression": 4}
MIN_WEEKS, MAX_WEEKS = 8, 12

RESTRICTIONS = {
    "no_high_impact": "No jumping, running or other high-impact moves.",
    "no_spinal_loading": "No loads carried on or pressing down through the spine.",
    "supervised_resistance": "Resistance training only with a qualified exercise professional.",
    "supervised_only": "All exercise supervised by a qualified professional.",
    "balance_focus": "Include balance work; choose stable, fall-safe exercises.",
    "low_friction": "Avoid equipment or clothing that rubs affected skin.",
    "stationary_modes_only": "Stationary equipment only (cycle, seated machines): fall risk.",
    "avoid_public_facilities": "Avoid gyms and public pools: infection risk.",
    "no_chlorinated_pools": "No chlorinated pools during radiotherapy (skin).",
    "no_vigorous": "Moderate intensity at most: nothing vigorous.",
    "no_resistance": "No resistance training this week.",
}

GROUPS = (  # (group, pattern on the feature name), first match wins
    (
        "The dose itself",
        r"^(aerobic|resistance)_(sessions|minutes|pct_hrmax|sets|reps|pct_1rm)$"
        r"|^session_|^weekly_|^total_sessions$|^is_aerobic$|_vs_recent$",
    ),
    (
        "Recent sessions",
        r"_(7d|14d|28d|last3|last5|total)$|streak|trend|slope|^days_since_(last|first)"
        r"|^n_sessions",
    ),
    ("Labs and vitals", r"hemoglobin|platelets|anc_|resting_hr|_bp$|spo2|temperature|glucose"),
    ("Treatment and cancer", r"^phase_|infusion|cycle_day|^cancer_|^stage$|metastatic"),
    ("Fitness", r"vo2peak|six_minute|grip"),
    ("Symptoms", r"^fatigue$|^pain$|vomiting"),
    ("Patient", r"."),
)
WORDS = {
    "rpe": "effort (RPE)",
    "ae": "adverse events",
    "anc": "neutrophils (ANC)",
    "pct": "%",
    "hrmax": "HRmax",
    "1rm": "1RM",
    "n": "number of",
    "ecog": "ECOG",
    "vo2peak": "VO2peak",
    "bmi": "BMI",
}
WINDOWS = {
    "7d": "last 7 days",
    "14d": "last 14 days",
    "28d": "last 28 days",
    "last3": "last 3 sessions",
    "last5": "last 5 sessions",
    "total": "all sessions",
}


def plain_feature(name: str) -> str:
    """A model feature name in words: `completion_rate_14d` -> 'completion rate (last 14 days)'."""
    parts = name.split("_")
    window = WINDOWS.get(parts[-1]) if parts else None
    if window:
        parts = parts[:-1]
    text = " ".join(WORDS.get(p, p) for p in parts).replace(" %", "%")
    return f"{text} ({window})" if window else text


def group_drivers(explanation: Sequence[Contribution]) -> list[dict[str, Any]]:
    """Feature contributions grouped in clinical words, groups by total absolute weight."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in explanation:
        group = next(g for g, pat in GROUPS if re.search(pat, item.feature))
        c = float(item.contribution)
        groups.setdefault(group, []).append(
            {
                "feature": item.feature,
                "label": plain_feature(item.feature),
                "contribution": round(c, 3),
                "direction": "raises" if c > 0 else "lowers",
            }
        )
    out = [
        {"group": g, "items": items, "weight": round(sum(abs(i["contribution"]) for i in items), 3)}
        for g, items in groups.items()
    ]
    return sorted(out, key=lambda g: -g["weight"])


def _completed_minutes(s: Session) -> float:
    if not s.attended:
        return 0.0
    return float(s.completed_minutes if s.completed_minutes is not None else s.planned_minutes)


def _load(s: Session, sets: float | None) -> float:
    """Volume-load of a resistance session in 1RM units: sets x reps x %1RM / 100."""
    return float(sets or 0) * float(s.planned_reps or 0) * float(s.planned_pct_1rm or 0) / 100


def trajectory(req: RecommendRequest, rec: Recommendation) -> dict[str, Any]:
    """Weekly planned vs completed aerobic minutes and resistance load over the last 8-12 weeks,
    adverse events and infusion days, and next week's recommendation."""
    as_of = req.as_of or dt.date.today()
    first = min((s.date for s in req.sessions), default=as_of)
    n = min(MAX_WEEKS, max(MIN_WEEKS, math.ceil((as_of - first).days / 7)))
    starts = [as_of - dt.timedelta(days=7 * (n - i)) for i in range(n)]
    weeks = []
    for start in starts:
        mine = [s for s in req.sessions if start <= s.date < start + dt.timedelta(days=7)]
        aer = [s for s in mine if s.modality == "aerobic"]
        res = [s for s in mine if s.modality == "resistance"]
        worst = max((s.adverse_event for s in mine), key=_severity, default="none")
        weeks.append(
            {
                "start": start.isoformat(),
                "label": start.strftime("%d %b"),
                "planned_aerobic": sum(float(s.planned_minutes) for s in aer) if aer else None,
                "completed_aerobic": sum(_completed_minutes(s) for s in aer) if aer else None,
                "planned_load": round(sum(_load(s, s.planned_sets) for s in res), 1)
                if res
                else None,
                "completed_load": round(
                    sum(
                        _load(
                            s, s.completed_sets if s.completed_sets is not None else s.planned_sets
                        )
                        for s in res
                        if s.attended
                    ),
                    1,
                )
                if res
                else None,
                "adverse_event": worst,
                "sessions": len(mine),
            }
        )
    p = req.patient
    offsets = []  # infusion days from as_of
    if p.days_since_infusion is not None:
        offsets.append(-p.days_since_infusion)
    nxt = getattr(p, "next_infusion_in_days", None)
    if nxt is not None:
        offsets.append(nxt)  # the contract bounds it below only: no date is made of it first
    marks = []
    for off in offsets:
        idx = ((as_of - starts[0]).days + off) // 7
        if 0 <= idx <= n:  # n: next week
            marks.append({"x": idx, "date": (as_of + dt.timedelta(days=off)).isoformat()})
    rx = rec.prescription
    a = rx.aerobic if rx is not None else None
    r = rx.resistance if rx is not None else None
    next_aerobic = float(a.sessions_per_week * a.minutes_per_session) if a else 0.0
    next_load = 0.0
    if r:
        reps = (r.reps.low + r.reps.high) / 2
        pct = (r.intensity_pct_1rm.low + r.intensity_pct_1rm.high) / 2
        next_load = round(r.sessions_per_week * r.sets * reps * pct / 100, 1)
    return {
        "weeks": weeks,
        "infusions": marks,
        "next_start": as_of.isoformat(),
        "next_aerobic": next_aerobic,
        "next_load": next_load,
    }


def _severity(event: str) -> int:
    return ("none", "mild", "moderate", "serious").index(event)


def data_used(req: RecommendRequest, rec: Recommendation) -> dict[str, Any]:
    """The facts the recommendation rests on, with their dates, and what was missing."""
    as_of = (req.as_of or dt.date.today()).isoformat()
    p = req.patient
    used: list[dict[str, str]] = []
    missing: list[str] = []

    def add(label: str, value: Any, date: str = as_of) -> None:
        if value is None:
            missing.append(label)
        else:
            used.append({"item": label, "value": _show(value), "date": date})

    add("ECOG performance status", p.ecog)
    add("Cancer type, stage", f"{p.cancer_type}, stage {p.stage}")
    add("Metastatic sites", ", ".join(p.metastatic_sites) or "none")
    add("Treatment phase", p.treatment_phase.replace("_", " "))
    if p.days_since_infusion is not None:
        day = dt.date.fromisoformat(as_of) - dt.timedelta(days=p.days_since_infusion)
        add("Last infusion", f"{p.days_since_infusion} days before", day.isoformat())
    elif p.treatment_phase == "chemotherapy":
        missing.append("Last infusion date")
    add("Comorbidities", ", ".join(c.replace("_", " ") for c in p.comorbidities) or "none")
    add("Medical clearance", "yes" if p.medical_clearance else "no")
    for group, obj in (
        ("vitals", p.vitals),
        ("labs", p.labs),
        ("symptoms", p.symptoms),
        ("fitness", p.fitness),
    ):
        for name, value in obj.model_dump().items():
            add(f"{group}: {name.replace('_', ' ')}", value)
    if req.sessions:
        dates = sorted(s.date for s in req.sessions)
        used.append(
            {
                "item": "Exercise sessions",
                "value": f"{len(dates)} sessions",
                "date": f"{dates[0].isoformat()} to {dates[-1].isoformat()}",
            }
        )
    else:
        missing.append("Exercise history (no sessions: a starting dose)")
    rx = req.current_prescription
    if rx is None:
        missing.append("Current prescription (none: starting from the generic dose)")
    else:
        used.append({"item": "Current prescription", "value": "given", "date": as_of})
    for fact in rec.unknown_facts:
        missing.append(f"{fact.replace('_', ' ')} (treated as unknown, possibly abnormal)")
    return {"used": used, "missing": missing}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def build_page_data(
    req: RecommendRequest,
    rec: Recommendation,
    cfg: Any,
    considered: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything the recommendation page renders (JSON-safe)."""
    rules = sorted(rec.rules, key=lambda r: KIND_ORDER.get(r.kind, 9))
    rx = rec.prescription
    restrictions = [
        {"code": c, "meaning": RESTRICTIONS.get(c, c.replace("_", " "))}
        for c in (rx.restrictions if rx is not None else [])
    ]
    preds = rec.predictions
    return {
        "patient_id": rec.patient_id,
        "as_of": rec.as_of.isoformat(),
        "decision": rec.decision,
        "prescription": None if rx is None else rx.model_dump(mode="json"),
        "restrictions": restrictions,
        "predictions": None
        if preds is None
        else {"tolerance": preds.tolerance, "adherence": preds.adherence},
        "bounds": {
            "tolerance": float(cfg.tolerance_threshold),
            "adherence": float(cfg.adherence_threshold),
        },
        "rules": [r.as_dict() for r in rules],
        "drivers": group_drivers(rec.explanation),
        "considered": considered,
        "trajectory": trajectory(req, rec),
        "data": data_used(req, rec),
        "model": {
            "tolerance": {"name": rec.tolerance_model.name, "version": rec.tolerance_model.version},
            "adherence": {"name": rec.adherence_model.name, "version": rec.adherence_model.version},
        },
        "guideline_version": rec.guideline_version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

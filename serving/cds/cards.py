"""CDS cards from a Dosewise recommendation (patient-view) and from an order check (order-sign).

A card says the decision and the dose in its summary (< 140 characters), carries the whole story
in `detail` (markdown: prescription, predictions, every rule with its citation, the data used with
dates and what was missing) and one suggestion: for a dose, draft PA IG ServiceRequests
(serving/cds/orders.py), each an update of the patient's active order of that modality when there
is one, else a new order, carrying the progression reference (serving/cds/current.py); under a
hold or refer, or for a modality closed this week, the active exercise orders put on hold. Its
`uuid` is the audit row's `uuid`, so feedback joins to the recommendation.
"""

from __future__ import annotations

import urllib.parse
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fhir.resources.R4B.servicerequest import ServiceRequest

from features.contract.rest import AerobicDose, Prescription, ResistanceDose
from serving.cds import orders
from serving.cds.current import with_reference
from serving.cds.fhir_map import Mapped
from serving.cds.models import Action, Card, Coding, Link, Source, Suggestion
from serving.policy.result import Recommendation

SUMMARY_MAX = 139
OVERRIDE_SYSTEM = f"{orders.DOSEWISE_FHIR}/CodeSystem/cds-override-reason"
OVERRIDE_REASONS = (
    Coding(system=OVERRIDE_SYSTEM, code="patient-declined", display="Patient declined"),
    Coding(system=OVERRIDE_SYSTEM, code="clinical-judgement", display="Clinical judgement differs"),
    Coding(system=OVERRIDE_SYSTEM, code="data-outdated", display="Data in the record is outdated"),
    Coding(
        system=OVERRIDE_SYSTEM, code="already-prescribed", display="Exercise already prescribed"
    ),
    Coding(system=OVERRIDE_SYSTEM, code="not-applicable", display="Not applicable to this patient"),
)
OVERRIDE_CODES = frozenset(c.code for c in OVERRIDE_REASONS)


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _n(x: float) -> str:
    return f"{x:g}"


def dose_words(rx: Prescription) -> str:
    """The dose in a few words: "aerobic 3x33 min/wk at 64-68% HRmax; resistance 2x/wk ..."."""
    parts = []
    if rx.aerobic is not None:
        a = rx.aerobic
        parts.append(
            f"aerobic {a.sessions_per_week}x{_n(round(a.minutes_per_session))} min/wk at "
            f"{_n(a.intensity_pct_hrmax.low)}-{_n(a.intensity_pct_hrmax.high)}% HRmax"
        )
    if rx.resistance is not None:
        r = rx.resistance
        parts.append(
            f"resistance {r.sessions_per_week}x/wk {r.sets}x{r.reps.low}-{r.reps.high} at "
            f"{_n(r.intensity_pct_1rm.low)}-{_n(r.intensity_pct_1rm.high)}% 1RM"
        )
    return "; ".join(parts) or "no exercise dose"


def summary_for(rec: Recommendation) -> str:
    decision = rec.decision
    if decision == "hold":
        why = next((r.effect for r in rec.rules if r.kind == "hold"), "a hold rule fired")
        return _clip(f"Hold exercise this week: {why}")
    if decision == "refer":
        why = next((r.effect for r in rec.rules if r.kind == "refer"), "a refer rule fired")
        return _clip(f"Refer before exercise: {why}")
    rx = rec.prescription
    assert rx is not None  # progress / maintain / regress carry a prescription
    verb = {"progress": "Exercise", "maintain": "Keep exercise", "regress": "Ease exercise"}[
        decision
    ]
    return _clip(f"{verb}: {dose_words(rx)}")


def source_for(rec: Recommendation, base_url: str) -> Source:
    """ "Dosewise", linking to the model card with the model and guideline versions used."""
    tol, adh = rec.tolerance_model, rec.adherence_model
    query = urllib.parse.urlencode(
        {
            "guideline": rec.guideline_version,
            "tolerance": f"{tol.name}@{tol.version}",
            "adherence": f"{adh.name}@{adh.version}",
        }
    )
    return Source(label="Dosewise", url=f"{base_url}/ui/model-card?{query}")


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def detail_for(rec: Recommendation, mapped: Mapped) -> str:
    """Markdown: prescription, predictions, rules with citations, data used, data missing."""
    lines = [f"**Decision: {rec.decision}** (as of {rec.as_of.isoformat()})", ""]
    p = rec.prescription
    if p is not None:
        lines.append("**Prescription for next week**")
        if p.aerobic is not None:
            lines.append(f"- {orders.describe_aerobic(p.aerobic)}")
        if p.resistance is not None:
            lines.append(f"- {orders.describe_resistance(p.resistance)}")
        if p.restrictions:
            lines.append(f"- Precautions: {orders.describe_restrictions(list(p.restrictions))}")
        lines.append("")
    preds = rec.predictions
    if preds is not None:
        lines += [
            f"**Predictions**: tolerance {preds.tolerance:.0%}, adherence {preds.adherence:.0%}",
            "",
        ]
    lines.append("**Guideline rules that fired**")
    for r in rec.rules:
        lines.append(f"- `{r.id}` ({r.kind}): {r.effect} — *{r.citation}*")
    if not rec.rules:
        lines.append("- none")
    lines += ["", "**Data used**", "", "| fact | value | date | source |", "|---|---|---|---|"]
    for f in mapped.facts:
        lines.append(
            f"| {f.field} | {_md_escape(f.value)} | {f.date or '—'} | {_md_escape(f.source)} |"
        )
    lines.append(f"| sessions | {mapped.sessions_used} exercise sessions | — | activity |")
    unknown = sorted(set(mapped.missing) | set(rec.unknown_facts))
    lines += ["", "**Missing (treated as unknown)**: " + (", ".join(unknown) or "nothing")]
    if mapped.ignored:
        lines.append("**Ignored**: " + "; ".join(_md_escape(i) for i in mapped.ignored[:20]))
    tol, adh = rec.tolerance_model, rec.adherence_model
    lines += [
        "",
        f"Models: {tol.name} v{tol.version}, {adh.name} v{adh.version}; guidelines "
        f"{rec.guideline_version}. Research software, not a medical device.",
    ]
    return "\n".join(lines)


def _suspend(res: Mapping[str, Any], why: str) -> Action | None:
    """Put an active exercise order on hold (FHIR status `on-hold`: suspended, not ended, so
    the prescription is still there to resume from); None for one without an id or already on
    hold."""
    label = orders.order_label(res)
    if not label.startswith("ServiceRequest/") or res.get("status") == "on-hold":
        return None
    held = dict(res) | {"status": "on-hold"}
    ServiceRequest.model_validate(held)  # the EHR's own order, one field changed
    return Action(type="update", description=f"Put {label} on hold: {why}", resource=held)


def actions_for(
    rec: Recommendation, mapped: Mapped, patient_id: str, requester: str | None
) -> list[Action]:
    """What a decision asks of the EHR's orders: the week's exercise orders (an update of the
    active order of that modality, else a new one; each carries the progression reference,
    `serving.cds.current`), every active exercise order the decision does not allow this week
    put on hold (a hold, a refer, a modality closed this week), and a referral for a refer."""
    active = mapped.current_orders
    if rec.decision in ("hold", "refer"):
        found = [_suspend(res, f"{rec.decision} this week") for res in active.values()]
        out = [a for a in found if a is not None]
        if rec.decision == "refer":
            ids = [r.id for r in rec.rules if r.kind == "refer"]
            sr = orders.build_referral(patient_id, ids, mapped.cancer_condition, requester)
            out.append(Action(type="create", description=sr["code"]["text"], resource=sr))
        return out
    rx = rec.prescription
    assert rx is not None  # progress / maintain / regress carry a prescription
    out = []
    restrictions = list(rx.restrictions)
    dose: AerobicDose | ResistanceDose | None
    for modality, dose in (("aerobic", rx.aerobic), ("resistance", rx.resistance)):
        base = active.get(modality)
        if base is not None and not orders.order_label(base).startswith("ServiceRequest/"):
            base = None  # an order without an id cannot be updated: a new one is created
        if dose is None:
            held = _suspend(base, f"no {modality} training this week") if base else None
            out += [held] if held else []
            continue
        sr = orders.build_service_request(
            patient_id, modality, dose, restrictions, mapped.cancer_condition, requester, base
        )
        if rec.progression_reference is not None:
            sr = with_reference(sr, modality, rec.progression_reference)
        kind = "update" if base is not None else "create"
        out.append(Action(type=kind, description=sr["code"]["text"], resource=sr))
    return out


def recommendation_card(
    rec: Recommendation,
    mapped: Mapped,
    card_uuid: str,
    patient_id: str,
    base_url: str,
    requester: str | None = None,
    review_url: str | None = None,
) -> Card:
    """The patient-view card of a recommendation (`review_url`: its signed review page)."""
    decision = rec.decision
    actions = actions_for(rec, mapped, patient_id, requester)
    suggestions = []
    if actions:
        label = {
            "refer": "Order the referral",
            "hold": "Put the exercise orders on hold this week",
        }.get(decision, "Order this exercise prescription")
        suggestions.append(
            Suggestion(label=label, uuid=str(uuidlib.uuid4()), isRecommended=True, actions=actions)
        )
    links = []
    if review_url:
        links.append(Link(label="Review this recommendation", url=review_url, type="absolute"))
    return Card(
        uuid=card_uuid,
        summary=summary_for(rec),
        detail=detail_for(rec, mapped),
        indicator="warning" if decision in ("hold", "refer") else "info",
        source=source_for(rec, base_url),
        suggestions=suggestions,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=list(OVERRIDE_REASONS),
        links=links,
    )


def insufficient_card(mapped: Mapped, base_url: str) -> Card:
    """No recommendation: the record lacks facts the contract requires (nothing is guessed)."""
    missing = mapped.missing_required
    summary = _clip(f"Dosewise cannot recommend exercise: the record lacks {', '.join(missing)}")
    detail = [
        "Dosewise needs these facts and found none usable in the FHIR record: "
        + ", ".join(f"`{m}`" for m in missing)
        + ". Nothing was guessed; record them and reopen the chart.",
        "",
        "**Data used**",
        "",
        "| fact | value | date | source |",
        "|---|---|---|---|",
    ]
    detail += [
        f"| {f.field} | {_md_escape(f.value)} | {f.date or '—'} | {_md_escape(f.source)} |"
        for f in mapped.facts
    ]
    detail += ["", "**Missing**: " + ", ".join(sorted(set(mapped.missing)))]
    return _notice(summary, detail, "info", base_url)


def _notice(
    summary: str, lines: Sequence[str], indicator: Literal["info", "warning"], base_url: str
) -> Card:
    """A card without suggestions, sourced to the model card."""
    return Card(
        uuid=str(uuidlib.uuid4()),
        summary=summary,
        detail="\n".join(lines),
        indicator=indicator,
        source=Source(label="Dosewise", url=f"{base_url}/ui/model-card"),
    )


def unreadable_orders_card(orders: Sequence[tuple[str, str]], base_url: str) -> Card:
    """A warning card for exercise orders Dosewise could not check: an order it cannot read must
    never pass as one it checked and found safe. `orders`: (order id, why) pairs."""
    n = len(orders)
    summary = _clip(
        f"Dosewise cannot check {n} exercise order{'s' if n > 1 else ''}: the dose cannot be read"
    )
    lines = [
        "These exercise orders could not be read as a dose (not a valid FHIR R4 ServiceRequest, "
        "or no sessions per week stated), so they were not checked against the guideline "
        "limits. Check the dose by hand or correct the order.",
        "",
        "| order | problem |",
        "|---|---|",
    ]
    lines += [f"| {_md_escape(oid)} | {_md_escape(why)} |" for oid, why in orders]
    return _notice(summary, lines, "warning", base_url)


def other_patient_orders_card(labels: Sequence[str], base_url: str) -> Card:
    """A critical card for exercise orders whose subject is another patient than the one the
    hook is about: a possible wrong-patient order, never checked against this patient's limits
    (and the other patient's id is not repeated)."""
    n = len(labels)
    summary = _clip(
        f"{n} exercise order{'s' if n > 1 else ''} name{'' if n > 1 else 's'} another patient: "
        "confirm the patient before signing"
    )
    lines = [
        "The subject of these exercise orders is not the patient this order-sign call is about, "
        "so Dosewise did not check them against this patient's guideline limits. A wrong-patient "
        "order is a safety event: confirm the patient, then sign or correct the order.",
        "",
        "| order |",
        "|---|",
    ]
    lines += [f"| {_md_escape(label)} |" for label in labels]
    return _notice(summary, lines, "critical", base_url)


def order_check_card(
    problems: Sequence[str],
    rules: Sequence[Mapping[str, Any]],
    decision: str,
    replacements: Sequence[dict[str, Any]],
    deletions: Sequence[str],
    created: Sequence[dict[str, Any]],
    unstated: Sequence[str],
    guideline_version: str,
    base_url: str,
) -> Card:
    """The critical card of an exercise order outside the guideline envelope."""
    if decision in ("hold", "refer"):
        summary = _clip(
            f"Exercise order conflicts with a {decision}: "
            + ", ".join(r["id"] for r in rules if r["kind"] == decision)
        )
    else:
        summary = _clip("Exercise order exceeds the guideline limits for this patient")
    lines = ["**Why this order is unsafe now**", ""]
    lines += [f"- {p}" for p in problems]
    lines += ["", "**Guideline rules**"]
    lines += [f"- `{r['id']}` ({r['kind']}): {r['effect']} — *{r['citation']}*" for r in rules]
    if unstated:
        lines += [
            "",
            "Not stated in the order: "
            + ", ".join(unstated)
            + ". A dose part not stated is checked at the lowest allowed value; an order that "
            "does not state aerobic or resistance is read as aerobic, and its frequency is also "
            "checked against the resistance limits.",
        ]
    lines += ["", f"Guidelines {guideline_version}. Research software, not a medical device."]
    actions = [
        Action(
            type="update",
            description="Replace with the safe dose: " + sr.get("patientInstruction", ""),
            resource=sr,
        )
        for sr in replacements
    ]
    actions += [
        Action(type="delete", description="Remove the exercise order", resourceId=[rid])
        for rid in deletions
    ]
    actions += [
        Action(type="create", description=sr["code"]["text"], resource=sr) for sr in created
    ]
    label = (
        "Replace with the safe dose"
        if replacements
        else "Remove the order" + (" and refer" if created else "")
    )
    suggestions = (
        [Suggestion(label=label, uuid=str(uuidlib.uuid4()), isRecommended=True, actions=actions)]
        if actions
        else []
    )
    return Card(
        uuid=str(uuidlib.uuid4()),
        summary=summary,
        detail="\n".join(lines),
        indicator="critical",
        source=Source(
            label="Dosewise", url=f"{base_url}/ui/model-card?guideline={guideline_version}"
        ),
        suggestions=suggestions,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=list(OVERRIDE_REASONS),
    )

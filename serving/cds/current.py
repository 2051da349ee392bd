"""The patient's current exercise prescription from the EHR's active exercise orders, and the
progression reference Dosewise wrote into them.

A CDS Hooks call carries no `current_prescription`: without one the policy can only offer the
generic starting dose or less, and the kernel reads the dose the session log planned (kernel
2026.12.7). The EHR does know what is prescribed: its exercise ServiceRequests that are active or
on hold (prefetch `orders`; Dosewise puts them on hold in a hold or refer week). Each modality's
newest such order that states its whole dose (sessions per week,
minutes for aerobic, intensity, sets and repetitions for resistance: what Dosewise writes) is
read as that modality's current dose, exactly as a REST client would send it.

The progression reference (the dose a deload or a light week stepped down from) is written by
Dosewise into each order it suggests (`REFERENCE_EXTENSION`), with a digest of the dose the
order stated then. It is handed back only while the order still states that dose: an order
changed by hand (another frequency, length or intensity) drops it, as the contract asks ("omit it
when the prescription was changed by hand").

What is never read: an order of another patient (dropped by the prefetch), one authored after
`as_of` (point in time), one whose period has ended, a proposal or plan (intent), an order
whose dose is not stated in full, and in order-sign the order being signed (an EHR may list the
edit itself as active); each is named in the card's detail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from features.contract.rest import (
    AerobicDose,
    Prescription,
    ProgressionReference,
    ResistanceDose,
)
from serving.cds import orders
from serving.cds.fhir_map import Fact
from serving.cds.fhir_map.readers import read_date

REFERENCE_EXTENSION = f"{orders.DOSEWISE_FHIR}/StructureDefinition/progression-reference"
# the parts of the reference per modality: (extension part, ProgressionReference field)
REFERENCE_PARTS = {
    "aerobic": (
        ("sessions", "aerobic_sessions"),
        ("minutes", "aerobic_minutes"),
        ("pctHrmax", "aerobic_pct_hrmax"),
    ),
    "resistance": (
        ("sessions", "resistance_sessions"),
        ("sets", "resistance_sets"),
        ("reps", "resistance_reps"),
        ("pct1rm", "resistance_pct_1rm"),
    ),
}
ORDER_INTENTS = frozenset({"order", "original-order", "filler-order"})  # not a proposal or plan
# an order put on hold (a hold or refer week, serving/cds/cards.py) is still the prescription the
# patient resumes from, as a REST client keeps its current prescription through a hold
IN_FORCE = frozenset({"active", "on-hold"})
_UNREAD = {"aerobic_intensity": 0.0, "aerobic_minutes": 0.0, "resistance_intensity": 0.0}
_UNREAD |= {"resistance_sets": 0.0, "resistance_reps": 0.0}


@dataclass
class CurrentOrders:
    """What the active orders say: the current prescription (None: no order read), the
    progression reference Dosewise wrote into them (None: none still valid), and the story."""

    prescription: Prescription | None = None
    reference: ProgressionReference | None = None
    facts: list[Fact] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    read: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # modality -> its order


def dose_digest(modality: str, dose: AerobicDose | ResistanceDose) -> str:
    """A digest of a dose as an order states it: the reference is valid only for this dose."""
    d = dose.model_dump(mode="json")
    return hashlib.sha256(f"{modality}|{sorted(d.items())}".encode()).hexdigest()[:16]


def reference_extension(
    modality: str, reference: ProgressionReference, stated: AerobicDose | ResistanceDose
) -> dict[str, Any]:
    """The extension Dosewise writes into an order it suggests: the modality's part of the
    reference and the digest of the dose the order states (`stated`, as read back)."""
    ref = reference.model_dump()
    parts: list[dict[str, Any]] = [
        {"url": part, "valueDecimal": float(ref[name])} for part, name in REFERENCE_PARTS[modality]
    ]
    parts.append({"url": "doseDigest", "valueString": dose_digest(modality, stated)})
    return {"url": REFERENCE_EXTENSION, "extension": parts}


def with_reference(
    sr: dict[str, Any], modality: str, reference: ProgressionReference
) -> dict[str, Any]:
    """A suggested order with the reference extension for the dose it states (validated)."""
    _, stated, _ = orders.read_order(sr, _UNREAD)
    if stated is None:  # pragma: no cover - Dosewise's own orders state their frequency
        return sr
    out = dict(sr) | {"extension": [*sr.get("extension", [])]}
    out["extension"].append(reference_extension(modality, reference, stated))
    return orders.emit(out)


def _authored(res: Mapping[str, Any]) -> dt.date | None:
    return read_date(res.get("authoredOn"))


def _ended(res: Mapping[str, Any], as_of: dt.date) -> bool:
    period = res.get("occurrencePeriod")
    end = read_date(period.get("end")) if isinstance(period, Mapping) else None
    return end is not None and end < as_of


def _reference_part(
    res: Mapping[str, Any], modality: str, dose: AerobicDose | ResistanceDose
) -> dict[str, float] | None:
    """The order's reference part, if Dosewise wrote it for the dose the order still states."""
    parts = orders.extension_parts(res, REFERENCE_EXTENSION)
    digests = [p.get("valueString") for p in parts.get("doseDigest", [])]
    if digests != [dose_digest(modality, dose)]:
        return None  # none written, or the order was changed by hand since
    out = {name: orders.extension_number(parts, part) for part, name in REFERENCE_PARTS[modality]}
    return None if None in out.values() else out  # type: ignore[return-value]


def _candidates(
    items: Sequence[Mapping[str, Any]],
    as_of: dt.date,
    out: CurrentOrders,
    being_signed: frozenset[str],
) -> dict[str, list[Mapping[str, Any]]]:
    """Active exercise orders in force on `as_of`, per modality, newest first."""
    by_modality: dict[str, list[Mapping[str, Any]]] = {}
    for res in items:
        if not orders.is_exercise_order(res) or res.get("status") not in IN_FORCE:
            continue
        label = orders.order_label(res)
        authored = _authored(res)
        if label in being_signed:  # its version in force is unknown: never the draft itself
            out.ignored.append(f"{label}: being signed")
        elif res.get("intent") not in ORDER_INTENTS:
            out.ignored.append(f"{label}: not an order (intent)")
        elif authored is not None and authored > as_of:
            out.ignored.append(f"{label}: authored after {as_of.isoformat()}")
        elif _ended(res, as_of):
            out.ignored.append(f"{label}: its period has ended")
        else:
            by_modality.setdefault(orders.order_modality(res), []).append(res)
    for found in by_modality.values():
        found.sort(key=lambda r: _authored(r) or dt.date.min, reverse=True)
    return by_modality


def current_from_orders(
    items: Sequence[Mapping[str, Any]] | None,
    as_of: dt.date,
    being_signed: frozenset[str] = frozenset(),
) -> CurrentOrders:
    """The current prescription (and the reference) the active exercise orders state; nothing
    when `items` is None (not fetched) or no order is read. `being_signed`: labels of orders
    an order-sign call checks; an EHR that lists the edit itself as active would otherwise
    have it checked against itself."""
    out = CurrentOrders()
    if not items:
        return out
    doses: dict[str, AerobicDose | ResistanceDose] = {}
    ref: dict[str, float] = {}
    restrictions: set[str] = set()
    for modality, found in _candidates(items, as_of, out, being_signed).items():
        newest, *older = found
        out.ignored += [f"{orders.order_label(r)}: an older {modality} order" for r in older]
        _, dose, unstated = orders.read_order(newest, _UNREAD)
        if modality == "aerobic" and not orders.states_rpe(newest):
            unstated.append("RPE")
        if dose is None or unstated:
            what = ", ".join(unstated) or "sessions per week"
            out.ignored.append(f"{orders.order_label(newest)}: dose not stated in full ({what})")
            continue
        doses[modality] = dose
        out.read[modality] = newest
        restrictions |= set(orders.stated_restrictions(newest))
        out.facts.append(
            Fact(
                f"current_prescription.{modality}",
                orders.describe_aerobic(dose)
                if isinstance(dose, AerobicDose)
                else orders.describe_resistance(dose),
                (_authored(newest) or as_of).isoformat(),
                orders.order_label(newest),
            )
        )
        part = _reference_part(newest, modality, dose)
        if part is not None:
            ref |= part
    if not doses:
        return out
    out.prescription = orders.prescription_of(doses, sorted(restrictions))
    if ref:
        blank = dict.fromkeys(ProgressionReference.model_fields, 0.0)
        try:
            out.reference = ProgressionReference.model_validate(blank | ref)
        except ValueError:
            out.ignored.append("progression reference: out of range")
    return out

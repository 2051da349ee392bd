"""Exercise orders as FHIR R4 ServiceRequests (Physical Activity IG `pa-servicerequest`), both ways.

* `build_service_request`: a contract prescription component (aerobic or resistance) -> a draft
  ServiceRequest the EHR can create or update, and `build_referral` for a refer decision.
* `read_order`: an exercise ServiceRequest the clinician is signing -> the dose it orders.
* `check_pa_servicerequest`: the PA IG profile's constraints, checked in code (no FHIR validator
  runs offline here), after the fhir.resources R4B model has validated the resource.

How the dose is written (and read back):
* `code` SNOMED 229065009 "Exercise therapy" (a referral: 390893007 "Referral to physical activity
  program"), `category` PA IG `PhysicalActivity`, `intent` order, `status` draft.
* `orderDetail`: the modality, code `aerobic` | `resistance` in `MODALITY_SYSTEM`.
* `occurrenceTiming.repeat`: sessions per week (`frequency`/`period` 1 `wk`) and, for aerobic,
  minutes per session (`duration`/`durationUnit` min).
* The documented extension `DOSE_EXTENSION` (complex) carries the intensity range and the rest of
  the dose, machine-readable: `intensityLow`/`intensityHigh` (valueQuantity, unit `%HRmax` or
  `%1RM`), `rpeLow`/`rpeHigh`, `sets`, `repsLow`/`repsHigh` (valueInteger), `restriction`
  (valueCode, repeated). `patientInstruction` says the same in words.
* `reasonReference` points at the primary cancer Condition (PA IG invariant pa-sr-1).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.servicerequest import ServiceRequest

from features.contract.rest import AerobicDose, IntRange, Prescription, Range, ResistanceDose
from features.contract.vocab import RESTRICTIONS
from serving.cds.fhir_map import SNOMED, is_resistance

PA_PROFILE = "http://hl7.org/fhir/us/physical-activity/StructureDefinition/pa-servicerequest"
PA_CATEGORY_SYSTEM = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"
PA_CATEGORY = {
    "system": PA_CATEGORY_SYSTEM,
    "code": "PhysicalActivity",
    "display": "Physical Activity",
}
DOSEWISE_FHIR = "http://dosewise.org/fhir"
DOSE_EXTENSION = f"{DOSEWISE_FHIR}/StructureDefinition/exercise-dose"
MODALITY_SYSTEM = f"{DOSEWISE_FHIR}/CodeSystem/exercise-modality"
EXERCISE_THERAPY = {"system": SNOMED, "code": "229065009", "display": "Exercise therapy"}
REFERRAL = {
    "system": SNOMED,
    "code": "390893007",
    "display": "Referral to physical activity program",
}
# PA IG value set pa-servicerequest-code (extensible): the codes an exercise order may carry
PA_INTERVENTION_CODES = frozenset(
    {
        "819961005",
        "398636004",
        "435551000124105",
        "390893007",
        "426866005",
        "229095001",
        "229065009",
    }
)
EXERCISE_ORDER_CODES = frozenset({"229065009", "229095001"})
PA_INTENTS = frozenset({"original-order", "order", "filler-order"})
PA_STATUSES = frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error"})
UCUM = "http://unitsofmeasure.org"
# A FHIR resource id (R4: [A-Za-z0-9-.]{1,64}; "_" too, as EHRs send it)
FHIR_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

RESTRICTION_WORDS = {
    "no_high_impact": "no high-impact activity",
    "no_spinal_loading": "no spinal loading",
    "supervised_resistance": "resistance training supervised",
    "supervised_only": "supervised sessions only",
    "balance_focus": "include balance work",
    "low_friction": "low-friction activities (skin)",
    "stationary_modes_only": "stationary equipment only",
    "avoid_public_facilities": "avoid public gyms and pools (infection risk)",
    "no_chlorinated_pools": "no chlorinated pools",
    "no_vigorous": "no vigorous intensity",
    "no_resistance": "no resistance training",
    "no_aerobic": "no aerobic training",
    "check_temperature": "check temperature before each session",
    "no_high_intra_abdominal_pressure": "avoid straining / high intra-abdominal pressure",
}


def _n(x: float) -> str:
    return f"{x:g}"


def _sessions(n: int) -> str:
    return f"{n} session" if n == 1 else f"{n} sessions"


def describe_aerobic(a: AerobicDose) -> str:
    return (
        f"Aerobic: {_sessions(a.sessions_per_week)}/week, {_n(round(a.minutes_per_session))} min "
        f"each, at {_n(a.intensity_pct_hrmax.low)}-{_n(a.intensity_pct_hrmax.high)}% of maximum "
        f"heart rate (RPE {a.rpe.low}-{a.rpe.high} on the Borg 6-20 scale)"
    )


def describe_resistance(r: ResistanceDose) -> str:
    return (
        f"Resistance: {_sessions(r.sessions_per_week)}/week, {r.sets} sets of "
        f"{r.reps.low}-{r.reps.high} repetitions at {_n(r.intensity_pct_1rm.low)}-"
        f"{_n(r.intensity_pct_1rm.high)}% of one-repetition maximum"
    )


def describe_restrictions(restrictions: list[str]) -> str:
    return "; ".join(RESTRICTION_WORDS.get(r, r) for r in restrictions)


def _pct(url: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "url": url,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": "%"},
    }


def _int(url: str, value: int) -> dict[str, Any]:
    return {"url": url, "valueInteger": int(value)}


def _dose_extension(
    modality: str, dose: AerobicDose | ResistanceDose, restrictions: list[str]
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "modality", "valueCode": modality}]
    if isinstance(dose, AerobicDose):
        parts += [
            _pct("intensityLow", dose.intensity_pct_hrmax.low, "%HRmax"),
            _pct("intensityHigh", dose.intensity_pct_hrmax.high, "%HRmax"),
            _int("rpeLow", dose.rpe.low),
            _int("rpeHigh", dose.rpe.high),
        ]
    else:
        parts += [
            _pct("intensityLow", dose.intensity_pct_1rm.low, "%1RM"),
            _pct("intensityHigh", dose.intensity_pct_1rm.high, "%1RM"),
            _int("sets", dose.sets),
            _int("repsLow", dose.reps.low),
            _int("repsHigh", dose.reps.high),
        ]
    parts += [{"url": "restriction", "valueCode": r} for r in restrictions]
    return {"url": DOSE_EXTENSION, "extension": parts}


def _base(
    patient_id: str,
    code: dict[str, str],
    reason: str | None,
    requester: str | None,
    base: Mapping[str, Any] | None,
) -> dict[str, Any]:
    base = base or {}
    subject = base.get("subject")
    req = (
        {"reference": requester}
        if requester and requester.startswith(("Practitioner/", "PractitionerRole/"))
        else {"display": "Ordering clinician"}
    )
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(base.get("id") or uuid.uuid4()),
        "meta": {"profile": [PA_PROFILE]},
        "status": "draft",
        "intent": "order",
        "category": [{"coding": [PA_CATEGORY]}],
        "code": {"coding": [code], "text": code["display"]},
        "subject": subject if _is_patient_ref(subject) else {"reference": f"Patient/{patient_id}"},
        "authoredOn": base.get("authoredOn")
        or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "requester": _dict(base.get("requester")) or req,
    }
    if reason:
        sr["reasonReference"] = [{"reference": reason}]
    elif base.get("reasonReference"):
        sr["reasonReference"] = base["reasonReference"]
    elif base.get("reasonCode"):
        sr["reasonCode"] = base["reasonCode"]
    else:
        sr["reasonCode"] = [{"text": "Cancer (exercise oncology)"}]
    return sr


def _is_patient_ref(ref: Any) -> bool:
    """A Reference to a Patient (the PA profile's subject); a draft's other subject is not kept."""
    return isinstance(ref, Mapping) and str(ref.get("reference", "")).startswith("Patient/")


def build_service_request(
    patient_id: str,
    modality: str,
    dose: AerobicDose | ResistanceDose,
    restrictions: list[str],
    reason: str | None,
    requester: str | None = None,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A draft PA IG exercise order for one modality of a prescription (validated, checked).

    `base` (an order being replaced) keeps its id, subject, requester, authoredOn and reason.
    """
    sr = _base(patient_id, EXERCISE_THERAPY, reason, requester, base)
    sr["code"]["text"] = f"{modality.capitalize()} exercise therapy"
    sr["orderDetail"] = [{"coding": [{"system": MODALITY_SYSTEM, "code": modality}]}]
    repeat: dict[str, Any] = {"frequency": dose.sessions_per_week, "period": 1, "periodUnit": "wk"}
    if isinstance(dose, AerobicDose):
        repeat |= {"duration": round(dose.minutes_per_session, 1), "durationUnit": "min"}
        words = describe_aerobic(dose)
    else:
        words = describe_resistance(dose)
    sr["occurrenceTiming"] = {"repeat": repeat}
    sr["extension"] = [_dose_extension(modality, dose, restrictions)]
    extra = describe_restrictions(restrictions)
    sr["patientInstruction"] = words + (f". Precautions: {extra}." if extra else ".")
    return emit(sr)


def build_referral(
    patient_id: str, rules: list[str], reason: str | None, requester: str | None = None
) -> dict[str, Any]:
    """A draft referral to a supervised physical activity program (refer decisions)."""
    sr = _base(patient_id, REFERRAL, reason, requester, None)
    sr["patientInstruction"] = (
        "Medical clearance or a supervised clinical exercise program before exercise "
        f"(guideline rules: {', '.join(rules)})."
    )
    return emit(sr)


def check_pa_servicerequest(sr: Mapping[str, Any]) -> list[str]:
    """Every way `sr` breaks the PA IG `pa-servicerequest` profile (empty: conforms)."""
    problems = []
    if sr.get("resourceType") != "ServiceRequest":
        return ["not a ServiceRequest"]
    cats = [c for cc in sr.get("category") or [] for c in cc.get("coding") or []]
    if not any(
        c.get("system") == PA_CATEGORY_SYSTEM and c.get("code") == "PhysicalActivity" for c in cats
    ):
        problems.append("category: the PhysicalActivity slice (1..1) is missing")
    codes = [c for c in (sr.get("code") or {}).get("coding") or []]
    if not codes:
        problems.append("code: required (1..1)")
    elif not any(
        c.get("system") == SNOMED and c.get("code") in PA_INTERVENTION_CODES for c in codes
    ):
        problems.append("code: not from the PA intervention value set")
    if not str((sr.get("subject") or {}).get("reference", "")).startswith("Patient/"):
        problems.append("subject: a Patient reference is required (1..1)")
    if not sr.get("authoredOn"):
        problems.append("authoredOn: required (1..1)")
    if not sr.get("requester"):
        problems.append("requester: required (1..1)")
    if sr.get("intent") not in PA_INTENTS:
        problems.append("intent: not in PAServiceRequestIntent")
    if sr.get("status") not in PA_STATUSES:
        problems.append("status: not in PAServiceRequestStatus")
    for absent in ("doNotPerform", "implicitRules", "modifierExtension", "specimen"):
        if absent in sr:
            problems.append(f"{absent}: not allowed (0..0)")
    if not (sr.get("reasonCode") or sr.get("reasonReference")):
        problems.append("pa-sr-1: reasonCode or reasonReference required")
    occurrences = [k for k in sr if k.startswith("occurrence")]
    if any(
        k not in ("occurrenceDateTime", "occurrencePeriod", "occurrenceTiming") for k in occurrences
    ):
        problems.append("occurrence[x]: only dateTime, Period or Timing")
    if PA_PROFILE not in ((sr.get("meta") or {}).get("profile") or []):
        problems.append("meta.profile: does not claim pa-servicerequest")
    return problems


class ProfileError(RuntimeError):
    """A ServiceRequest the service built breaks the R4B model or the PA IG profile (a bug)."""


def emit(sr: dict[str, Any]) -> dict[str, Any]:
    """Validate an outgoing ServiceRequest (R4B model and PA IG checks); the JSON sent is `sr`
    itself (re-serialising the model would cost ~3 ms and change nothing)."""
    try:
        ServiceRequest.model_validate(sr)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ProfileError(f"not a valid R4B ServiceRequest ({exc.__class__.__name__})") from None
    problems = check_pa_servicerequest(sr)
    if problems:
        raise ProfileError("; ".join(problems))
    return sr


# --- reading an order back ---------------------------------------------------------------------
# An order arrives as the EHR's raw JSON: these readers take any shape and find nothing in a part
# that is not the FHIR type it should be, so a malformed order is never a crash.
def _dict(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _dicts(x: Any) -> list[Mapping[str, Any]]:
    return [i for i in x if isinstance(i, Mapping)] if isinstance(x, list) else []


def _codings(concepts: Any) -> list[Mapping[str, Any]]:
    """The codings of a list of CodeableConcepts."""
    return [c for cc in _dicts(concepts) for c in _dicts(cc.get("coding"))]


def order_label(res: Mapping[str, Any]) -> str:
    """How a card names an order: `ServiceRequest/<id>`, or "an order without an id"."""
    rid = res.get("id")
    if isinstance(rid, str) and FHIR_ID.match(rid):
        return f"ServiceRequest/{rid}"
    return "an order without an id"


def is_exercise_order(res: Mapping[str, Any]) -> bool:
    """An exercise ServiceRequest: an exercise therapy/class code, or the PA category."""
    if res.get("resourceType") != "ServiceRequest":
        return False
    codes = {str(c.get("code")) for c in _codings([res.get("code")]) if c.get("system") == SNOMED}
    if codes & EXERCISE_ORDER_CODES:
        return True
    is_pa = any(c.get("code") == "PhysicalActivity" for c in _codings(res.get("category")))
    return is_pa and not codes & {"390893007"}


def extension_parts(
    res: Mapping[str, Any], url: str = DOSE_EXTENSION
) -> dict[str, list[Mapping[str, Any]]]:
    """The parts of the complex extension `url` by part name (any shape read safely)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for ext in _dicts(res.get("extension")):
        if ext.get("url") == url:
            for part in _dicts(ext.get("extension")):
                out.setdefault(str(part.get("url")), []).append(part)
    return out


LARGEST = 1e9  # a stated number beyond this is read as this: still over every limit, never unstated


def _number(x: Any) -> float | None:
    """A JSON number as a float (None for anything else, booleans too)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    if isinstance(x, int) and abs(x) > LARGEST:
        return math.copysign(LARGEST, x)
    return float(min(max(x, -LARGEST), LARGEST)) if math.isfinite(x) else None


def extension_number(parts: dict[str, list[Mapping[str, Any]]], name: str) -> float | None:
    """The number of part `name` (valueQuantity, valueInteger, valueDecimal...), None if absent."""
    for p in parts.get(name, []):
        if "valueQuantity" in p:
            return _number(_dict(p["valueQuantity"]).get("value"))
        for key in ("valueInteger", "valueDecimal", "valuePositiveInt", "valueUnsignedInt"):
            if key in p:
                return _number(p[key])
    return None


def stated_modality(res: Mapping[str, Any]) -> str | None:
    """The modality the order states (dose extension, orderDetail, or a resistance-training
    code), or None when it does not say."""
    parts = extension_parts(res)
    for p in parts.get("modality", []):
        if p.get("valueCode") in ("aerobic", "resistance"):
            return str(p["valueCode"])
    for c in _codings(res.get("orderDetail")):
        if c.get("system") == MODALITY_SYSTEM and c.get("code") in ("aerobic", "resistance"):
            return str(c["code"])
    return "resistance" if is_resistance(_dict(res.get("code"))) else None


def stated_restrictions(res: Mapping[str, Any]) -> list[str]:
    """The restrictions the dose extension names (known codes only)."""
    codes = [p.get("valueCode") for p in extension_parts(res).get("restriction", [])]
    return [c for c in codes if isinstance(c, str) and c in RESTRICTIONS]


def states_rpe(res: Mapping[str, Any]) -> bool:
    """The dose extension states the RPE band (an aerobic order Dosewise wrote does)."""
    parts = extension_parts(res)
    return all(extension_number(parts, name) is not None for name in ("rpeLow", "rpeHigh"))


def order_modality(res: Mapping[str, Any]) -> str:
    """The stated modality; an order that states none is read as aerobic (and its frequency is
    also checked against the resistance limits: `order_check.check_orders`)."""
    return stated_modality(res) or "aerobic"


def _sessions_per_week(repeat: Mapping[str, Any]) -> float | None:
    freq = _number(repeat.get("frequency"))
    period = _number(repeat.get("period", 1))
    per_week = {"wk": 1.0, "d": 7.0, "mo": 12 / 52}.get(str(repeat.get("periodUnit", "wk")))
    if freq is None or period is None or period <= 0 or per_week is None:
        return None  # not stated in a way that can be read: the order is not checked as safe
    return freq * per_week / period


def _minutes(repeat: Mapping[str, Any]) -> float | None:
    d = _number(repeat.get("duration"))
    if d is None or d < 0:
        return None
    return {"min": d, "h": d * 60, "s": d / 60}.get(str(repeat.get("durationUnit", "min")))


def read_order(
    res: Mapping[str, Any], floor: Mapping[str, float]
) -> tuple[str, AerobicDose | ResistanceDose | None, list[str]]:
    """(modality, the ordered dose, facts the order did not state).

    A part the order does not state (e.g. no intensity extension) is taken at `floor` (the
    envelope's lowest allowed value), so it can never be what makes an order unsafe, and it is
    named in the card. None when the order states no sessions per week.
    """
    modality = order_modality(res)
    repeat = _dict(_dict(res.get("occurrenceTiming")).get("repeat"))
    parts = extension_parts(res)
    unstated: list[str] = [] if stated_modality(res) else ["modality"]
    sessions = _sessions_per_week(repeat)
    if sessions is None:
        return modality, None, ["sessions per week"]
    sessions_i = max(1, round(sessions))
    low, high = extension_number(parts, "intensityLow"), extension_number(parts, "intensityHigh")
    if low is None or high is None:
        unstated.append("intensity")
        low = high = floor[f"{modality}_intensity"]
    if modality == "aerobic":
        minutes = _minutes(repeat)
        if minutes is None:
            unstated.append("minutes per session")
            minutes = floor["aerobic_minutes"]
        rlo, rhi = extension_number(parts, "rpeLow"), extension_number(parts, "rpeHigh")
        if rlo is None or rhi is None:
            rlo = rhi = 6
        return (
            modality,
            AerobicDose(
                sessions_per_week=min(sessions_i, 14),
                minutes_per_session=min(max(minutes, 0), 180),
                intensity_pct_hrmax=Range(low=min(low, high), high=max(low, high)),
                rpe=IntRange(low=int(min(rlo, rhi)), high=int(max(rlo, rhi))),
            ),
            unstated,
        )
    sets = extension_number(parts, "sets")
    if sets is None:
        unstated.append("sets")
        sets = floor["resistance_sets"]
    rlo, rhi = extension_number(parts, "repsLow"), extension_number(parts, "repsHigh")
    if rlo is None or rhi is None:
        unstated.append("repetitions")
        rlo = rhi = floor["resistance_reps"]
    return (
        modality,
        ResistanceDose(
            sessions_per_week=min(sessions_i, 14),
            sets=int(min(max(sets, 0), 10)),
            reps=IntRange(low=int(min(rlo, rhi)), high=int(max(rlo, rhi))),
            intensity_pct_1rm=Range(low=min(low, high), high=max(low, high)),
        ),
        unstated,
    )


def prescription_of(
    doses: Mapping[str, AerobicDose | ResistanceDose], restrictions: list[str]
) -> Prescription:
    return Prescription(
        aerobic=doses.get("aerobic"),  # type: ignore[arg-type]
        resistance=doses.get("resistance"),  # type: ignore[arg-type]
        restrictions=restrictions,
    )

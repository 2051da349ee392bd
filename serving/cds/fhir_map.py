"""FHIR R4 (mCODE STU4, Physical Activity IG) -> the contract's `RecommendRequest`, in one place.

The rule of the mapping: a fact the FHIR record lacks is unknown, never invented. A required
contract field (age, sex, height, weight, cancer type, stage, treatment phase, ECOG) that cannot be
read makes the record *insufficient*: no recommendation is made and the card names what is
missing. Optional facts that are missing stay empty (the kernel treats them as unknown; SAFETY.md).
Contract defaults that no FHIR resource carries are kept at their conservative value
(`medical_clearance` false, `resistance_experience` "none"); there is no current prescription
(the EHR's active exercise orders are not prefetched), so "progress" means a starting dose.

Every resource is parsed with the fhir.resources R4B model of its type first; a resource that does
not validate is ignored and counted. Values are then read from the validated JSON.

What is read (newest value on or before `as_of`, statuses other than entered-in-error/cancelled):

Field by field (contract field: FHIR source):
- age, sex: Patient.birthDate (age at `as_of`), Patient.gender (other values -> "unknown").
- cancer_type: the newest active Condition with the mCODE primary-cancer profile, an ICD-10
  C00-C76/C80-C96 code or a listed SNOMED code (`CANCER_ICD10`, `CANCER_SNOMED`).
- metastatic_sites: active mCODE secondary-cancer Conditions (or ICD-10 C77-C79): bodySite SNOMED
  (`SITE_SNOMED`), the diagnosis code (`SITE_OF_SECONDARY_SNOMED`, `SITE_ICD10`).
- comorbidities: the other active Conditions by ICD-10 prefix (`COMORBIDITY_ICD10`).
- stage: the newest LOINC 21908-9 (clinical) or 21902-2 (pathological) stage group; I-IV read
  from the code or the text (IIIB -> III).
- ecog: LOINC 89247-1, an integer or the LOINC answers LA9622-7..LA9626-8 (0-4).
- labs: 777-3 platelets and 751-8 ANC (10*3/uL = 10^9/L), 718-7 haemoglobin (g/dL; g/L and
  mmol/L converted).
- vitals: 8867-4 heart rate, 8480-6 / 8462-4 blood pressure (also as components of the panel
  85354-9), 59408-5 SpO2, 8310-5 temperature (degF converted).
- height_cm, weight_kg: 8302-2 (cm, m, in), 29463-7 (kg, g, lb).
- days_since_infusion: the newest completed MedicationAdministration (every administration in
  `medications` counts as a cancer infusion).
- recent_surgery_days: the newest completed surgical Procedure (mCODE cancer-related surgical
  procedure profile, or category 387713003).
- treatment_phase: chemotherapy with an infusion within `ACTIVE_TREATMENT_DAYS`; else
  radiotherapy with a radiotherapy Procedure (mCODE radiotherapy course summary, SNOMED
  108290001 / 1217123003) in that window; else post_treatment after any infusion, radiotherapy or
  cancer surgery; else "none" when both `medications` and `procedures` came back; else unknown.
- sessions: activity Observations 73985-4 (exercise activity) with duration 55411-3, mean heart
  rate 55425-3 and perceived exertion 82289-0 as components, or as the `hasMember`
  observations of a PA IG activity panel (`PAPanel`).

Sessions: the PA IG records what was done, not what was planned, so a session's planned minutes
are its recorded duration (and it counts as attended and completed). An activity whose type is
resistance training (`is_resistance`) is a resistance session; everything else is aerobic.

Perceived exertion: a value on the Borg CR10 scale (0-10; the default for 82289-0, or a unit
naming CR10) is converted to Borg 6-20 by `BORG_CR10_TO_RPE` (the usual correspondence of the two
Borg scales, e.g. Borg 1998 and ACSM GETP: CR10 3 "moderate" ~ RPE 12-13, CR10 5 "hard" ~ RPE
14-15); a value whose unit names the 6-20 scale, or above 10, is taken as Borg 6-20.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from features.contract.rest import RecommendRequest
from features.contract.vocab import MAX_SESSIONS_PER_REQUEST

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ACTIVE_TREATMENT_DAYS = 28
MAX_INFUSION_AGE_DAYS = 365

REQUIRED_FIELDS = (
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "cancer_type",
    "stage",
    "treatment_phase",
    "ecog",
)

# --- documented tables -------------------------------------------------------------------------
CANCER_ICD10: tuple[tuple[tuple[str, str], str], ...] = (
    (("C50", "C50"), "breast"),
    (("C61", "C61"), "prostate"),
    (("C18", "C20"), "colorectal"),
    (("C33", "C34"), "lung"),
    (("C81", "C96"), "hematologic"),
    (("C51", "C58"), "gynecologic"),
    (("C00", "C14"), "head_neck"),
    (("C30", "C32"), "head_neck"),
)
CANCER_SNOMED = {
    "254837009": "breast",  # malignant neoplasm of breast
    "399068003": "prostate",  # malignant tumor of prostate
    "363406005": "colorectal",  # malignant neoplasm of colon
    "363351006": "colorectal",  # malignant neoplasm of rectum
    "363358000": "lung",  # malignant tumor of lung
    "254637007": "lung",  # non-small cell lung cancer
    "254632001": "lung",  # small cell carcinoma of lung
    "93143009": "hematologic",  # leukaemia
    "118600007": "hematologic",  # malignant lymphoma
    "109989006": "hematologic",  # multiple myeloma
    "363443007": "gynecologic",  # malignant tumor of ovary
}
SECONDARY_SNOMED = {"128462008", "94225005", "94222008", "94381002", "94391008", "94297009"}
SITE_SNOMED = {
    "3138006": "bone",
    "272673000": "bone",
    "39607008": "lung",
    "10200004": "liver",
    "12738006": "brain",
    "59441001": "lymph_node",
    "39937001": "skin",
    "122865005": "gi",
    "71854001": "gi",  # colon
    "69695003": "gi",  # stomach
}
# secondary-cancer diagnosis codes that name their site (SNOMED findings and ICD-10)
SITE_OF_SECONDARY_SNOMED = {
    "94222008": "bone",
    "94391008": "lung",
    "94381002": "liver",
    "94225005": "brain",
    "94297009": "lymph_node",
}
SITE_ICD10 = (
    ("C77", "lymph_node"),
    ("C78.0", "lung"),
    ("C78.1", "lung"),
    ("C78.2", "lung"),
    ("C78.4", "gi"),
    ("C78.5", "gi"),
    ("C78.6", "gi"),
    ("C78.7", "liver"),
    ("C79.2", "skin"),
    ("C79.3", "brain"),
    ("C79.5", "bone"),
)
COMORBIDITY_ICD10 = (
    (("I20", "I52"), "cardiovascular_disease"),
    (("E10", "E14"), "diabetes"),
    (("M80", "M81"), "osteoporosis"),
    (("G62", "G63"), "peripheral_neuropathy"),
    (("I89.0", "I89.0"), "lymphedema"),
    (("I97.2", "I97.2"), "lymphedema"),
    (("J44", "J44"), "copd"),
    (("M15", "M19"), "arthritis"),
    (("Z93", "Z93"), "ostomy"),
)
ECOG_ANSWERS = {"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3, "LA9626-8": 4}
# Borg CR10 (0-10) -> Borg RPE 6-20; between listed points, linear interpolation, then rounded.
BORG_CR10_TO_RPE: tuple[tuple[float, int], ...] = (
    (0.0, 6),
    (0.5, 7),
    (1.0, 8),
    (2.0, 10),
    (3.0, 12),
    (4.0, 13),
    (5.0, 14),
    (6.0, 15),
    (7.0, 17),
    (8.0, 18),
    (9.0, 19),
    (10.0, 20),
)
RADIOTHERAPY_SNOMED = {"108290001", "1217123003"}
SURGERY_CATEGORY = "387713003"

# observation code -> (contract path, converter of (value, unit) -> contract unit or None)
Converter = Any


def _unit(q: Mapping[str, Any]) -> str:
    return str(q.get("code") or q.get("unit") or "").strip()


def _count_10e9(v: float, u: str) -> float | None:
    norm = u.replace(" ", "").lower()
    if norm in {
        "10*3/ul",
        "10*9/l",
        "10^9/l",
        "10^3/ul",
        "x10e3/ul",
        "k/ul",
        "thou/ul",
        "10.e3/ul",
    }:
        return v
    if norm in {"/ul", "{cells}/ul", "cells/ul"}:
        return v / 1000
    return None


def _hgb(v: float, u: str) -> float | None:
    norm = u.lower()
    if norm in {"g/dl"}:
        return v
    if norm == "g/l":
        return v / 10
    if norm == "mmol/l":
        return v * 1.611
    return None


def _same(*units: str):
    allowed = {x.lower() for x in units}

    def conv(v: float, u: str) -> float | None:
        return v if u.lower() in allowed else None

    return conv


def _temp(v: float, u: str) -> float | None:
    if u in ("Cel", "C", "°C"):
        return v
    if u in ("[degF]", "F", "°F"):
        return (v - 32) * 5 / 9
    return None


def _weight(v: float, u: str) -> float | None:
    return {"kg": v, "g": v / 1000, "[lb_av]": v * 0.45359237, "lb": v * 0.45359237}.get(u)


def _height(v: float, u: str) -> float | None:
    return {"cm": v, "m": v * 100, "[in_i]": v * 2.54, "in": v * 2.54}.get(u)


QUANTITIES: dict[str, tuple[str, Converter]] = {
    "777-3": ("labs.platelets_10e9_l", _count_10e9),
    "751-8": ("labs.anc_10e9_l", _count_10e9),
    "718-7": ("labs.hemoglobin_g_dl", _hgb),
    "8867-4": ("vitals.resting_hr", _same("/min", "{beats}/min", "bpm")),
    "8480-6": ("vitals.systolic_bp", _same("mm[Hg]", "mmHg")),
    "8462-4": ("vitals.diastolic_bp", _same("mm[Hg]", "mmHg")),
    "59408-5": ("vitals.spo2", _same("%")),
    "8310-5": ("vitals.temperature_c", _temp),
    "29463-7": ("weight_kg", _weight),
    "8302-2": ("height_cm", _height),
}
BP_PANEL = "85354-9"
STAGE_CODES = ("21908-9", "21902-2")
ECOG_CODE = "89247-1"
ACTIVITY_CODE = "73985-4"
DURATION_CODE = "55411-3"
MEAN_HR_CODE = "55425-3"
RPE_CODE = "82289-0"
PA_PANEL_CODE = "PAPanel"


# --- result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One fact used, with where and when it came from (for the card's detail)."""

    field: str
    value: str
    date: str | None
    source: str


@dataclass
class Mapped:
    """The mapping's result: the request (None when required facts are missing) and its story."""

    request: RecommendRequest | None
    facts: list[Fact] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # contract fields the record lacks
    ignored: list[str] = field(default_factory=list)  # resources / values that could not be used
    cancer_condition: str | None = None  # "Condition/<id>" of the primary cancer
    sessions_used: int = 0

    @property
    def missing_required(self) -> list[str]:
        return [f for f in self.missing if f in REQUIRED_FIELDS]


# --- small readers -----------------------------------------------------------------------------
def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def _codes(concept: Any, system: str) -> list[str]:
    return [str(c.get("code")) for c in _codings(concept) if c.get("system") == system]


def _texts(concept: Any) -> list[str]:
    out = [str(c.get("display")) for c in _codings(concept) if c.get("display")]
    if isinstance(concept, Mapping) and concept.get("text"):
        out.append(str(concept["text"]))
    return out


def _icd10(concept: Any) -> list[str]:
    return [
        str(c.get("code")).upper()
        for c in _codings(concept)
        if "icd-10" in str(c.get("system", "")).lower() and c.get("code")
    ]


def _in_ranges(code: str, ranges: Iterable[tuple[tuple[str, str], str]]) -> str | None:
    for (lo, hi), label in ranges:
        head = code[: len(lo)]
        if lo <= head <= hi:
            return label
    return None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _when(res: Mapping[str, Any], prefix: str) -> dt.date | None:
    """Date of an event: `<prefix>DateTime`, else the start of `<prefix>Period` (end if none)."""
    day = _date(res.get(f"{prefix}DateTime"))
    if day is None and isinstance(res.get(f"{prefix}Period"), Mapping):
        period = res[f"{prefix}Period"]
        day = _date(period.get("start")) or _date(period.get("end"))
    if day is None and prefix == "effective":
        day = _date(res.get("issued"))
    return day


def _profiles(res: Mapping[str, Any]) -> list[str]:
    meta = res.get("meta")
    return [str(p) for p in (meta.get("profile") or [])] if isinstance(meta, Mapping) else []


def _has_profile(res: Mapping[str, Any], name: str) -> bool:
    return any(p.rstrip("/").endswith(name) for p in _profiles(res))


def _ref(res: Mapping[str, Any]) -> str:
    return f"{res.get('resourceType')}/{res.get('id', '?')}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


_OBS_BAD_STATUS = {"entered-in-error", "cancelled"}


# --- the mapping -------------------------------------------------------------------------------
class _Builder:
    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self.out = Mapped(request=None)
        self.patient: dict[str, Any] = {}

    def put(self, path: str, value: Any, date: dt.date | None, source: str, shown: str) -> None:
        target = self.patient
        parts = path.split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value
        self.out.facts.append(Fact(path, shown, date.isoformat() if date else None, source))

    def has(self, path: str) -> bool:
        target: Any = self.patient
        for p in path.split("."):
            if not isinstance(target, Mapping) or p not in target:
                return False
            target = target[p]
        return True


def resolve_age(birth: dt.date, as_of: dt.date) -> int:
    """Completed years at `as_of`."""
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def map_patient_resource(b: _Builder, patient: Mapping[str, Any]) -> None:
    birth = _date(patient.get("birthDate"))
    if birth is not None and len(str(patient.get("birthDate"))) >= 10:
        b.put(
            "age",
            resolve_age(birth, b.as_of),
            None,
            _ref(patient),
            str(resolve_age(birth, b.as_of)),
        )
    gender = patient.get("gender")
    if isinstance(gender, str):
        sex = gender if gender in ("female", "male") else "unknown"
        b.put("sex", sex, None, _ref(patient), sex)


def _cancer_type(cond: Mapping[str, Any]) -> str | None:
    code = cond.get("code")
    for icd in _icd10(code):
        label = _in_ranges(icd, CANCER_ICD10)
        if label:
            return label
        if icd[:1] == "C" and not icd.startswith(("C77", "C78", "C79")):
            return "other"
    for sct in _codes(code, SNOMED):
        if sct in CANCER_SNOMED:
            return CANCER_SNOMED[sct]
    if _has_profile(cond, "mcode-primary-cancer-condition"):
        return "other"
    return None


def _is_secondary(cond: Mapping[str, Any]) -> bool:
    if _has_profile(cond, "mcode-secondary-cancer-condition"):
        return True
    code = cond.get("code")
    if any(c.startswith(("C77", "C78", "C79")) for c in _icd10(code)):
        return True
    return any(c in SECONDARY_SNOMED for c in _codes(code, SNOMED))


def _metastatic_sites(cond: Mapping[str, Any]) -> set[str]:
    sites = set()
    for site in cond.get("bodySite") or []:
        for sct in _codes(site, SNOMED):
            if sct in SITE_SNOMED:
                sites.add(SITE_SNOMED[sct])
    for sct in _codes(cond.get("code"), SNOMED):
        if sct in SITE_OF_SECONDARY_SNOMED:
            sites.add(SITE_OF_SECONDARY_SNOMED[sct])
    for icd in _icd10(cond.get("code")):
        for prefix, site in SITE_ICD10:
            if icd.startswith(prefix):
                sites.add(site)
    return sites


def _is_active(cond: Mapping[str, Any]) -> bool:
    status = _codes(
        cond.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical"
    )
    verification = _codes(
        cond.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    )
    if any(v in ("entered-in-error", "refuted") for v in verification):
        return False
    return not status or any(s in ("active", "recurrence", "relapse") for s in status)


def map_conditions(b: _Builder, conditions: list[Mapping[str, Any]]) -> None:
    sites: set[str] = set()
    comorbid: set[str] = set()
    primary: tuple[dt.date, str, Mapping[str, Any]] | None = None
    for cond in conditions:
        if not _is_active(cond):
            continue
        when = _date(cond.get("recordedDate")) or _when(cond, "onset") or dt.date.min
        if when > b.as_of:
            continue
        if _is_secondary(cond):
            sites |= _metastatic_sites(cond)
            continue
        cancer = _cancer_type(cond)
        if cancer is not None:
            if primary is None or when > primary[0]:
                primary = (when, cancer, cond)
            continue
        for icd in _icd10(cond.get("code")):
            label = _in_ranges(icd, COMORBIDITY_ICD10)
            if label:
                comorbid.add(label)
    if primary is not None:
        when, cancer, cond = primary
        day = None if when == dt.date.min else when
        b.put("cancer_type", cancer, day, _ref(cond), cancer)
        b.out.cancer_condition = _ref(cond)
    ordered_sites = sorted(sites)
    b.put(
        "metastatic_sites",
        ordered_sites,
        None,
        "Condition (secondary)",
        ", ".join(ordered_sites) or "none",
    )
    b.put(
        "comorbidities", sorted(comorbid), None, "Condition", ", ".join(sorted(comorbid)) or "none"
    )


def _newest(
    obs: list[Mapping[str, Any]], as_of: dt.date
) -> list[tuple[dt.date, Mapping[str, Any]]]:
    dated = []
    for o in obs:
        if o.get("status") in _OBS_BAD_STATUS:
            continue
        day = _when(o, "effective")
        if day is None or day > as_of:
            continue
        dated.append((day, o))
    dated.sort(key=lambda t: t[0], reverse=True)
    return dated


def _stage(o: Mapping[str, Any]) -> str | None:
    concept = o.get("valueCodeableConcept")
    candidates = [c.get("code") for c in _codings(concept)] + _texts(concept)
    for text in candidates:
        m = re.search(
            r"(?:^|[^A-Za-z])(IV|III|II|I|[1-4])(?:[A-Ca-c]\d?)?(?:$|[^A-Za-z0-9])", str(text)
        )
        if m:
            return {"1": "I", "2": "II", "3": "III", "4": "IV"}.get(m.group(1), m.group(1))
    return None


def _ecog(o: Mapping[str, Any]) -> int | None:
    if isinstance(o.get("valueInteger"), int):
        value: float | None = o["valueInteger"]
    elif isinstance(o.get("valueQuantity"), Mapping):
        value = _number(o["valueQuantity"].get("value"))
    else:
        value = None
        for c in _codings(o.get("valueCodeableConcept")):
            code = str(c.get("code"))
            if code in ECOG_ANSWERS:
                value = ECOG_ANSWERS[code]
            elif code.isdigit():
                value = int(code)
    if value is None or value != int(value) or not 0 <= value <= 4:
        return None
    return int(value)


def map_observations(b: _Builder, observations: list[Mapping[str, Any]]) -> None:
    by_code: dict[str, list[Mapping[str, Any]]] = {}
    for o in observations:
        for code in set(_codes(o.get("code"), LOINC)):
            by_code.setdefault(code, []).append(o)
    for code, (path, convert) in QUANTITIES.items():
        candidates = [
            (d, o, o.get("valueQuantity")) for d, o in _newest(by_code.get(code, []), b.as_of)
        ]
        if code in ("8480-6", "8462-4"):  # also the components of a BP panel
            for d, o in _newest(by_code.get(BP_PANEL, []), b.as_of):
                for comp in o.get("component") or []:
                    if code in _codes(comp.get("code"), LOINC):
                        candidates.append((d, o, comp.get("valueQuantity")))
            candidates.sort(key=lambda t: t[0], reverse=True)
        for day, o, q in candidates:
            if not isinstance(q, Mapping):
                continue
            value = _number(q.get("value"))
            converted = None if value is None else convert(value, _unit(q))
            if converted is None:
                b.out.ignored.append(f"{_ref(o)}: {code} unit not understood")
                continue
            converted = round(converted, 2)
            b.put(path, converted, day, _ref(o), f"{converted:g} ({_unit(q)})")
            break
    stages = [t for c in STAGE_CODES for t in _newest(by_code.get(c, []), b.as_of)]
    for day, o in sorted(stages, key=lambda t: t[0], reverse=True):
        stage = _stage(o)
        if stage is not None:
            b.put("stage", stage, day, _ref(o), f"stage {stage}")
            break
    for day, o in _newest(by_code.get(ECOG_CODE, []), b.as_of):
        ecog = _ecog(o)
        if ecog is not None:
            b.put("ecog", ecog, day, _ref(o), str(ecog))
            break


def map_treatment(
    b: _Builder,
    medications: list[Mapping[str, Any]] | None,
    procedures: list[Mapping[str, Any]] | None,
) -> None:
    infusions = sorted(
        (
            d
            for m in medications or []
            if m.get("status") in ("completed", "in-progress")
            and (d := _when(m, "effective")) is not None
            and d <= b.as_of
        ),
        reverse=True,
    )
    radio: list[dt.date] = []
    surgery: list[dt.date] = []
    for p in procedures or []:
        if p.get("status") not in ("completed", "in-progress"):
            continue
        day = _when(p, "performed")
        if day is None or day > b.as_of:
            continue
        codes = set(_codes(p.get("code"), SNOMED))
        if _has_profile(p, "mcode-radiotherapy-course-summary") or codes & RADIOTHERAPY_SNOMED:
            radio.append(day)
        elif _has_profile(
            p, "mcode-cancer-related-surgical-procedure"
        ) or SURGERY_CATEGORY in _codes(p.get("category"), SNOMED):
            surgery.append(day)
    days_inf = (b.as_of - infusions[0]).days if infusions else None
    if days_inf is not None and days_inf <= MAX_INFUSION_AGE_DAYS:
        b.put(
            "days_since_infusion",
            days_inf,
            infusions[0],
            "MedicationAdministration",
            f"{days_inf} days",
        )
    if surgery:
        last = max(surgery)
        b.put(
            "recent_surgery_days",
            (b.as_of - last).days,
            last,
            "Procedure",
            f"{(b.as_of - last).days} days",
        )
    last_radio = max(radio) if radio else None
    if days_inf is not None and days_inf <= ACTIVE_TREATMENT_DAYS:
        phase, day, src = "chemotherapy", infusions[0], "MedicationAdministration"
    elif last_radio is not None and (b.as_of - last_radio).days <= ACTIVE_TREATMENT_DAYS:
        phase, day, src = "radiotherapy", last_radio, "Procedure"
    elif infusions or radio or surgery:
        phase, day, src = "post_treatment", None, "MedicationAdministration / Procedure"
    elif medications is not None and procedures is not None:
        phase, day, src = "none", None, "MedicationAdministration / Procedure (none found)"
    else:
        return
    b.put("treatment_phase", phase, day, src, phase)


def _is_activity_type(o: Mapping[str, Any]) -> bool:
    return ACTIVITY_CODE in _codes(o.get("code"), LOINC)


def is_resistance(activity: Any) -> bool:
    """Resistance training, by the activity type's text (strength, weights, resistance)."""
    text = " ".join(_texts(activity) + [str(c.get("code")) for c in _codings(activity)]).lower()
    return any(k in text for k in ("resist", "strength", "weight", "muscle"))


def borg_rpe(value: float, unit: str) -> int | None:
    """Perceived exertion as Borg 6-20 (see the module docstring for the scale rule)."""
    u = unit.lower()
    if "6-20" in u or ("cr10" not in u and value > 10):
        return round(value) if 6 <= value <= 20 else None
    if not 0 <= value <= 10:
        return None
    table = BORG_CR10_TO_RPE
    for (x0, y0), (x1, y1) in itertools.pairwise(table):
        if x0 <= value <= x1:
            return round(y0 + (y1 - y0) * (value - x0) / (x1 - x0))
    return None


def _measures(o: Mapping[str, Any], members: list[Mapping[str, Any]]) -> dict[str, Any]:
    """LOINC code -> value of the session's measures: components first, then member observations."""
    out: dict[str, Any] = {}
    for comp in o.get("component") or []:
        for code in _codes(comp.get("code"), LOINC):
            out.setdefault(code, comp)
    for m in members:
        for code in _codes(m.get("code"), LOINC):
            out.setdefault(code, m)
    return out


def _minutes(q: Any) -> float | None:
    if not isinstance(q, Mapping):
        return None
    v = _number(q.get("value"))
    if v is None:
        return None
    return {"min": v, "h": v * 60, "s": v / 60}.get(_unit(q))


def map_sessions(b: _Builder, activity: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_id = {f"Observation/{o.get('id')}": o for o in activity if o.get("id")}
    member_ids = {
        str(ref.get("reference"))
        for o in activity
        for ref in o.get("hasMember") or []
        if isinstance(ref, Mapping)
    }
    sessions = []
    for o in activity:
        if o.get("status") in _OBS_BAD_STATUS:
            continue
        is_panel = PA_PANEL_CODE in [c.get("code") for c in _codings(o.get("code"))]
        if not (is_panel or (_is_activity_type(o) and _ref(o) not in member_ids)):
            continue
        day = _when(o, "effective")
        if day is None or day >= b.as_of:
            continue
        members = [
            by_id[str(r.get("reference"))]
            for r in o.get("hasMember") or []
            if str(r.get("reference")) in by_id
        ]
        measures = _measures(o, members)
        kind = o.get("valueCodeableConcept")
        if is_panel:
            kind = next(
                (m.get("valueCodeableConcept") for m in members if _is_activity_type(m)), None
            )
        minutes = _minutes((measures.get(DURATION_CODE) or {}).get("valueQuantity"))
        if minutes is None or not 1 <= minutes <= 180:
            b.out.ignored.append(f"{_ref(o)}: session without a usable duration")
            continue
        session: dict[str, Any] = {
            "date": day.isoformat(),
            "modality": "resistance" if is_resistance(kind) else "aerobic",
            "planned_minutes": round(minutes, 1),
            "attended": True,
            "completed_minutes": round(minutes, 1),
        }
        hr_q = (measures.get(MEAN_HR_CODE) or {}).get("valueQuantity")
        hr = _number(hr_q.get("value")) if isinstance(hr_q, Mapping) else None
        if hr is not None and 30 <= hr <= 250:
            session["avg_hr"] = round(hr)
        rpe_src = measures.get(RPE_CODE) or {}
        rpe_q = rpe_src.get("valueQuantity")
        rpe_v = (
            _number(rpe_q.get("value"))
            if isinstance(rpe_q, Mapping)
            else _number(rpe_src.get("valueInteger"))
        )
        if rpe_v is not None:
            rpe = borg_rpe(rpe_v, _unit(rpe_q) if isinstance(rpe_q, Mapping) else "")
            if rpe is not None:
                session["rpe"] = rpe
        sessions.append(session)
    sessions.sort(key=lambda s: s["date"])
    return sessions[-MAX_SESSIONS_PER_REQUEST:]


def _drop(patient: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the value at `loc` (a ValidationError location under `patient`); False if absent."""
    target: Any = patient
    for key in loc[:-1]:
        if not isinstance(target, dict) or key not in target:
            return False
        target = target[key]
    if isinstance(target, dict) and loc and loc[-1] in target:
        del target[loc[-1]]
        return True
    return False


def map_record(
    patient_id: str,
    as_of: dt.date,
    patient: Mapping[str, Any],
    conditions: list[Mapping[str, Any]] | None,
    observations: list[Mapping[str, Any]] | None,
    activity: list[Mapping[str, Any]] | None,
    medications: list[Mapping[str, Any]] | None,
    procedures: list[Mapping[str, Any]] | None,
) -> Mapped:
    """The contract request for this FHIR record (None with missing required facts), and the facts
    used, the fields missing and the values ignored."""
    b = _Builder(as_of)
    b.patient["patient_id"] = patient_id
    map_patient_resource(b, patient)
    if conditions is not None:
        map_conditions(b, conditions)
    if observations is not None:
        map_observations(b, observations)
    map_treatment(b, medications, procedures)
    sessions = map_sessions(b, activity or [])
    b.out.sessions_used = len(sessions)
    if activity is None:
        b.out.missing.append("sessions")
    optional = (
        "labs.platelets_10e9_l",
        "labs.anc_10e9_l",
        "labs.hemoglobin_g_dl",
        "vitals.resting_hr",
        "vitals.systolic_bp",
        "vitals.diastolic_bp",
        "vitals.spo2",
        "vitals.temperature_c",
        "days_since_infusion",
    )
    for name in (*REQUIRED_FIELDS, *optional):
        if not b.has(name):
            b.out.missing.append(name)
    if b.out.missing_required:
        return b.out
    body = {"patient": b.patient, "sessions": sessions, "as_of": as_of.isoformat()}
    for _ in range(8):  # an implausible value is dropped (unknown), never clipped
        try:
            b.out.request = RecommendRequest.model_validate(body)
            return b.out
        except ValidationError as exc:
            dropped = False
            for err in exc.errors(include_url=False, include_input=False):
                loc = tuple(err["loc"])
                if loc[:1] == ("patient",) and _drop(b.patient, loc[1:]):
                    name = ".".join(str(x) for x in loc[1:])
                    b.out.ignored.append(f"{name}: implausible value")
                    b.out.facts = [f for f in b.out.facts if f.field != name]
                    b.out.missing.append(name)
                    dropped = True
                elif loc[:1] == ("sessions",) and len(loc) > 1:
                    idx = int(loc[1])
                    if idx < len(sessions):
                        sessions.pop(idx)
                        b.out.ignored.append("a session with an implausible value")
                        dropped = True
                        break
            if not dropped or b.out.missing_required:
                return b.out
    return b.out

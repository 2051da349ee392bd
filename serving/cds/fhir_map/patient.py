"""Patient and Condition resources: age and sex; cancer type, metastatic sites and comorbidities
from the active Conditions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from serving.cds.fhir_map.code_tables import (
    CANCER_ICD10,
    CANCER_SNOMED,
    COMORBIDITY_ICD10,
    SECONDARY_SNOMED,
    SITE_ICD10,
    SITE_OF_SECONDARY_SNOMED,
    SITE_SNOMED,
    SNOMED,
)
from serving.cds.fhir_map.readers import (
    has_profile,
    in_ranges,
    read_codes,
    read_date,
    read_icd10,
    read_when,
    reference_of,
)
from serving.cds.fhir_map.result import Builder


def resolve_age(birth: dt.date, as_of: dt.date) -> int:
    """Completed years at `as_of`."""
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def map_patient_resource(b: Builder, patient: Mapping[str, Any]) -> None:
    birth = read_date(patient.get("birthDate"))
    if birth is not None and len(str(patient.get("birthDate"))) >= 10:
        b.put(
            "age",
            resolve_age(birth, b.as_of),
            None,
            reference_of(patient),
            str(resolve_age(birth, b.as_of)),
        )
    gender = patient.get("gender")
    if isinstance(gender, str):
        sex = gender if gender in ("female", "male") else "unknown"
        b.put("sex", sex, None, reference_of(patient), sex)


def _cancer_type(cond: Mapping[str, Any]) -> str | None:
    code = cond.get("code")
    for icd in read_icd10(code):
        label = in_ranges(icd, CANCER_ICD10)
        if label:
            return label
        if icd[:1] == "C" and not icd.startswith(("C77", "C78", "C79")):
            return "other"
    for sct in read_codes(code, SNOMED):
        if sct in CANCER_SNOMED:
            return CANCER_SNOMED[sct]
    if has_profile(cond, "mcode-primary-cancer-condition"):
        return "other"
    return None


def _is_secondary(cond: Mapping[str, Any]) -> bool:
    if has_profile(cond, "mcode-secondary-cancer-condition"):
        return True
    code = cond.get("code")
    if any(c.startswith(("C77", "C78", "C79")) for c in read_icd10(code)):
        return True
    return any(c in SECONDARY_SNOMED for c in read_codes(code, SNOMED))


def _metastatic_sites(cond: Mapping[str, Any]) -> set[str]:
    sites = set()
    for site in cond.get("bodySite") or []:
        for sct in read_codes(site, SNOMED):
            if sct in SITE_SNOMED:
                sites.add(SITE_SNOMED[sct])
    for sct in read_codes(cond.get("code"), SNOMED):
        if sct in SITE_OF_SECONDARY_SNOMED:
            sites.add(SITE_OF_SECONDARY_SNOMED[sct])
    for icd in read_icd10(cond.get("code")):
        for prefix, site in SITE_ICD10:
            if icd.startswith(prefix):
                sites.add(site)
    return sites


def _is_active(cond: Mapping[str, Any]) -> bool:
    status = read_codes(
        cond.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical"
    )
    verification = read_codes(
        cond.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    )
    if any(v in ("entered-in-error", "refuted") for v in verification):
        return False
    return not status or any(s in ("active", "recurrence", "relapse") for s in status)


def map_conditions(b: Builder, conditions: list[Mapping[str, Any]]) -> None:
    sites: set[str] = set()
    comorbid: set[str] = set()
    primary: tuple[dt.date, str, Mapping[str, Any]] | None = None
    for cond in conditions:
        if not _is_active(cond):
            continue
        when = read_date(cond.get("recordedDate")) or read_when(cond, "onset") or dt.date.min
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
        for icd in read_icd10(cond.get("code")):
            label = in_ranges(icd, COMORBIDITY_ICD10)
            if label:
                comorbid.add(label)
    if primary is not None:
        when, cancer, cond = primary
        day = None if when == dt.date.min else when
        b.put("cancer_type", cancer, day, reference_of(cond), cancer)
        b.out.cancer_condition = reference_of(cond)
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

"""`GET /cds-services`: the two services and the FHIR data each asks the EHR to prefetch.

Prefetch templates use only what CDS Hooks 2.0 allows: an instance read (`Patient/{id}`) and
type searches with `patient={{context.patientId}}` plus plain search parameters (no chained or
`_include` queries, no tokens other than `context.*`). The keys are fixed: the mapping
(serving/cds/fhir_map/) reads them by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serving.cds.fhir_map.code_tables import ACTIVITY_CODE, DURATION_CODE, MEAN_HR_CODE, RPE_CODE
from serving.cds.models import ServiceDescription

PATIENT_VIEW_ID = "dosewise-patient-view"
ORDER_SIGN_ID = "dosewise-order-sign"

# LOINC codes of everything `observations` must bring back (serving/cds/fhir_map/ uses each).
OBSERVATION_CODES = (
    "21908-9",  # stage group, clinical
    "21902-2",  # stage group, pathological
    "89247-1",  # ECOG performance status
    "777-3",  # platelets
    "751-8",  # neutrophils (ANC)
    "718-7",  # haemoglobin
    "8867-4",  # heart rate
    "8480-6",  # systolic blood pressure
    "8462-4",  # diastolic blood pressure
    "85354-9",  # blood pressure panel (carries 8480-6 / 8462-4 as components)
    "59408-5",  # SpO2 by pulse oximetry
    "8310-5",  # body temperature
    "29463-7",  # body weight
    "8302-2",  # body height
    "72514-3",  # pain severity 0-10 (fhir_map.code_tables.SYMPTOM_SCORES)
)
LOINC = "http://loinc.org"

SiteCodes = Sequence[tuple[str, str, str]]  # (system, code, symptom): Settings.symptom_codes()
# LOINC codes the mapping reads in activity logs, beside OBSERVATION_CODES
_ACTIVITY_CODES = (ACTIVITY_CODE, DURATION_CODE, MEAN_HR_CODE, RPE_CODE)


def check_site_codes(site_codes: SiteCodes) -> None:
    """A ValueError when a site's symptom code is one the mapping already reads as something
    else (LOINC 72514-3 is the pain score, 777-3 platelets...): the site entry would be read as
    that, or that as a symptom, silently. Called before serving (`dosewise serve`)."""
    built_in = {(LOINC, code) for code in (*OBSERVATION_CODES, *_ACTIVITY_CODES)}
    for system, code, symptom in site_codes:
        if (system, code) in built_in:
            raise ValueError(
                f"DOSEWISE_CDS_SYMPTOM_CODES: {system}|{code} is a code Dosewise already reads "
                f"(see serving/cds/discovery.py), not a site code for {symptom}"
            )


def prefetch_templates(site_codes: SiteCodes = ()) -> dict[str, str]:
    """The prefetch templates; `observations` also asks for the site's symptom-score codes."""
    tokens = [f"{LOINC}|{c}" for c in OBSERVATION_CODES]
    tokens += [t for t in (f"{system}|{code}" for system, code, _ in site_codes) if t not in tokens]
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
        "observations": "Observation?patient={{context.patientId}}&code="
        + ",".join(tokens)
        + "&_sort=-date&_count=200",
        "activity": "Observation?patient={{context.patientId}}&category=activity"
        + "&_sort=-date&_count=200",
        "medications": "MedicationAdministration?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
        # the next infusion (fhir_map.treatment.map_next_infusion): newest first, so the
        # appointments to come are not cut off by a long history
        "appointments": "Appointment?patient={{context.patientId}}&_sort=-date&_count=100",
        # the current prescription (serving.cds.current): the exercise orders active or on hold
        "orders": "ServiceRequest?patient={{context.patientId}}&status=active,on-hold"
        + "&_sort=-authored&_count=100",
    }


PREFETCH: dict[str, str] = prefetch_templates()  # without site codes

USAGE = (
    "Research software, not a medical device. Calls must carry a client JWT signed with a key "
    "registered with the Dosewise operator (ES384 or RS384)."
)


def services(site_codes: SiteCodes = ()) -> tuple[ServiceDescription, ...]:
    prefetch = prefetch_templates(site_codes)
    return (
        ServiceDescription(
            hook="patient-view",
            id=PATIENT_VIEW_ID,
            title="Dosewise exercise prescription",
            description="Next week's guideline-bounded exercise dose (aerobic and resistance), "
            "or hold / refer, for a person with cancer, from mCODE and Physical Activity IG data.",
            prefetch=prefetch,
            usageRequirements=USAGE,
        ),
        ServiceDescription(
            hook="order-sign",
            id=ORDER_SIGN_ID,
            title="Dosewise exercise order check",
            description="Checks exercise orders (ServiceRequest) being signed against the "
            "guideline limits for this patient; a critical card with the safe dose when an order "
            "exceeds them.",
            prefetch=prefetch,
            usageRequirements=USAGE,
        ),
    )


def discovery_document(site_codes: SiteCodes = ()) -> dict[str, Any]:
    """The discovery response body (the prefetch asks for the site's symptom codes too)."""
    return {"services": [s.model_dump(exclude_none=True) for s in services(site_codes)]}

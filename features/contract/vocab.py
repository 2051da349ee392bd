"""The contract's vocabularies and limits, written once (`shared/contract/README.md`).

Every categorical field of the REST objects and the tables takes its values from a `Literal` here;
the tuples (`SEXES`, ...) are the same values for code that iterates or encodes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints

# --- vocabularies -------------------------------------------------------------------------------
Sex = Literal["female", "male", "unknown"]
CancerType = Literal[
    "breast", "prostate", "colorectal", "lung", "hematologic", "gynecologic", "head_neck", "other"
]
Stage = Literal["I", "II", "III", "IV"]
MetastaticSite = Literal["bone", "lung", "liver", "brain", "lymph_node", "skin", "gi"]
TreatmentPhase = Literal[
    "none",
    "chemotherapy",
    "radiotherapy",
    "immunotherapy",
    "hormone_therapy",
    "targeted_therapy",
    "post_treatment",
    "palliative",
]
Comorbidity = Literal[
    "cardiovascular_disease",
    "diabetes",
    "osteoporosis",
    "peripheral_neuropathy",
    "lymphedema",
    "copd",
    "arthritis",
    "ostomy",
]
ResistanceExperience = Literal["none", "novice", "experienced"]
BoneFractureRisk = Literal["low", "moderate", "high"]  # clinician's skeletal-event assessment
Modality = Literal["aerobic", "resistance"]
AdverseEvent = Literal["none", "mild", "moderate", "serious"]
Decision = Literal["progress", "maintain", "regress", "hold", "refer"]
RuleKind = Literal["hold", "refer", "cap", "restriction", "progression"]
Restriction = Literal[
    "no_high_impact",
    "no_spinal_loading",
    "supervised_resistance",
    "supervised_only",
    "balance_focus",
    "low_friction",
    "stationary_modes_only",
    "avoid_public_facilities",
    "no_chlorinated_pools",
    "no_vigorous",
    "no_resistance",
    # added with guideline 2026.12.0 (README "Restriction vocabulary")
    "no_aerobic",
    "check_temperature",
    "no_high_intra_abdominal_pressure",
]


def _values(vocabulary: object) -> tuple[str, ...]:
    """The values of a `Literal` vocabulary, in order (for code that iterates or encodes them)."""
    return get_args(vocabulary)


SEXES, CANCER_TYPES, STAGES, METASTATIC_SITES = map(
    _values, (Sex, CancerType, Stage, MetastaticSite)
)
TREATMENT_PHASES, COMORBIDITIES = map(_values, (TreatmentPhase, Comorbidity))
RESISTANCE_EXPERIENCE, BONE_FRACTURE_RISKS = map(_values, (ResistanceExperience, BoneFractureRisk))
MODALITIES, ADVERSE_EVENTS, DECISIONS = map(_values, (Modality, AdverseEvent, Decision))
RESTRICTIONS = _values(Restriction)

PATIENT_ID_MAX_LENGTH = 64
_ID_CHARS = "A-Za-z0-9_.-"  # pseudonymous ids only: no names, no spaces
PATIENT_ID_PATTERN = rf"^[{_ID_CHARS}]{{1,{PATIENT_ID_MAX_LENGTH}}}$"  # the same rule as one regex
PatientId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=PATIENT_ID_MAX_LENGTH, pattern=rf"^[{_ID_CHARS}]+$"),
]
LIST_SEPARATOR = ";"
# Dates outside this window are typos, and pandas cannot hold them (ns timestamps end in 2262).
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
ClinicalDate = Annotated[dt.date, Field(ge=MIN_DATE, le=MAX_DATE)]
MAX_SESSIONS_PER_REQUEST = 500
# Plausibility bounds of the contract (issue #17): beyond them a value is a typo, and it could move
# a decision (500 minutes "completed" of 30 planned reads as excellent tolerance).
MAX_DAYS_SINCE_INFUSION = 365  # "in the last year"; older infusions are simply not recent
MAX_COMPLETED_RATIO = 3  # completed minutes / sets at most 3 x planned
MAX_BATCH = 256  # requests in one POST /recommend_batch
MAX_CANDIDATES = 64  # week plans in one POST /predict

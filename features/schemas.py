"""The data contract, defined once: REST objects (pydantic) and tables (pandera).

REST models mirror `shared/contract/README.md` field for field. Tables mirror the REST objects with
nested objects flattened (``vitals.resting_hr`` -> ``resting_hr``) and lists joined with ``;``
(``metastatic_sites = "bone;liver"``) so that the same cohort reads from parquet, CSV and Spark.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

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

SEXES: tuple[str, ...] = get_args(Sex)
CANCER_TYPES: tuple[str, ...] = get_args(CancerType)
STAGES: tuple[str, ...] = get_args(Stage)
METASTATIC_SITES: tuple[str, ...] = get_args(MetastaticSite)
TREATMENT_PHASES: tuple[str, ...] = get_args(TreatmentPhase)
COMORBIDITIES: tuple[str, ...] = get_args(Comorbidity)
RESISTANCE_EXPERIENCE: tuple[str, ...] = get_args(ResistanceExperience)
BONE_FRACTURE_RISKS: tuple[str, ...] = get_args(BoneFractureRisk)
MODALITIES: tuple[str, ...] = get_args(Modality)
ADVERSE_EVENTS: tuple[str, ...] = get_args(AdverseEvent)
DECISIONS: tuple[str, ...] = get_args(Decision)
RESTRICTIONS: tuple[str, ...] = get_args(Restriction)

PatientId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
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


class _Strict(BaseModel):
    """Unknown fields are rejected so that a typo in a clinical payload never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- REST: patient ------------------------------------------------------------------------------
class Vitals(_Strict):
    resting_hr: float | None = Field(None, ge=25, le=250)
    systolic_bp: float | None = Field(None, ge=50, le=300)
    diastolic_bp: float | None = Field(None, ge=20, le=200)
    spo2: float | None = Field(None, ge=50, le=100)
    temperature_c: float | None = Field(None, ge=30, le=45)


class Labs(_Strict):
    hemoglobin_g_dl: float | None = Field(None, ge=2, le=25)
    platelets_10e9_l: float | None = Field(None, ge=0, le=2000)
    anc_10e9_l: float | None = Field(None, ge=0, le=100)
    glucose_mg_dl: float | None = Field(None, ge=20, le=800)  # additive, optional (2026-11-30)


class Symptoms(_Strict):
    fatigue: float | None = Field(None, ge=0, le=10)
    pain: float | None = Field(None, ge=0, le=10)
    vomiting_24h: bool | None = None


class Fitness(_Strict):
    vo2peak_ml_kg_min: float | None = Field(None, ge=3, le=90)
    six_minute_walk_m: float | None = Field(None, ge=0, le=1000)
    grip_strength_kg: float | None = Field(None, ge=0, le=100)


class Patient(_Strict):
    patient_id: PatientId
    age: int = Field(ge=18, le=110)
    sex: Sex
    height_cm: float = Field(ge=100, le=250)
    weight_kg: float = Field(ge=25, le=300)
    cancer_type: CancerType
    stage: Stage
    metastatic_sites: list[MetastaticSite] = Field(default_factory=list)
    treatment_phase: TreatmentPhase
    days_since_infusion: int | None = Field(None, ge=0, le=MAX_DAYS_SINCE_INFUSION)
    ecog: int = Field(ge=0, le=4)
    comorbidities: list[Comorbidity] = Field(default_factory=list)
    medical_clearance: bool = False
    resistance_experience: ResistanceExperience = "none"
    sarcopenia: bool | None = None
    # additive optional fields (contract 2026-11-30; old requests stay valid)
    next_infusion_in_days: int | None = Field(None, ge=0)
    recent_surgery_days: int | None = Field(None, ge=0)  # days since major surgery
    cardiotoxic_therapy: bool | None = None  # anthracyclines, HER2 therapy, chest radiotherapy
    lvef_pct: float | None = Field(None, ge=10, le=80)
    neurological_symptoms: bool | None = None  # new weakness, numbness, bowel/bladder change
    bone_fracture_risk: BoneFractureRisk | None = None
    vitals: Vitals = Field(default_factory=Vitals)
    labs: Labs = Field(default_factory=Labs)
    symptoms: Symptoms = Field(default_factory=Symptoms)
    fitness: Fitness = Field(default_factory=Fitness)


# --- REST: session ------------------------------------------------------------------------------
class Session(_Strict):
    date: ClinicalDate
    modality: Modality
    planned_minutes: float = Field(ge=1, le=180)
    planned_pct_hrmax: float | None = Field(None, ge=30, le=100)
    planned_pct_1rm: float | None = Field(None, ge=10, le=100)
    planned_sets: int | None = Field(None, ge=1, le=10)
    planned_reps: int | None = Field(None, ge=1, le=30)
    attended: bool
    completed_minutes: float | None = Field(None, ge=0, le=MAX_COMPLETED_RATIO * 180)
    completed_sets: int | None = Field(None, ge=0, le=MAX_COMPLETED_RATIO * 10)
    rpe: int | None = Field(None, ge=6, le=20)
    avg_hr: int | None = Field(None, ge=30, le=250)
    adverse_event: AdverseEvent = "none"
    pain: int | None = Field(None, ge=0, le=10)
    fatigue: int | None = Field(None, ge=0, le=10)

    # Cross-field rules as field validators (fields are validated in declaration order, so
    # `attended` and the planned dose are known here), so a 422 names the offending field.
    @field_validator("completed_minutes", "completed_sets", mode="after")
    @classmethod
    def _completed_plausible(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Nothing completed when not attended; at most MAX_COMPLETED_RATIO x planned."""
        if value is None:
            return value
        if info.data.get("attended") is False and value > 0:
            raise ValueError("must be empty or 0 when attended is false")
        planned_name = (
            "planned_minutes" if info.field_name == "completed_minutes" else "planned_sets"
        )
        planned = info.data.get(planned_name)
        if planned is not None and value > MAX_COMPLETED_RATIO * planned:
            raise ValueError(f"must be at most {MAX_COMPLETED_RATIO} x {planned_name}")
        return value

    @field_validator("rpe", "avg_hr", "pain", "fatigue", mode="after")
    @classmethod
    def _measured_only_when_attended(cls, value: int | None, info: ValidationInfo) -> int | None:
        """In-session measures exist only for a session that took place."""
        if value is not None and info.data.get("attended") is False:
            raise ValueError("must be empty when attended is false")
        return value


# --- REST: prescription -------------------------------------------------------------------------
class Range(_Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


class IntRange(_Strict):
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


class AerobicDose(_Strict):
    sessions_per_week: int = Field(ge=0, le=14)
    minutes_per_session: float = Field(ge=0, le=180)
    intensity_pct_hrmax: Range
    rpe: IntRange


class ResistanceDose(_Strict):
    sessions_per_week: int = Field(ge=0, le=14)
    sets: int = Field(ge=0, le=10)
    reps: IntRange
    intensity_pct_1rm: Range


class Prescription(_Strict):
    aerobic: AerobicDose | None = None
    resistance: ResistanceDose | None = None
    restrictions: list[Restriction] = Field(default_factory=list)


class WeekPlan(_Strict):
    """A week of exercise as point doses; 0 sessions means no dose of that modality (the
    `/predict` candidates, and the fields of a progression reference)."""

    aerobic_sessions: int = Field(ge=0, le=14)
    aerobic_minutes: float = Field(ge=0, le=180, description="minutes per aerobic session")
    aerobic_pct_hrmax: float = Field(ge=0, le=100, description="aerobic intensity, % HRmax")
    resistance_sessions: int = Field(ge=0, le=14)
    resistance_sets: int = Field(ge=0, le=10)
    resistance_reps: int = Field(ge=0, le=30)
    resistance_pct_1rm: float = Field(ge=0, le=100, description="resistance load, % 1RM")


class ProgressionReference(WeekPlan):
    """Additive: the dose the next recommendation progresses from (per session; 0 sessions: no
    dose of that modality). After a deload it is the dose deloaded from, not the deload, so a
    client that hands the previous response's `progression_reference` back unchanged lets the
    patient climb back to it. Omit it when the prescription was changed by hand."""


# Its fields as optional patients-table columns (`ref_` + field), read by the policy.
REFERENCE_COLUMNS = tuple(f"ref_{c}" for c in ProgressionReference.model_fields)


# --- REST: request / response -------------------------------------------------------------------
class RecommendRequest(_Strict):
    patient: Patient
    sessions: list[Session] = Field(default_factory=list, max_length=MAX_SESSIONS_PER_REQUEST)
    current_prescription: Prescription | None = None
    as_of: ClinicalDate | None = None
    # additive: the previous response's progression_reference, handed back
    progression_reference: ProgressionReference | None = None

    @model_validator(mode="after")
    def _sessions_before_as_of(self) -> RecommendRequest:
        as_of = self.as_of or dt.date.today()
        for i, s in enumerate(self.sessions):
            if s.date >= as_of:
                raise ValueError(f"sessions[{i}].date is not before as_of")  # no dates echoed
        return self


class Predictions(BaseModel):
    tolerance: float
    adherence: float


class FiredRule(BaseModel):
    id: str
    kind: RuleKind
    effect: str
    citation: str


class Contribution(BaseModel):
    feature: str
    contribution: float


class ModelRef(BaseModel):
    name: str
    version: str


class ModelRefs(BaseModel):
    tolerance: ModelRef
    adherence: ModelRef


class RecommendResponse(BaseModel):
    patient_id: str
    as_of: dt.date
    decision: Decision
    prescription: Prescription | None
    predictions: Predictions | None
    rules: list[FiredRule]
    explanation: list[Contribution]
    model: ModelRefs
    guideline_version: str
    # additive: facts the kernel treated as unknown-and-possibly-bad (patients-table field names)
    unknown_facts: list[str] = Field(default_factory=list)
    # additive: what next week's recommendation progresses from (hand it back in the request)
    progression_reference: ProgressionReference | None = None
    # additive: signed, expiring link to the recommendation's review page (serving/ui/)
    review_url: str | None = None


# --- tables -------------------------------------------------------------------------------------
# Flat column names of the patients table, in order, each mapped to its REST path. These are also
# model features (features.profile); the additive optional `labs.glucose_mg_dl` is flattened the
# same way (patient_to_row) but is an OPTIONAL_PATIENT_COLUMNS entry, read by the kernel only.
PATIENT_NESTED = {
    "vitals": ("resting_hr", "systolic_bp", "diastolic_bp", "spo2", "temperature_c"),
    "labs": ("hemoglobin_g_dl", "platelets_10e9_l", "anc_10e9_l"),
    "symptoms": ("fatigue", "pain", "vomiting_24h"),
    "fitness": ("vo2peak_ml_kg_min", "six_minute_walk_m", "grip_strength_kg"),
}
PATIENT_LIST_FIELDS = ("metastatic_sites", "comorbidities")

# Current prescription, flattened into optional patients-table columns (batch scoring needs it).
RX_COLUMNS = (
    "rx_aerobic_sessions",
    "rx_aerobic_minutes",
    "rx_aerobic_pct_hrmax_low",
    "rx_aerobic_pct_hrmax_high",
    "rx_aerobic_rpe_low",
    "rx_aerobic_rpe_high",
    "rx_resistance_sessions",
    "rx_resistance_sets",
    "rx_resistance_reps_low",
    "rx_resistance_reps_high",
    "rx_resistance_pct_1rm_low",
    "rx_resistance_pct_1rm_high",
    "rx_restrictions",
)

_list_pattern = r"^$|^[a-z_]+(;[a-z_]+)*$"


def _in_list_vocab(vocab: tuple[str, ...]):
    allowed = set(vocab)

    def check(series: pd.Series) -> pd.Series:
        return series.fillna("").map(
            lambda s: all(x in allowed for x in str(s).split(LIST_SEPARATOR) if x)
        )

    return pa.Check(check, element_wise=False, error=f"items must be among {sorted(allowed)}")


def _num(lo: float | None = None, hi: float | None = None, nullable: bool = True) -> pa.Column:
    checks = []
    if lo is not None:
        checks.append(pa.Check.ge(lo))
    if hi is not None:
        checks.append(pa.Check.le(hi))
    return pa.Column(float, checks=checks, nullable=nullable, coerce=True)


def _cat(vocab: tuple[str, ...], nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.isin(vocab), nullable=nullable, coerce=True)


def _optional(col: pa.Column) -> pa.Column:
    """The same column, which a table may lack altogether."""
    return pa.Column(**{**col.properties, "required": False})


_OPTIONAL_PATIENT_COLUMNS = {
    name: _optional(col)
    for name, col in {
        "next_infusion_in_days": _num(0, None),
        "recent_surgery_days": _num(0, None),
        "cardiotoxic_therapy": pa.Column("boolean", coerce=True, nullable=True),
        "lvef_pct": _num(10, 80),
        "neurological_symptoms": pa.Column("boolean", coerce=True, nullable=True),
        "bone_fracture_risk": _cat(BONE_FRACTURE_RISKS, nullable=True),
        "glucose_mg_dl": _num(20, 800),
    }.items()
}

PATIENTS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, pa.Check.str_matches(r"^[A-Za-z0-9_.-]{1,64}$"), coerce=True),
        "as_of": pa.Column("datetime64[ns]", coerce=True),
        "age": _num(18, 110, nullable=False),
        "sex": _cat(SEXES),
        "height_cm": _num(100, 250, nullable=False),
        "weight_kg": _num(25, 300, nullable=False),
        "cancer_type": _cat(CANCER_TYPES),
        "stage": _cat(STAGES),
        "metastatic_sites": pa.Column(
            str, _in_list_vocab(METASTATIC_SITES), coerce=True, nullable=True
        ),
        "treatment_phase": _cat(TREATMENT_PHASES),
        "days_since_infusion": _num(0, MAX_DAYS_SINCE_INFUSION),
        "ecog": _num(0, 4, nullable=False),
        "comorbidities": pa.Column(str, _in_list_vocab(COMORBIDITIES), coerce=True, nullable=True),
        "medical_clearance": pa.Column(bool, coerce=True),
        "resistance_experience": _cat(RESISTANCE_EXPERIENCE),
        "sarcopenia": pa.Column("boolean", coerce=True, nullable=True),
        "resting_hr": _num(25, 250),
        "systolic_bp": _num(50, 300),
        "diastolic_bp": _num(20, 200),
        "spo2": _num(50, 100),
        "temperature_c": _num(30, 45),
        "hemoglobin_g_dl": _num(2, 25),
        "platelets_10e9_l": _num(0, 2000),
        "anc_10e9_l": _num(0, 100),
        "fatigue": _num(0, 10),
        "pain": _num(0, 10),
        "vomiting_24h": pa.Column("boolean", coerce=True, nullable=True),
        "vo2peak_ml_kg_min": _num(3, 90),
        "six_minute_walk_m": _num(0, 1000),
        "grip_strength_kg": _num(0, 100),
        # additive optional columns (contract 2026-11-30): a table without them stays valid
        **_OPTIONAL_PATIENT_COLUMNS,
    },
    strict=False,  # extra columns (rx_*, simulator truth columns true_*) are allowed
    name="patients",
)

SESSIONS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, pa.Check.str_matches(r"^[A-Za-z0-9_.-]{1,64}$"), coerce=True),
        "date": pa.Column("datetime64[ns]", coerce=True),
        "modality": _cat(MODALITIES),
        "planned_minutes": _num(1, 180, nullable=False),
        "planned_pct_hrmax": _num(30, 100),
        "planned_pct_1rm": _num(10, 100),
        "planned_sets": _num(1, 10),
        "planned_reps": _num(1, 30),
        "attended": pa.Column(bool, coerce=True),
        "completed_minutes": _num(0, MAX_COMPLETED_RATIO * 180),
        "completed_sets": _num(0, MAX_COMPLETED_RATIO * 10),
        "rpe": _num(6, 20),
        "avg_hr": _num(30, 250),
        "adverse_event": _cat(ADVERSE_EVENTS),
        "pain": _num(0, 10),
        "fatigue": _num(0, 10),
    },
    strict=False,  # the simulator adds truth columns p_attend, p_tolerate
    name="sessions",
)

# Columns every patients table has (the simulator writes exactly these first) ...
PATIENT_COLUMNS: tuple[str, ...] = tuple(
    c for c in PATIENTS_SCHEMA.columns if c not in _OPTIONAL_PATIENT_COLUMNS
)
# ... and the additive optional ones, which a table may lack (then: unknown for every patient).
OPTIONAL_PATIENT_COLUMNS: tuple[str, ...] = tuple(_OPTIONAL_PATIENT_COLUMNS)
PATIENT_ROW_COLUMNS: tuple[str, ...] = PATIENT_COLUMNS + OPTIONAL_PATIENT_COLUMNS
SESSION_COLUMNS: tuple[str, ...] = tuple(SESSIONS_SCHEMA.columns)


def validate_patients(df: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a patients table; SchemaErrors lists every failure at once."""
    return PATIENTS_SCHEMA.validate(df, lazy=True)


def validate_sessions(df: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a sessions table; SchemaErrors lists every failure at once."""
    return SESSIONS_SCHEMA.validate(df, lazy=True)


# --- REST <-> table conversion ------------------------------------------------------------------
def patient_to_row(patient: Patient, as_of: dt.date) -> dict[str, Any]:
    """Flatten a REST patient into one patients-table row (the single-patient path)."""
    data = patient.model_dump()
    row: dict[str, Any] = {}
    for key, value in data.items():
        if key in PATIENT_NESTED:
            row.update(value)
        elif key in PATIENT_LIST_FIELDS:
            row[key] = LIST_SEPARATOR.join(value)
        else:
            row[key] = value
    row["as_of"] = pd.Timestamp(as_of)
    return {c: row.get(c) for c in PATIENT_ROW_COLUMNS}


def reference_to_row(ref: ProgressionReference | None) -> dict[str, Any]:
    """Flatten a progression reference into the optional ``ref_*`` columns (None without)."""
    if ref is None:
        return dict.fromkeys(REFERENCE_COLUMNS)
    return {f"ref_{k}": float(v) for k, v in ref.model_dump().items()}


def prescription_to_row(rx: Prescription | None) -> dict[str, Any]:
    """Flatten a prescription into the optional ``rx_*`` columns (all None without one)."""
    row: dict[str, Any] = dict.fromkeys(RX_COLUMNS)
    if rx is None:
        return row
    if rx.aerobic is not None:
        a = rx.aerobic
        row |= {
            "rx_aerobic_sessions": a.sessions_per_week,
            "rx_aerobic_minutes": a.minutes_per_session,
            "rx_aerobic_pct_hrmax_low": a.intensity_pct_hrmax.low,
            "rx_aerobic_pct_hrmax_high": a.intensity_pct_hrmax.high,
            "rx_aerobic_rpe_low": a.rpe.low,
            "rx_aerobic_rpe_high": a.rpe.high,
        }
    if rx.resistance is not None:
        r = rx.resistance
        row |= {
            "rx_resistance_sessions": r.sessions_per_week,
            "rx_resistance_sets": r.sets,
            "rx_resistance_reps_low": r.reps.low,
            "rx_resistance_reps_high": r.reps.high,
            "rx_resistance_pct_1rm_low": r.intensity_pct_1rm.low,
            "rx_resistance_pct_1rm_high": r.intensity_pct_1rm.high,
        }
    row["rx_restrictions"] = LIST_SEPARATOR.join(rx.restrictions)
    return row


_SESSION_NUMERIC = tuple(
    c
    for c in SESSION_COLUMNS
    if c not in ("patient_id", "date", "modality", "attended", "adverse_event")
)


def sessions_to_columns(patient_id: str, sessions: list[Session]) -> dict[str, np.ndarray]:
    """REST sessions as sessions-table columns (numpy arrays, canonical dtypes).

    Built column by column from the validated objects (the hot path of every REST request);
    gives exactly what `coerce_sessions` gives for the same rows.
    """
    n = len(sessions)
    cols: dict[str, Any] = {
        "patient_id": np.full(n, patient_id, dtype=object),
        "date": np.array([s.date for s in sessions], dtype="datetime64[D]").astype(
            "datetime64[ns]"
        ),
        "modality": np.array([s.modality for s in sessions], dtype=object),
    }
    for c in _SESSION_NUMERIC:
        values = [getattr(s, c) for s in sessions]
        cols[c] = np.array([np.nan if v is None else v for v in values], dtype=float)
    cols["attended"] = np.array([s.attended for s in sessions], dtype=bool)
    cols["adverse_event"] = np.array([s.adverse_event for s in sessions], dtype=object)
    return {c: cols[c] for c in SESSION_COLUMNS}


def sessions_to_frame(patient_id: str, sessions: list[Session]) -> pd.DataFrame:
    """`sessions_to_columns` as a DataFrame."""
    return pd.DataFrame(sessions_to_columns(patient_id, sessions))


def coerce_sessions(df: pd.DataFrame) -> pd.DataFrame:
    """Give a sessions table canonical dtypes without the cost of full validation (hot path)."""
    out = df.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    for col in SESSION_COLUMNS:
        if col not in ("patient_id", "date", "modality", "attended", "adverse_event"):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["attended"] = out["attended"].astype(bool)
    out["adverse_event"] = out["adverse_event"].fillna("none").astype(str)
    out["modality"] = out["modality"].astype(str)
    return out


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def requests_to_columns(
    reqs: list[RecommendRequest],
    patient_ids: list[str] | None = None,
    as_of: dt.date | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """REST requests -> (patients columns incl. rx_*, sessions columns), numpy arrays only.

    The request path of the feature pipeline (`features.table`): the same rows
    `request_to_frames` gives, without building DataFrames. `patient_ids` / `as_of` override the
    requests' own (the service gives each item of a batch a surrogate id).
    """
    ids = patient_ids or [r.patient.patient_id for r in reqs]
    rows = []
    for r, pid in zip(reqs, ids, strict=True):
        row = patient_to_row(r.patient, as_of or r.as_of or dt.date.today())
        row |= prescription_to_row(r.current_prescription)
        row |= reference_to_row(r.progression_reference)
        row["patient_id"] = pid
        rows.append(row)
    names = list(PATIENT_ROW_COLUMNS) + [c for c in RX_COLUMNS if c not in PATIENT_ROW_COLUMNS]
    names += list(REFERENCE_COLUMNS)
    patients = {c: _objects([row[c] for row in rows]) for c in names}
    patients["as_of"] = np.array(
        [pd.Timestamp(row["as_of"]).to_datetime64() for row in rows], dtype="datetime64[ns]"
    )
    parts = [sessions_to_columns(pid, r.sessions) for r, pid in zip(reqs, ids, strict=True)]
    sessions = (
        parts[0]
        if len(parts) == 1
        else {c: np.concatenate([p[c] for p in parts]) for c in SESSION_COLUMNS}
    )
    return patients, sessions


def request_to_frames(req: RecommendRequest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One REST request -> (patients table with one row incl. rx_* columns, sessions table)."""
    as_of = req.as_of or dt.date.today()
    row = patient_to_row(req.patient, as_of) | prescription_to_row(req.current_prescription)
    row |= reference_to_row(req.progression_reference)
    patients = pd.DataFrame([row])
    sessions = sessions_to_frame(req.patient.patient_id, req.sessions)
    return patients, sessions

"""The REST objects of the contract (`shared/contract/README.md`), field for field, plus the
`/predict` objects and the error bodies (ours, documented in `/docs.json`).

Value bounds are written here once; the pandera tables (`features.contract.tables`) derive theirs
from these fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from features.contract.vocab import (
    MAX_BATCH,
    MAX_CANDIDATES,
    MAX_COMPLETED_RATIO,
    MAX_DAYS_SINCE_INFUSION,
    MAX_SESSIONS_PER_REQUEST,
    AdverseEvent,
    BoneFractureRisk,
    CancerType,
    ClinicalDate,
    Comorbidity,
    Decision,
    MetastaticSite,
    Modality,
    PatientId,
    ResistanceExperience,
    Restriction,
    RuleKind,
    Sex,
    Stage,
    TreatmentPhase,
)


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
class _Ordered(_Strict):
    """A band: `low` never above `high`."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:  # type: ignore[attr-defined]
            raise ValueError("low must not exceed high")
        return self


class Range(_Ordered):
    low: float
    high: float


class IntRange(_Ordered):
    low: int
    high: int


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
    # additive: a signed, expiring link to the recommendation's review page (serving/ui/)
    review_url: str | None = None


# --- /predict (ours: raw model outputs, not a prescription) -----------------------------------
class PredictRequest(_Strict):
    """Raw model predictions for given doses; NOT a prescription (no guideline check is applied)."""

    patient: Patient
    sessions: list[Session] = Field(default_factory=list, max_length=MAX_SESSIONS_PER_REQUEST)
    current_prescription: Prescription | None = None
    as_of: dt.date | None = None
    candidates: list[WeekPlan] = Field(min_length=1, max_length=MAX_CANDIDATES)

    @model_validator(mode="after")
    def _sessions_before_as_of(self) -> PredictRequest:
        """Same rule as /recommend (the 422 names each offending session's date)."""
        as_of = self.as_of or dt.date.today()
        if any(s.date >= as_of for s in self.sessions):
            raise ValueError("sessions must be dated before as_of")
        return self


class PlanPrediction(BaseModel):
    plan: WeekPlan
    tolerance: float | None = Field(
        description="min of the per-modality tolerances present; null for a plan with no dose"
    )
    tolerance_aerobic: float | None = Field(description="null when the plan has no aerobic dose")
    tolerance_resistance: float | None = Field(
        description="null when the plan has no resistance dose"
    )
    adherence: float | None = Field(
        description="session-weighted mean of the per-session attendance of the modalities "
        "present; null for a plan with no dose or if the model gives no number"
    )
    adherence_aerobic: float | None = Field(
        default=None, description="P(attend) of one aerobic session; null without aerobic dose"
    )
    adherence_resistance: float | None = Field(
        default=None, description="P(attend) of one resistance session; null without one"
    )


class PredictModelRefs(BaseModel):
    tolerance: dict[str, str]
    adherence: dict[str, str]


class PredictResponse(BaseModel):
    patient_id: str
    as_of: dt.date
    predictions: list[PlanPrediction]
    model: PredictModelRefs


# --- error bodies -------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ValidationErrorBody(BaseModel):
    error: Literal["validation_error"]
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    error: str


BatchRequest = Annotated[list[RecommendRequest], Field(max_length=MAX_BATCH)]

"""What the policy returns: one frozen `Recommendation` per patient, and its one conversion to the
contract's `RecommendResponse`.

REST, batch, CDS, the review pages, the deployment simulator and the closed-loop evaluation all
read these attributes; only the HTTP edge (and the audit, which records what was answered) sees
the contract's JSON. The conversion lives here, next to the dataclass, because `features/` (the
contract) never imports `serving/`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace

import numpy as np

from features.contract.dose import PLAN_COLUMNS
from features.contract.rest import (
    Contribution as ContributionModel,
)
from features.contract.rest import (
    FiredRule as FiredRuleModel,
)
from features.contract.rest import (
    ModelRef,
    ModelRefs,
    Prescription,
    ProgressionReference,
    RecommendResponse,
)
from features.contract.rest import (
    Predictions as PredictionsModel,
)
from features.contract.vocab import DECISIONS
from serving.guidelines.kernel import FiredRule


@dataclass(frozen=True, slots=True)
class Plan:
    """A week as point doses, in PLAN_COLUMNS order (sessions per week, minutes, %HRmax; sessions
    per week, sets, reps, %1RM)."""

    aerobic_sessions: float
    aerobic_minutes: float
    aerobic_pct_hrmax: float
    resistance_sessions: float
    resistance_sets: float
    resistance_reps: float
    resistance_pct_1rm: float

    @classmethod
    def from_array(cls, values: Sequence[float] | np.ndarray) -> Plan:
        return cls(*(float(v) for v in values))

    def as_array(self) -> np.ndarray:
        return np.array(astuple(self), dtype=float)

    def as_dict(self) -> dict[str, float]:
        """PLAN_COLUMNS -> value (what the `ref_*` columns are built from)."""
        return dict(zip(PLAN_COLUMNS, astuple(self), strict=True))


@dataclass(frozen=True, slots=True)
class Predictions:
    """The models' P(tolerate) and P(attend) of the chosen week (rounded to 4 decimals)."""

    tolerance: float
    adherence: float


@dataclass(frozen=True, slots=True)
class ScoredPlan:
    """The week the search chose, as it scored it, and the models' per-modality predictions of
    one session of it (aerobic, resistance; None for a modality without sessions): the numbers
    behind `Predictions` (the lower tolerance, the session-weighted attendance), which monitoring
    records as the prediction made for the plan that was sent."""

    plan: Plan
    tolerance: tuple[float | None, float | None]
    attendance: tuple[float | None, float | None]


@dataclass(frozen=True, slots=True)
class Contribution:
    """One tolerance-model feature contribution of the chosen week."""

    feature: str
    contribution: float


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One patient's recommendation (the contract's response fields, typed, plus
    `reference_plan`: the unrounded progression reference for next week, None without a dose;
    after a deload it is the dose deloaded from; `scored`: the chosen week as the search scored
    it, None without a dose)."""

    patient_id: str
    as_of: dt.date
    decision: str  # progress / maintain / regress / hold / refer
    prescription: Prescription | None
    predictions: Predictions | None
    explanation: tuple[Contribution, ...]
    rules: tuple[FiredRule, ...]
    tolerance_model: ModelVersion
    adherence_model: ModelVersion
    guideline_version: str
    unknown_facts: tuple[str, ...]
    reference_plan: Plan | None
    progression_reference: ProgressionReference | None
    scored: ScoredPlan | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:  # the response is built unvalidated: check the one str
            raise ValueError(f"unknown decision {self.decision!r}")

    def with_patient_id(self, patient_id: str) -> Recommendation:
        return replace(self, patient_id=patient_id)


def to_response(rec: Recommendation, review_url: str | None = None) -> RecommendResponse:
    """The contract's response for a recommendation: the one conversion (REST, CDS, the audit).

    Built without re-validation: every part is already a contract model or a value the policy
    typed (the Prescription and ProgressionReference were validated when the policy built them).
    """
    preds = rec.predictions
    return RecommendResponse.model_construct(
        patient_id=rec.patient_id,
        as_of=rec.as_of,
        decision=rec.decision,
        prescription=rec.prescription,
        predictions=None
        if preds is None
        else PredictionsModel.model_construct(tolerance=preds.tolerance, adherence=preds.adherence),
        rules=[
            FiredRuleModel.model_construct(
                id=r.id, kind=r.kind, effect=r.effect, citation=r.citation
            )
            for r in rec.rules
        ],
        explanation=[
            ContributionModel.model_construct(feature=c.feature, contribution=c.contribution)
            for c in rec.explanation
        ],
        model=ModelRefs.model_construct(
            tolerance=ModelRef.model_construct(
                name=rec.tolerance_model.name, version=rec.tolerance_model.version
            ),
            adherence=ModelRef.model_construct(
                name=rec.adherence_model.name, version=rec.adherence_model.version
            ),
        ),
        guideline_version=rec.guideline_version,
        unknown_facts=list(rec.unknown_facts),
        progression_reference=rec.progression_reference,
        review_url=review_url,
    )


def response_json(rec: Recommendation, review_url: str | None = None) -> dict[str, object]:
    """The contract's response as a JSON-mode dict (what REST answers and the audit records)."""
    return to_response(rec, review_url).model_dump(mode="json")

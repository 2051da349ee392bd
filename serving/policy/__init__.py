"""The recommendation policy: kernel envelope -> per-modality candidates -> benefit objective
under risk bounds -> final safety gate.

One function, `recommend`, serves REST (a cohort of one) and batch (a cohort of many) unchanged.

How a dose is chosen (DESIGN.md section 6, issue 10):
1. The guideline kernel decides hold / refer / allowed and the envelope for every patient.
2. Per modality, a small grid of week options around the progression reference (the current
   prescription, or the Campbell 2019 generic dose for a new patient): aerobic sessions x minutes
   x %HRmax, resistance sessions x sets x %1RM. Sessions per week may rise by at most one per
   modality, and only after a tolerated week of that modality with a predicted attendance of at
   least `adherence_threshold`; intensity rises likewise only after a tolerated week.
   Minutes rise only after a tolerated week of the modality, and step back one step when fewer
   than half of its recent sessions were tolerated (model-free, from the patient's own record:
   ACSM 2009 "2-for-2", Campbell 2019 "progress as tolerated"; the models never saw a world where
   length costs more than in their training data, so the record decides, not the learnt slope).
   Optional exposure guard (off by default; `clean_record`): more sessions per week or longer
   sessions than the generic dose only for a modality with a clean record (enough attended
   sessions in 14 days, at least `clean_tolerated_rate` of them tolerated, the last one
   tolerated, no moderate or serious adverse event in 7 days); otherwise the modality holds (or
   steps back). Why this
   is a clinical guard and not a fit to the simulator: what the models say about doses above
   the generic one is a learnt dose-response that no trial validated for this patient, so a
   longer or more frequent session is treated as uncertain, not as safe;
   the patient's own logged tolerance of the dose they are on is the evidence a clinician asks
   for before adding load (ACSM 2009 "2-for-2"; Campbell 2019: progress only as tolerated).
3. A scorer (the models, or the simulator's truth for the oracle arm: `Scorer`) gives for every
   option P(tolerate) and P(attend) of one session of each modality. The objective is the expected
   benefit: expected attended sessions x effective dose per session (aerobic: minutes x the
   fraction of VO2 reserve at that %HRmax, counted at or above moderate intensity; resistance:
   sets x reps x %1RM volume-load), each normalised to the Campbell 2019 generic dose and capped.
   The objective prices risk: benefit minus `risk_price` x expected intolerant attended sessions,
   so risk is spent where it buys the most fitness, not wherever the bounds leave room.
   Risk bounds: P(intolerant) of a session at most 1 - `tolerance_threshold` in every prescribed
   modality, and expected intolerant attended sessions per week at most `generic_risk_ratio`
   (1.0: in absolute terms) x those of the generic dose for the same patient, and at most
   `max_weekly_intolerant`
   (a moderate or serious adverse event makes a session intolerant by the label's definition, so
   this bounds the expected moderate-or-serious adverse events per week).
4. The best options of each modality are combined into whole weeks and scored again (the models
   see the whole week); the best week inside the bounds wins. A modality with no option inside the
   bounds gets the deload (`deload_plan`) and keeps its progression reference.
5. The chosen plan is converted to a Prescription, checked against the envelope, clamped if
   needed and checked again; anything still outside is never emitted.

Modules: `config` (PolicyConfig), `record` (facts, reference, history flags), `options`
(per-modality options, deload, generic dose), `scoring` (Scorer, the models as one),
`objective` (benefit and risk), `search`, `prescribe` (Prescription, decision, final gate),
`recommend`, `result` (the typed Recommendation and its one conversion to the contract).
"""

from features.contract.dose import PLAN_COLUMNS, REFERENCE_COLUMNS
from serving.policy.config import PolicyConfig
from serving.policy.objective import (
    AEROBIC_REFERENCE,
    RESISTANCE_REFERENCE,
    aerobic_session_dose,
    at_guideline_target,
    expected_benefit,
    resistance_session_dose,
    weekly_intolerant,
)
from serving.policy.options import (
    aerobic_allowed,
    aerobic_options,
    deload_plan,
    generic_week,
    resistance_allowed,
    resistance_options,
)
from serving.policy.prescribe import (
    UnsafePrescriptionError,
    decide,
    enforce_envelope,
    plan_to_prescription,
    progression_reference,
)
from serving.policy.recommend import PatientInputs, recommend
from serving.policy.record import (
    FEATURE_COLUMNS,
    HISTORY_FACTS,
    Reference,
    clean_record,
    kernel_facts,
    records,
    reference_of,
    tolerated_week,
)
from serving.policy.result import (
    Contribution,
    ModelVersion,
    Plan,
    Predictions,
    Recommendation,
    ScoredPlan,
    response_json,
    to_response,
)
from serving.policy.scoring import A, Models, ModelScorer, PlanScores, Points, Predictor, R, Scorer
from serving.policy.search import Choice, Context, recalibration, search

__all__ = [
    "AEROBIC_REFERENCE",
    "FEATURE_COLUMNS",
    "HISTORY_FACTS",
    "PLAN_COLUMNS",
    "REFERENCE_COLUMNS",
    "RESISTANCE_REFERENCE",
    "A",
    "Choice",
    "Context",
    "Contribution",
    "ModelScorer",
    "ModelVersion",
    "Models",
    "PatientInputs",
    "Plan",
    "PlanScores",
    "Points",
    "PolicyConfig",
    "Predictions",
    "Predictor",
    "R",
    "Recommendation",
    "Reference",
    "ScoredPlan",
    "Scorer",
    "UnsafePrescriptionError",
    "aerobic_allowed",
    "aerobic_options",
    "aerobic_session_dose",
    "at_guideline_target",
    "clean_record",
    "decide",
    "deload_plan",
    "enforce_envelope",
    "expected_benefit",
    "generic_week",
    "kernel_facts",
    "plan_to_prescription",
    "progression_reference",
    "recalibration",
    "recommend",
    "records",
    "reference_of",
    "resistance_allowed",
    "resistance_options",
    "resistance_session_dose",
    "response_json",
    "search",
    "to_response",
    "tolerated_week",
    "weekly_intolerant",
]

"""The work behind the endpoints (runs in a worker thread): requests -> the policy's typed
recommendations; candidate plans -> the models' raw predictions; the audit hash of a request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.contract.convert import requests_to_columns
from features.contract.dose import PLAN_COLUMNS
from features.contract.rest import (
    PredictRequest,
    PredictResponse,
    RecommendRequest,
)
from features.pipeline import build_rows
from serving.audit import request_hash
from serving.policy.config import PolicyConfig
from serving.policy.recommend import PatientInputs, recommend
from serving.policy.result import Recommendation
from serving.policy.scoring import A, Models, ModelScorer, Points, R


def recommend_many(
    reqs: Sequence[RecommendRequest],
    models: Models,
    cfg: PolicyConfig,
    inputs: list[PatientInputs] | None = None,
) -> list[Recommendation]:
    """The policy's recommendations for requests, in order: one vectorised call per `as_of`.

    Inside a call each request gets a surrogate patient id (its position), so two items that
    share a patient id never mix their histories; the real id is put back in the result.
    (The policy treats the id as an opaque key; renaming a patient changes nothing.)
    `inputs`, when given, receives the policy's `PatientInputs` per request, in request order.
    """
    today = dt.date.today()
    groups: dict[dt.date, list[int]] = {}
    for i, r in enumerate(reqs):
        groups.setdefault(r.as_of or today, []).append(i)
    out: list[Recommendation | None] = [None] * len(reqs)
    got: list[PatientInputs | None] = [None] * len(reqs)
    for as_of, idx in groups.items():
        patients, sessions = requests_to_columns(
            [reqs[i] for i in idx], [f"r{i}" for i in idx], as_of
        )
        derived: list[PatientInputs] | None = [] if inputs is not None else None
        results = recommend(patients, sessions, as_of, models, cfg, inputs=derived)
        for k, (i, rec) in enumerate(zip(idx, results, strict=True)):
            out[i] = rec.with_patient_id(reqs[i].patient.patient_id)
            if derived is not None:
                got[i] = derived[k]
    if inputs is not None:
        inputs.extend(g for g in got if g is not None)
    return [o for o in out if o is not None]


def hash_request(req: RecommendRequest) -> str:
    """Audit hash of a request: SHA-256 of the canonical JSON of the *validated* request, with
    defaults filled in and `as_of` made explicit, so equivalent requests hash equally."""
    data = req.model_dump(mode="json")
    data["as_of"] = (req.as_of or dt.date.today()).isoformat()
    return request_hash(data)


def _session_weighted(parts: tuple[tuple[int, float | None], ...]) -> float | None:
    """Mean attendance over the week's planned sessions (modalities with a number only)."""
    known = [(n, p) for n, p in parts if n >= 1 and p is not None]
    total = sum(n for n, _ in known)
    return round(sum(n * p for n, p in known) / total, 4) if total else None


def predict_plans(req: PredictRequest, models: Models) -> dict[str, Any]:
    """Tolerance and attendance of each candidate plan, scored by the policy's own scorer
    (`ModelScorer` on the request's feature row, exactly as the search scores a week): one row
    per plan and modality present. Adherence is the session-weighted mean of the per-session
    attendance of the modalities the plan contains (attendance is modelled per session, so
    frequency itself is not penalised); a plan's tolerance is the lower of its modalities'.
    A model output that is not a number reads as 0 here, as it does in the policy (the worst
    case: `scoring._probability`), where it used to be reported as null."""
    as_of = req.as_of or dt.date.today()
    rec = RecommendRequest.model_construct(
        patient=req.patient,
        sessions=list(req.sessions),
        current_prescription=req.current_prescription,
        as_of=as_of,
    )
    pid = req.patient.patient_id
    patients, sessions = requests_to_columns([rec], [pid], as_of)
    ts = pd.Timestamp(as_of).normalize()
    keys = {
        "patient_id": np.array([pid], dtype=object),
        "as_of": np.array([ts.to_datetime64()], dtype="datetime64[ns]"),
    }
    rows = build_rows(patients, sessions, keys)
    if len(rows) != 1:  # build drops rows without a snapshot: never for a request
        raise RuntimeError("feature row missing for the request")
    plans = np.array(
        [[float(getattr(c, col)) for col in PLAN_COLUMNS] for c in req.candidates], dtype=float
    )
    points = Points(rows.rows(), keys["patient_id"], ts)
    scores = ModelScorer(models).score(points, np.zeros(len(plans), dtype=int), plans)

    def num(x: float) -> float | None:  # NaN: no session of that modality in the plan
        return round(float(x), 4) if np.isfinite(x) else None

    preds = []
    for j, plan in enumerate(req.candidates):
        t_a, t_r = num(scores.tolerance[j, A]), num(scores.tolerance[j, R])
        a_a, a_r = num(scores.attendance[j, A]), num(scores.attendance[j, R])
        present = [t for t in (t_a, t_r) if t is not None]
        preds.append(
            {
                "plan": plan.model_dump(),
                "tolerance": min(present) if present else None,
                "tolerance_aerobic": t_a,
                "tolerance_resistance": t_r,
                "adherence": _session_weighted(
                    ((plan.aerobic_sessions, a_a), (plan.resistance_sessions, a_r))
                ),
                "adherence_aerobic": a_a,
                "adherence_resistance": a_r,
            }
        )
    resp = {
        "patient_id": pid,
        "as_of": as_of,
        "predictions": preds,
        "model": {
            "tolerance": {"name": models.tolerance.name, "version": str(models.tolerance.version)},
            "adherence": {"name": models.adherence.name, "version": str(models.adherence.version)},
        },
    }
    return PredictResponse.model_validate(resp).model_dump(mode="json")

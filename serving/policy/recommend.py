"""`recommend`: kernel -> search -> prescription for every patient of a table (REST: one)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.pipeline import build_rows
from features.table import Table, TableLike
from serving.guidelines import kernel as gk
from serving.policy.config import PolicyConfig
from serving.policy.prescribe import (
    decide,
    enforce_envelope,
    plan_to_prescription,
    progression_reference,
)
from serving.policy.record import FEATURE_COLUMNS, HISTORY_FACTS, kernel_facts, records
from serving.policy.result import (
    Contribution,
    ModelVersion,
    Plan,
    Predictions,
    Recommendation,
    ScoredPlan,
)
from serving.policy.scoring import Models, ModelScorer, Points, Scorer
from serving.policy.search import Choice, contexts_for, search

_HISTORY_AT = [FEATURE_COLUMNS.index(c) for c in HISTORY_FACTS]


@dataclass(frozen=True)
class PatientInputs:
    """What `recommend` derived for one patient before the search."""

    row: np.ndarray  # the feature row (FEATURE_COLUMNS)
    facts: dict[str, Any]  # the kernel's facts
    kernel: gk.KernelResult
    # the aerobic and resistance options the search had (None: no search, e.g. hold or refer)
    options: tuple[np.ndarray, np.ndarray] | None = None


def recommend(
    patients: TableLike,
    sessions: TableLike | None,
    as_of: dt.date | pd.Timestamp,
    models: Models,
    cfg: PolicyConfig = PolicyConfig(),
    scorer: Scorer | None = None,
    inputs: list[PatientInputs] | None = None,
) -> list[Recommendation]:
    """Recommendations for every row of `patients` (one row per patient, rx_* columns optional).

    `inputs`, when given, receives each patient's feature row, kernel facts, kernel result and
    the options the search had, in order (what a review page re-uses instead of building them
    again).

    Tables are DataFrames (batch) or dicts of numpy arrays (REST: `requests_to_columns`).
    `scorer` defaults to the models (`ModelScorer`); the oracle arm passes the simulator's truth.
    Returns one `Recommendation` per patient in input order (`serving.policy.result`); its
    `reference_plan` is the progression reference for next week (None without a dose): after a
    deload (decision "regress" from a deload) it is the dose deloaded from, and a caller that
    hands it back as the `ref_*` columns (REFERENCE_COLUMNS) lets the patient climb back to it;
    the current prescription (rx_*) stays what was prescribed.
    """
    as_of_ts = pd.Timestamp(as_of).normalize()
    if isinstance(patients, pd.DataFrame):
        patients = patients.reset_index(drop=True)
        pid = patients["patient_id"].astype(str).to_numpy(dtype=object)
        snap: pd.DataFrame | dict[str, np.ndarray] = patients.assign(as_of=as_of_ts, patient_id=pid)
    else:
        table = Table.of(patients)
        pid = np.array([str(x) for x in table.values("patient_id")], dtype=object)
        snap = {c: table.values(c) for c in table.columns}
        snap["patient_id"] = pid
        snap["as_of"] = np.full(len(pid), as_of_ts.to_datetime64(), dtype="datetime64[ns]")
    n = len(pid)
    keys = {"patient_id": pid, "as_of": np.full(n, as_of_ts.to_datetime64(), "datetime64[ns]")}
    feature_rows = build_rows(snap, sessions, keys)
    if len(feature_rows) != n:  # every patient has a snapshot at as_of: a bug if not
        raise RuntimeError("feature rows missing for some patients")
    point_matrix = feature_rows.rows()
    prow = records(snap)
    # tolist: Python floats (the same values), which the kernel reads fastest
    hrow = [
        dict(zip(HISTORY_FACTS, row, strict=True)) for row in point_matrix[:, _HISTORY_AT].tolist()
    ]
    facts_all = [kernel_facts(prow[i], hrow[i]) for i in range(n)]
    results = [gk.evaluate(f) for f in facts_all]
    contexts = contexts_for(point_matrix, results, facts_all, cfg)
    points = Points(point_matrix, pid, as_of_ts)
    found = search(points, contexts, scorer or ModelScorer(models), cfg)
    if inputs is not None:
        inputs.extend(
            PatientInputs(
                point_matrix[i],
                facts_all[i],
                results[i],
                found[i].options if i in found else None,
            )
            for i in range(n)
        )
    tops = _explanations(found, models, cfg)

    tol_ref = ModelVersion(models.tolerance.name, str(models.tolerance.version))
    adh_ref = ModelVersion(models.adherence.name, str(models.adherence.version))
    as_of_date = as_of_ts.date()
    out = []
    for i in range(n):
        res = results[i]
        choice = found.get(i)
        common = dict(
            patient_id=str(prow[i]["patient_id"]),
            as_of=as_of_date,
            rules=res.fired,
            tolerance_model=tol_ref,
            adherence_model=adh_ref,
            guideline_version=res.version,
            unknown_facts=tuple(res.unknown_facts),
        )
        if choice is None:
            out.append(
                Recommendation(
                    decision=res.decision if res.decision in ("hold", "refer") else "hold",
                    prescription=None,
                    predictions=None,
                    explanation=(),
                    reference_plan=None,
                    progression_reference=None,
                    **common,
                )
            )
            continue
        rx = enforce_envelope(plan_to_prescription(choice.plan, res, cfg), res)
        tol_i, adh_i = choice.tolerance, choice.adherence
        out.append(
            Recommendation(
                decision="regress" if choice.deload else decide(choice.plan, facts_all[i]),
                prescription=rx,
                predictions=Predictions(round(tol_i, 4), round(adh_i, 4))
                if math.isfinite(tol_i) and math.isfinite(adh_i)
                else None,
                explanation=tuple(Contribution(k, round(v, 4)) for k, v in tops.get(i, {}).items()),
                reference_plan=Plan.from_array(choice.reference),
                progression_reference=progression_reference(choice.reference),
                scored=ScoredPlan(
                    Plan.from_array(choice.plan),
                    choice.session_tolerance,
                    choice.session_attendance,
                ),
                **common,
            )
        )
    return out


def _explanations(
    found: dict[int, Choice], models: Models, cfg: PolicyConfig
) -> dict[int, dict[str, float]]:
    """Top tolerance-model contributions of each chosen plan (one explain call for all)."""
    have = [i for i in sorted(found) if found[i].feature_row is not None]
    if not have:
        return {}
    contrib = models.tolerance.explain(np.vstack([found[i].feature_row for i in have]))
    if contrib is None:
        return {}
    cols = FEATURE_COLUMNS
    out = {}
    for j, i in enumerate(have):
        row = contrib[j, : len(cols)]
        order = np.argsort(-np.abs(row), kind="stable")[: cfg.explain_top]
        out[i] = {cols[k]: float(row[k]) for k in order if row[k] != 0}
    return out

"""The vectorised search picks exactly what the one-patient-at-a-time search picked.

Both run on the same contexts (captured inside `recommend` on a small simulated cohort) with the
same models, under configurations that reach every branch: the default, a recalibrating one, and
tight bounds that force partial and full deloads. Every field of every `Choice` must be equal,
bit for bit (tie-breaking included: stable order, first best)."""

from __future__ import annotations

import datetime as dt
import importlib

import numpy as np
import pandas as pd
import pytest

from features.contract.tables import PATIENT_COLUMNS, RX_COLUMNS, SESSION_COLUMNS
from serving.policy import ModelScorer, PolicyConfig, recommend
from serving.policy.search import search
from tests.code._search_reference import reference_search
from tests.fakes import fake_models

rec_mod = importlib.import_module("serving.policy.recommend")  # the package re-exports the function
CONFIGS = {
    "default": PolicyConfig(),
    "recalibrating": PolicyConfig(recalibration_prior_sessions=3.0, top_k=2),
    "resistance_first": PolicyConfig(aerobic_weight=3.0, resistance_first_weight=2.0),
    "tight": PolicyConfig(
        tolerance_threshold=0.9, adherence_threshold=0.85, top_k=1, generic_session_floor=False
    ),
}


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    from serving.batch import select_snapshots
    from training.simulator import simulate_cohort

    patients, sessions = simulate_cohort(n_patients=120, weeks=4, seed=9)
    as_of = (pd.Timestamp(sessions["date"].max()) + pd.Timedelta(days=1)).date()
    snaps, _ = select_snapshots(patients, as_of)
    snaps = snaps.reindex(columns=list(PATIENT_COLUMNS) + list(RX_COLUMNS))
    return snaps.reset_index(drop=True), sessions[list(SESSION_COLUMNS)], as_of


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_vectorised_search_matches_reference(cohort, monkeypatch, name: str) -> None:
    patients, sessions, as_of = cohort
    cfg = CONFIGS[name]
    models = fake_models()
    compared = []

    def both(points, contexts, scorer, cfg_):
        got = search(points, contexts, ModelScorer(models), cfg_)
        want = reference_search(points, contexts, ModelScorer(models), cfg_)
        compared.append((got, want, sum(c is not None for c in contexts)))
        return got

    monkeypatch.setattr(rec_mod, "search", both)
    recommend(patients, sessions, as_of, models, cfg)
    ((got, want, live),) = compared
    assert live > 50 and set(got) == set(want) and len(got) == live
    deloads = sum(c.deload for c in want.values())
    for i, w in want.items():
        g = got[i]
        for field in ("plan", "reference", "tolerance", "adherence", "benefit", "feature_row"):
            assert _same(getattr(g, field), getattr(w, field)), (i, field)
        assert (g.deload, g.considered) == (w.deload, w.considered), i
    if name == "tight":
        assert deloads > 0  # the forced branches were reached

"""ModelScorer predicts each distinct (point, modality, plan) row once, within a call and across
a screening call and the final call of one search: the scores and feature rows must be exactly
what predicting every row on its own gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.pipeline import candidate_matrix
from serving.policy import A, ModelScorer, Points, R
from tests.fakes import fake_models


def _naive(models, points: Points, point: np.ndarray, plans: np.ndarray, m: int) -> tuple:
    """Every row predicted on its own (no sharing at all)."""
    cands = {c: plans[:, j] for j, c in enumerate(("aerobic_sessions", "aerobic_minutes",
             "aerobic_pct_hrmax", "resistance_sessions", "resistance_sets", "resistance_reps",
             "resistance_pct_1rm"))}  # fmt: skip
    cands["modality"] = np.full(len(plans), "aerobic" if m == A else "resistance", dtype=object)
    feats = candidate_matrix(points.matrix, point, cands)
    return models.tolerance.predict(feats), models.adherence.predict(feats), feats


def test_shared_rows_score_like_single_rows() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(4, len(FEATURE_SET.columns)))
    points = Points(matrix, np.array(list("abcd"), dtype=object), pd.Timestamp("2026-03-02"))
    base = np.array([[3, 30, 65, 2, 2, 12, 50], [2, 20, 60, 0, 0, 0, 0], [0, 0, 0, 2, 3, 10, 60]])
    plans = np.vstack([base, base, base[:1], base[::-1]]).astype(float)  # repeats within a call
    point = np.array([0, 0, 0, 1, 1, 1, 0, 3, 2, 2])
    need = np.tile([True, False], (len(plans), 1))
    need[::2, R] = True
    models = fake_models()
    scorer = ModelScorer(models)
    first = scorer.score(points, point, plans, need)  # screening: no feature rows kept
    assert first.features is None
    again = np.vstack([plans[::-1], [[4, 25, 70, 1, 2, 12, 55]]])  # mostly rows seen before
    at = np.r_[point[::-1], 1]
    final = scorer.score(points, at, again)
    for scores, pl, pt, nd in ((first, plans, point, need), (final, again, at, None)):
        for m, col in ((A, 0), (R, 3)):
            rows = np.flatnonzero((pl[:, col] >= 1) & (nd is None or nd[:, m]))
            tol, att, feats = _naive(models, points, pt[rows], pl[rows], m)
            np.testing.assert_array_equal(scores.tolerance[rows, m], np.clip(tol, 0, 1))
            np.testing.assert_array_equal(scores.attendance[rows, m], np.clip(att, 0, 1))
            others = np.setdiff1d(np.arange(len(pl)), rows)
            assert np.isnan(scores.tolerance[others, m]).all()
            if nd is None:
                got = np.vstack([scores.feature_row(int(i), m) for i in rows])
                np.testing.assert_array_equal(got, feats)

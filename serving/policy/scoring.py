"""What the search asks of a scorer: P(tolerate) and P(attend) of each session type of a week plan
(the registered models, or the simulator's truth for the oracle arm)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS
from features.pipeline import candidate_matrix
from features.table import Table

A, R = 0, 1  # modality index in score arrays: aerobic, resistance


class Predictor(Protocol):
    """What the policy needs of a model: a name, a version and probabilities.

    `X` is a float matrix, one row per example and one column per `FEATURE_SET.columns` entry
    in that order (or a DataFrame with those columns: other callers, e.g. /predict).
    """

    name: str
    version: str

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray: ...

    def explain(self, X: np.ndarray | pd.DataFrame) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Models:
    tolerance: Predictor  # P(an attended session is tolerated)
    adherence: Predictor  # P(a planned session is attended)


@dataclass(frozen=True)
class Points:
    """The prediction points of one `recommend` call: feature rows and who they are."""

    matrix: np.ndarray  # rows x FEATURE_SET.columns, history and patient features
    patient_ids: np.ndarray
    as_of: pd.Timestamp


@dataclass(frozen=True)
class PlanScores:
    """Per plan: P(tolerate) and P(attend) of one aerobic and one resistance session (n x 2,
    NaN where the plan has no session of that modality), and optionally the tolerance feature
    rows for explanations: row `feature_at[m * n + i]` of `features` is plan i's modality m row
    (-1: none; without `feature_at`, `features` holds all 2n rows, aerobic then resistance)."""

    tolerance: np.ndarray
    attendance: np.ndarray
    features: np.ndarray | None = None
    feature_at: np.ndarray | None = None

    def feature_row(self, i: int, m: int) -> np.ndarray | None:
        """The tolerance feature row of plan i's modality m (None when not kept)."""
        if self.features is None:
            return None
        j = m * len(self.tolerance) + i
        if self.feature_at is not None:
            j = int(self.feature_at[j])
            if j < 0:
                return np.full(self.features.shape[1], np.nan)
        return self.features[j]


class Scorer(Protocol):
    """Anything that scores week plans: the models (`ModelScorer`) or the simulator's truth.

    `need` (plans x 2, optional) marks the modalities whose scores the caller will read; a scorer
    may leave the others NaN (the models then skip those rows) or fill them anyway.
    """

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores: ...


@dataclass(frozen=True)
class ModelScorer:
    """The two registered models as a Scorer: one feature row per plan and modality needed.

    Identical (point, modality, plan) rows get identical scores, so each is predicted once: within
    a call (a patient's "here" week is one of its options) and across the calls of one search
    (stage 2 re-scores whole weeks whose modality row stage 1 already scored). The memo holds the
    previous call's rows (row key -> position) and scores, for the same `Points` only, and per
    thread: a scorer shared by threads (BentoML answers requests in a thread pool) never reads
    rows another thread's call left, and each call replaces the memo with a new one instead of
    changing the one a concurrent reader may hold.
    """

    models: Models
    _local: threading.local = field(
        default_factory=threading.local, init=False, compare=False, repr=False
    )

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores:
        n = len(plans)
        has = np.column_stack([plans[:, 0] >= 1, plans[:, 3] >= 1])
        partial = need is not None
        need = has if need is None else (need & has)
        rows = [np.flatnonzero(need[:, A]), np.flatnonzero(need[:, R])]
        wanted = np.concatenate(rows)
        modality = np.repeat(np.array([A, R]), [len(r) for r in rows])
        # distinct rows of this call (first-seen order; a dict on each row's bytes), and which
        # of them the previous call already scored
        index: dict[bytes, int] = {}
        keys = _row_keys(point[wanted], modality, plans[wanted])
        inverse = np.fromiter((index.setdefault(k, len(index)) for k in keys), np.int64, len(keys))
        first = np.unique(inverse, return_index=True)[1]  # ids are 0.. in first-seen order
        prev = getattr(self._local, "memo", None)
        if prev is None or prev["points"] is not points:
            prev = {}
        seen: dict[bytes, int] = prev.get("index", {})
        known = np.fromiter((seen.get(k, -1) for k in index), np.int64, len(index))
        todo, hit = np.flatnonzero(known < 0), np.flatnonzero(known >= 0)
        # feature rows are kept for explanations only when every row was asked for (the final
        # stage; a partial request (`need`) is a screening stage): then the rows the previous
        # call scored are built too, after the rows to predict
        build = todo if partial else np.r_[todo, hit]
        feats = _features(points, point, plans, wanted[first[build]], modality[first[build]])
        tol_u, att_u = np.empty(len(index)), np.empty(len(index))
        if len(todo):
            tol_u[todo] = _probability(self.models.tolerance.predict(feats[: len(todo)]))
            att_u[todo] = _probability(self.models.adherence.predict(feats[: len(todo)]))
        if len(hit):
            tol_u[hit] = prev["tolerance"][known[hit]]
            att_u[hit] = prev["attendance"][known[hit]]
        self._local.memo = {
            "points": points,
            "index": index,
            "tolerance": tol_u,
            "attendance": att_u,
        }
        tol, att = np.full((n, 2), np.nan), np.full((n, 2), np.nan)
        k = len(rows[A])
        tol[rows[A], A], tol[rows[R], R] = tol_u[inverse[:k]], tol_u[inverse[k:]]
        att[rows[A], A], att[rows[R], R] = att_u[inverse[:k]], att_u[inverse[k:]]
        if partial:
            return PlanScores(tolerance=tol, attendance=att)
        row_of = np.empty(len(index), dtype=np.int64)
        row_of[build] = np.arange(len(build))
        feature_at = np.full(2 * n, -1, dtype=np.int64)
        feature_at[rows[A]] = row_of[inverse[:k]]
        feature_at[n + rows[R]] = row_of[inverse[k:]]
        return PlanScores(tol, att, features=feats, feature_at=feature_at)


def _features(
    points: Points, point: np.ndarray, plans: np.ndarray, src: np.ndarray, modality: np.ndarray
) -> np.ndarray:
    """Feature rows of plans[src] for one modality each (A or R) at their points."""
    stacked = plans[src]
    cands = {c: stacked[:, j] for j, c in enumerate(PLAN_COLUMNS)}
    cands["modality"] = np.array(["aerobic", "resistance"], dtype=object)[modality]
    return candidate_matrix(points.matrix, point[src], Table(cands))


def _row_keys(point: np.ndarray, modality: np.ndarray, plans: np.ndarray) -> list[bytes]:
    """One opaque key per (point, modality, plan) row (its bytes): equal keys, equal feature
    rows."""
    table = np.column_stack([point.astype(float), modality.astype(float), plans]).astype(float)
    table = np.ascontiguousarray(table)
    width = table.dtype.itemsize * table.shape[1]
    return table.view(np.dtype((np.void, width))).reshape(-1).tolist()


def _probability(values: Any) -> np.ndarray:
    """Model output as probabilities; anything not a number counts as the worst case (0: not
    tolerated, not attended), so a broken prediction never loosens a dose."""
    p = np.asarray(values, dtype=float)
    if not np.isfinite(p).all():
        p = np.nan_to_num(p, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(p, 0.0, 1.0)

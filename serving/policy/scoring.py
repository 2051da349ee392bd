"""What the search asks of a scorer: P(tolerate) and P(attend) of each session type of a week plan
(the registered models, or the simulator's truth for the oracle arm)."""

from __future__ import annotations

from dataclasses import dataclass
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
    rows (aerobic rows, then resistance rows) for explanations."""

    tolerance: np.ndarray
    attendance: np.ndarray
    features: np.ndarray | None = None


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
    """The two registered models as a Scorer: one feature row per plan and modality needed."""

    models: Models

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores:
        n = len(plans)
        has = np.column_stack([plans[:, 0] >= 1, plans[:, 3] >= 1])
        partial = need is not None
        need = has if need is None else (need & has)
        rows = [np.flatnonzero(need[:, A]), np.flatnonzero(need[:, R])]
        stacked = plans[np.concatenate(rows)]
        cands = {c: stacked[:, j] for j, c in enumerate(PLAN_COLUMNS)}
        cands["modality"] = np.repeat(
            np.array(["aerobic", "resistance"], dtype=object), [len(r) for r in rows]
        )
        feats = candidate_matrix(points.matrix, point[np.concatenate(rows)], Table(cands))
        tol_rows = _probability(self.models.tolerance.predict(feats))
        att_rows = _probability(self.models.adherence.predict(feats))
        tol, att = np.full((n, 2), np.nan), np.full((n, 2), np.nan)
        # feature rows are kept for explanations only when every row was asked for (the final
        # stage); a partial request (`need`) is a screening stage
        full = None if partial else np.full((2 * n, feats.shape[1]), np.nan)
        k = len(rows[A])
        for m, idx, part in ((A, rows[A], slice(0, k)), (R, rows[R], slice(k, None))):
            tol[idx, m] = tol_rows[part]
            att[idx, m] = att_rows[part]
            if full is not None:
                full[idx + m * n] = feats[part]
        return PlanScores(tolerance=tol, attendance=att, features=full)


def _probability(values: Any) -> np.ndarray:
    """Model output as probabilities; anything not a number counts as the worst case (0: not
    tolerated, not attended), so a broken prediction never loosens a dose."""
    p = np.asarray(values, dtype=float)
    return np.clip(np.nan_to_num(p, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)

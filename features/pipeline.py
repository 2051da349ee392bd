"""The point-in-time feature pipeline: ONE `build` for REST, batch and training.

    frame = build(patients, sessions, as_of, candidates=None)

Point-in-time rules (DESIGN.md section 3), all at day resolution:
- profile: the latest patient snapshot with snapshot ``as_of`` <= the prediction ``as_of``
  (Feast-style as-of join); a prediction point with no such snapshot is dropped;
- history: only sessions dated strictly before the prediction ``as_of``.

A REST request is simply a cohort of one: there is no single-patient branch. Speed comes from
vectorisation over all prediction points at once (see `features.history`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import candidates as cand_mod
from features import history as hist_mod
from features import profile as prof_mod
from features import registry
from features.encode import DAY_SPAN, NAT, Values, factorize, to_days, to_timestamps
from features.table import Table, TableLike

log = logging.getLogger(__name__)

KEYS = ("patient_id", "as_of")


@dataclass(frozen=True)
class FeatureSet:
    """The model-facing feature columns, versioned so a model is only served with its features."""

    name: str
    version: str
    profile: tuple[str, ...]
    history: tuple[str, ...]
    candidate: tuple[str, ...]
    columns: tuple[str, ...]
    monotone_decreasing: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.columns != self.profile + self.history + self.candidate:
            raise ValueError("columns must be profile + history + candidate, in that order")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("feature names must be unique")
        if not set(self.monotone_decreasing) <= set(self.columns):
            raise ValueError("monotone_decreasing names must be feature columns")


FEATURE_SET = FeatureSet(
    name="dosewise-features",
    # 1.1.0: per-modality history (aerobic_* / resistance_* history features); 1.2.0: the
    # tolerated record (aerobic_tolerated_weekly_minutes_28d, resistance_tolerated_pct_1rm_28d)
    # and recent severe symptom scores (fatigue_8plus_7d, pain_8plus_7d); 1.3.0: the tolerated
    # record counts what was done (completed minutes, attended sessions' load), not what was planned
    version="1.3.0",
    profile=registry.names("profile"),
    history=registry.names("history"),
    candidate=registry.names("candidate"),
    columns=registry.names(),
    monotone_decreasing=registry.monotone_decreasing(),
)


def _patient_index(ids: Values) -> tuple[np.ndarray, dict[str, int]]:
    """Integer code per row and {id as string: code} (codes in first-seen order)."""
    codes, uniques = factorize(ids)
    index: dict[str, int] = {}
    inverse = [index.setdefault(str(u), len(index)) for u in uniques]  # 1 and "1": one patient
    return np.array([*inverse, -1], dtype=np.int64)[codes], index


def _codes_for(ids: Values, index: dict[str, int]) -> np.ndarray:
    """Patient codes of `ids`; -1 for patients not in the patients table."""
    codes, uniques = factorize(ids)
    found = [index.get(str(u), -1) for u in uniques]
    return np.array([*found, -1], dtype=np.int64)[codes]


def _require(table: Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}")


def _is_frame(as_of: Any) -> bool:
    return isinstance(as_of, pd.DataFrame | Table | Mapping)


@dataclass(frozen=True)
class FeatureRows:
    """What `build` computes, before it becomes a DataFrame.

    `matrix` is feature-major (len(FEATURE_SET.columns) x rows): contiguous writes, and the memory
    layout of a pandas float block, so `frame()` wraps it without another copy. `front` holds
    `patient_id`, `as_of` and the carried columns; `index` the output rows' index.
    """

    index: Any
    front: dict[str, np.ndarray]
    matrix: np.ndarray

    def __len__(self) -> int:
        return self.matrix.shape[1]

    def rows(self) -> np.ndarray:
        """rows x FEATURE_SET.columns, C-ordered (what a model's predict takes)."""
        return np.ascontiguousarray(self.matrix.T)

    def frame(self) -> pd.DataFrame:
        left = pd.DataFrame(self.front, index=self.index)
        right = pd.DataFrame(
            self.matrix.T, columns=list(FEATURE_SET.columns), index=self.index, copy=False
        )
        return pd.concat([left, right], axis=1, copy=False)


def build(
    patients: TableLike,
    sessions: TableLike | None,
    as_of: Any,
    candidates: TableLike | None = None,
) -> pd.DataFrame:
    """Features for each prediction point (or candidate row), in input order.

    `as_of` is a date-like scalar (one point per distinct patient of `patients`) or a frame with
    `patient_id`, `as_of` and any extra columns, which are carried through. With `candidates`, the
    output has one row per candidate row (its point's features broadcast, plus candidate features)
    and carries the candidates' extra columns. Output: `patient_id`, `as_of`, carried columns,
    then `FEATURE_SET.columns`; the index is the input rows' index (scalar as_of: 0..n-1).
    Tables may be DataFrames or dicts of equal-length numpy arrays (`features.table`).
    """
    return build_rows(patients, sessions, as_of, candidates).frame()


def build_rows(
    patients: TableLike,
    sessions: TableLike | None,
    as_of: Any,
    candidates: TableLike | None = None,
) -> FeatureRows:
    """`build` without the final DataFrame (the policy works on the matrix directly)."""
    patients = Table.of(patients)
    sessions = None if sessions is None else Table.of(sessions)
    if candidates is not None:
        candidates = Table.of(candidates)
    if _is_frame(as_of):
        as_of = Table.of(as_of)
    _require(patients, ("patient_id",), "patients")
    p_code, index = _patient_index(patients.get("patient_id"))
    n_pat = len(patients)
    snap_day = to_days(patients.get("as_of")) if "as_of" in patients else np.zeros(n_pat, np.int64)

    # --- the rows to produce: prediction points, or candidate rows ----------------------------
    if _is_frame(as_of):
        _require(as_of, KEYS, "as_of frame")
        points: Table = as_of
    else:
        first = np.sort(np.unique(p_code, return_index=True)[1])
        points = Table({"patient_id": patients.values("patient_id")[first]})
    rows = points if candidates is None else candidates
    _require(rows, ("patient_id",) if not _is_frame(as_of) else KEYS, "candidates")
    n = len(rows)
    r_code = _codes_for(rows.get("patient_id"), index)
    r_time = rows.get("as_of") if _is_frame(as_of) else as_of
    r_day = to_days(r_time, None if _is_frame(as_of) else n)
    r_key = r_code * DAY_SPAN + r_day
    carried = _carried(points, rows, candidates, as_of, index, r_key)

    # --- point-in-time join of snapshots (latest snapshot day <= as_of day) ------------------
    p_ok = (p_code >= 0) & (snap_day != NAT)
    p_key = np.where(p_ok, p_code * DAY_SPAN + snap_day, -1)
    p_order = np.argsort(p_key, kind="stable")  # ties: the last snapshot row in input order wins
    p_sorted = p_key[p_order]
    j = np.searchsorted(p_sorted, r_key, side="right") - 1
    jj = np.maximum(j, 0)
    ok = (r_code >= 0) & (r_day != NAT) & (j >= 0) & (p_sorted[jj] // DAY_SPAN == r_code)
    ok &= p_sorted[jj] >= 0
    if not ok.all():
        log.warning(
            "dropped %d of %d prediction rows: no patient snapshot on or before as_of",
            int((~ok).sum()),
            n,
        )
    keep = np.flatnonzero(ok)
    snap_of_row = p_order[jj[keep]]

    # --- features per distinct point, broadcast to rows -----------------------------------------
    u_key, u_first, inv = np.unique(r_key[keep], return_index=True, return_inverse=True)
    u_code, u_day = u_key // DAY_SPAN, u_key % DAY_SPAN
    u_snap = snap_of_row[u_first]
    s_code = (
        _codes_for(sessions.get("patient_id"), index)
        if sessions is not None and len(sessions)
        else np.zeros(0, np.int64)
    )
    ix = hist_mod.index_sessions(sessions, s_code)
    hist = hist_mod.history_features(ix, u_code, u_day)
    # profile: computed once per snapshot row in use, then gathered to points
    used, snap_inv = np.unique(u_snap, return_inverse=True)
    snaps = patients.take(used)
    dsi, chemo = prof_mod.infusion_state(snaps)
    gap = (u_day - snap_day[u_snap]).astype(float)
    dynamic = prof_mod.dynamic_features(dsi[snap_inv], chemo[snap_inv], gap)

    matrix = np.empty((len(FEATURE_SET.columns), len(keep)))
    n_static = len(prof_mod.STATIC)
    matrix[:n_static] = prof_mod.static_features(snaps)[:, snap_inv[inv]]
    row = n_static
    for name in prof_mod.DYNAMIC:
        matrix[row] = dynamic[name][inv]
        row += 1
    for name in hist_mod.COLUMNS:
        matrix[row] = hist[name][inv]
        row += 1
    recent = {c: hist[c][inv] for c in hist_mod.RECENT_COLUMNS}
    cands = None if candidates is None else candidates.take(keep)
    cfeat = cand_mod.candidate_features(cands, len(keep), recent)
    for name in cand_mod.COLUMNS:
        matrix[row] = cfeat[name]
        row += 1

    # --- assemble ---------------------------------------------------------------------------------
    out_index = rows.index[keep] if (_is_frame(as_of) or candidates is not None) else keep
    front: dict[str, Any] = {
        "patient_id": rows.values("patient_id")[keep],
        "as_of": to_timestamps(r_time, n)[keep],
    }
    for name, values in carried.items():
        front[name] = values[keep]
    return FeatureRows(out_index, front, matrix)


_N_POINT = len(prof_mod.COLUMNS) + len(hist_mod.COLUMNS)
_RECENT_AT = {c: FEATURE_SET.columns.index(c) for c in hist_mod.RECENT_COLUMNS}


def candidate_matrix(
    point_matrix: np.ndarray, point: np.ndarray, candidates: TableLike
) -> np.ndarray:
    """Feature rows (rows x FEATURE_SET.columns) for candidates, from their points' rows.

    `point_matrix` holds `FEATURE_SET.columns` of prediction points as `build` without
    candidates returns them; `point[i]` is the point of candidate row i. The candidate columns
    come from the same `candidate_features` that `build` uses, so the policy can ask "what if"
    for many doses without recomputing history (tested equal to `build` with candidates).
    """
    m = point_matrix[point]
    recent = {c: m[:, j] for c, j in _RECENT_AT.items()}
    cfeat = cand_mod.candidate_features(Table.of(candidates), len(point), recent)
    if len(point):  # the candidate columns close the row: one block write, not one per column
        m[:, _N_POINT : _N_POINT + len(cand_mod.COLUMNS)] = np.column_stack(
            [cfeat[c] for c in cand_mod.COLUMNS]
        )
    return m


def _carried(
    points: Table,
    rows: Table,
    candidates: Table | None,
    as_of: Any,
    index: dict[str, int],
    r_key: np.ndarray,
) -> dict[str, np.ndarray]:
    """Extra input columns copied to the output unchanged, aligned with `rows`."""
    reserved = set(KEYS) | set(FEATURE_SET.columns)
    if candidates is not None:
        reserved -= set(cand_mod.PLAN)  # plan inputs are features already
    out = {
        c: rows.values(c)
        for c in rows.columns
        if c not in KEYS and not (candidates is not None and c in cand_mod.PLAN)
    }
    clash = [c for c in out if c in reserved]
    if clash:
        raise ValueError(f"input column(s) {clash} clash with feature names")
    if candidates is None or not _is_frame(as_of):
        return out
    # candidates: also carry the as_of frame's extra columns of each candidate's point
    extra = [c for c in points.columns if c not in KEYS and c not in out]
    p_key = _codes_for(points.get("patient_id"), index) * DAY_SPAN + to_days(points.get("as_of"))
    c_key = r_key
    u_key, first = np.unique(p_key, return_index=True)
    pos = np.minimum(np.searchsorted(u_key, c_key), max(len(u_key) - 1, 0))
    if len(c_key) and (len(u_key) == 0 or not np.array_equal(u_key[pos], c_key)):
        raise ValueError(
            "candidates hold (patient_id, as_of) pairs that are not in the as_of frame"
        )
    for c in extra:
        if c in reserved:
            raise ValueError(f"as_of column {c!r} clashes with a feature name")
        out[c] = points.values(c)[first[pos]]
    return out

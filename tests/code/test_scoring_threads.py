"""`ModelScorer`'s memo under threads: a scorer shared by two threads (BentoML answers requests
in a thread pool) gives each call the scores of its own rows, never rows another thread's call
left in the memo."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import FEATURE_SET
from serving.policy import Models, ModelScorer, Points

WEEK_A = [3.0, 30.0, 60.0, 2.0, 2.0, 12.0, 50.0]
WEEK_B = [4.0, 30.0, 60.0, 2.0, 2.0, 12.0, 50.0]
WEEK_C = [3.0, 35.0, 64.0, 0.0, 0.0, 0.0, 0.0]


@dataclass
class GatedModel:
    """A deterministic model (a logistic of the row's sum) whose predictions, in the thread
    named `hold_thread`, wait for `release` once `armed` (and say so by `holding`): it holds
    one call mid-way while another thread scores."""

    name: str = "gated"
    version: str = "0"
    hold_thread: str = ""
    armed: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.armed and threading.current_thread().name == self.hold_thread:
            self.armed = False
            self.holding.set()
            assert self.release.wait(10), "the other thread never finished"
        return 1.0 / (1.0 + np.exp(-np.nan_to_num(np.asarray(X, float)).sum(axis=1) / 500.0))

    def explain(self, X: np.ndarray) -> None:
        return None


def _points(level: float) -> Points:
    matrix = np.full((1, len(FEATURE_SET.columns)), level)
    return Points(matrix, np.array(["p"], dtype=object), pd.Timestamp("2026-11-23"))


def test_a_shared_scorer_never_mixes_two_threads_memos() -> None:
    model = GatedModel(hold_thread="first")
    scorer = ModelScorer(Models(tolerance=model, adherence=model))
    mine, theirs = _points(1.0), _points(7.0)
    stage1 = np.array([WEEK_A])
    stage2 = np.array([WEEK_A, WEEK_B, WEEK_C])  # WEEK_A's rows are memo hits, the rest new
    want = ModelScorer(Models(tolerance=model, adherence=model))
    want.score(mine, np.zeros(1, dtype=int), stage1)
    expected = want.score(mine, np.zeros(3, dtype=int), stage2)
    got: dict[str, object] = {}

    def first() -> None:
        try:
            scorer.score(mine, np.zeros(1, dtype=int), stage1)
            model.armed = True  # the next prediction (stage 2's new rows) waits for `second`
            got["first"] = scorer.score(mine, np.zeros(3, dtype=int), stage2)
        except Exception as exc:  # reported below, not lost in the thread
            got["first"] = exc

    def second() -> None:
        try:
            scorer.score(theirs, np.zeros(3, dtype=int), stage2)
        finally:
            model.release.set()

    a = threading.Thread(target=first, name="first")
    a.start()
    assert model.holding.wait(10)  # `first` is predicting stage 2's new rows
    b = threading.Thread(target=second, name="second")
    b.start()
    b.join(20)
    a.join(20)
    result = got["first"]
    assert not isinstance(result, Exception), repr(result)
    np.testing.assert_array_equal(result.tolerance, expected.tolerance)
    np.testing.assert_array_equal(result.attendance, expected.attendance)


def test_the_memo_serves_the_second_call_of_one_thread() -> None:
    """Within one thread the memo still works: stage 2 predicts only the rows stage 1 did not."""
    calls: list[int] = []

    @dataclass
    class Counting(GatedModel):
        def predict(self, X: np.ndarray) -> np.ndarray:
            calls.append(len(X))
            return super().predict(X)

    model = Counting()
    scorer = ModelScorer(Models(tolerance=model, adherence=model))
    points = _points(1.0)
    scorer.score(points, np.zeros(1, dtype=int), np.array([WEEK_A]))
    scorer.score(points, np.zeros(3, dtype=int), np.array([WEEK_A, WEEK_B, WEEK_C]))
    # stage 1: WEEK_A's 2 rows (x 2 models); stage 2: WEEK_B's 2 rows and WEEK_C's 1
    assert calls == [2, 2, 3, 3]

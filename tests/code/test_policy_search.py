"""The policy's ladder search (serving.policy.search_ladders) against brute force.

With monotone models the feasible rungs of a ladder form a prefix, so however many rungs a
round probes (one patient: the whole ladder at once; a big cohort: a few per round) the search
must land on the largest feasible rung, or rung 0 when none is feasible, and report that rung's
own predictions and feature row.
"""

from __future__ import annotations

import numpy as np
import pytest

from features import FEATURE_SET
from serving.policy import Ladder, Models, PolicyConfig, _score, search_ladders
from tests.fakes import FakeAdherence, FakeTolerance

N_FEAT = len(FEATURE_SET.columns)
ECOG = FEATURE_SET.columns.index("ecog")


def _ladder(rng: np.random.Generator, size: int) -> Ladder:
    """A random monotone ladder: every plan component non-decreasing along the rungs."""
    steps = rng.integers(0, 3, size=(size, 7)).astype(float)
    if size:
        steps[0] = [1, 10, 50, 0, 1, 12, 40]
    steps[1:, 5] = 0.0  # reps fixed, as the policy builds them
    plans = np.cumsum(steps, axis=0)
    plans[:, 3] = np.minimum(plans[:, 3], 3)
    return Ladder(plans, -1)


def _brute_force(point_matrix, ladders, models, cfg):
    out = {}
    for i, lad in enumerate(ladders):
        if lad is None or not len(lad.plans):
            continue
        n = len(lad.plans)
        tol, adh, feats = _score(point_matrix, np.full(n, i), lad.plans, models)
        ok = (tol >= cfg.tolerance_threshold) & (adh >= cfg.adherence_threshold)
        prefix = int(np.argmin(ok)) if not ok.all() else n  # feasible rungs: 0 .. prefix-1
        r = max(prefix - 1, 0)
        row = r if lad.plans[r, 0] >= 1 else n + r
        out[i] = (r, float(tol[r]), float(adh[r]), feats[row])
    return out


@pytest.mark.parametrize("budget", [1, 30, 200, 40_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_finds_the_largest_feasible_rung_whatever_the_probe_budget(
    budget: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    point_matrix = rng.normal(size=(n, N_FEAT))
    point_matrix[:, ECOG] = rng.integers(0, 4, size=n)
    ladders = [
        None if rng.random() < 0.1 else _ladder(rng, int(rng.integers(0, 18))) for _ in range(n)
    ]
    models = Models(tolerance=FakeTolerance(), adherence=FakeAdherence())
    cfg = PolicyConfig(
        tolerance_threshold=float(rng.uniform(0.2, 0.9)),
        adherence_threshold=float(rng.uniform(0.2, 0.9)),
        probe_budget=budget,
    )
    got = search_ladders(point_matrix, ladders, models, cfg)
    want = _brute_force(point_matrix, ladders, models, cfg)
    assert set(got) == set(want)
    for i, (r, t, a, row) in want.items():
        assert got[i][0] == r, f"patient {i}: rung {got[i][0]}, brute force {r}"
        assert got[i][1] == pytest.approx(t, abs=1e-12)
        assert got[i][2] == pytest.approx(a, abs=1e-12)
        np.testing.assert_array_equal(got[i][3], row)
    rungs = [v[0] for v in got.values()]
    assert max(rungs) > 0 and min(rungs) == 0  # both ends of the ladders were reached


def test_no_ladder_no_search() -> None:
    models = Models(tolerance=FakeTolerance(), adherence=FakeAdherence())
    empty = Ladder(np.zeros((0, 7)), -1)
    assert search_ladders(np.zeros((2, N_FEAT)), [None, empty], models, PolicyConfig()) == {}

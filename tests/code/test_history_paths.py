"""History features take a stacked path (few sessions or points: every quantity of a window in
one numpy call) or a per-quantity path (many: memory of the outputs only). Integer prefix sums
make them equal bit for bit; this checks it on a messy synthetic cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import history
from features.pipeline import build_rows
from tests.synth import synth_cohort


@pytest.mark.parametrize("per_session", [True, False])
def test_stacked_and_per_quantity_sums_give_the_same_features(
    monkeypatch: pytest.MonkeyPatch, per_session: bool
) -> None:
    patients, sessions = synth_cohort(40, 30.0, snapshots=3, seed=11, shuffle=True)
    if per_session:  # a prediction point per session day (training's shape)
        as_of = sessions[["patient_id", "date"]].drop_duplicates()
        as_of = as_of.rename(columns={"date": "as_of"}).reset_index(drop=True)
    else:
        as_of = pd.Timestamp(sessions["date"].max()) + pd.Timedelta(days=1)
    got = {}
    for name, limit in (("stacked", 10**9), ("per_quantity", 0)):
        monkeypatch.setattr(history, "STACKED_MAX", limit)
        got[name] = build_rows(patients, sessions, as_of).rows()
    assert got["stacked"].shape[0] > 0
    np.testing.assert_array_equal(got["stacked"].view(np.int64), got["per_quantity"].view(np.int64))

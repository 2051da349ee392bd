"""Output rows built column by column (`flatten_responses`) are the rows `flatten_response`
builds one recommendation at a time (issue 16: performance only)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.settings import Settings
from serving.batch import finalize_scored, flatten_response, policy_config, select_snapshots
from serving.batch.core import OUTPUT_COLUMNS, flatten_responses
from serving.policy import recommend
from tests.code.test_batch import make_cohort
from tests.fakes import fake_models


def test_columns_are_the_rows_of_flatten_response(tmp_path) -> None:
    p, s = make_cohort(150, seed=9)
    as_of = dt.date(2026, 3, 2)
    snaps, _ = select_snapshots(p, as_of)
    recs = recommend(snaps, s[s["date"] < pd.Timestamp(as_of)], as_of, fake_models(),
                     policy_config(Settings(root=tmp_path)))  # fmt: skip
    assert {r.decision for r in recs} >= {"hold", "progress"}  # doses and no doses
    columns = flatten_responses(recs)
    rows = [flatten_response(r) for r in recs]
    assert list(columns) == list(OUTPUT_COLUMNS)
    for name in OUTPUT_COLUMNS:
        assert columns[name] == [row[name] for row in rows], name
    pd.testing.assert_frame_equal(
        finalize_scored(pd.DataFrame(columns)),
        finalize_scored(pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))),
        check_exact=True,
    )

"""Validating a text column once per distinct value (`validation._clean_text_columns`) gives the
rows, coerced values and error rows of validating every cell (issue 16: performance only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.batch import validation
from serving.batch.validation import BATCH_PATIENTS_SCHEMA, SESSION_ROW_SCHEMA, validate_rows
from tests.code.test_batch import make_cohort

TEXT = st.sampled_from(
    ["aerobic", "resistance", "none", "mild", "serious", "yoga", "", " aerobic", None, np.nan, 3]
)
NUMBER = st.sampled_from([30.0, 45.0, -10.0, None, "fast", 5])


def both(df: pd.DataFrame, schema: Any) -> tuple[Any, Any]:
    """(per distinct value, per cell) validation of copies of df."""
    fast = validate_rows(df.copy(), schema, "t")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(validation, "_clean_text_columns", lambda df, schema: {})
        slow = validate_rows(df.copy(), schema, "t")
    return fast, slow


def assert_same(fast: Any, slow: Any) -> None:
    (good_f, err_f), (good_s, err_s) = fast, slow
    pd.testing.assert_frame_equal(good_f, good_s, check_exact=True)
    assert [type(x) for x in good_f.to_numpy().ravel()] == [
        type(x) for x in good_s.to_numpy().ravel()
    ]
    key = list(err_s.columns)
    pd.testing.assert_frame_equal(
        err_f.sort_values(key).reset_index(drop=True), err_s.sort_values(key).reset_index(drop=True)
    )


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return make_cohort(12, seed=3)[1].reset_index(drop=True)


@given(data=st.data())
def test_sessions_validated_per_distinct_value_as_per_cell(
    data: st.DataObject, sessions: pd.DataFrame
) -> None:
    df = sessions.astype({"modality": object, "adverse_event": object, "planned_minutes": object})
    n = len(df)
    for col, values in (("modality", TEXT), ("adverse_event", TEXT), ("planned_minutes", NUMBER)):
        cells = data.draw(st.lists(st.tuples(st.integers(0, n - 1), values), max_size=6))
        for i, v in cells:
            df.at[i, col] = v
    assert_same(*both(df, SESSION_ROW_SCHEMA))


def test_patients_validated_per_distinct_value_as_per_cell() -> None:
    p = make_cohort(200, seed=5)[0].reset_index(drop=True)
    p["rx_restrictions"] = np.where(np.arange(len(p)) % 3 == 0, "no_vigorous", None)
    p.loc[7, "stage"] = "IX"  # a failing value: that column is validated per cell
    fast, slow = both(p, BATCH_PATIENTS_SCHEMA)
    assert_same(fast, slow)
    assert len(fast[1]) == 1

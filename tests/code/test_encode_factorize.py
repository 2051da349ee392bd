"""`features.encode.factorize` on small inputs (the REST path) agrees with pandas' factorize."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.encode import SMALL, factorize

_VALUES = st.sampled_from(
    ["aerobic", "resistance", "x", None, float("nan"), np.float64("nan"), pd.NA, pd.NaT, 1, 2.5]
)


@given(st.lists(_VALUES, max_size=40))
def test_small_inputs_factorize_like_pandas(values: list) -> None:
    arr = np.array(values, dtype=object).reshape(-1)
    assert len(arr) <= SMALL
    codes, uniques = factorize(arr)
    want_codes, want_uniques = pd.factorize(arr, use_na_sentinel=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int64
    assert uniques == list(want_uniques)
    codes_s, uniques_s = factorize(pd.Series(arr, dtype=object))
    np.testing.assert_array_equal(codes_s, want_codes)
    assert uniques_s == uniques

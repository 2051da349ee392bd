"""The kernel's fast paths (converters looked up once per rule set, float and bool short cuts in
`to_number` / `_bool`) give exactly what the plain normalisation gave, over arbitrary values and
facts, so every verdict is unchanged (issue 16: performance only)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from serving.guidelines import kernel as gk
from serving.guidelines.kernel import facts as kf
from serving.guidelines.kernel.evaluation import normalize_facts
from tests.safety.test_kernel_properties import facts, patients_facts


def plain_to_number(value: Any) -> float | None:
    """`to_number` before the fast path (the reference)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


def plain_bool(value: Any) -> bool | None:
    """`_bool` before the fast path (the reference)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return kf._WORDS.get(value.strip().lower())
    num = plain_to_number(value)
    return None if num is None else num != 0


def plain_normalize(f: dict[str, Any]) -> dict[str, Any]:
    """`normalize_facts` before the per-rule-set converters (the reference)."""
    rs = gk.default_rules()
    out = {name: kf.converter_for(name)(f.get(name)) for name in rs.fields}
    sessions, minutes = (
        plain_to_number(f.get("rx_aerobic_sessions")),
        plain_to_number(f.get("rx_aerobic_minutes")),
    )
    out["rx_aerobic_volume"] = None if sessions is None or minutes is None else sessions * minutes
    kf.dose_facts(out)  # derived from the converted facts (not a fast path)
    return out


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type, and the same sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and (a == b)
    return a == b


ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True).map(np.float64),
    st.integers(-5, 5).map(np.int64),
    st.booleans().map(np.bool_),
    st.text(max_size=6),
    st.sampled_from([" 1.5 ", "yes", "No", "TRUE", "0", "", "  ", "nan", pd.NA, np.nan]),
)


@given(ANY_VALUE)
def test_to_number_fast_path_is_the_plain_one(value: Any) -> None:
    assert same(kf.to_number(value), plain_to_number(value))


@given(ANY_VALUE)
def test_bool_fast_path_is_the_plain_one(value: Any) -> None:
    assert same(kf._bool(value), plain_bool(value))


@given(st.one_of(facts(), patients_facts()), st.dictionaries(st.sampled_from(
    sorted(gk.default_rules().fields)), ANY_VALUE, max_size=6))  # fmt: skip
def test_normalized_facts_are_the_plain_ones(f: dict[str, Any], wild: dict[str, Any]) -> None:
    for g in (f, f | wild):
        got, want = normalize_facts(g), plain_normalize(g)
        assert list(got) == list(want)
        assert all(same(got[k], want[k]) for k in want), g

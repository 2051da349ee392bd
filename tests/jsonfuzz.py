"""Shared hypothesis machinery for fuzzing JSON request bodies: arbitrary JSON values and edits of
a valid document at any node (tests/code/test_fuzz_bodies.py, tests/cds/test_cds_fuzz.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["2026-11-01", "1899-12-31", "2300-01-01", "female", "serious", ""])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node of a JSON document."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, (*prefix, i))
    return out


def replace_at(doc: Any, path: tuple, value: Any) -> Any:
    """A copy of `doc` with the node at `path` replaced by `value`."""
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def delete_at(doc: Any, path: tuple) -> Any:
    """A copy of `doc` without the node at `path` (a dict key or a list item; not the root)."""
    doc = json.loads(json.dumps(doc))
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc

"""The batch summary counts each distinct rule list once: the same counts and the same ranking
(ties in order of first appearance) as counting row by row."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from serving.batch.output import summarize

RULES = st.lists(st.sampled_from(["a", "b", "c", "hold.x", "refer.y"]), max_size=4)


@given(st.lists(RULES, max_size=40), st.integers(1, 6))
def test_rule_counts_as_row_by_row(rows: list[list[str]], top: int) -> None:
    scored = pd.DataFrame(
        {"rules": [json.dumps(r) for r in rows], "decision": ["progress"] * len(rows)}
    )
    want: Counter[str] = Counter()
    for r in rows:
        want.update(r)
    errors = pd.DataFrame({"patient_id": []})
    assert summarize(scored, errors, top)["top_rules"] == want.most_common(top)

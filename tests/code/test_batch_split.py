"""The parent's share of a pandas run, made cheap (issue 16): ids hashed once per distinct id,
and only the columns scoring reads. Both must be invisible in what is scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.io import plain_text, read_table
from serving.batch import patient_ids
from serving.batch.engine_pandas import _distinct_ids, split_cohort

IDS = st.one_of(
    st.sampled_from(["pt-1", "pt-2", "pt-10", "", " pt-1", None, np.nan, pd.NA]),
    st.integers(0, 3),
    st.floats(0, 3),
)


@given(st.lists(IDS, max_size=30), st.booleans())
def test_distinct_ids_are_patient_ids(values: list, text_only: bool) -> None:
    if text_only:
        values = [v for v in values if isinstance(v, str) or v is None]
    series = pd.Series(values, dtype=object)
    index, distinct = _distinct_ids(series)
    got = np.where(index >= 0, distinct[np.maximum(index, 0)] if len(distinct) else "", "")
    assert got.tolist() == patient_ids(series).tolist()


@given(st.lists(IDS, min_size=1, max_size=30), st.integers(1, 4))
def test_split_chunks_every_row_of_a_candidate_once(values: list, chunk: int) -> None:
    patients = pd.DataFrame({"patient_id": pd.Series(values, dtype=object)})
    sessions = pd.DataFrame({"patient_id": pd.Series([*values[::-1], "other"], dtype=object)})
    split = split_cohort(patients, sessions, chunk)
    ids = patient_ids(patients["patient_id"]).to_numpy()
    candidates = sorted(set(ids) - {""})
    assert split.sizes == [
        min(chunk, len(candidates) - k) for k in range(0, len(candidates), chunk)
    ]
    assert len(split.errors) == int((ids == "").sum())
    s_ids = patient_ids(sessions["patient_id"]).to_numpy()
    for table_ids, rows in ((ids, split.patient_rows), (s_ids, split.session_rows)):
        seen = np.concatenate(rows) if rows else np.array([], dtype=int)
        assert sorted(seen.tolist()) == [i for i, x in enumerate(table_ids) if x in candidates]
        for k, r in enumerate(rows):  # chunk k holds candidates [k*chunk, (k+1)*chunk)
            assert set(table_ids[r]) <= set(candidates[k * chunk : (k + 1) * chunk])
            assert list(r) == sorted(r)


def test_named_columns_read_as_in_the_whole_table(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, None, 3], "b": ["x", None, "z"], "truth": [0.1, 0.2, 0.3]})
    df.to_parquet(tmp_path / "sessions.parquet")
    got = read_table(tmp_path, "sessions", columns={"b", "a", "not there"})
    pd.testing.assert_frame_equal(got, read_table(tmp_path, "sessions")[["a", "b"]])


TEXT_IDS = st.sampled_from(["pt-1", "pt-2", "pt-10", "", " pt-1", None])


@given(st.lists(TEXT_IDS, min_size=1, max_size=30), st.lists(TEXT_IDS, max_size=30))
def test_categorical_ids_split_and_read_back_as_text(values: list, extra: list) -> None:
    """Ids read from parquet as categoricals (unused categories too) give the same chunks, and
    each chunk's ids are the text column a plain read gives (None where missing)."""
    plain = pd.Series(values, dtype=object)
    cat = pd.Series(pd.Categorical(values, categories=sorted({*values, *extra} - {None})))
    s_plain = pd.Series([*values[::-1], "other"], dtype=object)
    s_cat = pd.Series(pd.Categorical(s_plain, categories=sorted(set(s_plain) - {None})))
    want = split_cohort(
        pd.DataFrame({"patient_id": plain}), pd.DataFrame({"patient_id": s_plain}), 2
    )
    got = split_cohort(pd.DataFrame({"patient_id": cat}), pd.DataFrame({"patient_id": s_cat}), 2)
    assert got.sizes == want.sizes and len(got.errors) == len(want.errors)
    for a, b in zip(got.patient_rows, want.patient_rows, strict=True):
        assert a.tolist() == b.tolist()
    for a, b in zip(got.session_rows, want.session_rows, strict=True):
        assert a.tolist() == b.tolist()
    for i in range(len(got.sizes)):
        for g, w in zip(got.chunk(i), want.chunk(i), strict=True):
            pd.testing.assert_frame_equal(g, w)


def test_categorical_read_is_the_plain_read_after_plain_text(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["b", None, "a", "b"], "n": [1, 2, 3, 4], "k": [5, 6, 7, 8]})
    df.to_parquet(tmp_path / "sessions.parquet")
    df.assign(patient_id=[1, 2, 3, 4]).to_parquet(tmp_path / "patients.parquet")
    got = read_table(tmp_path, "sessions", {"patient_id", "n"}, categorical=["patient_id", "n"])
    assert isinstance(got["patient_id"].dtype, pd.CategoricalDtype)
    assert got["n"].dtype == np.int64  # only text columns become categoricals
    got["patient_id"] = plain_text(got["patient_id"])
    pd.testing.assert_frame_equal(got, read_table(tmp_path, "sessions", {"patient_id", "n"}))
    ints = read_table(tmp_path, "patients", categorical=["patient_id"])  # not text: as it is
    pd.testing.assert_frame_equal(ints, read_table(tmp_path, "patients"))

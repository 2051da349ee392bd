"""A hypothesis fuzzer of batch cohorts: any bad cells, and the job still finishes.

The non-negotiable: one bad row never crashes a batch job; it is reported and the rest are scored.
Each case writes a small valid cohort (patients and sessions, CSV) with a few cells replaced by
arbitrary values - text in numbers, huge or negative numbers, odd dates, empty cells, other
vocabulary - and runs the pandas engine. The property: exit 0 (or 1 only when no patient is left
to score), every patient of the file either scored or named in the errors file (never both,
never lost), and only the contract's columns in the output.
Derandomised in CI (profile `ci`); `--hypothesis-profile=thorough` runs it deep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.settings import Settings
from serving.batch import OUTPUT_COLUMNS, errors_path, run_score
from tests.code.test_batch import make_cohort, write_cohort
from tests.fakes import fake_models

CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "NA",
            "nan",
            "inf",
            "-1",
            "1e308",
            "2026-02-30",
            "0001-01-01",
            "9999-12-31",
            "2026-03-01T25:00",
            "yes",
            "serious",
            "aerobic",
            "bone;;liver",
            ";",
            '"',
            "\n",
        ]
    ),
)


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_cohort(6, sessions_per_patient=5, seed=11)


@pytest.fixture(scope="module")
def settings_(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(root=tmp_path_factory.mktemp("batch-fuzz-root"))


@pytest.fixture(scope="module")
def models() -> Any:
    return fake_models()


@st.composite
def corrupted(
    draw: st.DrawFn, cohort: tuple[pd.DataFrame, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cohort with one to four cells replaced by arbitrary values (patients or sessions)."""
    patients, sessions = (df.astype(object).copy() for df in cohort)
    for _ in range(draw(st.integers(1, 4))):
        df = draw(st.sampled_from([patients, sessions]))
        row = draw(st.integers(0, len(df) - 1))
        col = draw(st.sampled_from(list(df.columns)))
        df.iat[row, df.columns.get_loc(col)] = draw(CELLS)
    return patients, sessions


@settings(
    max_examples=max(40, settings().max_examples // 10),
    suppress_health_check=list(HealthCheck),
    deadline=None,
)
@given(data=st.data())
def test_bad_cells_never_stop_the_job(
    data: st.DataObject,
    cohort: tuple[pd.DataFrame, pd.DataFrame],
    settings_: Settings,
    models: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    patients, sessions = data.draw(corrupted(cohort))
    work = tmp_path_factory.mktemp("case")
    folder = write_cohort(work / "cohort", patients, sessions, "csv")
    out = work / "scores.csv"
    code = run_score(settings_, folder, out, models=models, jobs=1)
    assert code in (0, 1), code
    errors = pd.read_csv(errors_path(out), keep_default_na=False, dtype=str)
    if code == 1:  # nothing scorable: no output, and the errors say why
        assert not out.exists() and len(errors) > 0
        return
    scored = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert tuple(scored.columns) == OUTPUT_COLUMNS
    assert scored["patient_id"].is_unique
    named = set(errors["patient_id"])
    assert not set(scored["patient_id"]) & named, "a patient both scored and in the errors"
    ids = set(pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)["patient_id"])
    lost = {i for i in ids if i} - set(scored["patient_id"]) - named
    assert not lost, f"patients neither scored nor reported: {sorted(lost)}"


def test_the_uncorrupted_cohort_scores_every_patient(
    cohort: tuple[pd.DataFrame, pd.DataFrame], settings_: Settings, models: Any, tmp_path: Path
) -> None:
    """Sanity check of the setup: without a bad cell every patient is scored."""
    folder = write_cohort(tmp_path / "cohort", *cohort, "csv")
    out = tmp_path / "scores.csv"
    assert run_score(settings_, folder, out, models=models, jobs=1) == 0
    assert len(pd.read_csv(out)) == cohort[0]["patient_id"].nunique()

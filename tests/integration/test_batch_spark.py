"""The Spark engine gives byte-identical output to the pandas engine (local Spark session).

One Spark session for the module (startup costs seconds); `run_score` reuses the active session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.settings import Settings
from serving.batch import errors_path, run_score
from tests.code.test_batch import BAD, inject_errors, make_cohort, write_cohort
from tests.fakes import fake_models

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from serving.batch.engine_spark import spark_session

    session, created = spark_session("local[2]", app_name="dosewise-tests")
    yield session
    if created:
        session.stop()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(root=tmp_path_factory.mktemp("root"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_spark_equals_pandas(fmt: str, spark: object, settings: Settings, tmp_path: Path) -> None:
    p, s = make_cohort(300, seed=11)
    if fmt == "csv":  # text in numeric columns only survives CSV
        p, s = inject_errors(p, s)
    else:
        current = p.groupby("patient_id")["as_of"].transform("max")
        p.loc[(p["patient_id"] == BAD["age"]) & (p["as_of"] == current), "age"] = 300
        s.loc[s.index[s["patient_id"] == BAD["rpe"]][0], "rpe"] = 40.0
    cohort = write_cohort(tmp_path / "cohort", p, s, fmt)
    out_pd, out_sp = tmp_path / f"pandas.{fmt}", tmp_path / f"spark.{fmt}"
    assert run_score(settings, cohort, out_pd, "pandas", chunk_size=50, models=fake_models()) == 0
    code = run_score(settings, cohort, out_sp, "spark", chunk_size=50, models=fake_models())
    assert code == 0
    if fmt == "csv":
        assert out_pd.read_bytes() == out_sp.read_bytes()
    else:
        pd.testing.assert_frame_equal(pd.read_parquet(out_pd), pd.read_parquet(out_sp))
    assert errors_path(out_pd).read_bytes() == errors_path(out_sp).read_bytes()
    scored = pd.read_csv(out_pd) if fmt == "csv" else pd.read_parquet(out_pd)
    n_bad = len(BAD) if fmt == "csv" else 2
    assert len(scored) == 300 - n_bad
    assert len(pd.read_csv(errors_path(out_sp))["patient_id"].unique()) == n_bad
    assert not list(tmp_path.glob(".dosewise-spark-*"))  # staging cleaned up


def test_spark_nothing_scorable_is_exit_1(spark: object, settings: Settings, tmp_path: Path):
    p, s = make_cohort(4, seed=2)
    p["cancer_type"] = "martian"
    cohort = write_cohort(tmp_path / "cohort", p, s, "parquet")
    out = tmp_path / "s.parquet"
    assert run_score(settings, cohort, out, "spark", models=fake_models()) == 1
    assert not out.exists()
    assert set(pd.read_csv(errors_path(out))["field"]) == {"cancer_type"}

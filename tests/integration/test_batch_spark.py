"""The Spark engine: reads, scores and writes in the executors, and holds the pandas engine's rows.

One local Spark session for the in-process tests (startup costs seconds; `run_score` reuses the
active session) and one standalone cluster (master + worker on 127.0.0.1, started from the
locked pyspark's own `spark-class`) for the test that runs the real CLI against it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.settings import Settings
from serving.batch import errors_path, finalize_errors, finalize_scored, run_score
from tests.code.test_batch import BAD, inject_errors, make_cohort, write_cohort
from tests.fakes import fake_models
from tests.spark_cluster import SparkCluster, start_cluster

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """The standalone cluster every Spark test here runs on (started once, torn down)."""
    running = start_cluster(tmp_path_factory.mktemp("spark-cluster"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def spark(cluster: SparkCluster) -> Iterator[object]:
    """One driver session on the cluster; `run_score(spark_master=...)` reuses it."""
    from serving.batch.spark_session import spark_session

    session, created = spark_session(cluster.master_url, "dosewise-tests", cluster.driver_conf)
    yield session
    if created:
        session.stop()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(root=tmp_path_factory.mktemp("root"))


def read_dataset(folder: Path) -> pd.DataFrame:
    """A Spark output dataset (parquet or CSV parts) in the pandas engine's canonical form."""
    parts = sorted(folder.glob("part-*"))
    assert parts, f"no parts in {folder}"
    if folder.suffix == ".parquet":
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    else:
        frames = [pd.read_csv(p) for p in parts]
        # a column all empty in one part reads as float there: its dtype comes from the others
        trimmed = [f.dropna(axis=1, how="all") for f in frames]
        frame = pd.concat(trimmed, ignore_index=True).reindex(columns=frames[0].columns)
    return finalize_scored(frame)


def read_output(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return finalize_scored(frame)


def read_errors(path: Path) -> pd.DataFrame:
    files = sorted(path.glob("part-*")) if path.is_dir() else [path]
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]
    return finalize_errors(pd.concat(frames, ignore_index=True))


def invalid_cohort(tmp_path: Path, fmt: str, n: int = 300) -> tuple[Path, int]:
    """A cohort with invalid rows (text in numeric columns only survives CSV)."""
    p, s = make_cohort(n, seed=11)
    if fmt == "csv":
        p, s = inject_errors(p, s)
        n_bad = len(BAD)
    else:
        current = p.groupby("patient_id")["as_of"].transform("max")
        p.loc[(p["patient_id"] == BAD["age"]) & (p["as_of"] == current), "age"] = 300
        s.loc[s.index[s["patient_id"] == BAD["rpe"]][0], "rpe"] = 40.0
        n_bad = 2
    return write_cohort(tmp_path / "cohort", p, s, fmt), n_bad


def assert_same_as_pandas(cohort: Path, dataset: Path, settings: Settings, tmp_path: Path) -> int:
    """The Spark dataset holds the pandas engine's rows and values, and the same errors."""
    out_pd = tmp_path / f"pandas{dataset.suffix}"
    assert run_score(settings, cohort, out_pd, chunk_size=50, models=fake_models(), jobs=1) == 0
    expected = read_output(out_pd)
    pd.testing.assert_frame_equal(read_dataset(dataset), expected)
    pd.testing.assert_frame_equal(
        read_errors(errors_path(dataset)), read_errors(errors_path(out_pd))
    )
    return len(expected)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_spark_dataset_equals_pandas(
    fmt: str, cluster: SparkCluster, spark: object, settings: Settings, tmp_path: Path
) -> None:
    """On the standalone cluster: the executors' dataset holds the pandas engine's rows."""
    cohort, n_bad = invalid_cohort(tmp_path, fmt)
    out = tmp_path / f"spark.{fmt}"
    report = tmp_path / "report.html" if fmt == "parquet" else None
    code = run_score(settings, cohort, out, "spark", chunk_size=50, report=report,
                     spark_master=cluster.master_url, models=fake_models())  # fmt: skip
    assert code == 0
    if report is not None:  # built from the bounded sample the driver gets
        assert report.read_text().count("data:image/png;base64,") == 3
    assert spark.sparkContext.master == cluster.master_url  # type: ignore[attr-defined]
    apps = json.loads(urllib.request.urlopen(f"{cluster.ui_url}/json/", timeout=5).read())
    assert apps["aliveworkers"] == 1 and apps["activeapps"], apps  # ran on the cluster
    assert out.is_dir() and errors_path(out).is_dir()
    assert assert_same_as_pandas(cohort, out, settings, tmp_path) == 300 - n_bad
    assert len(read_errors(errors_path(out))["patient_id"].unique()) == n_bad
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]  # committed


def test_spark_nothing_scorable_is_exit_1(spark: object, settings: Settings, tmp_path: Path):
    p, s = make_cohort(4, seed=2)
    p["cancer_type"] = "martian"
    cohort = write_cohort(tmp_path / "cohort", p, s, "parquet")
    out = tmp_path / "s.parquet"
    out.mkdir()  # an earlier run's dataset must not pass for this run's
    assert run_score(settings, cohort, out, "spark", models=fake_models()) == 1
    assert not out.exists()
    assert set(read_errors(errors_path(out))["field"]) == {"cancer_type"}


def test_failed_spark_job_leaves_no_dataset(spark: object, settings: Settings, tmp_path: Path):
    p, s = make_cohort(20, seed=4)
    cohort = write_cohort(tmp_path / "cohort", p, s, "parquet")
    out = tmp_path / "s.parquet"
    code = run_score(settings, cohort, out, "spark", models=_Exploding())
    assert code == 2
    assert not out.exists()
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]


class _Exploding:
    """Models whose prediction raises inside the executors (a failing Spark task)."""

    def __init__(self) -> None:
        base = fake_models()
        self.tolerance = _Raise(base.tolerance)
        self.adherence = base.adherence


class _Raise:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name, self.version = "exploding", "0"

    def predict(self, X: object) -> object:
        raise RuntimeError("model failure inside an executor")

    def explain(self, X: object) -> object:
        return None

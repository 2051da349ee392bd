"""The pandas engine's compiled trees (`serving.batch.compiled`, lleaves) give LightGBM's
probabilities bit for bit: on every candidate row the search scores for test cohorts, on edge
values, and in the bytes `dosewise score` writes; a difference falls back to the booster."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from features.settings import Settings
from serving.batch import job, parse_as_of, run_score
from serving.batch.compiled import CompiledPredictor, cache_dir, compiled_models
from serving.batch.core import score_cohort
from serving.models import load_champions
from serving.policy import FEATURE_COLUMNS, Models
from serving.policy.config import PolicyConfig
from tests.code.test_batch import inject_errors, make_cohort, write_cohort


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, template_registry: Path) -> Settings:
    root = tmp_path_factory.mktemp("compiled-root")
    shutil.copytree(template_registry, root / "mlruns")
    return Settings(root=root)


@pytest.fixture(scope="module")
def models(settings: Settings) -> Models:
    return load_champions(settings)


@pytest.fixture(scope="module")
def compiled(models: Models, settings: Settings) -> Models:
    return compiled_models(models, settings, n_patients=0, force=True)


class Recorder:
    """A predictor that keeps every matrix it is asked about."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self.seen: list[np.ndarray] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(X, dtype=float))
        return self.inner.predict(X)

    def explain(self, X: np.ndarray) -> np.ndarray | None:
        return self.inner.explain(X)


def test_compiled_once_then_loaded_from_the_cache(
    models: Models, compiled: Models, settings: Settings
) -> None:
    assert isinstance(compiled.tolerance, CompiledPredictor)
    assert isinstance(compiled.adherence, CompiledPredictor)
    objects = sorted(cache_dir(settings).glob("*.o"))
    assert len(objects) == 2
    stamps = [p.stat().st_mtime_ns for p in objects]
    again = compiled_models(models, settings, n_patients=1)  # small cohort, but cached: used
    assert isinstance(again.tolerance, CompiledPredictor)
    assert [p.stat().st_mtime_ns for p in objects] == stamps  # not compiled again
    assert compiled_models(models, settings, 1, force=False) is models


def test_small_cohort_without_cache_writes_nothing(models: Models, tmp_path: Path) -> None:
    fresh = Settings(root=tmp_path)
    assert compiled_models(models, fresh, n_patients=10) is models
    assert not cache_dir(fresh).exists()


@pytest.mark.parametrize("seed", [3, 21])
def test_bit_identical_on_every_candidate_row(models: Models, compiled: Models, seed: int) -> None:
    """Every feature row the search scores for a cohort (both stages, both models)."""
    p, s = make_cohort(250, seed=seed)
    rec = Models(Recorder(models.tolerance), Recorder(models.adherence))
    assert len(score_cohort(p, s, parse_as_of(None, s), rec, PolicyConfig()).scored) > 200
    rows = np.vstack(rec.tolerance.seen)
    assert len(rows) > 1000
    for kind in ("tolerance", "adherence"):
        want = getattr(models, kind).predict(rows)
        got = getattr(compiled, kind).predict(rows)
        assert np.array_equal(want, got)
        assert getattr(compiled, kind).trusted  # no call fell back to the booster


def test_bit_identical_on_edge_values(models: Models, compiled: Models) -> None:
    """NaN, zeros, values LightGBM reads as zero, huge and negative values."""
    rng = np.random.default_rng(5)
    X = rng.normal(0, 50, size=(4000, len(FEATURE_COLUMNS)))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    X[rng.random(X.shape) < 0.05] = 1e-40
    X[rng.random(X.shape) < 0.02] = -1e300
    for kind in ("tolerance", "adherence"):
        want = getattr(models, kind).predict(X)
        assert np.array_equal(want, getattr(compiled, kind).predict(X))
        assert getattr(compiled, kind).trusted


def test_a_difference_falls_back_to_the_booster(models: Models) -> None:
    class Off:
        def predict(self, m: np.ndarray, n_jobs: int = 1) -> np.ndarray:
            return models.tolerance._booster.predict(m, num_threads=1) + 1e-12

    wrapped = CompiledPredictor(models.tolerance, Off(), raw=False)
    X = np.zeros((10, len(FEATURE_COLUMNS)))
    assert np.array_equal(wrapped.predict(X), models.tolerance.predict(X))
    assert not wrapped.trusted


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_batch_bytes_identical(
    models: Models,
    compiled: Models,
    settings: Settings,
    tmp_path: Path,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[Any] = []
    real = job.compiled_models

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        used.append(out.tolerance)
        return out

    monkeypatch.setattr(job, "compiled_models", spy)
    p, s = inject_errors(*make_cohort(300, seed=8))
    cohort = write_cohort(tmp_path / "cohort", p, s, "csv")
    outs = []
    for name, use in (("booster", False), ("compiled", True)):
        out = tmp_path / f"{name}.{fmt}"
        code = run_score(settings, cohort, out, models=models, jobs=2, chunk_size=70,
                         compiled=use)  # fmt: skip
        assert code == 0
        outs.append(out)
    assert not isinstance(used[0], CompiledPredictor) and isinstance(used[1], CompiledPredictor)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert (tmp_path / f"booster.{fmt}.errors").read_bytes() == (
        tmp_path / f"compiled.{fmt}.errors"
    ).read_bytes()

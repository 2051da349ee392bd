"""Compiled tree evaluation for the pandas engine: the champions' LightGBM trees as machine code.

Why: after the search was vectorised, LightGBM's `predict` is the largest cost left in batch
scoring (about 60 candidate rows per patient, two models). `lleaves` compiles a booster's trees
with LLVM and evaluates them about 4x faster on one core. It is used only where it gives the very
same probabilities as the booster:
- compiled without cache blocking (`fblocksize` = all trees), so the tree outputs are added in
  LightGBM's order and the sum is the same double, and with the same sigmoid (`llvm.exp` is the C
  library's `exp`, as LightGBM's `std::exp`); inputs LightGBM reads as zero (|x| <= 1e-35) are
  zeroed first;
- checked on every call: a spread of rows is also predicted by the booster, and any difference
  switches this model back to the booster for that call and the rest of the run (logged).
  `tests/model/test_compiled_trees.py` proves equality on whole test cohorts.

Compiling takes seconds to a minute per model (once per model version, CPU, lleaves and llvmlite
version): the object code is cached under the settings' data folder (`compiled-models/`), and a
model with no cached code is compiled only for a cohort large enough to pay for it
(`COMPILE_MIN_PATIENTS`), both models at once in two processes. Nothing is compiled at import.
REST keeps the booster: one patient's rows are too few to need it. Compilation failing for any
reason leaves the booster in place (logged): slower, never different.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from features.settings import Settings

log = logging.getLogger(__name__)

# A cohort smaller than this is scored by the boosters unless compiled code is cached: compiling
# two champions costs about 20-40 CPU seconds, which ~0.2 ms saved per patient repays at ~100,000
# patients; 20,000 keeps small jobs and tests quick.
COMPILE_MIN_PATIENTS = 20_000
_ZERO = 1e-35  # LightGBM's kZeroThreshold: smaller magnitudes are read as 0 (absent features)
_CHECK_ROWS = 32  # rows of every call also predicted by the booster


def cache_dir(settings: Settings) -> Path:
    """Where compiled models are kept (per model version; safe to delete)."""
    assert settings.data_dir is not None
    return settings.data_dir / "compiled-models"


def _booster_parts(predictor: Any) -> tuple[Any, bool] | None:
    """(LightGBM booster, raw scores wanted) of a registry predictor using its fast path, else
    None (fake models, the scikit-learn path)."""
    booster = getattr(predictor, "_booster", None)
    if booster is None or not getattr(predictor, "_fast", False):
        return None
    raw = getattr(predictor, "_calibrator", None) is not None and predictor._calibrate_raw
    return booster, bool(raw)


def _cache_key(model_text: str, raw: bool) -> str:
    """Everything the object code depends on: the trees, the output, the compilers, the CPU."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        features = ""
    parts = [model_text, f"raw={raw}", "fblocksize=all", "finline=1", version("lleaves"),
             version("llvmlite"), llvm.get_host_cpu_name(), features]  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Job:
    """One model to compile: its text file, where its object code goes, and how."""

    text: Path
    obj: Path
    raw: bool
    trees: int


def _compile_to_cache(job: _Job) -> None:
    """Compile one model to its object file (atomic: a temporary name, then renamed)."""
    import lleaves

    tmp = job.obj.with_name(f".{job.obj.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        model = lleaves.Model(model_file=str(job.text))
        model.compile(cache=str(tmp), raw_score=job.raw, fblocksize=max(job.trees, 1))
        os.replace(tmp, job.obj)
    finally:
        tmp.unlink(missing_ok=True)


def _load(job: _Job) -> Any:
    import lleaves

    model = lleaves.Model(model_file=str(job.text))
    model.compile(cache=str(job.obj), raw_score=job.raw, fblocksize=max(job.trees, 1))
    return model


def _as_lightgbm_reads(m: np.ndarray, block: int = 8192) -> np.ndarray:
    """The matrix as LightGBM reads it: magnitudes <= 1e-35 are zero (a copy only if any is
    there). Checked in blocks of rows, so the temporaries stay small and in cache."""
    for start in range(0, len(m), block):
        part = m[start : start + block]
        if ((np.abs(part) <= _ZERO) & (part != 0)).any():
            return np.where((np.abs(m) <= _ZERO) & (m != 0), 0.0, m)
    return m


@dataclass
class CompiledPredictor:
    """A registry predictor whose `predict` runs the compiled trees (checked against the booster
    on every call); `explain` and everything else are the predictor's own."""

    inner: Any
    compiled: Any
    raw: bool
    trusted: bool = field(default=True)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    def __getattr__(self, attr: str) -> Any:  # columns, model, ... of the inner predictor
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def predict(self, X: Any) -> np.ndarray:
        if not self.trusted:
            return self.inner.predict(X)
        m = _as_lightgbm_reads(np.ascontiguousarray(self.inner._matrix(X), dtype=np.float64))
        score = self.compiled.predict(m, n_jobs=1)
        if len(m):
            at = np.unique(np.linspace(0, len(m) - 1, min(len(m), _CHECK_ROWS)).astype(np.int64))
            want = self.inner._booster.predict(m[at], raw_score=self.raw, num_threads=1)
            if not np.array_equal(np.asarray(want, dtype=np.float64), score[at]):
                log.warning("%s: compiled trees differ from LightGBM; using LightGBM", self.name)
                self.trusted = False
                return self.inner.predict(X)
        calibrator = getattr(self.inner, "_calibrator", None)
        if calibrator is None:
            return score
        from serving.models import _calibrate

        return np.clip(_calibrate(calibrator, score), 0.0, 1.0)

    def explain(self, X: Any) -> np.ndarray | None:
        return self.inner.explain(X)


def compiled_models(
    models: Any,
    settings: Settings,
    n_patients: int,
    force: bool | None = None,
    say: Callable[[str], None] | None = None,
) -> Any:
    """`models` with each LightGBM champion's trees compiled (see the module docstring), or
    `models` itself when nothing is compiled. `force`: None = compile when cached or when the
    cohort has at least COMPILE_MIN_PATIENTS patients; True = always; False = never."""
    if force is False:
        return models
    parts = {k: _booster_parts(getattr(models, k)) for k in ("tolerance", "adherence")}
    if not any(parts.values()):
        return models
    try:
        import lleaves  # noqa: F401
    except ImportError:  # pragma: no cover - lleaves is a locked dependency
        return models
    folder = cache_dir(settings)
    jobs: dict[str, _Job] = {}
    texts: dict[str, str] = {}
    try:
        for kind, part in parts.items():
            if part is None:
                continue
            booster, raw = part
            model = getattr(models, kind)
            texts[kind] = booster.model_to_string()
            path = folder / f"{model.name}-v{model.version}-{_cache_key(texts[kind], raw)}"
            jobs[kind] = _Job(path.with_suffix(".txt"), path.with_suffix(".o"), raw,
                              booster.num_trees())  # fmt: skip
        missing = [j for j in jobs.values() if not (j.obj.exists() and j.text.exists())]
        if missing and not (force or n_patients >= COMPILE_MIN_PATIENTS):
            return models  # nothing written
        folder.mkdir(parents=True, exist_ok=True)
        for kind, job in jobs.items():
            if not job.text.exists():  # lleaves reads the model from a file
                tmp = job.text.with_name(f".{job.text.name}.{os.getpid()}.tmp")
                tmp.write_text(texts[kind])
                os.replace(tmp, job.text)
        if missing and say is not None:
            say(f"compiling {len(missing)} model(s) once for this version, into {folder} ...")
        _compile_all(missing)
        loaded = {kind: _load(job) for kind, job in jobs.items()}
    except Exception as exc:
        log.warning("compiling the models failed (%s); scoring with LightGBM", exc)
        return models
    wrapped = {
        kind: CompiledPredictor(getattr(models, kind), loaded[kind], jobs[kind].raw)
        if kind in loaded
        else getattr(models, kind)
        for kind in ("tolerance", "adherence")
    }
    return type(models)(**wrapped)


def _compile_all(jobs: list[_Job]) -> None:
    """Compile models in parallel processes (one per model, at most the cores), then nothing
    is left but their object files."""
    if not jobs:
        return
    workers = min(len(jobs), max(1, len(os.sched_getaffinity(0))))
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            _compile_to_cache(job)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_compile_to_cache, jobs)

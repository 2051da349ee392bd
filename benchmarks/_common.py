"""Shared helpers of the benchmarks: a registry with champions, timing summaries."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# `python benchmarks/x.py` puts benchmarks/ first on sys.path, where features.py would shadow the
# features package: put the project root first.
sys.path.insert(0, str(ROOT))


def settings_with_champions(root: Path | None, patients: int = 1500, weeks: int = 12):
    """Settings whose registry has champions: the given root's, or a small one trained now."""
    from features.settings import Settings
    from training.registry import has_champion
    from training.train import run_training

    settings = Settings(root=root) if root else Settings()
    if has_champion(settings):
        return settings
    tmp = Path(tempfile.mkdtemp(prefix="dosewise-bench-"))
    print(f"no champion under {settings.root}: training a small one ({patients}x{weeks}) in {tmp}")
    settings = Settings(root=tmp, default_patients=patients, default_weeks=weeks)
    run_training(settings, None, seed=3)
    return settings


def time_calls(fn: Callable[[], object], n: int, warmup: int = 5) -> np.ndarray:
    """Wall time of n calls in milliseconds."""
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def pct(ms: np.ndarray) -> str:
    return f"p50 {np.percentile(ms, 50):7.3f} ms  p99 {np.percentile(ms, 99):7.3f} ms"

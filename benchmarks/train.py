"""Training time for the default cohort size, and how it grows with the number of patients.

    uv run python benchmarks/train.py [--sizes 1000,5000,20000] [--weeks 16] [--seed 21]

For each size: simulate (not timed), then time `run_training` end to end (examples, both
LightGBM models with early stopping and calibration, baselines, evaluation, MLflow logging and
registration, promotion) into a fresh registry. Prints seconds, examples/s and the growth
relative to the smallest size. Goal: 5,000 patients x 16 weeks under 3 minutes here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ROOT  # noqa: F401 - puts the project root on sys.path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--weeks", type=int, default=16)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()

    from rich.console import Console

    from features.settings import Settings
    from training.calibration import write_cohort
    from training.simulator import simulate_cohort
    from training.train import run_training

    quiet = Console(quiet=True)
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="dosewise-train-bench-") as tmp:
            cohort = Path(tmp) / "cohort"
            patients, sessions = simulate_cohort(n_patients=n, weeks=args.weeks, seed=args.seed)
            write_cohort(patients, sessions, cohort)
            t = time.perf_counter()
            summary = run_training(Settings(root=Path(tmp)), cohort, args.seed, console=quiet)
            secs = time.perf_counter() - t
        n_ex = sum(m["metrics"]["n_test"] / 0.2 for m in summary["models"].values())
        auc = {k: m["metrics"]["auroc"] for k, m in summary["models"].items()}
        rows.append((n, len(sessions), secs, n_ex, auc))
        print(
            f"{n:>7,} patients {len(sessions):>10,} sessions: {secs:7.1f} s "
            f"(~{n_ex / secs:,.0f} examples/s) auroc tol {auc['tolerance']:.3f} "
            f"adh {auc['adherence']:.3f}",
            flush=True,
        )
    base = rows[0]
    print("\ngrowth relative to the smallest size:")
    for n, _, secs, _, _ in rows:
        print(f"  {n / base[0]:5.1f}x patients -> {secs / base[2]:5.2f}x time")


if __name__ == "__main__":
    main()

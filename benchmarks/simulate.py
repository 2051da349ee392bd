"""Simulator throughput: open loop at two sizes and closed loop with a trivial fixed policy.

Run with `uv run python benchmarks/simulate.py`; the 10,000 x 24 open-loop run must take < 60 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on sys.path, where benchmarks/features.py would
# shadow the `features` package: put the project root first instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from training.simulator import Simulator, simulate_cohort  # noqa: E402

BUDGET_S = 60.0


def fixed(snapshot: pd.DataFrame, history: pd.DataFrame, week: pd.Timestamp) -> pd.DataFrame:
    """Guideline dose for everyone (the cheapest possible closed-loop policy)."""
    plan = {
        "aerobic_sessions": 3,
        "aerobic_minutes": 30.0,
        "aerobic_pct_hrmax": 70.0,
        "resistance_sessions": 2,
        "resistance_sets": 2,
        "resistance_reps": 12,
        "resistance_pct_1rm": 60.0,
    }
    return pd.DataFrame({"patient_id": snapshot["patient_id"]}).assign(**plan)


def main() -> None:
    console = Console()
    table = Table(title="Simulator benchmark")
    for col in ("run", "patients x weeks", "seconds", "patient-weeks", "sessions", "sessions/s"):
        table.add_column(col, justify="right" if col != "run" else "left")
    slow = []
    for name, n, weeks, policy in (
        ("open loop", 2_000, 16, None),
        ("open loop", 10_000, 24, None),
        ("closed loop (fixed policy)", 10_000, 24, fixed),
    ):
        t0 = time.perf_counter()
        if policy is None:
            patients, sessions = simulate_cohort(n_patients=n, weeks=weeks, seed=1)
        else:
            patients, sessions = Simulator(n, seed=1).run(weeks, policy=policy)
        dt = time.perf_counter() - t0
        table.add_row(
            name,
            f"{n:,} x {weeks}",
            f"{dt:.1f}",
            f"{len(patients):,}",
            f"{len(sessions):,}",
            f"{len(sessions) / dt:,.0f}",
        )
        if n == 10_000 and policy is None and dt >= BUDGET_S:
            slow.append(dt)
    console.print(table)
    if slow:
        console.print(
            f"[bold red]10,000 x 24 took {slow[0]:.1f} s, over the {BUDGET_S:.0f} s budget[/]"
        )
        raise SystemExit(1)
    console.print(f"[green]10,000 x 24 open loop is within the {BUDGET_S:.0f} s budget[/]")


if __name__ == "__main__":
    main()

"""`dosewise simulate`: simulate a cohort with a progress bar, write it, print the calibration."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.io import folder_problem
from training.calibration import calibration_report, print_calibration, write_cohort
from training.simulator import Simulator


def run_simulate(
    patients: int, weeks: int, seed: int, out: Path, console: Console | None = None
) -> int:
    """Simulate `patients` x `weeks` (seed), write `out/`, print the table; 0 even on misses
    (they are printed in red and recorded in calibration.json); 2 when `out` cannot be written
    (checked first)."""
    console = console or Console(stderr=True)
    problem = folder_problem(Path(out))
    if problem:
        console.print(f"[red]error:[/] {problem}")
        return 2
    sim = Simulator(n_patients=patients, seed=seed)
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{patients} patients", total=weeks)
        pts, sessions = sim.run(weeks, on_week=lambda _: progress.advance(task))
    rows = calibration_report(pts, sessions)
    write_cohort(pts, sessions, Path(out), rows)
    console.print(
        f"Wrote {len(pts):,} patient-weeks and {len(sessions):,} planned sessions to {out}"
    )
    print_calibration(rows, console)
    return 0

"""The closed loop: every arm on the same simulated patients, then metrics and paired differences.

Each arm gets its own `Simulator(n, seed, params)`: same seed, same patients, same bad days and
coin flips (common random numbers), so arm differences are paired and bootstrapped by patient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from evaluation.arms import ARM_FACTORIES, ArmEnv, ArmFactory
from evaluation.metrics import (
    SUBGROUPS,
    arm_metrics,
    bootstrap_counts,
    paired_difference,
    patient_frame,
    trajectories,
)
from features.labels import tolerated
from training.sim_params import PHASES, SimParams
from training.simulator import Simulator
from training.simulator.cohort import STAGES
from training.simulator.scenarios import scenario_params

REFERENCE_ARM = "fixed"


@dataclass
class ArmRun:
    """One arm's simulation: per-patient outcomes, weekly log, violation examples."""

    name: str
    patients: pd.DataFrame
    log: pd.DataFrame
    violation_examples: list[str]


def baseline_frame(sim: Simulator) -> pd.DataFrame:
    """Who each patient is at enrolment: subgroup flags and true fitness and strength."""
    c = sim.c
    phase = np.asarray(c.phase)
    return pd.DataFrame(
        {
            "patient_id": c.patient_id.astype(str),
            "vo2": c.vo2,
            "strength": c.strength,
            "on_chemotherapy": phase == PHASES.index("chemotherapy"),
            "stage_iv_or_palliative": (np.asarray(c.stage) == STAGES.index("IV"))
            | (phase == PHASES.index("palliative")),
            "sarcopenic": np.asarray(c.sarcopenia, dtype=bool),
            "ecog_2": np.asarray(c.ecog) == 2,
            "age_70_plus": np.asarray(c.age) >= 70,
        }
    )


def final_frame(sim: Simulator) -> pd.DataFrame:
    """True fitness, strength and dropout at the end of the run (after the last week)."""
    return pd.DataFrame(
        {
            "patient_id": sim.c.patient_id.astype(str),
            "vo2": sim.vo2,
            "strength": sim.strength,
            "dropped": sim.dropped,
        }
    )


def run_arm(
    name: str,
    factory: ArmFactory,
    env: ArmEnv,
    n_patients: int,
    weeks: int,
    seed: int,
    params: SimParams | None = None,
    on_week: Callable[[int], None] | None = None,
) -> ArmRun:
    """Simulate one arm; its policy sees what a clinic sees, `env.truth` is the simulator's."""
    sim = Simulator(n_patients=n_patients, seed=seed, params=params)
    arm = factory(replace(env, truth=sim.true_probabilities))
    _, sessions = sim.run(weeks, policy=arm, on_week=on_week)
    log = arm.log()
    frame = patient_frame(baseline_frame(sim), final_frame(sim), log, sessions, tolerated(sessions))
    return ArmRun(name, frame, log, list(arm.violation_examples))


def summarise(
    runs: Mapping[str, ArmRun], weeks: int, replicates: int, boot_seed: int
) -> dict[str, Any]:
    """Arm metrics, subgroup metrics, trajectories and paired differences vs the fixed arm."""
    out: dict[str, Any] = {"arms": {}, "subgroups": {g: {} for g in SUBGROUPS}}
    for name, run in runs.items():
        out["arms"][name] = arm_metrics(run.patients, weeks)
        for g in SUBGROUPS:
            out["subgroups"][g][name] = arm_metrics(run.patients[run.patients[g]], weeks)
    out["trajectories"] = {name: trajectories(run.log) for name, run in runs.items()}
    out["violation_examples"] = {n: r.violation_examples for n, r in runs.items()}
    ref = runs.get(REFERENCE_ARM)
    out["differences"] = {}
    out["subgroup_differences"] = {g: {} for g in SUBGROUPS}
    if ref is None:
        return out
    counts = bootstrap_counts(len(ref.patients), replicates, boot_seed)
    for name, run in runs.items():
        if name == REFERENCE_ARM:
            continue
        key = f"{name}-{REFERENCE_ARM}"
        out["differences"][key] = paired_difference(run.patients, ref.patients, weeks, counts)
        for g in SUBGROUPS:
            mask = ref.patients[g].to_numpy(bool)
            out["subgroup_differences"][g][key] = paired_difference(
                run.patients, ref.patients, weeks, counts, mask
            )
    return out


def progress_columns(unit: str) -> tuple[Any, ...]:
    """A rich progress bar's columns: what, bar, done/total `unit`, elapsed."""
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} " + unit),
        TimeElapsedColumn(),
    )


def run_evaluation(
    env: ArmEnv,
    n_patients: int,
    weeks: int,
    seed: int,
    scenario: str = "base",
    params: SimParams | None = None,
    arms: Mapping[str, ArmFactory] | None = None,
    replicates: int = 1000,
    boot_seed: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Simulate every arm on the same patients (same seed) and summarise; JSON-able result.
    `params` default to the named scenario's (`scenario_params`)."""
    if params is None:
        params = scenario_params(scenario)
    console = console or Console(stderr=True)
    arms = dict(ARM_FACTORIES if arms is None else arms)
    boot_seed = seed if boot_seed is None else boot_seed
    runs: dict[str, ArmRun] = {}
    with Progress(*progress_columns("weeks"), console=console) as progress:
        tasks = {name: progress.add_task(f"arm {name}", total=weeks) for name in arms}
        for name, factory in arms.items():
            task = tasks[name]

            def advance(_week: int, task: Any = task) -> None:
                progress.advance(task)

            runs[name] = run_arm(name, factory, env, n_patients, weeks, seed, params, advance)
    result: dict[str, Any] = {
        "scenario": scenario,
        "patients": n_patients,
        "weeks": weeks,
        "seed": seed,
        "bootstrap": {"replicates": replicates, "seed": boot_seed, "level": 0.95},
    }
    return result | summarise(runs, weeks, replicates, boot_seed)

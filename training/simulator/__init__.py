"""Seeded cohort simulator with known ground truth (DESIGN.md section 4; see training/SIMULATOR.md).

Usage: ``patients, sessions = simulate_cohort(n_patients=2000, weeks=16, seed=11)``; closed loop:
``Simulator(n_patients, seed).run(weeks, policy)``.
"""

from training.simulator.engine import (
    DEFAULT_START,
    TRUTH_PATIENT_COLUMNS,
    TRUTH_SESSION_COLUMNS,
    Policy,
    Simulator,
    simulate_cohort,
)
from training.simulator.plan import default_week_plan, empty_plan
from training.simulator.rules import (
    PLAN_COLUMNS,
    hold_mask,
    refer_mask,
    target_rpe_band,
    target_rpe_high,
    tolerated_label,
)

__all__ = [
    "DEFAULT_START",
    "PLAN_COLUMNS",
    "TRUTH_PATIENT_COLUMNS",
    "TRUTH_SESSION_COLUMNS",
    "Policy",
    "Simulator",
    "default_week_plan",
    "empty_plan",
    "hold_mask",
    "refer_mask",
    "simulate_cohort",
    "target_rpe_band",
    "target_rpe_high",
    "tolerated_label",
]

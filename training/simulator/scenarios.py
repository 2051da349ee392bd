"""Named stress scenarios: each changes ONE assumption of the simulator (training/SIMULATOR.md).

The simulator's dose-response is our own assumption, so a policy must also be judged in worlds it
was not trained on. A scenario is a function of the base parameters; `scenario_params(name)` gives
the `SimParams` to pass to `Simulator(params=...)`. Everything else (seeds, streams, the engine)
is unchanged, so a scenario is as deterministic per seed as the base simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from training.sim_params import PARAMS, PHASES, SimParams


@dataclass(frozen=True)
class Scenario:
    name: str
    changes: str  # what it changes, in one line (the long form is in SIMULATOR.md)
    apply: Callable[[SimParams], SimParams]


def _base(p: SimParams) -> SimParams:
    return p


def _long_sessions_harder(p: SimParams) -> SimParams:
    """Session length costs tolerance earlier and more steeply (capacity 35 -> 25 min, weight
    0.5 -> 1.2)."""
    return replace(p, tolerance=replace(p.tolerance, minutes_capacity=25.0, minutes_weight=1.2))


def _advanced_cohort(p: SimParams) -> SimParams:
    """Older (+10 years), mostly stage IV, and chemotherapy-heavy patients enrol."""
    mix = p.mix
    phase_w = list(mix.phase_w)
    phase_w[PHASES.index("chemotherapy")] *= 2.0
    phase_w[PHASES.index("palliative")] *= 2.0
    return replace(
        p,
        mix=replace(
            mix,
            age_mean=tuple(a + 10.0 for a in mix.age_mean),
            stage_p=(0.05, 0.10, 0.20, 0.65),
            phase_w=tuple(phase_w),
        ),
    )


def _hidden_confounder(p: SimParams) -> SimParams:
    """The person-level tolerance trait is three times larger (logit SD 0.3 -> 0.9) and shows in
    nothing the clinic records (not in the 6MWT, not in RPE)."""
    return replace(
        p,
        baseline=replace(p.baseline, tolerance_trait_sd=0.9),
        obs=replace(p.obs, walk_per_trait_sd=0.0),
        tolerance=replace(p.tolerance, rpe_per_trait_sd=0.0),
    )


def _weak_dose_tolerance(p: SimParams) -> SimParams:
    """Dose matters less for tolerance: every overload weight x 0.3 (intensity, minutes, %1RM,
    sets, reps); the day's state and the person matter as before."""
    t = p.tolerance
    return replace(
        p,
        tolerance=replace(
            t,
            intensity_weight=0.3 * t.intensity_weight,
            minutes_weight=0.3 * t.minutes_weight,
            resistance_weight=0.3 * t.resistance_weight,
            per_set_over_2=0.3 * t.per_set_over_2,
            per_rep_over_12=0.3 * t.per_rep_over_12,
        ),
    )


def _intensity_driven_fitness(p: SimParams) -> SimParams:
    """VO2peak responds to intensity more than to minutes: the aerobic stimulus uses the squared
    intensity factor (exponent 1 -> 2; 70% HRmax unchanged, light minutes count far less,
    vigorous ones more)."""
    return replace(p, training=replace(p.training, aerobic_intensity_exponent=2.0))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("base", "the calibrated simulator as trained on", _base),
        Scenario(
            "long-sessions-harder",
            "minutes penalty on tolerance bends at 25 min (was 35) and weighs 1.2 (was 0.5)",
            _long_sessions_harder,
        ),
        Scenario(
            "advanced-cohort",
            "age +10 y, stage IV 65% (was 22%), chemotherapy and palliative phases x2",
            _advanced_cohort,
        ),
        Scenario(
            "hidden-confounder",
            "tolerance trait SD 0.9 (was 0.3), invisible in 6MWT and RPE",
            _hidden_confounder,
        ),
        Scenario(
            "weak-dose-tolerance",
            "every dose term of tolerance x 0.3",
            _weak_dose_tolerance,
        ),
        Scenario(
            "intensity-driven-fitness",
            "aerobic stimulus uses intensity squared (exponent 2, was 1)",
            _intensity_driven_fitness,
        ),
    )
}


def scenario_params(name: str, base: SimParams = PARAMS) -> SimParams:
    """The simulator parameters of scenario `name` (ValueError naming the known ones)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name].apply(base)

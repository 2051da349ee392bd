"""The outcome check of a promotion: before the champion pair changes, the Dosewise arm runs with
the champion pair and with the candidate pair on the same simulated patients (common random
numbers), in the base world and in one it was not trained on (long sessions harder to tolerate),
and the candidate must not cost VO2peak or strength, nor add adverse events or guideline
violations.

Why: the metric gate (AUROC, ECE on held-out rows) is blind to what the policy does with the
probabilities; session 13 found a calibration step that moved no gate metric and cost 4-6 points of
patients at the guideline target. The brief asks that every policy change be judged on outcomes in
the closed loop, and a new model is a policy change.

`training.train.promote` takes the check as a function (`OutcomeCheck`), so training never imports
the policy or this package; `dosewise train` and `dosewise promote` pass it in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import Progress

from evaluation.arms import ArmEnv, DosewiseArm, policy_config
from evaluation.loop import ArmRun, progress_columns, run_arm
from evaluation.metrics import arm_metrics, bootstrap_counts, paired_difference
from features.settings import Settings
from training.simulator.scenarios import scenario_params

# Not an evaluation seed (5, 6) nor a tuning seed (101-106): promotion never sees those patients.
OUTCOME_SEED = 31
SCENARIOS = ("base", "long-sessions-harder")


@dataclass(frozen=True)
class OutcomeGate:
    """How much worse than the champion pair the candidate may be (candidate minus champion,
    point estimates on the same patients). The margins absorb the noise of two model fits on
    equal data: retraining with another seed moves these by a few hundredths."""

    patients: int = 300
    weeks: int = 8
    seed: int = OUTCOME_SEED
    scenarios: tuple[str, ...] = SCENARIOS
    vo2_margin: float = 0.05  # mL/kg/min of mean VO2peak change
    strength_margin: float = 0.5  # percentage points of mean strength change
    ae_margin: float = 1.0  # moderate-or-serious adverse events per 100 patients


def outcome_check(
    settings: Settings, gate: OutcomeGate | None = None, console: Console | None = None
) -> Callable[[tuple[str, str], tuple[str, str]], tuple[bool, str]]:
    """The `OutcomeCheck` for `training.train.promote` (settings: the registry and the policy's
    thresholds; `gate` defaults from `promotion_outcome_patients` / `_weeks`)."""
    gate = gate or OutcomeGate(
        patients=settings.promotion_outcome_patients, weeks=settings.promotion_outcome_weeks
    )
    console = console or Console(stderr=True)

    def check(champion: tuple[str, str], candidate: tuple[str, str]) -> tuple[bool, str]:
        from serving.models import ModelUnavailableError, load_versions

        try:
            pairs = {"champion": load_versions(settings, champion)}
        except ModelUnavailableError as exc:  # e.g. trained on another feature set
            return True, f"not run: the champion pair cannot be served ({exc})"
        try:
            pairs["candidate"] = load_versions(settings, candidate)
        except ModelUnavailableError as exc:
            return False, f"kept: the candidate pair cannot be served ({exc})"
        failures, notes = [], []
        with Progress(*progress_columns("weeks"), console=console) as progress:
            for scenario in gate.scenarios:
                runs = {}
                for role, models in pairs.items():
                    task = progress.add_task(f"closed loop: {scenario}, {role}", total=gate.weeks)
                    env = ArmEnv(settings, policy_config(settings), lambda m=models: m)
                    runs[role] = run_arm(
                        "dosewise",
                        DosewiseArm,
                        env,
                        gate.patients,
                        gate.weeks,
                        gate.seed,
                        scenario_params(scenario),
                        lambda _w, t=task: progress.advance(t),
                    )
                bad, note = _compare(runs["candidate"], runs["champion"], scenario, gate)
                failures += bad
                notes.append(note)
        passed = not failures
        why = "; ".join(failures if failures else notes)
        return passed, ("" if passed else "kept: ") + why

    return check


def _compare(
    candidate: ArmRun, champion: ArmRun, scenario: str, gate: OutcomeGate
) -> tuple[list[str], str]:
    """(what the candidate lost beyond the margins, a one-line summary with 95% bootstrap
    intervals) in one scenario. The gate reads the point estimates: with common random numbers
    an equal pair differs by exactly 0, and the margins are what a retrain may cost."""
    counts = bootstrap_counts(len(champion.patients), 1000, gate.seed)
    diff = paired_difference(candidate.patients, champion.patients, gate.weeks, counts)
    cand = arm_metrics(candidate.patients, gate.weeks)
    d_vo2 = diff["vo2peak_change"]["estimate"]
    d_str = diff["strength_change_pct"]["estimate"]
    d_ae = diff["ae_moderate_or_serious_per_100_patients"]["estimate"]
    failures = []
    if d_vo2 < -gate.vo2_margin:
        failures.append(f"{scenario}: VO2peak change {d_vo2:+.3f} vs the champion pair")
    if d_str < -gate.strength_margin:
        failures.append(f"{scenario}: strength change {d_str:+.2f} points vs the champion pair")
    if d_ae > gate.ae_margin:
        failures.append(f"{scenario}: {d_ae:+.1f} adverse events per 100 patients")
    if cand["guideline_violations"] > 0:
        failures.append(f"{scenario}: {cand['guideline_violations']:.0f} guideline violations")
    vo2, ae = diff["vo2peak_change"], diff["ae_moderate_or_serious_per_100_patients"]
    note = (
        f"{scenario} VO2peak {d_vo2:+.3f} ({vo2['low']:+.3f} to {vo2['high']:+.3f}), strength "
        f"{d_str:+.2f}, AEs per 100 {d_ae:+.1f} ({ae['low']:+.1f} to {ae['high']:+.1f}; "
        f"{gate.patients} patients x {gate.weeks} weeks)"
    )
    return failures, note

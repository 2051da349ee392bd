"""The policy's tuning protocol as a command (`dosewise tune-policy`): a candidate configuration
against the fixed guideline dose on the tuning seeds, in the base simulator and the stress
scenarios, judged by the rule the defaults were chosen by (`PolicyConfig`'s docstring).

Why a command: the defaults are a choice on a frontier (fitness in the base world against
adverse events in worlds the models were not trained on), and whoever moves them must see the
same table, on the same seeds, by the same rule - never on the evaluation seeds (issue 10).
Each (seed, scenario) is one closed loop of the fixed arm and the candidate, plus the current
defaults when asked, on the same patients; the table reads them against fixed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import multiprocessing
import typing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import Progress

from evaluation.arms import ARM_FACTORIES, ArmEnv, ArmFactory, policy_config
from evaluation.loop import progress_columns
from features.settings import Settings
from serving.policy import PolicyConfig

TUNING_SEEDS = (101, 102, 103)
EVALUATION_SEEDS = (5, 6)  # issue 10's acceptance seeds: never tuned on
TUNING_SCENARIOS = ("base", "long-sessions-harder", "weak-dose-tolerance")
# Arms per (seed, scenario) beside fixed: `DEFAULTS` is today's PolicyConfig, side by side.
CANDIDATE, DEFAULTS = "candidate", "defaults"
AE = "ae_moderate_or_serious_per_100_patients"
ArmEnvFactory = Callable[[Settings], ArmEnv]  # settings -> models and policy of the loops


@dataclass(frozen=True)
class Rule:
    """The tuning rule (PolicyConfig's docstring, sessions 4-8)."""

    # In every stress scenario, moderate-or-serious AEs per 100 patients at least this share
    # under the fixed dose's: one seed's noise must not carry a candidate over fixed.
    stress_ae_margin: float = 0.025
    # In the base world, every subgroup's VO2peak change at least the fixed dose's minus this.
    subgroup_vo2_tolerance: float = 0.1


def parse_overrides(pairs: Sequence[str], base: PolicyConfig) -> dict[str, Any]:
    """`name=value` pairs as typed `PolicyConfig` overrides; a ValueError names the bad pair."""
    fields = {f.name: f for f in dataclasses.fields(PolicyConfig)}
    hints = typing.get_type_hints(PolicyConfig)
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ValueError(f"--set {pair!r}: expected name=value, e.g. aerobic_weight=3.5")
        if name not in fields:
            near = difflib.get_close_matches(name, list(fields), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise ValueError(f"--set {name}: not a PolicyConfig field{hint}")
        out[name] = _typed(name, text, hints[name], getattr(base, name))
    return out


def _typed(name: str, text: str, hint: Any, current: Any) -> Any:
    """`text` as the field's type (bool, int, float, or a tuple of floats)."""
    try:
        if hint is bool:
            low = text.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError("expected true or false")
            return low in ("true", "1", "yes")
        if hint is int:
            return int(text)
        if hint is float:
            value = float(text)
            if math.isnan(value):
                raise ValueError("NaN is not a setting")
            return value
        if isinstance(current, tuple):
            value = tuple(float(v) for v in text.strip("()").split(",") if v.strip())
            args = typing.get_args(hint)
            if args and Ellipsis not in args and len(value) != len(args):
                raise ValueError(f"expected {len(args)} comma-separated numbers")
            return value
    except ValueError as exc:
        raise ValueError(f"--set {name}={text}: {exc}") from None
    raise ValueError(f"--set {name}: its type {hint!r} cannot be set from the command line")


def check_seeds(seeds: Sequence[int]) -> None:
    """Tuning never sees the evaluation seeds (issue 10)."""
    bad = sorted(set(seeds) & set(EVALUATION_SEEDS))
    if bad:
        raise ValueError(
            f"--seeds {', '.join(map(str, bad))}: evaluation seeds are never tuned on "
            f"(issue 10); tune on others, e.g. {','.join(map(str, TUNING_SEEDS))}"
        )


def check_scenarios(scenarios: Sequence[str]) -> None:
    """Every scenario is one the simulator knows (ValueError naming the known ones)."""
    from training.simulator.scenarios import SCENARIOS

    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        name = repr(unknown[0]) if unknown else "(none)"
        raise ValueError(f"--scenarios: unknown scenario {name}; known: {', '.join(SCENARIOS)}")


def summary_row(result: Mapping[str, Any], arm: str) -> dict[str, Any]:
    """One arm of one closed loop, read against the fixed arm (the numbers the rule judges)."""
    fixed, mine = result["arms"]["fixed"], result["arms"][arm]
    groups = result["subgroups"]
    gaps = {
        g: groups[g][arm]["vo2peak_change"] - groups[g]["fixed"]["vo2peak_change"] for g in groups
    }
    finite = {g: v for g, v in gaps.items() if math.isfinite(v)}
    worst = min(finite, key=lambda g: finite[g]) if finite else None
    sarc = groups.get("sarcopenic", {})
    return {
        "scenario": result["scenario"],
        "seed": result["seed"],
        "arm": arm,
        "vo2peak_ratio": _ratio(mine["vo2peak_change"], fixed["vo2peak_change"]),
        "strength_gain": mine["strength_change_pct"] - fixed["strength_change_pct"],
        "sarcopenic_strength_gain": (
            sarc[arm]["strength_change_pct"] - sarc["fixed"]["strength_change_pct"]
            if sarc
            else math.nan
        ),
        "ae_per_100": mine[AE],
        "fixed_ae_per_100": fixed[AE],
        "ae_change": _change(mine[AE], fixed[AE]),
        "at_target": mine["at_target"],
        "dropout_change": mine["dropout"] - fixed["dropout"],
        "worst_subgroup": worst,
        "worst_subgroup_vo2_gap": finite[worst] if worst else math.nan,
        "guideline_violations": mine["guideline_violations"],
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _change(a: float, b: float) -> float:
    """Relative change of a over b (none over none: 0; some over none: infinite)."""
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b - 1.0


def failures(row: Mapping[str, Any], rule: Rule = Rule()) -> list[str]:
    """Why a row breaks the tuning rule (empty: it keeps it)."""
    out = []
    if row["guideline_violations"] > 0:
        out.append("guideline violations")
    if row["scenario"] == "base":
        if not row["ae_change"] <= 0:
            out.append("AEs over fixed")
        if not row["strength_gain"] >= 0:
            out.append("strength under fixed")
        if not row["sarcopenic_strength_gain"] >= 0:
            out.append("sarcopenic strength under fixed")
        if not row["worst_subgroup_vo2_gap"] >= -rule.subgroup_vo2_tolerance:
            tol = rule.subgroup_vo2_tolerance
            out.append(f"{row['worst_subgroup']} VO2peak under fixed - {tol:g}")
        if not row["dropout_change"] <= 0:
            out.append("dropout over fixed")
    elif not row["ae_change"] <= -rule.stress_ae_margin:
        out.append(f"AEs not {100 * rule.stress_ae_margin:g}% under fixed")
    return out


def _arms(cfg: PolicyConfig, defaults: PolicyConfig | None) -> dict[str, ArmFactory]:
    arms: dict[str, ArmFactory] = {"fixed": ARM_FACTORIES["fixed"]}
    arms[CANDIDATE] = _WithConfig(ARM_FACTORIES["dosewise"], cfg)
    if defaults is not None:
        arms[DEFAULTS] = _WithConfig(ARM_FACTORIES["dosewise"], defaults)
    return arms


@dataclass(frozen=True)
class _WithConfig:
    """An arm factory that runs with its own policy configuration (picklable for workers)."""

    factory: ArmFactory
    cfg: PolicyConfig

    def __call__(self, env: ArmEnv) -> Any:
        return self.factory(dataclasses.replace(env, cfg=self.cfg))


def settings_arm_env(settings: Settings) -> ArmEnv:
    """The champions of the project's registry (what `evaluate-policy` uses)."""
    from evaluation.run import arm_env

    return arm_env(settings)


def _run_one(
    env: ArmEnv,
    cfg: PolicyConfig,
    defaults: PolicyConfig | None,
    seed: int,
    scenario: str,
    patients: int,
    weeks: int,
) -> list[dict[str, Any]]:
    """One closed loop (no bootstrap: the rule reads point estimates) -> one row per arm."""
    from evaluation.loop import run_evaluation

    result = run_evaluation(
        env,
        patients,
        weeks,
        seed,
        scenario=scenario,
        arms=_arms(cfg, defaults),
        replicates=10,
        console=Console(quiet=True),
    )
    names = [CANDIDATE] + ([DEFAULTS] if defaults is not None else [])
    return [summary_row(result, arm) for arm in names]


_WORKER_ENV: list[ArmEnv] = []  # a worker process's environment (its models load once)


def _start_worker(settings: Settings, env_factory: ArmEnvFactory) -> None:
    _WORKER_ENV[:] = [env_factory(settings)]


def _run_in_worker(*args: Any) -> list[dict[str, Any]]:
    return _run_one(_WORKER_ENV[0], *args)


def tune(
    settings: Settings,
    overrides: Mapping[str, Any],
    seeds: Sequence[int] = TUNING_SEEDS,
    scenarios: Sequence[str] = TUNING_SCENARIOS,
    patients: int = 1000,
    weeks: int = 12,
    jobs: int = 1,
    compare_defaults: bool = True,
    rule: Rule = Rule(),
    env_factory: ArmEnvFactory = settings_arm_env,
    console: Console | None = None,
) -> dict[str, Any]:
    """Every (seed, scenario) closed loop of the candidate (the service's configuration with
    `overrides`), rows in (seed, scenario) order whatever `jobs` is, and the rule's verdict."""
    check_seeds(seeds)
    check_scenarios(scenarios)
    defaults = policy_config(settings)
    cfg = dataclasses.replace(defaults, **overrides)
    tasks = [(seed, sc) for seed in seeds for sc in scenarios]
    console = console or Console(stderr=True)
    args = (cfg, defaults if compare_defaults else None)
    rows: dict[tuple[int, str], list[dict[str, Any]]] = {}
    with Progress(*progress_columns("closed loops"), console=console) as progress:
        bar = progress.add_task("tuning", total=len(tasks))
        if jobs <= 1:
            env = env_factory(settings)  # models load once, on the first loop
            for seed, sc in tasks:
                rows[(seed, sc)] = _run_one(env, *args, seed, sc, patients, weeks)
                progress.advance(bar)
        else:
            ctx = multiprocessing.get_context("spawn")  # no forked OpenMP state
            with ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=ctx,
                initializer=_start_worker,
                initargs=(settings, env_factory),
            ) as pool:
                futures = {
                    pool.submit(_run_in_worker, *args, seed, sc, patients, weeks): (seed, sc)
                    for seed, sc in tasks
                }
                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    progress.advance(bar)
    flat = [r | {"failures": failures(r, rule)} for t in tasks for r in rows[t]]
    passed = {
        arm: all(not r["failures"] for r in flat if r["arm"] == arm)
        for arm in dict.fromkeys(r["arm"] for r in flat)
    }
    return {
        "overrides": dict(overrides),
        "seeds": list(seeds),
        "scenarios": list(scenarios),
        "patients": patients,
        "weeks": weeks,
        "rule": dataclasses.asdict(rule),
        "rows": flat,
        "passes": passed,
        "means": _means(flat),
        "policy": dataclasses.asdict(cfg),
    }


def _means(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per arm and scenario, the mean over seeds of the numbers the table shows."""
    keys = ("vo2peak_ratio", "strength_gain", "sarcopenic_strength_gain", "ae_change", "at_target")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        out.setdefault(r["arm"], {}).setdefault(r["scenario"], {})
    for arm, per in out.items():
        for sc in per:
            mine = [r for r in rows if r["arm"] == arm and r["scenario"] == sc]
            per[sc] = {k: sum(r[k] for r in mine) / len(mine) for k in keys}
    return out

"""The `evaluate-policy` job: models (champion or retrained), loop, report, MLflow run."""

from __future__ import annotations

import contextlib
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from rich.console import Console

from evaluation.arms import ARM_FACTORIES, OPTIONAL_ARMS, ArmEnv, policy_config
from evaluation.loop import run_evaluation
from features.settings import Settings


def arm_env(settings: Settings) -> ArmEnv:
    """Policy configuration from settings and the champions, loaded once on first use."""
    from serving.models import load_champions

    @lru_cache(maxsize=1)
    def load():
        return load_champions(settings)

    return ArmEnv(settings=settings, cfg=policy_config(settings), models_loader=load)


def run_command(
    settings: Settings,
    patients: int,
    weeks: int,
    seed: int,
    scenario: str,
    retrain: bool,
    report: Path | None,
    replicates: int,
    track: bool,
    console: Console,
    extra_arms: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Evaluate, write the report, log to MLflow (in the project registry's store).
    `extra_arms`: names of `OPTIONAL_ARMS` to run beside the standard ones."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        model_settings = settings
        if retrain:
            from evaluation.retrain import retrain_on_scenario

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dosewise-retrain-"))
            model_settings = retrain_on_scenario(
                settings, scenario, Path(tmp), settings.default_seed, console
            )
        env = arm_env(model_settings)
        result = run_evaluation(
            env,
            patients,
            weeks,
            seed,
            scenario=scenario,
            arms=ARM_FACTORIES | {name: OPTIONAL_ARMS[name] for name in extra_arms},
            replicates=replicates,
            console=console,
        )
    result["models"] = "retrained on the scenario" if retrain else "champion (base simulator)"
    result["policy"] = _policy_dict(env.cfg)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if report is not None:
        from evaluation.report import write_report

        write_report(report, result)
        console.print(f"report written to {report}")
    if track:
        from evaluation.tracking import log_evaluation

        run_id = log_evaluation(
            settings, result, env.cfg, report, {"retrain": retrain, "models": result["models"]}
        )
        console.print(f"MLflow run {run_id} (experiment dosewise-closed-loop)")
    return result


def _policy_dict(cfg: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)

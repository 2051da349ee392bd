"""Shared fixtures of the monitoring tests: one tiny trained registry (real champions with
their reference distributions stored at promotion) and simulated deployments on it, each made
once per session and small (200 patients a week, 5 weeks, 8-week programme)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from features.settings import Settings, apply_offline_environment

PATIENTS, WEEKS, AT_WEEK, PROGRAMME = 200, 5, 3, 8
START = dt.date(2026, 3, 2)
UNTIL = START + dt.timedelta(weeks=WEEKS, days=-1)


def deployment_config(shift: str, mode: str = "active", patients: int = PATIENTS):
    """The tests' deployment: PATIENTS a week, WEEKS weeks, the shift at AT_WEEK, seed 3."""
    from monitoring.deployment import DeploymentConfig

    return DeploymentConfig(
        patients, WEEKS, shift, AT_WEEK, seed=3, start=START, programme_weeks=PROGRAMME, mode=mode
    )


@pytest.fixture(scope="session")
def monitor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with a tiny trained registry (champions promoted, references stored)."""
    apply_offline_environment()
    from training.train import run_training

    root = tmp_path_factory.mktemp("monitor-root")
    run_training(Settings(root=root, default_patients=400, default_weeks=8), None, 7)
    return root


@pytest.fixture(scope="session")
def deployments(monitor_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """`deploy(shift, mode, patients)` -> the output folder of that simulated deployment (made
    once)."""
    from monitoring.simulate import run_simulate_deployment
    from serving.models import load_champions

    settings = Settings(root=monitor_root)
    models = load_champions(settings)
    made: dict[tuple[str, str, int], Path] = {}

    def deploy(shift: str, mode: str = "active", patients: int = PATIENTS) -> Path:
        key = (shift, mode, patients)
        if key not in made:
            out = tmp_path_factory.mktemp(f"deploy-{shift}-{mode}-{patients}")
            cfg = deployment_config(shift, mode, patients)
            run_simulate_deployment(settings, cfg, out, None, Console(quiet=True), models)
            made[key] = out
        return made[key]

    yield deploy
    for out in made.values():
        shutil.rmtree(out, ignore_errors=True)

"""`evaluate-policy --retrain`: train models on the scenario's own cohort, in a temporary registry.

The champion of the project registry is never touched: the scenario cohort, its MLflow store and
the models trained on it live under a temporary folder that is removed after the evaluation.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from features.settings import Settings


def temporary_settings(settings: Settings, root: Path) -> Settings:
    """The same settings with every path (data, MLflow store, artifacts, audit) under `root`."""
    root = Path(root).resolve()
    mlruns = root / "mlruns"
    return settings.model_copy(
        update={
            "root": root,
            "data_dir": root / "data",
            "mlruns_dir": mlruns,
            "mlflow_tracking_uri": f"sqlite:///{mlruns / 'mlflow.db'}",
            "mlflow_artifact_root": (mlruns / "artifacts").as_uri(),
            "audit_db_url": f"sqlite:///{root / 'data' / 'audit.db'}",
        }
    )


def retrain_on_scenario(
    settings: Settings, scenario: str, root: Path, seed: int, console: Console
) -> Settings:
    """Simulate the default-size cohort under `scenario`, train and promote into a registry
    under `root`; returns the settings that point at it."""
    from training.calibration import write_cohort
    from training.simulator import simulate_cohort
    from training.simulator.scenarios import scenario_params
    from training.train import run_training

    tmp = temporary_settings(settings, root)
    n, w = settings.default_patients, settings.default_weeks
    console.print(
        f"--retrain: simulating {n} x {w} weeks (seed {seed}) under scenario {scenario} and "
        f"training into a temporary registry ({tmp.mlruns_dir}); the champion is not touched"
    )
    patients, sessions = simulate_cohort(n, w, seed, params=scenario_params(scenario))
    data = tmp.data_dir / f"cohort-{scenario}-{n}x{w}-seed{seed}"
    write_cohort(patients, sessions, data)
    run_training(tmp, data, seed, do_promote=True, console=console)
    return tmp

"""Units of the training package: ECE, splits, promotion gate."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import expected_calibration_error, safe_auroc
from training.train import split_patients


def test_ece_is_zero_for_perfect_calibration_and_large_for_bad() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(200_000)
    y = (rng.random(200_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.1


def test_auroc_nan_with_one_class() -> None:
    assert np.isnan(safe_auroc(np.ones(10), np.linspace(0, 1, 10)))
    assert safe_auroc(np.array([0, 1]), np.array([0.1, 0.9])) == pytest.approx(1.0)


def test_patient_split_is_disjoint_complete_and_deterministic() -> None:
    ids = np.array([f"p{i}" for i in range(1000)] * 3)
    a, b = split_patients(ids, 7), split_patients(ids, 7)
    assert a == b
    assert not (a["train"] & a["test"]) and not (a["train"] & a["calibration"])
    assert a["train"] | a["test"] | a["calibration"] == set(ids)
    assert split_patients(ids, 8)["test"] != a["test"]


def test_adherence_examples_are_planned_sessions_predicted_at_the_week_start() -> None:
    """One example per planned session (attended or not), label = attended, oracle = p_attend,
    the prediction point = the week start, the candidate = that week's plan and modality."""
    from training.examples import assign_weeks, build_adherence_examples
    from training.simulator import simulate_cohort

    patients, sessions = simulate_cohort(n_patients=40, weeks=3, seed=4)
    ex = build_adherence_examples(patients, sessions)
    weeks = assign_weeks(patients, sessions)
    s = sessions[weeks.notna()]
    assert len(ex.frame) == len(s)
    assert ex.y.mean() == pytest.approx(s["attended"].mean())
    np.testing.assert_allclose(np.sort(ex.oracle), np.sort(s["p_attend"].to_numpy(float)))
    assert set(ex.frame["as_of"]) <= set(patients["as_of"])
    aer = (s["modality"] == "aerobic").mean()
    assert ex.frame["is_aerobic"].mean() == pytest.approx(aer)
    # frequency is not in the label: a week of 5 sessions all attended gives 5 positives
    assert set(ex.y) == {0, 1}


@pytest.mark.parametrize("where", ["a-file", "a-file/sub"])
def test_simulate_refuses_an_unwritable_folder_before_simulating(tmp_path, where, capsys) -> None:
    """`dosewise simulate --out` a path that cannot be a folder: exit 2 with the reason, in a
    second, instead of a traceback after the whole simulation."""
    from rich.console import Console

    from training.simulate import run_simulate

    (tmp_path / "a-file").write_text("x")
    console = Console(stderr=False, width=200)
    assert run_simulate(5, 2, 1, tmp_path / where, console=console) == 2
    out = capsys.readouterr().out
    assert "is not writable" in out and where in out


def test_train_refuses_a_bad_cohort_with_the_reason(cli_root) -> None:
    """`dosewise train --data` a folder without tables, or with tables off the schema: exit 2
    naming what is missing or which column fails which check (never the values), before any
    fitting; it was a traceback."""
    import pandas as pd
    from typer.testing import CliRunner

    from dosewise_cli import app
    from tests.code.test_batch import make_cohort

    runner = CliRunner()
    out = runner.invoke(app, ["train", "--data", str(cli_root / "nowhere"), "--no-promote"])
    # the message wraps at the terminal width wherever the path ends: compare words
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "has no patients.parquet or patients.csv" in text
    bad = cli_root / "bad"
    bad.mkdir()
    pd.DataFrame({"patient_id": ["a"]}).to_csv(bad / "patients.csv", index=False)
    pd.DataFrame({"patient_id": ["a"]}).to_csv(bad / "sessions.csv", index=False)
    out = runner.invoke(app, ["train", "--data", str(bad), "--no-promote"])
    assert out.exit_code == 2 and "missing columns: age" in " ".join(out.output.split())
    patients, sessions = make_cohort(4)
    patients = patients.astype({"ecog": object})
    patients.loc[0, "ecog"] = 9
    patients.to_csv(bad / "patients.csv", index=False)
    sessions.to_csv(bad / "sessions.csv", index=False)
    out = runner.invoke(app, ["train", "--data", str(bad), "--no-promote"])
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "ecog: must be <= 4 (1 row)" in text, text


def test_promote_without_models_says_so_and_exits_2(cli_root) -> None:
    """It printed "kept champion (challenger vNone, champion was vNone)" and exited 0."""
    from typer.testing import CliRunner

    from dosewise_cli import app

    out = CliRunner().invoke(app, ["promote"])
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "no challenger registered" in text and "vNone" not in text
    assert "run `dosewise train` first" in text

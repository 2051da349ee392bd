"""Issue #17, finding 8: every batch failure named by table and file, with the documented exit
code, FILE.errors written whenever rows or tables are rejected, the output folder checked before
scoring, no stale FILE after a failed run, and a table that ends mid-record reported as such."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from features.settings import Settings
from serving.batch import errors_path, run_score
from tests.code.test_batch import make_cohort, write_cohort
from tests.fakes import fake_models


class CountingModels:
    """fake_models() that count predictions (to prove nothing was scored)."""

    def __init__(self) -> None:
        self.inner = fake_models()
        self.calls = 0
        for part in ("tolerance", "adherence"):
            model = getattr(self.inner, part)
            setattr(self, part, self._counted(model))

    def _counted(self, model):
        outer = self

        class Counted:
            name, version = model.name, model.version

            def predict(self, X):
                outer.calls += 1
                return model.predict(X)

            def explain(self, X):
                return model.explain(X)

        return Counted()


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_cohort(40, seed=5)


def score(tmp_path: Path, cohort: Path, out: Path, models=None) -> tuple[int, str]:
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    code = run_score(
        Settings(root=tmp_path / "root"),
        cohort,
        out,
        models=models or fake_models(),
        console=console,
    )
    return code, console.export_text()


def errors_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(errors_path(out), keep_default_na=False)


def test_truncated_parquet_is_named(tmp_path: Path, frames) -> None:
    cohort = write_cohort(tmp_path / "c", *frames, "parquet")
    data = (cohort / "sessions.parquet").read_bytes()
    (cohort / "sessions.parquet").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "scores.parquet"
    code, text = score(tmp_path, cohort, out)
    assert code == 1
    assert "sessions table" in text and "sessions.parquet" in text and "mid-record" in text
    assert "Traceback" not in text
    errs = errors_of(out)
    assert list(errs["table"]) == ["sessions"] and not out.exists()


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_csv_ending_mid_record_is_reported(tmp_path: Path, frames, cut: float) -> None:
    cohort = write_cohort(tmp_path / "c", *frames, "csv")
    data = (cohort / "sessions.csv").read_bytes()
    end = int(len(data) * cut)
    if data[end - 1 : end] == b"\n":
        end -= 3
    (cohort / "sessions.csv").write_bytes(data[:end])
    out = tmp_path / "scores.csv"
    code, text = score(tmp_path, cohort, out)
    assert code == 1, text
    assert "sessions table" in text and "mid-record" in text
    assert list(errors_of(out)["table"]) == ["sessions"] and not out.exists()


def test_missing_required_column_writes_errors(tmp_path: Path, frames) -> None:
    patients, sessions = frames
    cohort = write_cohort(tmp_path / "c", patients.drop(columns=["age", "sex"]), sessions, "csv")
    out = tmp_path / "scores.csv"
    code, _ = score(tmp_path, cohort, out)
    assert code == 1
    errs = errors_of(out)
    assert set(zip(errs["table"], errs["field"], strict=True)) == {
        ("patients", "age"),
        ("patients", "sex"),
    }
    assert set(errs["reason"]) == {"required column missing"}


def test_no_stale_output_after_a_failed_run(tmp_path: Path, frames) -> None:
    good = write_cohort(tmp_path / "good", *frames, "csv")
    out = tmp_path / "scores.csv"
    assert score(tmp_path, good, out)[0] == 0 and out.exists()
    patients, sessions = frames
    bad_patients = patients.assign(age=500)  # every patient invalid: nothing scorable
    bad = write_cohort(tmp_path / "bad", bad_patients, sessions, "csv")
    code, _ = score(tmp_path, bad, out)
    assert code == 1
    assert not out.exists()  # the older FILE is gone: it is not this run's output
    assert set(errors_of(out)["patient_id"]) == set(patients["patient_id"])


def test_output_folder_checked_before_scoring(tmp_path: Path, frames) -> None:
    cohort = write_cohort(tmp_path / "c", *frames, "csv")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    models = CountingModels()
    code, text = score(tmp_path, cohort, blocker / "scores.csv", models)
    assert code == 2 and "not writable" in text and models.calls == 0
    assert "Traceback" not in text


def test_read_only_output_folder(tmp_path: Path, frames) -> None:
    """A read-only file system (root ignores chmod, so a read-only tmpfs is mounted)."""
    cohort = write_cohort(tmp_path / "c", *frames, "csv")
    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        ro.chmod(0o555)  # not root: permissions do the job
    try:
        models = CountingModels()
        code, text = score(tmp_path, cohort, ro / "scores.csv", models)
        assert code == 2 and "not writable" in text and models.calls == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(ro)], check=False)

"""The pandas engine on several processes (`--jobs`) and resumed after a kill (`--resume`):
both must write exactly the bytes of an uninterrupted one-process run."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from features.settings import Settings
from serving.batch import engine_pandas, errors_path, run_score
from serving.batch.checkpoint import checkpoint_dir
from serving.batch.validation import BatchError
from tests.code.test_batch import inject_errors, make_cohort, write_cohort
from tests.fakes import fake_models

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 40  # 300 patients, 7 invalid -> 8 chunks


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p, s = make_cohort(300, seed=21)
    p, s = inject_errors(p, s)
    return write_cohort(tmp_path_factory.mktemp("cohort"), p, s, "csv")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(root=tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def reference(cohort: Path, settings: Settings, tmp_path_factory) -> Path:
    """An uninterrupted single-process run."""
    out = tmp_path_factory.mktemp("ref") / "scores.csv"
    assert run_score(settings, cohort, out, chunk_size=CHUNK, models=fake_models(), jobs=1) == 0
    return out


def count_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the chunks this process scores (jobs=1 scores in process)."""
    calls: list[int] = []
    real = engine_pandas.score_range

    def counting(prep, start, stop, *args):  # type: ignore[no-untyped-def]
        calls.append(start)
        return real(prep, start, stop, *args)

    monkeypatch.setattr(engine_pandas, "score_range", counting)
    return calls


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_jobs_give_the_bytes_of_one_process(
    fmt: str, cohort: Path, settings: Settings, reference: Path, tmp_path: Path
) -> None:
    one, two = tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}"
    assert run_score(settings, cohort, one, chunk_size=CHUNK, models=fake_models(), jobs=1) == 0
    assert run_score(settings, cohort, two, chunk_size=CHUNK, models=fake_models(), jobs=2) == 0
    assert one.read_bytes() == two.read_bytes()
    assert errors_path(one).read_bytes() == errors_path(two).read_bytes()
    if fmt == "csv":
        assert two.read_bytes() == reference.read_bytes()
    assert not checkpoint_dir(two).exists()  # removed once FILE is committed


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from features.settings import Settings
from serving.batch import run_score
from serving.batch.checkpoint import Checkpoint
from tests.fakes import fake_models

save = Checkpoint.save
saved = []

def save_then_die(self, index, rows):
    save(self, index, rows)
    saved.append(index)
    if len(saved) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # killed half-way, after 3 checkpoints

Checkpoint.save = save_then_die
run_score(Settings(root=sys.argv[3]), Path(sys.argv[1]), Path(sys.argv[2]),
          chunk_size=int(sys.argv[4]), models=fake_models(), jobs=2)
"""


def test_killed_run_resumes_to_the_same_bytes(
    cohort: Path,
    settings: Settings,
    reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "scores.csv"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(cohort), str(out), str(tmp_path), str(CHUNK)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,  # the workers die with the killed job, so its stderr closes
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert not out.exists()
    saved = sorted(checkpoint_dir(out).glob("chunk-*.parquet"))
    assert len(saved) == 3
    calls = count_chunks(monkeypatch)
    code = run_score(
        settings, cohort, out, chunk_size=CHUNK, models=fake_models(), jobs=1, resume=True
    )
    assert code == 0
    assert len(calls) == 8 - 3  # only the chunks not checkpointed were scored
    assert out.read_bytes() == reference.read_bytes()
    assert errors_path(out).read_bytes() == errors_path(reference).read_bytes()
    assert not checkpoint_dir(out).exists()


def test_resume_ignores_a_checkpoint_of_another_run(
    cohort: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "scores.csv"
    folder = checkpoint_dir(out)
    folder.mkdir()
    (folder / "manifest.json").write_text('{"key": "another run"}')
    (folder / "chunk-000000.parquet").write_bytes(b"not these rows")
    calls = count_chunks(monkeypatch)
    code = run_score(
        settings, cohort, out, chunk_size=CHUNK, models=fake_models(), jobs=1, resume=True
    )
    assert code == 0
    assert len(calls) == 8


def fail_at_chunk(monkeypatch: pytest.MonkeyPatch, bad: int) -> None:
    """Chunk `bad` fails as a dead worker does (exit 2); the chunks before it finish."""
    real = engine_pandas.score_chunk

    def failing(split, i, *args):  # type: ignore[no-untyped-def]
        if i == bad:
            raise BatchError("a scoring worker process died (test)")
        return real(split, i, *args)

    monkeypatch.setattr(engine_pandas, "score_chunk", failing)


@pytest.mark.parametrize("resume", [True, False])
def test_a_failed_run_keeps_its_checkpoints_for_resume_only(
    cohort: Path,
    settings: Settings,
    reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    resume: bool,
) -> None:
    """Checkpoints are written by every run (nobody asks for them before a kill), kept after a
    failure, reused only with --resume (a run without it says it discards them), and removed
    once FILE is written."""
    out = tmp_path / "scores.csv"
    with monkeypatch.context() as m:
        fail_at_chunk(m, 4)
        code = run_score(settings, cohort, out, chunk_size=CHUNK, models=fake_models(), jobs=1)
    assert code == 2 and not out.exists()
    assert len(list(checkpoint_dir(out).glob("chunk-*.parquet"))) == 4
    calls = count_chunks(monkeypatch)
    said = io.StringIO()
    code = run_score(settings, cohort, out, chunk_size=CHUNK, models=fake_models(), jobs=1,
                     resume=resume, console=Console(file=said, width=200))  # fmt: skip
    assert code == 0
    assert len(calls) == (8 - 4 if resume else 8)
    assert ("discarded 4 chunk(s)" in said.getvalue()) is not resume
    assert out.read_bytes() == reference.read_bytes()
    assert not checkpoint_dir(out).exists()


def test_nothing_scorable_leaves_no_checkpoints(settings: Settings, tmp_path: Path) -> None:
    p, s = make_cohort(30, seed=4)
    cohort = write_cohort(tmp_path / "bad", p.assign(age=300), s, "csv")
    out = tmp_path / "scores.csv"
    assert run_score(settings, cohort, out, chunk_size=10, models=fake_models(), jobs=1) == 1
    assert not out.exists() and errors_path(out).exists()
    assert not checkpoint_dir(out).exists()

"""Per-chunk checkpoints of a pandas batch run, so `--resume` skips the chunks already scored.

Why: scoring a large cohort takes minutes; a run that is killed should not start from zero, and
nobody thinks of asking for checkpoints before the kill. So every pandas run (with or without
`--resume`) writes each finished chunk's output rows atomically to a hidden folder next to FILE
(`.FILE.resume/chunk-000012.parquet`, its error rows in `errors-000012.parquet` first), under a
manifest naming what the rows depend on (cohort files, scoring date, chunk size, model versions,
policy settings). The folder is removed when the run ends with FILE written or with nothing to
score (exit 0 or 1), and kept when the run is killed or fails (exit 2): that is what `--resume`
reuses, only when the manifest matches. A run without `--resume` never reuses it: it discards
it (saying so) and starts afresh. Parquet keeps the canonical dtypes, so the resumed output is
byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.io import write_atomic


def checkpoint_dir(out: Path) -> Path:
    """The hidden checkpoint folder of output FILE (same folder, so it is on the same storage)."""
    return Path(out).parent / f".{Path(out).name}.resume"


def run_key(cohort: Path, as_of: Any, chunk_size: int, models: Any, cfg: Any) -> str:
    """A digest of everything a chunk's rows depend on (files by name, size and mtime)."""
    files = sorted(p for p in Path(cohort).iterdir() if p.is_file())
    facts = {
        "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
        "as_of": str(as_of),
        "chunk_size": chunk_size,
        "layout": 2,  # chunks of patient ids (2), not of valid patients (1); errors per chunk
        "models": [(m.name, str(m.version)) for m in (models.tolerance, models.adherence)],
        "cfg": repr(cfg),
    }
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint folder of one run (`key` from `run_key`)."""

    folder: Path
    key: str

    def open(self, resume: bool) -> str:
        """Start the folder: keep matching chunks when resuming, else start afresh. Returns a
        sentence for the user."""
        manifest = self.folder / "manifest.json"
        if resume and manifest.exists():
            try:
                same = json.loads(manifest.read_text()).get("key") == self.key
            except (OSError, ValueError):
                same = False
            if same:
                return f"resuming: {len(self.done())} chunks already scored in {self.folder}"
            shutil.rmtree(self.folder, ignore_errors=True)
            note = "checkpoint is from a different run (inputs, models or options); starting afresh"
        else:
            earlier = len(self.done()) if self.folder.is_dir() else 0
            shutil.rmtree(self.folder, ignore_errors=True)
            if resume:
                note = "nothing to resume; starting afresh"
            elif earlier:  # never reused without --resume, but say what was dropped
                note = (f"discarded {earlier} chunk(s) checkpointed by an earlier run of this "
                        "output (--resume reuses them); starting afresh")  # fmt: skip
            else:
                note = ""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(manifest, lambda tmp: tmp.write_text(json.dumps({"key": self.key})))
        return note

    def path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.parquet"

    def done(self) -> set[int]:
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.parquet")}

    def save(self, index: int, rows: pd.DataFrame) -> None:
        write_atomic(self.path(index), lambda tmp: rows.to_parquet(tmp, index=False))

    def load(self, index: int) -> pd.DataFrame:
        return pd.read_parquet(self.path(index))

    def errors_path(self, index: int) -> Path:
        return self.folder / f"errors-{index:06d}.parquet"

    def save_errors(self, index: int, errors: pd.DataFrame) -> None:
        """A chunk's error rows; saved before its output rows, whose file marks it done."""
        frame = errors.fillna("").astype(str)  # what finalize_errors makes of them anyway
        write_atomic(self.errors_path(index), lambda tmp: frame.to_parquet(tmp, index=False))

    def load_errors(self, index: int) -> pd.DataFrame:
        return pd.read_parquet(self.errors_path(index))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

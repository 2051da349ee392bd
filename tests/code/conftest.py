"""Fixtures shared by the code tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from features.settings import get_settings


@pytest.fixture()
def cli_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh project root for an in-process CLI call: DOSEWISE_ROOT set, and the process-wide
    settings cache cleared before and after (the CLI reads the environment through it, so a root
    cached by an earlier test would otherwise be used)."""
    monkeypatch.setenv("DOSEWISE_ROOT", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()

"""Settings are the one reader of `DOSEWISE_*` variables, and the one source of the policy's
configuration and of the root every path hangs from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.settings import Settings, default_root

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "training", "serving", "evaluation", "dosewise_cli.py")
READ = re.compile(r"""(environ\.get|getenv|environ\[)\(?\s*["']DOSEWISE_""")
NOT_YET: set[str] = set()  # every reader has moved to Settings


def _sources() -> list[Path]:
    out: list[Path] = []
    for name in PACKAGES:
        path = REPO / name
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def test_dosewise_variables_are_read_only_by_settings() -> None:
    readers = {
        str(p.relative_to(REPO))
        for p in _sources()
        if p.name != "settings.py" and READ.search(p.read_text(encoding="utf-8"))
    }
    assert readers <= NOT_YET, f"read DOSEWISE_* through features.settings: {readers - NOT_YET}"


def test_serving_knobs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSEWISE_SERVE_THREADS", "3")
    monkeypatch.setenv("DOSEWISE_MODEL_RELOAD_SECONDS", "2.5")
    s = Settings()
    assert (s.serve_threads, s.model_reload_seconds) == (3, 2.5)
    monkeypatch.setenv("DOSEWISE_SERVE_THREADS", "0")
    with pytest.raises(ValueError, match="serve_threads"):
        Settings()


def test_policy_config_from_settings(tmp_path: Path) -> None:
    from serving.policy import PolicyConfig

    cfg = PolicyConfig.from_settings(
        Settings(root=tmp_path, tolerance_threshold=0.7, adherence_threshold=0.4)
    )
    assert (cfg.tolerance_threshold, cfg.adherence_threshold) == (0.7, 0.4)
    assert cfg == PolicyConfig(tolerance_threshold=0.7, adherence_threshold=0.4)


def test_root_is_the_checkout_here_and_never_site_packages() -> None:
    assert default_root() == REPO  # tests run from a source checkout
    assert "site-packages" not in str(Settings().root)

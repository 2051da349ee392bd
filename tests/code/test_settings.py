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


def test_cds_symptom_codes_are_parsed_and_a_bad_entry_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DOSEWISE_CDS_SYMPTOM_CODES", "urn:oid:1.2.3|ESAS-T=fatigue, http://loinc.org|72514-3=pain"
    )
    assert Settings().symptom_codes() == (
        ("urn:oid:1.2.3", "ESAS-T", "fatigue"),
        ("http://loinc.org", "72514-3", "pain"),
    )
    assert Settings(cds_symptom_codes="").symptom_codes() == ()
    for bad, named in (
        ("ESAS-T=fatigue", "'ESAS-T=fatigue'"),  # no system
        ("urn:oid:1.2.3|ESAS-T=nausea", "nausea"),  # not a symptom the kernel reads
        ("urn:oid:1.2.3|ESAS T=fatigue", "ESAS T"),  # would break the prefetch query
        ("urn:oid:1.2.3|A=fatigue,urn:oid:1.2.3|A=pain", "listed twice"),
    ):
        with pytest.raises(ValueError, match="cds_symptom_codes") as err:
            Settings(cds_symptom_codes=bad)
        assert named in str(err.value)

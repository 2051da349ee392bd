"""Bad arguments and settings on the command line: exit 2 with the reason, before any work,
never a traceback (found by trying each command's paths and URLs by hand, session 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dosewise_cli import app


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    text = result.output.replace("│", " ")  # rich boxes and wraps long lines
    return result.exit_code, " ".join(text.split())


@pytest.fixture()
def root(cli_root: Path) -> Path:
    (cli_root / "a-file").write_text("x")
    return cli_root


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate-policy", "--no-mlflow", "--report"],
        ["tune-policy", "--no-mlflow", "--report"],
        ["monitor", "--since", "2026-11-01", "--until", "2026-12-01", "--report"],
        ["model-card", "--out"],
    ],
    ids=["evaluate-policy", "tune-policy", "monitor", "model-card"],
)
def test_an_unwritable_report_is_refused_before_the_run(root: Path, command: list[str]) -> None:
    code, out = invoke([*command, str(root / "a-file" / "report.html")])
    assert code == 2 and "Invalid value for" in out and "is not writable" in out, out
    code, out = invoke([*command, str(root)])
    assert code == 2 and "is a folder; give a file name" in out, out


def test_simulate_deployment_checks_its_folder_first(root: Path) -> None:
    code, out = invoke(["simulate-deployment", "--weeks", "2", "--out", str(root / "a-file")])
    assert code == 2 and "--out: output folder" in out and "is not writable" in out, out


@pytest.mark.parametrize(
    "command",
    [
        ["monitor", "--since", "2026-11-01", "--until", "2026-12-01"],
        ["simulate-deployment", "--weeks", "2"],
        ["audit", "verify"],
        ["audit", "migrate"],
    ],
    ids=["monitor", "simulate-deployment", "audit-verify", "audit-migrate"],
)
def test_a_malformed_database_url_is_refused(root: Path, command: list[str]) -> None:
    code, out = invoke([*command, "--db-url", "postgres//nobody"])
    assert code == 2 and "Invalid value for '--db-url': not a database URL" in out, out


def test_bad_settings_name_the_variable(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSEWISE_TOLERANCE_THRESHOLD", "high")
    monkeypatch.setenv("DOSEWISE_AUDIT_DB_URL", "postgres//nobody")
    code, out = invoke(["promote"])
    assert code == 2, out
    assert "settings: DOSEWISE_TOLERANCE_THRESHOLD: Input should be a valid number" in out
    assert "settings: DOSEWISE_AUDIT_DB_URL: Value error, not a database URL" in out
    assert "Traceback" not in out
    monkeypatch.delenv("DOSEWISE_TOLERANCE_THRESHOLD")
    monkeypatch.delenv("DOSEWISE_AUDIT_DB_URL")
    monkeypatch.setenv("DOSEWISE_CDS_INFUSION_CODES", "urn:oid:1.2|ONC, INFUSION")
    code, out = invoke(["promote"])
    assert code == 2, out
    assert "settings: DOSEWISE_CDS_INFUSION_CODES: Value error, 'INFUSION' is not" in out


@pytest.mark.parametrize(
    "entry",
    [
        "http://loinc.org|72514-3=fatigue",
        "http://loinc.org|777-3=pain",
        "http://loinc.org|55411-3=pain",
    ],
    ids=["loinc-pain-as-fatigue", "platelets", "activity-duration"],
)
def test_a_site_symptom_code_dosewise_already_reads_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    """`dosewise serve` refuses to start (exit 2, before any worker) with a site code that the
    mapping reads as something else: LOINC 72514-3 is the pain score, 777-3 platelets, 55411-3
    an activity log's duration. Kept, it would be read as that, or that as a symptom score."""
    monkeypatch.setenv("DOSEWISE_CDS_SYMPTOM_CODES", f"urn:site|TIRED=fatigue,{entry}")
    code, out = invoke(["serve", "--port", "1"])
    code_part = entry.split("=")[0]
    assert code == 2, out
    assert (
        f"settings: DOSEWISE_CDS_SYMPTOM_CODES: {code_part} is a code Dosewise already reads" in out
    )
    assert "Traceback" not in out

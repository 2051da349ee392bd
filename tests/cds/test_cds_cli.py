"""`dosewise cds keygen` and `dosewise cds token`: what an EHR team runs to connect, end to end
(the token they print is accepted by the service's verifier), and clear exits on bad input."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dosewise_cli import app
from serving.cds.auth import TrustedClients, verify_token

ISS, AUD = "https://ehr.example.org", "https://dosewise.test/cds-services/dosewise-patient-view"


class Ran:
    def __init__(self, args: tuple[str, ...]) -> None:
        result = CliRunner().invoke(app, ["cds", *args])
        self.exit_code = result.exit_code
        self.output = " ".join(result.output.split())  # the console wraps long lines


def run(*args: str) -> Ran:
    return Ran(args)


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_keygen_then_token_is_accepted_by_the_service(tmp_path: Path, alg: str) -> None:
    out = run("keygen", "--out", str(tmp_path / "keys"), "--iss", ISS, "--kid", "k1", "--alg", alg)
    assert out.exit_code == 0, out.output
    pem = tmp_path / "keys" / "k1.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    out = run("token", "--key", str(pem), "--aud", AUD, "--iss", ISS, "--kid", "k1", "--alg", alg)
    assert out.exit_code == 0, out.output
    clients = TrustedClients.load(tmp_path / "keys" / "trusted-clients.json")
    caller = verify_token(f"Bearer {out.output.strip()}", AUD, clients)
    assert caller.iss == ISS


def test_bad_input_exits_2_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a key")
    out = run("keygen", "--out", str(tmp_path / "a-file" / "keys"))
    assert out.exit_code == 2 and "is not writable" in " ".join(out.output.split())
    out = run("keygen", "--out", str(tmp_path / "k"), "--alg", "HS256")
    assert out.exit_code == 2 and "ES384 or RS384" in " ".join(out.output.split())
    out = run("token", "--key", str(tmp_path / "missing.pem"), "--aud", AUD)
    assert out.exit_code == 2 and "no key file" in " ".join(out.output.split())
    out = run("token", "--key", str(tmp_path / "a-file"), "--aud", AUD)
    assert out.exit_code == 2 and "not a usable private key" in " ".join(out.output.split())
    assert run("keygen", "--out", str(tmp_path / "rsa"), "--alg", "RS384").exit_code == 0
    out = run("token", "--key", str(tmp_path / "rsa" / "ehr-key-1.pem"), "--aud", AUD)
    assert out.exit_code == 2 and "cannot sign ES384" in " ".join(out.output.split())

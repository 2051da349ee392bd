"""`dosewise cds`: the EHR side of CDS Hooks for setup and testing (client keys and tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)

cds_app = typer.Typer(
    help="EHR integration: CDS Hooks client keys and tokens.", no_args_is_help=True
)


def _require_alg(alg: str) -> None:
    if alg not in ("ES384", "RS384"):
        err.print("--alg must be ES384 or RS384")
        raise typer.Exit(2)


@cds_app.command("keygen")
def cds_keygen(
    out: Annotated[Path, typer.Option(help="Folder for the key files")] = Path("cds-keys"),
    iss: Annotated[str, typer.Option(help="The EHR's issuer (its `iss` claim)")] = (
        "https://ehr.example.org"
    ),
    kid: Annotated[str, typer.Option(help="Key id (the JWT header `kid`)")] = "ehr-key-1",
    alg: Annotated[str, typer.Option(help="ES384 or RS384")] = "ES384",
) -> None:
    """Make a client key pair as an EHR would: private key (0600), public JWKS, and a
    trusted-clients file for DOSEWISE_CDS_TRUSTED_CLIENTS."""
    from features.io import folder_problem
    from serving.cds.keys import write_key_pair

    _require_alg(alg)
    problem = folder_problem(out)
    if problem:
        err.print(f"--out: {problem}")
        raise typer.Exit(2)
    for what, path in write_key_pair(out, iss, kid, alg).items():
        typer.echo(f"{what}: {path}")


@cds_app.command("token")
def cds_token(
    key: Annotated[Path, typer.Option(help="Private key PEM (from `dosewise cds keygen`)")],
    aud: Annotated[str, typer.Option(help="The exact URL to call (public base URL + path)")],
    iss: Annotated[str, typer.Option(help="The EHR's issuer")] = "https://ehr.example.org",
    kid: Annotated[str, typer.Option(help="Key id")] = "ehr-key-1",
    alg: Annotated[str, typer.Option(help="ES384 or RS384")] = "ES384",
    tenant: Annotated[str | None, typer.Option(help="Optional tenant claim")] = None,
    lifetime: Annotated[int, typer.Option(help="Seconds until it expires (at most 300)")] = 300,
) -> None:
    """Print a signed client JWT for one call (each call needs a fresh one: `jti` is single-use)."""
    from serving.cds.keys import load_private_key, sign_token

    if not key.is_file():
        err.print(f"no key file at {key}")
        raise typer.Exit(2)
    _require_alg(alg)
    try:
        private = load_private_key(key)
    except (ValueError, TypeError, OSError) as exc:  # not a PEM private key (or unreadable)
        err.print(f"--key {key}: not a usable private key ({type(exc).__name__})")
        raise typer.Exit(2) from None
    lifetime = max(1, min(lifetime, 300))
    try:
        typer.echo(sign_token(private, iss, aud, kid, alg, lifetime, tenant))
    except (ValueError, TypeError) as exc:  # e.g. an RSA key with --alg ES384
        err.print(f"--key {key} cannot sign {alg} ({type(exc).__name__})")
        raise typer.Exit(2) from None

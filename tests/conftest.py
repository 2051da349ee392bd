"""Suite-wide setup: offline environment and the hypothesis profiles.

- `ci` (loaded by default): derandomised, so the same code gives the same examples on every run and
  CI is never red by chance. Counterexamples found by deep runs are pinned with `@example`.
- `thorough`: random, 100,000 examples per property, no deadline, for deep runs:
  `uv run pytest tests/safety --hypothesis-profile=thorough`.

Registered here (not in a sub-folder conftest) so pytest sees them before it reads the option.
"""

from hypothesis import HealthCheck, settings

from features.settings import apply_offline_environment

apply_offline_environment()
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=100_000, deadline=None, derandomize=False)
settings.load_profile("ci")


# --- a real PostgreSQL server (tests/pg.py), started once per session when a test asks ---------
import pytest  # noqa: E402

from tests.pg import MISSING, PgServer, reap_orphans, server_bindir  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server; a clear failure (never a skip) when it is not installed."""
    bindir = server_bindir()
    if bindir is None:
        pytest.fail(MISSING, pytrace=False)
    reap_orphans(bindir)  # servers of earlier runs that were killed before their cleanup
    server = PgServer(bindir).init()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture()
def pg_url(pg_server: PgServer) -> str:
    """A fresh database on the session's PostgreSQL server (left running)."""
    if not pg_server.running():  # a test that stopped it and failed before restarting it
        pg_server.start()
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The audit suite runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def template_registry(tmp_path_factory: pytest.TempPathFactory):
    """`mlruns/` of a tiny trained registry with champions, trained once for the whole suite
    (fault injection and the CDS Hooks real-server test copy it; never written to)."""
    from features.settings import Settings
    from training.train import run_training

    root = tmp_path_factory.mktemp("template-registry")
    run_training(Settings(root=root, default_patients=300, default_weeks=8), None, 7)
    return root / "mlruns"

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


# --- two workers (pytest-xdist `-n 2`: the README's test command) ---------------------------------
# Tests that start real servers (dosewise serve, Chromium, Spark, PostgreSQL under faults) run one
# after another on one worker, first, while the other worker takes the CPU-bound suites: two
# servers starting at once on 2 cores would only make each slower. Every other module is one work
# unit, so its module fixtures are built once; the monitoring suite shares session fixtures, so it
# is one unit. (A custom scheduler, not `--dist loadgroup`: under pytest 9.2 xdist 3.8 can no
# longer write the group into the node id, and the group marks are silently ignored.)
SERVER_SUITES = ("tests/faults/", "tests/integration/")


def _group(nodeid: str) -> str:
    """The work unit of a test: "servers", "monitoring" or its module."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(SERVER_SUITES):
        return "servers"
    if path.startswith("tests/monitoring/"):
        return "monitoring"
    return path


def _unique_ids(items: list[pytest.Item]) -> None:
    """Every item its own node id. Under pytest 9.2 schemathesis' per-operation items share one
    (`test_api_never_fails`; the `[POST /recommend]` is left in `name` only), and xdist's scope
    scheduler runs one item per id: the other operations would silently go unfuzzed."""
    from collections import Counter

    count = Counter(item.nodeid for item in items)
    for item in items:
        node_id = getattr(item, "_id", None)
        if count[item.nodeid] > 1 and "[" in item.name and getattr(node_id, "params", 0) is None:
            item._id = node_id.with_params(item.name.split("[", 1)[1].removesuffix("]"))
    twice = sorted(n for n, c in Counter(item.nodeid for item in items).items() if c > 1)
    if twice:
        raise pytest.UsageError(f"tests sharing a node id (only one would run under -n 2): {twice}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _unique_ids(items)
    items.sort(key=lambda item: _group(item.nodeid) != "servers")  # stable: servers first


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """LoadScopeScheduling with `_group` as the scope."""

        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    config.option.loadscopereorder = False  # collection order: the servers first
    return GroupScheduling(config, log)

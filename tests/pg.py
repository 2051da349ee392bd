"""A real PostgreSQL server for the tests: Debian's server binaries, a data directory in a temp
folder, 127.0.0.1 on a free port in 25000-25999, run as a non-root user (postgres refuses root).

Never skipped: when the binaries are missing the tests fail and say to run
`bash .ci/install-system-deps` (the README's test command runs it first). `server_bindir` looks
exactly where that script looks: `pg_config --bindir`, then /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests import servers

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via `pg_config --bindir` or "
    "/usr/lib/postgresql/*/bin: run `bash .ci/install-system-deps` (as root) first"
)
RUN_AS = "postgres"  # Debian's package creates it; made with useradd when absent
SUPERUSER = "dosewise"
PREFIX = "dosewise-pg-"
OWNER_FILE = "owner.pid"  # the pid of the test run that started the server


def _candidates() -> list[Path]:
    found = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            found.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    found += [Path(p) for p in sorted(versions, key=lambda p: int(p.split("/")[-2]), reverse=True)]
    return found


def server_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None."""
    for d in _candidates():
        if all(os.access(d / b, os.X_OK) for b in SERVER_BINARIES):
            return d
    return None


def free_port() -> int:
    """A port free on 127.0.0.1 in 25000-25999 (the range this project's PostgreSQL tests use;
    below the ephemeral range, like `tests.servers.SERVER_PORTS`)."""
    return servers.free_port("127.0.0.1", range(25000, 26000))


def _ensure_user() -> str | None:
    """The user to run postgres as when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", RUN_AS], check=True)
    return RUN_AS


@dataclass
class PgServer:
    bindir: Path
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=PREFIX)))
    user: str | None = field(default_factory=_ensure_user)

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
        return out

    def init(self) -> PgServer:
        """initdb in the temp folder (trust auth on 127.0.0.1 only: a throwaway test server)."""
        os.chmod(self.folder, 0o755)
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        if self.user is not None:
            shutil.chown(self.folder, self.user)
        self._run("initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-o", opts,
                  "-l", str(self.folder / "server.log"))  # fmt: skip

    def stop(self) -> None:
        """Fast shutdown: open connections are cut (what a server restart does to the service)."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.datadir))

    def running(self) -> bool:
        cmd = [str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        """Stop the server (if up) and delete the temp folder."""
        if self.datadir.exists() and self.running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def reap_orphans(bindir: Path) -> list[Path]:
    """Stop and delete the servers of test runs that died without cleaning up (a killed
    `pytest` leaves `pg_ctl`'s daemon running); the folders it removed. A folder without an
    owner file, or whose owner still runs, is left alone."""
    reaped = []
    for folder in sorted(Path(tempfile.gettempdir()).glob(PREFIX + "*")):
        owner = folder / OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        PgServer(bindir, port=0, folder=folder).cleanup()
        reaped.append(folder)
    return reaped

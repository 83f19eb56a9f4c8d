"""A real, throwaway PostgreSQL server for the tests of PostgreSQL-backed DuckLake catalogs.

`postgres_dsn` (session) runs `initdb` in a temporary directory and `pg_ctl start` on a free port of
127.0.0.1 (trust authentication, unix sockets in that directory), creates the database `fpwatch`
and yields its catalog setting (`postgres:dbname=fpwatch host=127.0.0.1 port=N user=postgres`);
the server is stopped (`pg_ctl stop -m fast`) and its directory removed at the end of the session.
`pg_catalog` (function) gives each test an empty database of its own on that server.

The binaries come from the newest /usr/lib/postgresql/<version>/bin (Debian/Ubuntu `postgresql`
package; `.ci/run` installs it). PostgreSQL refuses to run as root, so as root every server
command runs as the `postgres` system user, owner of the temporary directory. Without the
binaries the fixtures skip, or fail when CI=true (CI must not silently skip these tests).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # system user the server runs as when the tests run as root
DB_USER = "postgres"  # database superuser initdb creates (trust auth: no password)
DATABASE = "fpwatch"
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no user to run them as)."""


def find_bin_dir(root: Path | None = None) -> Path:
    """The bin directory of the newest installed PostgreSQL version that has initdb and pg_ctl."""
    root = root or POSTGRES_ROOT

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates = [b for b in root.glob("*/bin") if (b / "initdb").exists() and (b / "pg_ctl").exists()]
    if not candidates:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries under {root}/*/bin (install the `postgresql` package: "
            "apt-get install -y postgresql)"
        )
    return max(candidates, key=version)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """One initdb'd cluster in a temporary directory, started with pg_ctl."""

    bin_dir: Path
    base: Path
    port: int = 0
    user: str | None = None  # system user to run the binaries as (None: the current user)

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    @classmethod
    def create(cls) -> "PostgresServer":
        bin_dir = find_bin_dir()
        user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"tests run as root but there is no `{SERVER_USER}` system user to run PostgreSQL as"
                ) from exc
            user = SERVER_USER
        # Not pytest's tmp_path: its parents are private to the current user. /tmp keeps the unix
        # socket path short (at most 107 bytes).
        base = Path(tempfile.mkdtemp(prefix="fpwatch-pg-"))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        return cls(bin_dir=bin_dir, base=base, user=user)

    # ------------------------------------------------------------------ commands
    def run(self, program: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run one of the PostgreSQL binaries (as the server user when root); output is captured."""
        kwargs: dict = {}
        if self.user:
            entry = pwd.getpwnam(self.user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", PGHOST=str(self.base), PGPORT=str(self.port or 5432), PGUSER=DB_USER)
        if self.user:
            env["HOME"] = str(self.base)
        result = subprocess.run(
            [str(self.bin_dir / program), *args], cwd=self.base, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                + self.log_tail()
            )
        return result

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- server log ---\n" + "\n".join(tail)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.run("initdb", "-D", str(self.data_dir), "-U", DB_USER, "--auth=trust", "--encoding=UTF8",
                 "--no-locale", "--no-sync", timeout=120)
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.base}",
            "-c max_connections=300",
            # A test server: durability is not wanted, speed is.
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
        last = ""
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            result = self.run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                              "-t", "60", "-o", " ".join([f"-p {self.port}", *options]), check=False, timeout=90)
            if result.returncode == 0:
                self.run("createdb", DATABASE)
                return
            last = f"{result.stdout}\n{result.stderr}{self.log_tail()}"
            if "could not bind" not in last and "already in use" not in last:
                break
        raise RuntimeError(f"pg_ctl start failed:\n{last}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", check=False)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    # ------------------------------------------------------------------ databases
    def create_database(self, name: str) -> None:
        self.run("createdb", name)

    def drop_database(self, name: str) -> None:
        self.run("dropdb", "--if-exists", "--force", name, check=False)

    def catalog(self, database: str = DATABASE) -> str:
        """The fpwatch catalog setting (FPWATCH_CATALOG, Warehouse(catalog=...)) of a database here."""
        return f"postgres:dbname={database} host=127.0.0.1 port={self.port} user={DB_USER}"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {message}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {message}")


@contextlib.contextmanager
def started_server() -> Iterator[PostgresServer]:
    """A new PostgreSQL server, started, stopped and removed on exit (skips without PostgreSQL, fails in CI)."""
    try:
        server = PostgresServer.create()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture(scope="session")
def postgres_server():
    """A started PostgreSQL server for the whole session (skips without PostgreSQL, fails in CI)."""
    with started_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """Catalog setting of the session's `fpwatch` database: `postgres:dbname=fpwatch host=127.0.0.1 ...`."""
    return postgres_server.catalog(DATABASE)


@pytest.fixture
def pg_catalog(postgres_server: PostgresServer):
    """Catalog setting of a new, empty database of this test's own (dropped afterwards)."""
    name = f"fpwatch_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    yield postgres_server.catalog(name)
    postgres_server.drop_database(name)

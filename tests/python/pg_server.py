"""A throwaway PostgreSQL server for the tests of the PostgreSQL backend.

The tests start a server of their own (initdb, pg_ctl) from the binaries of Debian's
`postgresql` package, listening only on a Unix socket in a new folder, with fsync off, and stop
it at the end of the session, failed tests or not. PostgreSQL refuses to run as root: as root
the server runs as the `postgres` user, in a folder that user owns (pytest's own temporary
folders are private to root). Without PostgreSQL installed the tests are skipped, unless
CVP_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def find_postgres_bin():
    """The folder holding initdb and pg_ctl: $CVP_PG_BIN, pg_config's, or Debian's newest."""
    candidates = []
    if os.environ.get("CVP_PG_BIN"):
        candidates.append(os.environ["CVP_PG_BIN"])
    if shutil.which("pg_config"):
        try:
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True,
                                             text=True, timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path):
        try:
            return int(path.rstrip("/").split("/")[-2])
        except ValueError:
            return 0
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for folder in candidates:
        if folder and os.path.exists(os.path.join(folder, "initdb")):
            return folder
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A server in a folder of its own; `url` connects to its `postgres` database."""

    def __init__(self, bindir=None):
        self.bindir = bindir or find_postgres_bin()
        if not self.bindir:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.port = _free_port()
        self.folder = None
        self.user = None
        self.url = None

    def _run(self, args, **kw):
        cmd = [os.path.join(self.bindir, args[0])] + list(args[1:])
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)

    def start(self):
        self.folder = tempfile.mkdtemp(prefix="cvp-pg-")
        if os.geteuid() == 0:
            self.user = "postgres"
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run "
                                   "the server as") from None
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        data = os.path.join(self.folder, "data")
        init = self._run(["initdb", "-D", data, "-U", "cvp", "-A", "trust", "-E", "UTF8",
                          "--no-sync"])
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-800:]}")
        options = (f"-k {self.folder} -c listen_addresses='' -p {self.port} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        log = os.path.join(self.folder, "server.log")
        started = self._run(["pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "30",
                             "start"])
        if started.returncode != 0:
            tail = ""
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    tail = f.read()[-800:]
            raise RuntimeError(f"the PostgreSQL server did not start: {started.stderr.strip()} "
                               f"{tail}")
        self.url = f"postgresql://cvp@/postgres?host={self.folder}&port={self.port}"
        deadline = time.monotonic() + 30
        while True:
            ready = self._run(["pg_isready", "-h", self.folder, "-p", str(self.port)])
            if ready.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the PostgreSQL server does not accept connections: "
                                   f"{ready.stdout.strip()}")
            time.sleep(0.2)

    def create_database(self, name):
        """A new empty database on this server; returns its URL."""
        import psycopg2
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql://cvp@/{name}?host={self.folder}&port={self.port}"

    def stop(self):
        if not self.folder:
            return
        data = os.path.join(self.folder, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            stopped = self._run(["pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])
            if stopped.returncode != 0:
                self._run(["pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope="session")
def postgres_server():
    required = os.environ.get("CVP_REQUIRE_POSTGRES") == "1"
    if not find_postgres_bin():
        if required:
            pytest.fail("CVP_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries are installed")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql python3-psycopg2)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("CVP_REQUIRE_POSTGRES=1 but psycopg2 is not importable")
        pytest.skip("psycopg2 is not installed (apt-get install python3-psycopg2)")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()

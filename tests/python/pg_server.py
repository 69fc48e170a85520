"""A throwaway PostgreSQL server for the tests of the PostgreSQL backend.

The tests start a server of their own (initdb, pg_ctl) rather than rely on a system service, so
they need no configuration, cannot touch anybody's data, and two test sessions can run side by
side. The server listens only on a Unix socket in a new folder (no TCP port to collide with or
expose), runs with fsync off (its data is thrown away), trusts local connections, and is stopped
and its folder removed at the end of the session, failed tests or not.

PostgreSQL refuses to run as root. As root, the server's programs run as the `postgres` user
(subprocess's user/group switch, so neither runuser nor sudo is needed) in a folder that user
owns; pytest's own temporary folders are private to root, so the folder then goes to the
system's temporary folder instead.

Without PostgreSQL installed the tests are skipped, unless CVP_REQUIRE_POSTGRES=1 (CI, where
setup-deps.sh --test installed it): there a missing server is a failure, not a quiet skip.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from urllib.parse import quote

import pytest

ROLE = "cvp"
START_TIMEOUT_S = 30
SERVER_USER = "postgres"
# sun_path holds 108 bytes with the final NUL; PostgreSQL refuses a longer socket path.
_MAX_SOCKET_PATH = 107


def find_postgres_bin() -> str | None:
    """The folder holding initdb and pg_ctl: $CVP_PG_BIN, pg_config's, or Debian's newest.

    Debian and Ubuntu keep the server's programs off PATH (/usr/lib/postgresql/N/bin, one folder
    per major version), so PATH alone would not find them.
    """
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
        if folder and os.access(os.path.join(folder, "initdb"), os.X_OK):
            return folder
    return None


def require_postgres() -> str:
    """The binaries' folder, or a skip (a failure under CVP_REQUIRE_POSTGRES=1) without them.

    CI sets CVP_REQUIRE_POSTGRES=1 so that a broken install shows up as a failure instead of a
    green run that tested nothing.
    """
    bindir = find_postgres_bin()
    if bindir:
        return bindir
    if os.environ.get("CVP_REQUIRE_POSTGRES") == "1":
        pytest.fail("CVP_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries were found "
                    "(initdb in $CVP_PG_BIN, pg_config --bindir or /usr/lib/postgresql/*/bin)",
                    pytrace=False)
    pytest.skip("PostgreSQL is not installed (apt-get install postgresql python3-psycopg2)")


def _free_port():
    """A port number no other server on this machine is likely to use at the same time.

    The server opens no TCP port, but the port names its socket (.s.PGSQL.<port>) and keys its
    System V shared memory, so two sessions are kept apart by the kernel's choice of a free one.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf_quote(value):
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


class PostgresServer:
    """A server in a folder of its own under `base_dir`; `url` connects to its `postgres`
    database as the superuser `cvp`.

    stop() removes only the folder start() created, never `base_dir` itself.
    """

    def __init__(self, base_dir=None, bindir=None):
        self.base_dir = os.fspath(base_dir) if base_dir is not None else None
        self.bindir = bindir or find_postgres_bin()
        if not self.bindir:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.port = None
        self.folder = None
        self.url = None
        # Extra postgresql.conf settings, applied at start() after the ones below.
        self.settings = {}
        self._user = None

    # -- helpers ---------------------------------------------------------------------------

    @property
    def socket_path(self):
        return os.path.join(self.folder, f".s.PGSQL.{self.port}") if self.folder else None

    @property
    def data_dir(self):
        return os.path.join(self.folder, "data") if self.folder else None

    @property
    def log_path(self):
        return os.path.join(self.folder, "server.log") if self.folder else None

    def _run(self, args, timeout=60):
        """One of the server's programs, as the server's user when that is not us."""
        cmd = [os.path.join(self.bindir, args[0])] + list(args[1:])
        kw = {}
        if self._user:
            kw = dict(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        # cwd: the server's user may not be able to enter the caller's working folder (/root).
        env = dict(os.environ, HOME=self.folder, LC_ALL="C")
        for name in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"):
            env.pop(name, None)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=self.folder, env=env, **kw)

    def _reachable(self, folder):
        """Whether the server's user can create its folder in `folder`, and the socket's path
        there stays within the kernel's limit."""
        if not os.path.isdir(folder):
            return False
        # cvp-pg-XXXXXXXX/.s.PGSQL.NNNNN.lock
        if len(os.path.abspath(folder)) + 40 > _MAX_SOCKET_PATH:
            return False
        if not self._user:
            return os.access(folder, os.W_OK | os.X_OK)
        # Ask the kernel as that user: every folder above must be searchable too.
        probe = subprocess.run(["test", "-w", folder, "-a", "-x", folder], cwd="/",
                               user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[],
                               capture_output=True, timeout=10)
        return probe.returncode == 0

    def _make_folder(self):
        for parent in (self.base_dir, tempfile.gettempdir(), "/tmp"):
            if parent and self._reachable(parent):
                folder = tempfile.mkdtemp(prefix="cvp-pg-", dir=parent)
                if self._user:
                    os.chown(folder, self._user.pw_uid, self._user.pw_gid)
                return folder
        raise RuntimeError(f"no folder the PostgreSQL server's user can write: tried "
                           f"{self.base_dir!r}, {tempfile.gettempdir()!r} and '/tmp'")

    def _log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except (OSError, TypeError):
            return "(no server log)"
        return "server log, last lines:\n" + "\n".join(tail) if tail else "(server log empty)"

    def _fail(self, what, detail=""):
        """Raise with what the server said, after cleaning up (the log goes with the folder)."""
        message = f"{what}: {detail.strip()}\n{self._log_tail()}".rstrip()
        self.stop()
        raise RuntimeError(message)

    # -- life cycle ------------------------------------------------------------------------

    def start(self):
        """initdb a new cluster and start it; returns once it accepts connections."""
        if self.folder:
            raise RuntimeError("the PostgreSQL server is already started")
        self._user = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(f"PostgreSQL refuses to run as root, and there is no "
                                   f"'{SERVER_USER}' user to run it as") from None
        self.folder = self._make_folder()
        atexit.register(self.stop)  # should the session end without running fixtures' teardown
        self.port = _free_port()
        deadline = time.monotonic() + START_TIMEOUT_S

        # --no-locale: the same byte-order sorting everywhere, and no dependence on which
        # locales this machine has generated.
        init = self._run(["initdb", "-D", self.data_dir, "-U", ROLE, "-A", "trust",
                          "-E", "UTF8", "--no-locale", "--no-sync"])
        if init.returncode != 0:
            self._fail("initdb failed", init.stderr[-2000:] or init.stdout[-2000:])

        settings = {
            "listen_addresses": "",
            "unix_socket_directories": self.folder,
            "port": self.port,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        settings.update(self.settings)
        # Appended to the file initdb wrote (the last setting wins), so that it keeps its owner.
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as conf:
            conf.write("\n# throwaway test server\n")
            for name, value in settings.items():
                conf.write(f"{name} = {_conf_quote(value)}\n")

        started = self._run(["pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w",
                             "-t", str(START_TIMEOUT_S), "start"], timeout=START_TIMEOUT_S + 30)
        if started.returncode != 0:
            self._fail("the PostgreSQL server did not start", started.stderr or started.stdout)

        self.url = (f"postgresql://{ROLE}@/postgres?host={quote(self.folder, safe='/')}"
                    f"&port={self.port}")
        while True:
            ready = self._run(["pg_isready", "-q", "-h", self.folder, "-p", str(self.port),
                               "-U", ROLE, "-d", "postgres"], timeout=10)
            if ready.returncode == 0:
                return self
            if time.monotonic() > deadline:
                self._fail(f"the PostgreSQL server does not accept connections after "
                           f"{START_TIMEOUT_S} s", f"pg_isready exit status {ready.returncode}")
            time.sleep(0.1)

    def create_database(self, name) -> str:
        """A new empty database on this server; returns its URL.

        Uses psql, not psycopg2, so that the fixture needs only the server's package; the
        tests that talk to the database import psycopg2 themselves.
        """
        if not self.url:
            raise RuntimeError("the PostgreSQL server is not started")
        ident = '"' + name.replace('"', '""') + '"'
        made = self._run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url,
                          "-c", f"CREATE DATABASE {ident}"])
        if made.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE {ident} failed: {made.stderr.strip()}")
        return (f"postgresql://{ROLE}@/{quote(name, safe='')}?host={quote(self.folder, safe='/')}"
                f"&port={self.port}")

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError, TypeError):
            return None

    def stop(self):
        """Stop the server (immediate: its data is thrown away) and remove its folder.

        A no-op when not started, so that it can run from both a fixture's teardown and atexit.
        """
        if not self.folder:
            return
        atexit.unregister(self.stop)
        try:
            if self._postmaster_pid():
                for mode in ("immediate", "fast"):
                    try:
                        stopped = self._run(["pg_ctl", "-D", self.data_dir, "-m", mode, "-w",
                                             "-t", "20", "stop"], timeout=40)
                        if stopped.returncode == 0:
                            break
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    # pg_ctl could not stop it: SIGQUIT makes its children exit with it.
                    pid = self._postmaster_pid()
                    if pid:
                        try:
                            os.kill(pid, signal.SIGQUIT)
                            time.sleep(1)
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            self.url = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A started server for the whole session, stopped at its end whatever the tests did."""
    server = PostgresServer(tmp_path_factory.mktemp("pg"), bindir=require_postgres())
    try:
        server.start()
        yield server
    finally:
        server.stop()

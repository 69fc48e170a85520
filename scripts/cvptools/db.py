"""The results database: many runs, from many machines, kept in one place.

A run enters by `import_runs` and is identified by its content: the SHA-256 of its summary
written canonically (sorted keys, no spaces), so that importing a folder twice, or a copy of
it, adds nothing. Everything else is derived from the summary at import:

  machines    one row per machine: the hardware the run saw (CPU model, CPU counts, the CPUs it
              was allowed, SMT, caches, host kind) plus the name given with --machine, hashed
              into a fingerprint. A compiler or OS upgrade keeps the machine (its effect is a
              change in the machine's series); a different CPU set is another machine. A
              distributed run's machine is its cluster: the sorted set of its ranks' hosts
              (`hosts`) and the CPU model, so runs on the same hosts are one machine however
              the launcher placed the ranks, and runs on other hosts another.
  benchmarks  one row per benchmark name with its workload, kind, mode, backend, threads,
              requests in flight, unit of work, MPI ranks and weak-scaling factor (1: the
              group's own problem).
  runs        one row per run: digest, machine, commit, tool version, date (the run's own),
              where it was imported from, the import it came with, its report link.
  results     one row per run and benchmark: time per unit of work (median, 95% CI), the
              repetitions behind it, throughput, speedup (95% CI), efficiency (against the
              attainable bound), bound (the ideal), cores, the attainable bound and the
              efficiency against the ideal (NULL for runs written before rows had them).
  documents   the summary itself, compressed, so that nothing the run said is lost.
  imports     one row per `cvp db import`, so that `cvp history --regressions` can tell which
              runs are new.

Two engines hold the same schema: SQLite (the default, a file; Python's sqlite3, WAL journal,
a busy timeout, writes in BEGIN IMMEDIATE transactions) and PostgreSQL (a URL, psycopg2, for
a team's shared server). The SQL is written once with `?` placeholders and adapted.

The schema is versioned (meta.schema_version) and upgraded by MIGRATIONS, in one transaction,
when a newer cvp opens an older database; a database written by a newer cvp is refused, as is
a file that is not a cvpbench database. Every failure is a CvpError with one sentence.
"""

import hashlib
import json
import os
import re
import sqlite3
import sys
import zlib
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from . import CvpError
from . import runio
from . import results as res

ENV_DB = "CVP_DB"
ENV_TIMEOUT = "CVP_DB_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_NAME = "results.sqlite"

# Each entry upgrades the schema by one version; entry i brings version i to i + 1. {id} is the
# engine's auto-numbered key, {blob} its byte string type, {real} its 8-byte float (PostgreSQL's
# REAL has 4 bytes). Never edit a released entry: add one.
MIGRATIONS = [
    # 0 -> 1: the first schema.
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE machines (
             id {id}, fingerprint TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
             cpu_model TEXT, logical_cpus INTEGER, physical_cores INTEGER,
             allowed_cores INTEGER, smt INTEGER, host TEXT, os TEXT, compiler TEXT)""",
        """CREATE TABLE benchmarks (
             id {id}, name TEXT NOT NULL UNIQUE, workload TEXT, kind TEXT, mode TEXT,
             backend TEXT, threads INTEGER, in_flight INTEGER, work_unit TEXT)""",
        """CREATE TABLE runs (
             id {id}, digest TEXT NOT NULL UNIQUE,
             machine_id INTEGER NOT NULL REFERENCES machines(id),
             git_commit TEXT, version TEXT, run_date TEXT NOT NULL, imported_at TEXT NOT NULL,
             source TEXT, quick INTEGER, noisy INTEGER, result_count INTEGER NOT NULL)""",
        """CREATE TABLE results (
             run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
             benchmark_id INTEGER NOT NULL REFERENCES benchmarks(id),
             time_s {real} NOT NULL, time_lo {real}, time_hi {real}, repetitions INTEGER,
             throughput {real}, throughput_unit TEXT,
             speedup {real}, speedup_lo {real}, speedup_hi {real}, efficiency {real}, bound {real},
             cores INTEGER,
             PRIMARY KEY (run_id, benchmark_id))""",
        "CREATE INDEX results_by_benchmark ON results (benchmark_id, run_id)",
        "CREATE INDEX runs_by_machine ON runs (machine_id, run_date)",
    ],
    # 1 -> 2: the summary kept whole, imports recorded, report links.
    [
        """CREATE TABLE documents (
             run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
             summary {blob} NOT NULL)""",
        """CREATE TABLE imports (id {id}, started_at TEXT NOT NULL, runs_added INTEGER)""",
        "ALTER TABLE runs ADD COLUMN import_id INTEGER REFERENCES imports(id)",
        "ALTER TABLE runs ADD COLUMN report TEXT",
    ],
    # 2 -> 3: the SHA-256 of the file as it was read, so that importing the same files again
    # skips them before reading them as JSON (the run's identity stays its content's digest).
    [
        "ALTER TABLE runs ADD COLUMN file_sha256 TEXT",
        "CREATE INDEX runs_by_file ON runs (file_sha256)",
    ],
    # 3 -> 4: beside the ideal bound (`bound`) and the efficiency against the attainable one,
    # the attainable bound and the efficiency against the ideal, as the file gives them (NULL
    # for files written before rows carried them: read as attainable = bound).
    [
        "ALTER TABLE results ADD COLUMN attainable {real}",
        "ALTER TABLE results ADD COLUMN efficiency_ideal {real}",
    ],
    # 4 -> 5: distributed and weak-scaling points: a benchmark's MPI ranks and the factor its
    # problem grew by (NULL for benchmarks imported before: read from the name, where a
    # `/ranks:R/` or `/weak:P/` segment says, else 1), and a cluster's hosts (NULL for a
    # machine that is one host).
    [
        "ALTER TABLE benchmarks ADD COLUMN ranks INTEGER",
        "ALTER TABLE benchmarks ADD COLUMN weak {real}",
        "ALTER TABLE machines ADD COLUMN hosts TEXT",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
_TABLES = ("meta", "machines", "benchmarks", "runs", "results")


# --- where the database is ----------------------------------------------------------------------

def default_location():
    """$CVP_DB, else $XDG_DATA_HOME/cvpbench/results.sqlite, else ~/.local/share/..."""
    if os.environ.get(ENV_DB):
        return os.environ[ENV_DB]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "cvpbench", DEFAULT_NAME)


def is_postgres(location):
    return location.startswith(("postgresql://", "postgres://"))


def display_location(location):
    """The location as it may be printed: a URL's password (user:PASSWORD@ or ?password=) is
    never shown."""
    if not is_postgres(location):
        return runio.display_path(location)
    try:
        parts = urlsplit(location)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@")
    except ValueError:
        return location.split("://", 1)[0] + "://(a URL that cannot be parsed)"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _mask(text, location):
    """`text` (a driver's message) with the URL's password taken out, wherever it appears."""
    secrets = []
    try:
        parts = urlsplit(location)
        if parts.password:
            secrets.append(parts.password)
        secrets += re.findall(r"(?i)(?:^|&)password=([^&]*)", parts.query)
    except ValueError:
        pass
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _timeout():
    text = os.environ.get(ENV_TIMEOUT)
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise CvpError(f"{ENV_TIMEOUT}={text!r}: not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise CvpError(f"{ENV_TIMEOUT}={text!r}: must be between 0 and 3600 seconds")
    return value


# --- engines ------------------------------------------------------------------------------------

class _Engine:
    """What differs between SQLite and PostgreSQL: connecting, placeholders, DDL types, errors."""
    placeholder = "?"
    id_type = "INTEGER PRIMARY KEY"
    blob_type = "BLOB"
    real_type = "REAL"

    def sql(self, text):
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


class _SQLite(_Engine):
    name = "SQLite"

    def __init__(self, path, create):
        self.where = runio.display_path(path)
        if path.startswith("sqlite:///"):
            path = path[len("sqlite:///") - 1:]
        if os.path.islink(path) and not os.path.exists(path):
            raise CvpError(f"{self.where}: is a link to nothing; give the database file itself")
        if os.path.isdir(path):
            raise CvpError(f"{self.where}: is a folder; give a database file")
        exists = os.path.exists(path)
        if not exists and not create:
            raise CvpError(f"{self.where}: no such database (import runs into it first: "
                           f"cvp db import RUN...)")
        if not exists:
            folder = os.path.dirname(os.path.abspath(path))
            runio.make_folder(folder)
        self.created = not exists
        timeout = _timeout()
        try:
            # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE for writes,
            # so that two writers queue on the busy timeout instead of deadlocking).
            self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise self.error(e) from None

    def error(self, e):
        text = str(e)
        if "locked" in text or "busy" in text:
            return CvpError(f"{self.where}: the database is locked by another process and "
                            f"stayed locked for {_timeout():g} s (set {ENV_TIMEOUT} to wait "
                            f"longer); nothing was changed")
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return CvpError(f"{self.where}: is not a readable SQLite database ({text}); it was "
                            f"left as it is")
        if "readonly" in text or "read-only" in text:
            return CvpError(f"{self.where}: cannot be written ({text}); nothing was changed")
        return CvpError(f"{self.where}: database error ({text}); nothing was changed")

    def catches(self):
        return (sqlite3.Error,)

    def begin(self, write):
        self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def prepare(self):
        if self.created or self._journal() != "wal":
            self.conn.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses no committed transaction on a crash of the program (only, at
        # worst, the last ones on a power loss) and saves an fsync per commit.
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def _journal(self):
        return self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower()

    def tables(self):
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def insert_id(self, cur, sql, params):
        cur.execute(sql, params)
        return cur.lastrowid

    def many(self, cur, sql, rows):
        cur.executemany(sql, rows)


class _Postgres(_Engine):
    name = "PostgreSQL"
    placeholder = "%s"
    id_type = "BIGSERIAL PRIMARY KEY"
    blob_type = "BYTEA"
    real_type = "DOUBLE PRECISION"

    def __init__(self, url, create):
        self.where = display_location(url)
        self.url = url
        # Without psycopg2 the ImportError reaches the command line, which names the package.
        import psycopg2
        import psycopg2.extras
        self.psycopg2 = psycopg2
        self.extras = psycopg2.extras
        self.created = False
        try:
            self.conn = psycopg2.connect(url, connect_timeout=max(1, int(_timeout())))
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                # Wait for a lock at most the busy timeout, as SQLite does.
                cur.execute("SET lock_timeout = %s", (int(_timeout() * 1000),))
        except psycopg2.Error as e:
            raise self.error(e) from None

    def error(self, e):
        text = _mask(" ".join(str(e).split()) or type(e).__name__, self.url)
        code = getattr(e, "pgcode", None)
        if code == "55P03":
            return CvpError(f"{self.where}: the database is locked by another client and stayed "
                            f"locked for {_timeout():g} s; nothing was changed")
        return CvpError(f"{self.where}: PostgreSQL error ({text}); nothing was changed")

    def catches(self):
        return (self.psycopg2.Error,)

    def begin(self, write):
        self.conn.cursor().execute("BEGIN")
        if write:
            # One writer at a time, as in SQLite: imports and migrations take this lock, so
            # that two importing the same run cannot both find it absent.
            self.conn.cursor().execute("SELECT pg_advisory_xact_lock(7234101)")

    def prepare(self):
        pass

    def tables(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema()")
            return {r[0] for r in cur.fetchall()}

    def insert_id(self, cur, sql, params):
        cur.execute(sql + " RETURNING id", params)
        return cur.fetchone()[0]

    def many(self, cur, sql, rows):
        # One statement per thousand rows, not one round trip per row.
        head = sql[:sql.index("VALUES")]
        self.extras.execute_values(cur, head + "VALUES %s", rows, page_size=1000)


# --- the database -------------------------------------------------------------------------------

class Database:
    """An open results database. Use `open_database`; close it (or use it in a with block)."""

    def __init__(self, location, create=False):
        self.location = location
        self.engine = (_Postgres(location, create) if is_postgres(location)
                       else _SQLite(location, create))
        self.where = self.engine.where
        try:
            self._check_schema(create)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        conn = getattr(self.engine, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
            self.engine.conn = None

    @contextmanager
    def _transaction(self, write):
        conn = self.engine.conn
        try:
            self.engine.begin(write)
        except self.engine.catches() as e:
            raise self.engine.error(e) from None
        try:
            cur = conn.cursor()
            yield cur
            conn.cursor().execute("COMMIT")
        except self.engine.catches() as e:
            self._rollback()
            raise self.engine.error(e) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self):
        try:
            self.engine.conn.cursor().execute("ROLLBACK")
        except Exception:
            pass

    def _read(self, sql, params=()):
        try:
            cur = self.engine.conn.cursor()
            cur.execute(self.engine.sql(sql), params)
            return cur.fetchall()
        except self.engine.catches() as e:
            raise self.engine.error(e) from None

    # --- schema ---------------------------------------------------------------------------

    def _version(self):
        tables = self.engine.tables()
        if not tables:
            return 0
        if "meta" not in tables or not set(_TABLES) <= tables:
            raise CvpError(f"{self.where}: is a {self.engine.name} database but not a cvpbench "
                           f"results database (no cvpbench tables); it was left as it is")
        rows = self._read("SELECT value FROM meta WHERE key = 'schema_version'")
        try:
            return int(rows[0][0])
        except (IndexError, ValueError, TypeError):
            raise CvpError(f"{self.where}: its schema version is missing or unreadable; it was "
                           f"left as it is") from None

    def _check_schema(self, create):
        # The schema is read before anything is written (the journal mode too), so that a
        # database that is refused is left byte for byte as it was.
        try:
            version = self._version()
        except self.engine.catches() as e:
            raise self.engine.error(e) from None
        if version > SCHEMA_VERSION:
            raise CvpError(f"{self.where}: was written by a newer cvp (schema version "
                           f"{version}; this cvp reads up to {SCHEMA_VERSION}); update cvpbench "
                           f"to use it; it was left as it is")
        if version == SCHEMA_VERSION:
            if create:
                try:
                    self.engine.prepare()
                except self.engine.catches() as e:
                    raise self.engine.error(e) from None
            return
        if version == 0 and not create:
            raise CvpError(f"{self.where}: is empty (import runs into it first: cvp db import "
                           f"RUN...)")
        try:
            self.engine.prepare()
        except self.engine.catches() as e:
            raise self.engine.error(e) from None
        self.migrate()

    def migrate(self):
        """Bring the schema to SCHEMA_VERSION in one transaction (all steps or none)."""
        with self._transaction(write=True) as cur:
            version = self._version()  # again, under the write lock: another may have done it
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    cur.execute(statement.format(id=self.engine.id_type,
                                                 blob=self.engine.blob_type,
                                                 real=self.engine.real_type))
            if version < SCHEMA_VERSION:
                if version == 0:
                    cur.execute(self.engine.sql("INSERT INTO meta (key, value) VALUES (?, ?)"),
                                ("schema_version", str(SCHEMA_VERSION)))
                else:
                    cur.execute(self.engine.sql("UPDATE meta SET value = ? WHERE key = ?"),
                                (str(SCHEMA_VERSION), "schema_version"))

    # --- import ---------------------------------------------------------------------------

    def import_runs(self, paths, machine_name=None, report=None):
        """Import run folders (or summary.json files). Each run is one transaction: it is
        there whole or not at all. Returns [(path, digest, added)]. A bad file stops the
        import with a CvpError that says how many runs before it were imported."""
        out = []
        cache = _Cache()
        # The import is recorded with the first run it adds, in that run's transaction: an
        # import that adds nothing (or fails first) leaves no trace, and `cvp history
        # --regressions` takes the runs of the latest import that added some as the new ones.
        import_id = None
        started = _now()
        known = {f: d for f, d in self._read("SELECT file_sha256, digest FROM runs "
                                             "WHERE file_sha256 IS NOT NULL")}
        for path, run in _prepared(paths, machine_name, report, known):
            try:
                if isinstance(run, CvpError):
                    raise run
            except CvpError as e:
                done = sum(1 for _, _, added in out if added)
                if done or out:
                    raise CvpError(f"{e} (the {len(out)} run(s) before it were imported, "
                                   f"{done} of them new; nothing from it or after it)") from None
                raise
            if isinstance(run, _Known):
                out.append((run.path, run.digest, False))
                continue
            with self._transaction(write=True) as cur:
                new_import = import_id is None
                if new_import:
                    import_id = self.engine.insert_id(
                        cur, self.engine.sql("INSERT INTO imports (started_at, runs_added) "
                                             "VALUES (?, 0)"), (started,))
                try:
                    added = self._insert_run(cur, run, import_id, cache)
                except BaseException:
                    if new_import:
                        import_id = None    # rolled back with the run
                    raise
                if added:
                    cur.execute(self.engine.sql("UPDATE imports SET runs_added = runs_added + 1 "
                                                "WHERE id = ?"), (import_id,))
            out.append((run.path, run.digest, added))
        return out

    def _insert_run(self, cur, run, import_id, cache):
        sql = self.engine.sql
        cur.execute(sql("SELECT id FROM runs WHERE digest = ?"), (run.digest,))
        if cur.fetchone():
            return False
        machine_id = cache.machines.get(run.machine["fingerprint"])
        if machine_id is None:
            cur.execute(sql("SELECT id FROM machines WHERE fingerprint = ?"),
                        (run.machine["fingerprint"],))
            row = cur.fetchone()
            if row:
                machine_id = row[0]
            else:
                m = run.machine
                machine_id = self.engine.insert_id(cur, sql(
                    "INSERT INTO machines (fingerprint, label, cpu_model, logical_cpus, "
                    "physical_cores, allowed_cores, smt, host, os, compiler, hosts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (m["fingerprint"], m["label"], m["cpu_model"], m["logical_cpus"],
                     m["physical_cores"], m["allowed_cores"], m["smt"], m["host"], m["os"],
                     m["compiler"], m["hosts"]))
            cache.machines[run.machine["fingerprint"]] = machine_id
        run_id = self.engine.insert_id(cur, sql(
            "INSERT INTO runs (digest, machine_id, git_commit, version, run_date, imported_at, "
            "source, quick, noisy, result_count, import_id, report, file_sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (run.digest, machine_id, run.commit, run.version, run.date, _now(), run.path,
             run.quick, run.noisy, len(run.results), import_id, run.report, run.file_sha256))
        rows = []
        for bench, values in run.results:
            bench_id = cache.benchmarks.get(bench["name"])
            if bench_id is None:
                cur.execute(sql("SELECT id FROM benchmarks WHERE name = ?"), (bench["name"],))
                row = cur.fetchone()
                if row:
                    bench_id = row[0]
                else:
                    bench_id = self.engine.insert_id(cur, sql(
                        "INSERT INTO benchmarks (name, workload, kind, mode, backend, threads, "
                        "in_flight, work_unit, ranks, weak) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                        tuple(bench[k] for k in _BENCH_FIELDS))
                cache.benchmarks[bench["name"]] = bench_id
            rows.append((run_id, bench_id) + values)
        if rows:
            self.engine.many(cur, sql(
                "INSERT INTO results (run_id, benchmark_id, time_s, time_lo, time_hi, "
                "repetitions, throughput, throughput_unit, speedup, speedup_lo, speedup_hi, "
                "efficiency, bound, cores, attainable, efficiency_ideal) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                rows)
        cur.execute(sql("INSERT INTO documents (run_id, summary) VALUES (?, ?)"),
                    (run_id, self._blob(run.compressed)))
        return True

    def _blob(self, data):
        return self.engine.psycopg2.Binary(data) if isinstance(self.engine, _Postgres) else data

    # --- queries --------------------------------------------------------------------------

    def machines(self):
        rows = self._read(
            "SELECT m.id, m.fingerprint, m.label, m.cpu_model, m.logical_cpus, "
            "m.physical_cores, m.allowed_cores, m.smt, m.host, m.os, m.compiler, m.hosts, "
            "COUNT(r.id), MIN(r.run_date), MAX(r.run_date) "
            "FROM machines m LEFT JOIN runs r ON r.machine_id = m.id "
            "GROUP BY m.id, m.fingerprint, m.label, m.cpu_model, m.logical_cpus, "
            "m.physical_cores, m.allowed_cores, m.smt, m.host, m.os, m.compiler, m.hosts "
            "ORDER BY m.id")
        keys = ("id", "fingerprint", "label", "cpu_model", "logical_cpus", "physical_cores",
                "allowed_cores", "smt", "host", "os", "compiler", "hosts", "runs", "first",
                "last")
        return [dict(zip(keys, r)) for r in rows]

    def machine(self, ref):
        """A machine by id, fingerprint prefix or label (exact); CvpError when none or several."""
        found = [m for m in self.machines()
                 if str(m["id"]) == ref or m["label"] == ref
                 or (len(ref) >= 4 and m["fingerprint"].startswith(ref))]
        if not found:
            raise CvpError(f"{self.where}: no machine '{ref}' (cvp db machines lists them)")
        if len(found) > 1:
            raise CvpError(f"{self.where}: '{ref}' names {len(found)} machines; give its id "
                           f"(cvp db machines lists them)")
        return found[0]

    _RUN_COLUMNS = ("r.id, r.digest, r.machine_id, m.label, r.git_commit, r.version, "
                    "r.run_date, r.imported_at, r.source, r.quick, r.noisy, r.result_count, "
                    "r.import_id, r.report")
    _RUN_KEYS = ("id", "digest", "machine_id", "machine", "commit", "version", "date",
                 "imported_at", "source", "quick", "noisy", "results", "import_id", "report")

    def runs(self, machine_id=None, limit=None):
        """Runs, newest first (by their own date, then by import order)."""
        sql = (f"SELECT {self._RUN_COLUMNS} FROM runs r JOIN machines m ON m.id = r.machine_id")
        params = []
        if machine_id is not None:
            sql += " WHERE r.machine_id = ?"
            params.append(machine_id)
        sql += " ORDER BY r.run_date DESC, r.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [dict(zip(self._RUN_KEYS, r)) for r in self._read(sql, params)]

    def run(self, ref):
        """One run by id or digest prefix (at least 6 characters), with its results."""
        ref = ref.strip()
        if ref.isascii() and ref.isdigit() and len(ref) < 6:
            rows = self._read(f"SELECT {self._RUN_COLUMNS} FROM runs r JOIN machines m "
                              f"ON m.id = r.machine_id WHERE r.id = ?", (int(ref),))
        elif re.fullmatch(r"[0-9a-f]{6,64}", ref):
            rows = self._read(f"SELECT {self._RUN_COLUMNS} FROM runs r JOIN machines m "
                              f"ON m.id = r.machine_id WHERE r.digest LIKE ?", (ref + "%",))
        else:
            raise CvpError(f"'{ref}': not a run id or digest prefix (6 hex digits or more; "
                           f"cvp db list shows them)")
        if not rows:
            raise CvpError(f"{self.where}: no run '{ref}' (cvp db list shows them)")
        if len(rows) > 1:
            raise CvpError(f"{self.where}: '{ref}' matches {len(rows)} runs; give more digits")
        run = dict(zip(self._RUN_KEYS, rows[0]))
        run["results"] = self.run_results(run["id"])
        return run

    _RESULT_KEYS = ("benchmark", "workload", "kind", "mode", "backend", "threads", "in_flight",
                    "work_unit", "ranks", "weak", "time", "time_lo", "time_hi", "repetitions", "throughput",
                    "throughput_unit", "speedup", "speedup_lo", "speedup_hi", "efficiency",
                    "bound", "cores", "attainable", "efficiency_ideal")
    _RESULT_COLUMNS = ("b.name, b.workload, b.kind, b.mode, b.backend, b.threads, b.in_flight, "
                       "b.work_unit, b.ranks, b.weak, x.time_s, x.time_lo, x.time_hi, x.repetitions, "
                       "x.throughput, x.throughput_unit, x.speedup, x.speedup_lo, "
                       "x.speedup_hi, x.efficiency, x.bound, x.cores, x.attainable, "
                       "x.efficiency_ideal")

    def run_results(self, run_id):
        rows = self._read(f"SELECT {self._RESULT_COLUMNS} FROM results x JOIN benchmarks b "
                          f"ON b.id = x.benchmark_id WHERE x.run_id = ?", (run_id,))
        # Sorted here, not in SQL: the engines' collations order names differently.
        return sorted((_ranks_weak(dict(zip(self._RESULT_KEYS, r)), "benchmark")
                       for r in rows), key=lambda r: r["benchmark"])

    def document(self, run_id):
        """The run's summary.json, as it was imported (canonical form)."""
        rows = self._read("SELECT summary FROM documents WHERE run_id = ?", (run_id,))
        if not rows or rows[0][0] is None:
            raise CvpError(f"{self.where}: the summary of run {run_id} is not in the database")
        try:
            return zlib.decompress(bytes(rows[0][0]))
        except (zlib.error, TypeError, ValueError):
            raise CvpError(f"{self.where}: the stored summary of run {run_id} is damaged") \
                from None

    def benchmarks(self, pattern=None):
        """Benchmarks whose names match the regular expression `pattern` (search), by name."""
        rows = self._read("SELECT id, name, workload, kind, mode, backend, threads, in_flight, "
                          "work_unit, ranks, weak FROM benchmarks")
        keys = ("id", "name", "workload", "kind", "mode", "backend", "threads", "in_flight",
                "work_unit", "ranks", "weak")
        out = sorted((_ranks_weak(dict(zip(keys, r)), "name") for r in rows),
                     key=lambda b: b["name"])
        if pattern is not None:
            regex = compile_pattern(pattern)
            out = [b for b in out if regex.search(b["name"])]
        return out

    _SERIES_KEYS = ("machine_id", "run_id", "digest", "date", "commit", "source", "report",
                    "import_id", "time", "time_lo", "time_hi", "repetitions", "throughput",
                    "speedup", "speedup_lo", "speedup_hi", "efficiency", "cores")

    def series(self, benchmark_id, machine_id=None):
        """{machine_id: [point, ...]} of one benchmark, each list in the runs' date order."""
        sql = ("SELECT r.machine_id, r.id, r.digest, r.run_date, r.git_commit, r.source, "
               "r.report, r.import_id, x.time_s, x.time_lo, x.time_hi, x.repetitions, "
               "x.throughput, x.speedup, x.speedup_lo, x.speedup_hi, x.efficiency, x.cores "
               "FROM results x JOIN runs r ON r.id = x.run_id WHERE x.benchmark_id = ?")
        params = [benchmark_id]
        if machine_id is not None:
            sql += " AND r.machine_id = ?"
            params.append(machine_id)
        sql += " ORDER BY r.machine_id, r.run_date, r.id"
        out = {}
        for row in self._read(sql, params):
            point = dict(zip(self._SERIES_KEYS, row))
            out.setdefault(point["machine_id"], []).append(point)
        return out

    def latest_import(self):
        """The latest import that added runs (None before any)."""
        rows = self._read("SELECT MAX(id) FROM imports WHERE runs_added > 0")
        return rows[0][0] if rows else None

    def latest_results(self):
        """The newest run of each machine with its results: {machine_id: run with results}."""
        out = {}
        for m in self.machines():
            runs = self.runs(machine_id=m["id"], limit=1)
            if runs:
                run = runs[0]
                run["results"] = self.run_results(run["id"])
                out[m["id"]] = run
        return out

    def counts(self):
        rows = self._read("SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM machines), "
                          "(SELECT COUNT(*) FROM benchmarks), (SELECT COUNT(*) FROM results)")
        return dict(zip(("runs", "machines", "benchmarks", "results"), rows[0]))


_BENCH_FIELDS = ("name", "workload", "kind", "mode", "backend", "threads", "in_flight",
                 "work_unit", "ranks", "weak")


def _ranks_weak(row, name_key):
    """A benchmark's ranks and weak factor: as stored, else (benchmarks imported before schema
    version 5) from its name's `/ranks:R/` and `/weak:P/`, else 1."""
    if row.get("ranks") is None or row.get("weak") is None:
        ranks, weak = res.name_ranks_weak(row[name_key])
        if row.get("ranks") is None:
            row["ranks"] = ranks
        if row.get("weak") is None:
            row["weak"] = weak
    row["weak"] = float(row["weak"])
    return row


class _Cache:
    def __init__(self):
        self.machines = {}
        self.benchmarks = {}


def open_database(location=None, create=False):
    """Open (with create: create or upgrade) the database at a path or PostgreSQL URL."""
    if location is not None and not location.strip():
        raise CvpError("--db: empty; give a file or a postgresql:// URL (or leave --db out for "
                       "the default database)")
    location = location or default_location()
    return Database(location, create=create)


def compile_pattern(pattern):
    try:
        return re.compile(pattern)
    except re.error as e:
        raise CvpError(f"'{pattern}': not a regular expression ({e})") from None


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- reading a run for import ------------------------------------------------------------------

class PreparedRun:
    """What a summary contributes to the database, derived before any transaction opens."""

    def __init__(self, path, doc, canonical, machine_name, report, file_sha256=None):
        self.path = path
        # Compressed here, in the worker that read it: the main process only inserts.
        self.compressed = zlib.compress(canonical, 1)
        self.digest = hashlib.sha256(canonical).hexdigest()
        self.file_sha256 = file_sha256
        tool = doc.get("tool") or {}
        self.commit = _text(tool.get("git_commit"))
        self.version = _text(tool.get("version"))
        machine = doc["machine"]
        self.date = _iso_date(path, machine.get("date"))
        config = doc.get("config") or {}
        self.quick = _flag(config.get("quick"))
        self.noisy = _flag(doc.get("noisy"))
        self.report = report
        self.machine = _machine_row(machine, machine_name, res.cluster_hosts(doc))
        self.results = []
        seen = set()
        for r in res.live_results(runio.Run(path, runio.SUMMARY, doc)):
            name = res.result_name(r)
            if name in seen:
                raise CvpError(f"{path}: benchmark {name} appears twice in its results")
            seen.add(name)
            row = _result_values(path, name, r)
            if row is None:
                continue
            # The time is per unit of work only where the row says how much work an
            # execution is; otherwise it is per execution, and the unit says so.
            unit, per = res.result_work(r)
            bench = {"name": name, "workload": r.get("workload"), "kind": r.get("kind"),
                     "mode": r.get("mode"), "backend": r.get("backend"),
                     "threads": _int(r.get("threads")), "in_flight": _int(r.get("in_flight")),
                     "work_unit": unit if unit and per else "execution",
                     "ranks": res.ranks_of(r), "weak": res.weak_of(r)}
            self.results.append((bench, row))


class _Known:
    """A file whose bytes are those of a run already in the database."""

    def __init__(self, path, digest):
        self.path = path
        self.digest = digest


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _prepare_or_error(path, machine_name, report, known=None):
    try:
        try:
            resolved = runio.resolve_input(path)
            file_sha256 = _file_sha256(resolved)
        except (CvpError, OSError):
            file_sha256 = None     # prepare_run says what is wrong with it
        if known and file_sha256 in known:
            return _Known(runio.display_path(resolved), known[file_sha256])
        return prepare_run(path, machine_name, report, file_sha256)
    except CvpError as e:
        return e


def _worker_start(parent):
    """Run first in every worker of the import's pool, so that no worker outlives the import:
    SIGTERM and SIGHUP end a worker (the handler it inherited would turn them into a
    KeyboardInterrupt that the pool catches and reports, so the worker went on), Ctrl-C is the
    import's to handle (it ends its workers), and on Linux the kernel sends SIGKILL to a worker
    whose parent dies, even by SIGKILL. A watchdog thread also ends a worker that finds its
    parent gone, where that signal is not available."""
    import signal
    import threading
    import time
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held since the fork (_held_signals): now they act
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS())
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # PR_SET_PDEATHSIG: 1
            pass

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)
    if os.getppid() != parent:  # the import ended before this worker got here
        os._exit(1)
    threading.Thread(target=watch, name="cvp-parent-watch", daemon=True).start()


def _STOP_SIGNALS():
    import signal
    return {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}


@contextmanager
def _held_signals():
    """Stop signals held (blocked) while the pool starts workers: a new worker inherits the
    mask, and _worker_start releases them once its own handlers are in place. Without this, a
    SIGTERM between a worker's start and its initializer met the import's handler, which turns
    it into a KeyboardInterrupt the worker survived. The import gets its signals right after."""
    import signal
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _worker_end(processes):
    """How a pool's worker ended, in words, for the message of a broken pool."""
    import signal
    import time
    # The pool's own thread may be collecting the dead worker at this moment: give it a moment.
    deadline = time.monotonic() + 1.0
    while (time.monotonic() < deadline
           and not any(process.exitcode not in (None, 0) for process in processes)):
        time.sleep(0.01)
    # The pool sends SIGTERM to the other workers once one has died: another signal is the
    # cause, where there is one.
    for process in sorted(processes, key=lambda p: p.exitcode == -signal.SIGTERM):
        code = process.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
    for process in processes:
        if process.exitcode not in (None, 0):
            return f"exit status {process.exitcode}"
    return "it ended unexpectedly"


def _prepared(paths, machine_name, report, known=None, window=64):
    """(path, PreparedRun, _Known or CvpError) in the order given. Reading and checking a
    summary is most of an import's time, so many runs are prepared by a pool of processes, a
    window at a time so that memory stays bounded whatever the number of runs. A file whose
    SHA-256 is `known` is not read as JSON at all. The workers end with the import, however it
    ends (see _worker_start); a worker that dies gives a CvpError for the run it was reading."""
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else (os.cpu_count() or 1), 8)
    if len(paths) < 16 or workers < 2:
        for path in paths:
            yield path, _prepare_or_error(path, machine_name, report, known)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    # Workers forked (Linux) or spawned by this process itself, never by a server process,
    # so that a worker's parent is the import, which is what _worker_start watches.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux")
                                          else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_worker_start, initargs=(os.getpid(),))
    seen = {}
    broken = None
    try:
        for start in range(0, len(paths), window):
            chunk = paths[start:start + window]
            # Batches submitted one by one rather than pool.map: map's results cancel their
            # futures from this thread when they stop early, racing the pool's own thread,
            # which fails the same futures when a worker dies (Python 3.11 then prints a
            # traceback from that thread). Here only the pool's thread touches a future.
            try:
                with _held_signals():   # submitting starts the workers
                    batches = [(chunk[j:j + 4],
                                pool.submit(_prepare_batch, chunk[j:j + 4], machine_name,
                                            report, known))
                               for j in range(0, len(chunk), 4)]
            except BrokenProcessPool:
                # A worker died between two windows (every run before them is in): the pool
                # refuses the next window's first batch.
                seen.update(getattr(pool, "_processes", None) or {})
                yield chunk[0], CvpError(f"{chunk[0]}: the worker processes stopped before "
                                         f"reading it ({_worker_end(list(seen.values()))})")
                broken = chunk[0]
                break
            seen.update(getattr(pool, "_processes", None) or {})
            for batch, future in batches:
                try:
                    runs = future.result()
                except BrokenProcessPool:
                    broken = batch[0]
                    break
                yield from zip(batch, runs)
            if broken is not None:
                yield broken, CvpError(f"{broken}: the worker process reading it stopped "
                                       f"({_worker_end(list(seen.values()))})")
                break
    except BaseException:
        # Stopped (an error, Ctrl-C, SIGTERM, a worker that died): the workers go too, not
        # left blocked on a pipe nobody reads.
        _end_pool(pool, seen)
        raise
    if broken is not None:
        _end_pool(pool, seen)
    else:
        pool.shutdown(wait=True)


def _prepare_batch(paths, machine_name, report, known):
    """_prepare_or_error for each of a few paths, in one round trip to a worker."""
    return [_prepare_or_error(path, machine_name, report, known) for path in paths]


def _end_pool(pool, seen):
    """Let the pool's own thread cancel what is queued (shutdown's cancel_futures: it alone
    touches the futures, see _prepared), kill every worker of `pool` at once, and let that
    thread finish: it fails the futures left once it sees the workers gone."""
    thread = getattr(pool, "_executor_manager_thread", None)
    left = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in set(left) | set(seen.values()):
        if process.exitcode is None:
            process.kill()
    if thread is not None:
        thread.join(timeout=2.0)


def prepare_run(path, machine_name=None, report=None, file_sha256=None):
    """A run read and checked for import. file_sha256: its file's hash, when known already."""
    run = runio.load_run(path, builtin=True)
    if run.format != runio.SUMMARY:
        raise CvpError(f"{run.path}: is raw Google Benchmark JSON; the database keeps cvpbench "
                       f"runs (a folder with summary.json), which say which machine they ran on")
    try:
        canonical = json.dumps(run.doc, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError:
        raise CvpError(f"{run.path}: holds a number beyond the range of a double (such as "
                       f"1e999)") from None
    # \u0000 after an even number of backslashes: a NUL, not the text "\\u0000".
    if re.search(rb"(?<!\\)(?:\\\\)*\\u0000", canonical):
        raise CvpError(f"{run.path}: a string holds a NUL character, which the database "
                       f"cannot store")
    if file_sha256 is None:
        try:
            file_sha256 = _file_sha256(runio.resolve_input(path))
        except OSError:
            pass
    try:
        return PreparedRun(run.path, run.doc, canonical, machine_name, report, file_sha256)
    except _Unstorable as e:
        raise CvpError(f"{run.path}: {e}") from None


def _text(value):
    return value if isinstance(value, str) and value else None


def _flag(value):
    return None if not isinstance(value, bool) else int(value)


class _Unstorable(Exception):
    """A value a database column cannot hold; prepare_run names the file."""


def _int(value):
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if not -2**63 <= value < 2**63:
        raise _Unstorable(f"the integer {str(value)[:30]}... does not fit in 64 bits")
    return value


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _iso_date(path, value):
    if not isinstance(value, str):
        raise CvpError(f"{path}: machine.date is missing; the database orders runs by it")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        utc = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise CvpError(f"{path}: machine.date {value[:60]!r} is not an ISO 8601 date in years "
                       f"1 to 9999") from None
    # Four-digit years always, so that the dates sort as text.
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}Z")


def _machine_row(machine, name, hosts=None):
    """The machine of a run. `hosts`: a distributed run's sorted set of hosts ('a,b'), whose
    machine is the cluster: those hosts and the CPU model (rank 0's CPU counts and allowed
    CPUs follow from where the launcher put it, not from which machines ran)."""
    allowed = machine.get("allowed_cpus")
    allowed_cores = _int(machine.get("allowed_cores"))
    if allowed_cores is None and isinstance(allowed, list):
        allowed_cores = len(allowed)
    if hosts is not None:
        hardware = {"cpu_model": machine.get("cpu_model"), "cluster_hosts": hosts}
    else:
        hardware = {k: machine.get(k) for k in ("cpu_model", "logical_cpus", "physical_cores",
                                                "allowed_cpus", "smt", "caches", "host")}
    hardware["name"] = name or ""
    fingerprint = hashlib.sha256(json.dumps(hardware, sort_keys=True, default=str)
                                 .encode("utf-8")).hexdigest()
    cpu = _text(machine.get("cpu_model")) or "unknown CPU"
    if hosts is not None:
        label = name or f"{cpu}, cluster of {hosts} ({fingerprint[:6]})"
    else:
        label = name or f"{cpu}, {allowed_cores or '?'} CPUs ({fingerprint[:6]})"
    return {"fingerprint": fingerprint, "label": label, "cpu_model": cpu,
            "logical_cpus": _int(machine.get("logical_cpus")),
            "physical_cores": _int(machine.get("physical_cores")),
            "allowed_cores": allowed_cores, "smt": _flag(machine.get("smt")),
            "host": _text(machine.get("host")), "os": _text(machine.get("os")),
            "compiler": _text(machine.get("compiler")), "hosts": hosts}


def _ci(value):
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None, None


def _result_values(path, name, r):
    """The stored values of one result: time per unit of work (median, CI), repetitions,
    throughput, speedup (CI), efficiency, bound, cores, and the attainable bound and the
    efficiency against the ideal where the file gives them. A measured row whose time is missing,
    zero or negative is refused (CvpError): no measurement takes no time, and a row left out
    without a word would read as a benchmark that was not run."""
    wall = r.get("wall_s") if isinstance(r.get("wall_s"), dict) else {}
    median = _number(wall.get("median"))
    shown = runio.printable(name)
    if median is None:
        raise CvpError(f"{path}: benchmark {shown} has no median time (wall_s.median); a row "
                       f"that was not measured says so with an error; nothing from this file "
                       f"was imported")
    if median <= 0:
        raise CvpError(f"{path}: benchmark {shown} has a median time of {median:g} s, which no "
                       f"measurement gives (a time must be positive); nothing from this file "
                       f"was imported")
    _, per = res.result_work(r)
    scale = 1.0 / per if per else 1.0
    lo, hi = _ci(wall.get("ci95"))
    if lo is not None and min(lo, hi) < 0:
        raise CvpError(f"{path}: benchmark {shown} has a negative time in its 95% CI "
                       f"(wall_s.ci95 = [{lo:g}, {hi:g}] s); nothing from this file was "
                       f"imported")
    samples = wall.get("samples") if isinstance(wall.get("samples"), list) else []
    reps = _int(r.get("repetitions_done")) or len(samples) or None
    tp = r.get("throughput") if isinstance(r.get("throughput"), dict) else {}
    sp = r.get("speedup") if isinstance(r.get("speedup"), dict) else {}
    slo, shi = _ci(sp.get("ci95"))
    return (median * scale, lo * scale if lo is not None else None,
            hi * scale if hi is not None else None, reps,
            _number(tp.get("value")), _text(tp.get("unit")),
            _number(sp.get("value")), slo, shi, _number(r.get("efficiency")),
            _number(r.get("bound")), _int(r.get("cores")), _attainable_value(r),
            _number(r.get("efficiency_ideal")))


def _attainable_value(r):
    """A result's attainable bound (`attainable.value`), None when the file gives none."""
    a = r.get("attainable")
    value = _number(a.get("value")) if isinstance(a, dict) else None
    return value if value is not None and value > 0 else None


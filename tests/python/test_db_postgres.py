"""The results database on a real PostgreSQL server (started and stopped by pg_server.py):
the same schema and answers as SQLite, idempotent and concurrent imports, and refusals."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, ROOT, run_cvp
from pg_server import postgres_server  # noqa: F401  (a fixture)
from test_db import STEPPED, make_runs, one_error_line

psycopg2 = pytest.importorskip("psycopg2") if os.environ.get("CVP_REQUIRE_POSTGRES") != "1" \
    else __import__("psycopg2")


@pytest.fixture
def pg(postgres_server, request):  # noqa: F811
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return postgres_server.create_database(name)


def _count(url, table):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _json(*args):
    proc = run_cvp(*args, "--json", "-")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _without_ids(doc):
    """The answers with the engine's own row numbers and import times taken out."""
    if isinstance(doc, dict):
        return {k: _without_ids(v) for k, v in doc.items()
                if k not in ("id", "machine_id", "import_id", "imported_at")}
    if isinstance(doc, list):
        return [_without_ids(v) for v in doc]
    return doc


def test_same_answers_as_sqlite(tmp_path, pg):
    paths = make_runs(tmp_path / "runs", 30, step=(20, 1.15), machines=2)
    lite = str(tmp_path / "lite.sqlite")
    for where in (lite, pg):
        proc = run_cvp("db", "import", "--db", where, *paths[:20])
        assert proc.returncode == 0, proc.stderr
        proc = run_cvp("db", "import", "--db", where, *paths[20:], GOLDEN / "traced")
        assert proc.returncode == 0, proc.stderr
        assert "31 runs of" in proc.stdout
    assert _count(pg, "runs") == 31 and _count(pg, "documents") == 31
    for args in (["db", "list"], ["db", "machines"]):
        assert _without_ids(_json(*args, "--db", pg)) == _without_ids(_json(*args, "--db", lite))
    digest = _json("db", "list", "--db", lite)["runs"][0]["digest"]
    assert (_without_ids(_json("db", "show", digest[:8], "--db", pg))
            == _without_ids(_json("db", "show", digest[:8], "--db", lite)))
    summary = run_cvp("db", "show", digest[:8], "--db", pg, "--summary", "-").stdout
    assert summary == run_cvp("db", "show", digest[:8], "--db", lite, "--summary", "-").stdout
    history_pg = _json("history", "--db", pg, "--regressions")
    assert history_pg == _json("history", "--db", lite, "--regressions")
    changes = [(s["benchmark"], c["new"]) for s in history_pg["series"] for c in s["changes"]]
    # the step (run 20, on both machines) came with the second import: new on each machine
    assert changes == [(STEPPED, True), (STEPPED, True)]
    assert run_cvp("history", "--db", pg, "--regressions").returncode == 1
    assert run_cvp("db", "import", "--db", pg, paths[-1]).returncode == 0   # adds nothing
    assert run_cvp("history", "--db", pg, "--regressions").returncode == 1
    later = make_runs(tmp_path / "runs", 2, step=(20, 1.15), machines=2, first=30)
    assert run_cvp("db", "import", "--db", pg, *later).returncode == 0
    assert run_cvp("history", "--db", pg, "--regressions").returncode == 0


def test_import_twice_and_concurrently_adds_each_run_once(tmp_path, pg):
    paths = make_runs(tmp_path / "runs", 18, machines=3)
    cvp = str(ROOT / "scripts" / "cvp")
    halves = [paths[:12], paths[6:], paths[::2]]
    procs = [subprocess.Popen([sys.executable, cvp, "db", "import", "--db", pg, *h],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for h in halves]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert _count(pg, "runs") == 18 and _count(pg, "results") == 18 * 11
    assert _count(pg, "machines") == 3
    proc = run_cvp("db", "import", "--db", pg, *paths)
    assert "0 run(s) added, 18 already present" in proc.stdout
    assert _count(pg, "runs") == 18


def test_refusals_on_postgres(tmp_path, pg):
    assert run_cvp("db", "import", "--db", pg, GOLDEN / "traced").returncode == 0
    # a lock held by another client: wait CVP_DB_TIMEOUT, then one sentence, nothing changed
    holder = psycopg2.connect(pg)
    holder.autocommit = False
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE runs IN EXCLUSIVE MODE")
        env = dict(os.environ, CVP_DB_TIMEOUT="1")
        proc = run_cvp("db", "import", "--db", pg, GOLDEN / "workstation", env=env)
    holder.rollback()
    holder.close()
    assert proc.returncode == 2
    assert "locked" in one_error_line(proc)
    assert _count(pg, "runs") == 1
    # a newer schema
    conn = psycopg2.connect(pg)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("UPDATE meta SET value = '42' WHERE key = 'schema_version'")
    conn.close()
    proc = run_cvp("db", "list", "--db", pg)
    assert proc.returncode == 2 and "newer cvp (schema version 42" in one_error_line(proc)
    # a server that is not there, and a password never printed
    bad = "postgresql://someone:s3cret@/nowhere?host=/nonexistent-socket-dir&port=1"
    proc = run_cvp("db", "list", "--db", bad)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "s3cret" not in line and "PostgreSQL error" in line

"""The results database (cvp db) on SQLite: import, idempotence, queries, refusals, locks,
concurrent writers, migrations, and `cvp history --regressions` on planted steps and A/A runs.

Runs come from the program's own output (golden/real, golden/traced, golden/workstation) and
from the synthetic generator, whose runs are that real summary with their times redrawn."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, TOOLS, run_cvp
from cvptools import db as cvpdb
import synthetic

REAL = GOLDEN / "real"
TEMPLATE = REAL / "summary.json"
STEPPED = "matmul/n:64/mode:serial/backend:threads/threads:1"


def one_error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def make_runs(folder, runs, step=None, first=0, machines=1, seed=3, noise=0.01):
    steps = [synthetic.Step(f"^{STEPPED}$:{step[0]}:{step[1]}")] if step else []
    return synthetic.generate(folder, runs, benchmarks=11, machines=machines, steps=steps,
                              noise=noise, seed=seed, template=TEMPLATE, first=first)


def digest_of(path):
    return cvpdb.prepare_run(str(path)).digest


def table_rows(db):
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "machines", "benchmarks", "results", "documents")}
    finally:
        con.close()


@pytest.fixture
def dbfile(tmp_path):
    return str(tmp_path / "results.sqlite")


# --- import -------------------------------------------------------------------------------------

def test_import_is_idempotent_by_content(tmp_path, dbfile):
    proc = run_cvp("db", "import", "--db", dbfile, REAL, GOLDEN / "traced")
    assert proc.returncode == 0, proc.stderr
    assert "2 run(s) added, 0 already present" in proc.stdout
    before = table_rows(dbfile)
    assert before["runs"] == 2 and before["documents"] == 2
    # The same runs again, and a copy of one under another name: nothing is added.
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(REAL, copy)
    proc = run_cvp("db", "import", "--db", dbfile, REAL, copy / "summary.json")
    assert proc.returncode == 0, proc.stderr
    assert "0 run(s) added, 2 already present" in proc.stdout
    assert table_rows(dbfile) == before
    # The same content written otherwise (indented, keys in another order) is the same run.
    doc = json.loads((REAL / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps(dict(reversed(list(doc.items()))), indent=1))
    proc = run_cvp("db", "import", "--db", dbfile, copy)
    assert "0 run(s) added, 1 already present" in proc.stdout
    assert table_rows(dbfile) == before
    # A changed run is another run.
    doc = json.loads((REAL / "summary.json").read_text())
    doc["results"][0]["wall_s"]["median"] *= 1.01
    (copy / "summary.json").write_text(json.dumps(doc))
    proc = run_cvp("db", "import", "--db", dbfile, copy)
    assert "1 run(s) added" in proc.stdout
    assert table_rows(dbfile)["runs"] == 3


@pytest.mark.parametrize("fixture", ["traced", "workstation"])
def test_stored_values_are_the_runs_own(dbfile, fixture):
    assert run_cvp("db", "import", "--db", dbfile, GOLDEN / fixture).returncode == 0
    doc = json.loads((GOLDEN / fixture / "summary.json").read_text())
    with cvpdb.open_database(dbfile) as database:
        run = database.run(digest_of(GOLDEN / fixture)[:10])
        stored = {r["benchmark"]: r for r in run["results"]}
        assert json.loads(database.document(run["id"])) == doc
    assert run["commit"] == doc["tool"]["git_commit"]
    assert run["date"] == doc["machine"]["date"]
    live = [r for r in doc["results"] if not r.get("error")]
    assert len(stored) == len(live) > 0
    for r in live:
        s = stored[r["name"]]
        per = r["work"]["per_execution"] if "work" in r else 1.0
        assert s["time"] == pytest.approx(r["wall_s"]["median"] / per, rel=1e-12)
        assert s["time_lo"] == pytest.approx(r["wall_s"]["ci95"][0] / per, rel=1e-12)
        assert s["speedup"] == pytest.approx(r["speedup"]["value"])
        assert s["throughput"] == pytest.approx(r["throughput"]["value"])
        assert s["work_unit"] == (r["work"]["unit"] if "work" in r else "execution")


def test_list_show_machines(tmp_path, dbfile):
    paths = make_runs(tmp_path / "runs", 6, machines=2)
    assert run_cvp("db", "import", "--db", dbfile, *paths).returncode == 0
    assert run_cvp("db", "import", "--db", dbfile, "--machine", "lab-7", REAL).returncode == 0
    proc = run_cvp("db", "machines", "--db", dbfile, "--json", "-")
    machines = json.loads(proc.stdout)["machines"]
    assert sorted(m["runs"] for m in machines) == [1, 3, 3]
    assert "lab-7" in [m["label"] for m in machines]
    proc = run_cvp("db", "list", "--db", dbfile, "--machine", "lab-7")
    assert proc.returncode == 0 and len(proc.stdout.strip().splitlines()) == 2
    runs = json.loads(run_cvp("db", "list", "--db", dbfile, "--json", "-").stdout)["runs"]
    assert len(runs) == 7
    dates = [r["date"] for r in runs]
    assert dates == sorted(dates, reverse=True)
    proc = run_cvp("db", "show", "--db", dbfile, runs[0]["digest"][:8])
    assert proc.returncode == 0 and STEPPED in proc.stdout
    proc = run_cvp("db", "show", "--db", dbfile, runs[0]["digest"][:8], "--summary", "-")
    assert json.loads(proc.stdout)["machine"]["date"] == runs[0]["date"]
    # the same hardware under a name of its own is another machine
    with cvpdb.open_database(dbfile) as database:
        assert len({m["fingerprint"] for m in database.machines()}) == 3


def test_bad_inputs_stop_with_one_line_and_keep_what_was_there(tmp_path, dbfile):
    good = make_runs(tmp_path / "runs", 3)
    assert run_cvp("db", "import", "--db", dbfile, good[0]).returncode == 0
    before = table_rows(dbfile)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text('{"schema_version": 1, "results": [')
    proc = run_cvp("db", "import", "--db", dbfile, bad)
    assert proc.returncode == 2
    assert "not valid JSON" in one_error_line(proc)
    assert table_rows(dbfile) == before
    # Raw Google Benchmark JSON says nothing of the machine: refused.
    proc = run_cvp("db", "import", "--db", dbfile, REAL / "benchmark.json")
    assert proc.returncode == 2 and "raw Google Benchmark JSON" in one_error_line(proc)
    # Good runs, then a bad one: those before it are in, whole; the message says so.
    proc = run_cvp("db", "import", "--db", dbfile, good[1], good[2], bad)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "the 2 run(s) before it were imported" in line
    assert table_rows(dbfile)["runs"] == 3
    for args in (["show", "zzzzzz"], ["show", "abcdef"], ["history", "("],
                 ["list", "--machine", "nope"]):
        proc = run_cvp("db", *args, "--db", dbfile)
        assert proc.returncode == 2, args
        one_error_line(proc)


def test_missing_database_is_not_created_by_a_query(tmp_path):
    where = tmp_path / "none.sqlite"
    for args in (["db", "list"], ["db", "machines"], ["history"]):
        proc = run_cvp(*args, "--db", where)
        assert proc.returncode == 2
        assert "no such database" in one_error_line(proc)
    assert not where.exists()
    dangling = tmp_path / "link.sqlite"
    dangling.symlink_to(tmp_path / "target.sqlite")
    proc = run_cvp("db", "import", "--db", dangling, REAL)
    assert proc.returncode == 2 and "link to nothing" in one_error_line(proc)
    assert not (tmp_path / "target.sqlite").exists()


def test_default_location_comes_from_the_environment(tmp_path):
    env = dict(os.environ, CVP_DB=str(tmp_path / "env.sqlite"))
    proc = run_cvp("db", "import", REAL, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "env.sqlite").exists()
    env = {k: v for k, v in os.environ.items() if k != "CVP_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    assert run_cvp("db", "import", REAL, env=env).returncode == 0
    assert (tmp_path / "xdg" / "cvpbench" / "results.sqlite").exists()


# --- refusals of the database itself ------------------------------------------------------------

def _bytes(path):
    return Path(path).read_bytes()


def test_corrupt_file_is_refused_and_left_alone(tmp_path):
    where = tmp_path / "garbage.sqlite"
    where.write_bytes(b"this is not a database\n" * 200)
    before = _bytes(where)
    for args in (["db", "import", REAL], ["db", "list"], ["history"]):
        proc = run_cvp(*args, "--db", where)
        assert proc.returncode == 2, proc.stderr
        assert "not a readable SQLite database" in one_error_line(proc)
    assert _bytes(where) == before


def test_newer_schema_and_foreign_database_are_refused(tmp_path, dbfile):
    assert run_cvp("db", "import", "--db", dbfile, REAL).returncode == 0
    con = sqlite3.connect(dbfile)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    before = table_rows(dbfile)
    for args in (["db", "import", GOLDEN / "traced"], ["db", "list"]):
        proc = run_cvp(*args, "--db", dbfile)
        assert proc.returncode == 2
        assert "written by a newer cvp (schema version 99" in one_error_line(proc)
    assert table_rows(dbfile) == before
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE accounts (id INTEGER, balance REAL)")
    con.execute("INSERT INTO accounts VALUES (1, 10.5)")
    con.commit()
    con.close()
    proc = run_cvp("db", "import", "--db", other, REAL)
    assert proc.returncode == 2
    assert "not a cvpbench results database" in one_error_line(proc)
    con = sqlite3.connect(other)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("accounts",)]
    con.close()


def test_locked_database_waits_then_refuses_and_imports_once_free(dbfile):
    assert run_cvp("db", "import", "--db", dbfile, REAL).returncode == 0
    holder = sqlite3.connect(dbfile, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        env = dict(os.environ, CVP_DB_TIMEOUT="0.5")
        proc = run_cvp("db", "import", "--db", dbfile, GOLDEN / "traced", env=env)
        assert proc.returncode == 2
        assert "locked" in one_error_line(proc)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert table_rows(dbfile)["runs"] == 1
    # A/A of the lock test: the same import with the lock released succeeds.
    proc = run_cvp("db", "import", "--db", dbfile, GOLDEN / "traced",
                   env=dict(os.environ, CVP_DB_TIMEOUT="0.5"))
    assert proc.returncode == 0, proc.stderr
    assert table_rows(dbfile)["runs"] == 2


def test_concurrent_writers_import_each_run_once(tmp_path, dbfile):
    paths = make_runs(tmp_path / "runs", 24, machines=2)
    # Four writers at once, with overlapping halves: every run ends up there exactly once.
    halves = [paths[:16], paths[8:], paths[::2], paths[1::3]]
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).parents[2] / "scripts" / "cvp"),
                               "db", "import", "--db", dbfile, *h],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for h in halves]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    rows = table_rows(dbfile)
    assert rows["runs"] == 24 and rows["documents"] == 24
    assert rows["results"] == 24 * 11
    added = sum(int(out.split(" run(s) added")[0].split()[-1]) for out, _ in outs)
    assert added == 24


def test_migration_from_the_first_schema_keeps_the_runs(tmp_path):
    where = tmp_path / "v1.sqlite"
    con = sqlite3.connect(where)
    for statement in cvpdb.MIGRATIONS[0]:
        con.execute(statement.format(id="INTEGER PRIMARY KEY", blob="BLOB", real="REAL"))
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO machines (fingerprint, label) VALUES ('f' , 'old box')")
    con.execute("INSERT INTO benchmarks (name) VALUES ('matmul/n:64/mode:serial')")
    con.execute("INSERT INTO runs (digest, machine_id, run_date, imported_at, result_count) "
                "VALUES ('ab' || hex(randomblob(31)), 1, '2025-01-01T00:00:00Z', "
                "'2025-01-01T00:00:00Z', 1)")
    con.execute("INSERT INTO results (run_id, benchmark_id, time_s) VALUES (1, 1, 0.5)")
    con.commit()
    con.close()
    # A failing step leaves the database at version 1, whole.
    saved = cvpdb.MIGRATIONS[1]
    cvpdb.MIGRATIONS[1] = saved[:2] + ["ALTER TABLE no_such_table ADD COLUMN x INTEGER"]
    try:
        with pytest.raises(cvpdb.CvpError, match="nothing was changed"):
            cvpdb.open_database(str(where))
    finally:
        cvpdb.MIGRATIONS[1] = saved
    con = sqlite3.connect(where)
    assert con.execute("SELECT value FROM meta").fetchone() == ("1",)
    assert "documents" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    # The real migration: version 2, the old run still there, new runs importable.
    proc = run_cvp("db", "import", "--db", where, REAL)
    assert proc.returncode == 0, proc.stderr
    con = sqlite3.connect(where)
    assert con.execute("SELECT value FROM meta").fetchone() == (str(cvpdb.SCHEMA_VERSION),)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    assert con.execute("SELECT time_s FROM results WHERE run_id = 1").fetchone() == (0.5,)
    con.close()


# --- history and regressions --------------------------------------------------------------------

def _regressions(dbfile, *extra):
    return run_cvp("history", "--db", dbfile, "--regressions", *extra)


@pytest.mark.parametrize("factor, flagged", [(1.10, True), (1.0, False), (0.90, False)])
def test_regressions_flag_a_planted_slowdown_once(tmp_path, dbfile, factor, flagged):
    runs = tmp_path / "runs"
    old = make_runs(runs, 30, step=(30, factor))
    new = make_runs(runs, 10, step=(30, factor), first=30)
    assert run_cvp("db", "import", "--db", dbfile, *old).returncode == 0
    proc = _regressions(dbfile)
    assert proc.returncode == 0, proc.stdout + proc.stderr   # no step in the first 30 runs
    assert run_cvp("db", "import", "--db", dbfile, *new).returncode == 0
    proc = _regressions(dbfile, "--json", str(tmp_path / "h.json"), "--markdown",
                        str(tmp_path / "h.md"))
    assert proc.returncode == (1 if flagged else 0), proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "h.json").read_text())
    changes = [(s["benchmark"], c) for s in doc["series"] for c in s["changes"]]
    if factor == 1.0:
        assert changes == []
    else:
        assert [b for b, _ in changes] == [STEPPED]
        c = changes[0][1]
        assert c["index"] == 30
        assert c["regression"] is flagged and c["new"] is True
        assert c["ci95"][0] <= factor <= c["ci95"][1]
        assert not c["ci95"][0] <= 1.0 <= c["ci95"][1]
        first = json.loads((Path(new[0]) / "summary.json").read_text())
        assert c["commit"] == first["tool"]["git_commit"]
        if flagged:
            assert f"NEW regression: {STEPPED}" in proc.stdout
            assert first["tool"]["git_commit"] in proc.stdout
            assert "NEW regression" in (tmp_path / "h.md").read_text()
    # A rerun of the CI job (its run again: nothing added) fails again, as the first did.
    assert run_cvp("db", "import", "--db", dbfile, new[-1]).returncode == 0
    assert _regressions(dbfile).returncode == (1 if flagged else 0)
    # So does a failed import: it adds nothing.
    assert run_cvp("db", "import", "--db", dbfile, tmp_path / "missing").returncode == 2
    assert _regressions(dbfile).returncode == (1 if flagged else 0)
    # The next run (the next commit) finds the change already there: nothing new, exit 0.
    later = make_runs(runs, 1, step=(30, factor), first=40)
    assert run_cvp("db", "import", "--db", dbfile, *later).returncode == 0
    assert _regressions(dbfile).returncode == 0


def test_history_of_one_benchmark_marks_the_change(tmp_path, dbfile):
    paths = make_runs(tmp_path / "runs", 24, step=(12, 1.2))
    assert run_cvp("db", "import", "--db", dbfile, *paths).returncode == 0
    proc = run_cvp("history", "--db", dbfile, f"^{STEPPED}$", "--last", "40")
    assert proc.returncode == 0, proc.stderr
    marked = [line for line in proc.stdout.splitlines() if "<- " in line]
    assert len(marked) == 1 and "improvement" not in marked[0]
    first = json.loads((Path(paths[12]) / "summary.json").read_text())
    assert first["tool"]["git_commit"] in marked[0]
    # the same through cvp db history, for the speedup metric (serial: always 1, no change)
    proc = run_cvp("db", "history", "--db", dbfile, f"^{STEPPED}$", "--metric", "speedup")
    assert proc.returncode == 0 and "<- " not in proc.stdout


# --- the synthetic generator --------------------------------------------------------------------

def test_synthetic_runs_are_valid_summaries_with_the_planted_step(tmp_path):
    from cvptools import runio
    paths = make_runs(tmp_path / "runs", 6, step=(3, 1.5), noise=0.0)
    docs = [runio.load_run(p).doc for p in paths]   # full schema validation (jsonschema)
    times = [next(r["wall_s"]["median"] for r in d["results"] if r["name"] == STEPPED)
             for d in docs]
    assert times[3] / times[2] == pytest.approx(1.5)
    assert times[1] == pytest.approx(times[0])
    assert len({d["tool"]["git_commit"] for d in docs}) == 6
    assert [d["machine"]["date"] for d in docs] == sorted(d["machine"]["date"] for d in docs)
    more = synthetic.generate(tmp_path / "wide", 1, benchmarks=30, template=TEMPLATE)
    names = [r["name"] for r in runio.load_run(more[0]).doc["results"]]
    assert len(names) == len(set(names)) == 30
    proc = subprocess.run([sys.executable, str(TOOLS / "synthetic.py"), "-o",
                           str(tmp_path / "runs"), "--runs", "1", "--template", str(TEMPLATE)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr


# --- what a hostile user found, kept found ------------------------------------------------------

def test_force_never_replaces_a_link_a_pipe_or_a_device(tmp_path, dbfile):
    assert run_cvp("db", "import", "--db", dbfile, REAL).returncode == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "target.txt"
    target.write_text("mine")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for dest, what in ((fifo, "not a regular file"), (link, "symbolic link"),
                       ("/dev/null", "not a regular file")):
        proc = run_cvp("db", "show", "--db", dbfile, "1", "--summary", dest, "--force")
        assert proc.returncode == 2 and what in one_error_line(proc), proc.stderr
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "mine"
    assert Path("/dev/null").is_char_device()


def _execute(path, *statements):
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def test_refused_databases_are_left_byte_for_byte(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    _execute(foreign, "CREATE TABLE foo (x)")
    newer = tmp_path / "newer.sqlite"
    with cvpdb.open_database(str(newer), create=True):
        pass
    _execute(newer, "PRAGMA journal_mode = DELETE", "UPDATE meta SET value = '99'")
    for where in (foreign, newer):
        before = where.read_bytes()
        assert run_cvp("db", "import", "--db", where, REAL).returncode == 2
        assert where.read_bytes() == before


@pytest.mark.parametrize("case", ["huge_int", "far_date", "old_date", "inf", "nul"])
def test_values_a_database_cannot_hold_are_refused(tmp_path, dbfile, case):
    doc = json.loads(TEMPLATE.read_text())
    if case == "huge_int":
        doc["results"][0]["threads"] = 2**70
    elif case == "far_date":
        doc["machine"]["date"] = "9999-12-31T23:30:00-01:00"
    elif case == "inf":
        text = json.dumps(doc).replace('"repetitions": 3', '"repetitions": 1e999', 1)
        doc = None
    elif case == "nul":
        doc["results"][0]["name"] = "matmul/a\u0000b/mode:serial/backend:threads/threads:1"
    folder = tmp_path / case
    folder.mkdir()
    if case == "old_date":
        doc["machine"]["date"] = "0500-01-01T00:00:00Z"
    (folder / "summary.json").write_text(text if doc is None else json.dumps(doc))
    proc = run_cvp("db", "import", "--db", dbfile, folder)
    if case == "old_date":   # accepted, with a four-digit year that sorts as text
        assert proc.returncode == 0, proc.stderr
        assert json.loads(run_cvp("db", "list", "--db", dbfile, "--json", "-").stdout)[
            "runs"][0]["date"] == "0500-01-01T00:00:00Z"
        return
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc)


def test_small_refusals(tmp_path, dbfile):
    assert run_cvp("db", "import", "--db", dbfile, REAL).returncode == 0
    for args, text in ((["history", "--since", "7"], "latest import"),
                       (["db", "list", "--db", ""], "--db: empty"),
                       (["db", "show", "\u00b2"], "not a run id"),
                       (["db", "list", "--limit", "99999999999999999999"], "at most")):
        full = args if "--db" in args else args + ["--db", dbfile]
        proc = run_cvp(*full)
        assert proc.returncode == 2 and text in one_error_line(proc), (args, proc.stderr)
    proc = run_cvp("history", "--db", dbfile, "--p-value", "0.001", "mode:serial")
    assert proc.returncode == 0, proc.stderr
    where = tmp_path / "new.sqlite"
    proc = run_cvp("db", "import", "--db", where, tmp_path / "typo")
    assert proc.returncode == 2 and not where.exists()
    # The dashboard never replaces a folder that holds its own database.
    site = tmp_path / "site"
    assert run_cvp("dashboard", dbfile, "-o", site).returncode == 0
    inner = site / "inner.sqlite"
    shutil.copy(dbfile, inner)
    proc = run_cvp("dashboard", inner, "-o", site, "--force")
    assert proc.returncode == 2 and "inside the output folder" in one_error_line(proc)
    assert inner.exists()


def test_postgres_passwords_are_never_shown():
    url = "postgresql://u:pw1@/db?host=/nowhere&password=pw2&port=1"
    shown = cvpdb.display_location(url)
    assert "pw1" not in shown and "pw2" not in shown and "host=/nowhere" in shown
    assert "pw2" not in cvpdb._mask("could not connect: password=pw2 pw1", url)


def test_sigterm_stops_an_import_and_its_workers(tmp_path, dbfile):
    import signal
    import time
    paths = make_runs(tmp_path / "runs", 300)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parents[2] / "scripts" / "cvp"),
                             "db", "import", "--db", dbfile, str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Signalled once the import is under way: its database exists only after the command has
    # set its handler. A fixed second was too short for the interpreter to start on a CI runner
    # busy with sanitizer builds, and SIGTERM then met the default action (exit -15).
    deadline = time.monotonic() + 60
    while not Path(dbfile).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err   # 0: it had finished before the signal
    time.sleep(0.5)
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if dbfile.encode() in cmdline:
                left.append(pid)
    assert left == []
    con = sqlite3.connect(dbfile)
    runs, docs = con.execute("SELECT (SELECT COUNT(*) FROM runs), "
                             "(SELECT COUNT(*) FROM documents)").fetchone()
    con.close()
    assert runs == docs <= len(paths)

"""`cvp db import` and its worker processes: they end with the import however it ends (SIGKILL
of the import included), and a worker dies of SIGTERM like any process.

The runs are the synthetic generator's (a real summary from golden/real with its times
redrawn), enough of them that the import reads them in a pool of worker processes."""

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from cvp_testing import CVP, GOLDEN, children, pid_alive, setter, wait_for
import synthetic

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process trees from /proc")

# The import uses a pool only with 16 runs or more and 2 CPUs or more (db._prepared).
POOLED = len(os.sched_getaffinity(0)) >= 2 if hasattr(os, "sched_getaffinity") else False
RUNS = 400


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers") / "runs"
    synthetic.generate(folder, RUNS, benchmarks=11, machines=1, steps=[], noise=0.01, seed=5,
                       template=GOLDEN / "real" / "summary.json")
    return folder


def _start_import(database, runs):
    """The import, started in a session of its own, and its workers once they run."""
    # The first look at the process table imports the module that reads it: on a busy machine
    # that took longer than the whole import, so it is done before the import starts.
    children(os.getpid())
    proc = subprocess.Popen([sys.executable, str(CVP), "db", "import", "--db", str(database),
                             str(runs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    workers = wait_for(lambda: len(children(proc.pid)) >= 2 and children(proc.pid), timeout=30,
                       step=0.005)
    return proc, workers or []


@pytest.mark.skipif(not POOLED, reason="the import reads in a pool only with 2 CPUs or more")
def test_sigkill_of_the_import_ends_its_workers(tmp_path, runs):
    proc, workers = _start_import(tmp_path / "results.sqlite", runs)
    try:
        assert proc.poll() is None, "the import ended before its workers were seen"
        # The workers exist and run before the kill: their absence afterwards is the test.
        assert len(workers) >= 2 and all(pid_alive(w) for w in workers), workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        gone = wait_for(lambda: not any(pid_alive(w) for w in workers), timeout=5)
        left = [w for w in workers if pid_alive(w)]
        assert gone, f"worker(s) {left} outlived the import they worked for"
    finally:
        proc.stderr.close()
        for w in workers:  # never leave one behind for the next test, even on failure
            try:
                os.kill(w, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.mark.skipif(not POOLED, reason="the import reads in a pool only with 2 CPUs or more")
def test_a_worker_dies_of_sigterm_and_the_import_stops_with_one_line(tmp_path, runs):
    database = tmp_path / "results.sqlite"
    proc, workers = _start_import(database, runs)
    try:
        assert proc.poll() is None and workers
        victim = workers[0]
        os.kill(victim, signal.SIGTERM)
        assert wait_for(lambda: not pid_alive(victim), timeout=5), \
            "a worker went on after SIGTERM"
        _, err = proc.communicate(timeout=60)
        err = err.decode("utf-8", "replace")
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "worker process" in lines[0] and "SIGTERM" in lines[0], lines[0]
        assert wait_for(lambda: not any(pid_alive(w) for w in workers), timeout=5)
        con = sqlite3.connect(database)
        try:
            runs_in, docs = con.execute("SELECT (SELECT COUNT(*) FROM runs), "
                                        "(SELECT COUNT(*) FROM documents)").fetchone()
        finally:
            con.close()
        assert runs_in == docs < RUNS      # whole runs only, and not all of them
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# --- values no measurement gives ----------------------------------------------------------------

REAL = GOLDEN / "real"


def _planted(tmp_path, plant):
    """A copy of the program's real run with one measured row changed by `plant(row)`."""
    doc = json.loads((REAL / "summary.json").read_text())
    row = next(r for r in doc["results"] if not r.get("error") and r["mode"] == "concurrent")
    plant(row)
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(doc, indent=1))
    return folder, row["name"]


@pytest.mark.parametrize("path,value,words", [
    (("wall_s", "median"), 0, "has a median time of 0 s"),
    (("wall_s", "median"), 0.0, "has a median time of 0 s"),
    (("wall_s", "ci95"), [-1e-6, 2e-4], "negative time in its 95% CI"),
    (("wall_s", "median"), -1e-4, "median"),     # the schema's minimum says it first
])
def test_a_row_with_no_time_is_refused_with_a_sentence(tmp_path, path, value, words):
    database = tmp_path / "results.sqlite"
    # The real file passes: imported whole, every measured row stored.
    proc = subprocess.run([sys.executable, str(CVP), "db", "import", "--db", str(database),
                           str(REAL)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    measured = sum(1 for r in json.loads((REAL / "summary.json").read_text())["results"]
                   if not r.get("error"))
    con = sqlite3.connect(database)
    try:
        assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == measured
    finally:
        con.close()
    before = database.read_bytes()
    folder, name = _planted(tmp_path, setter(path, value))
    proc = subprocess.run([sys.executable, str(CVP), "db", "import", "--db", str(database),
                           str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert words in lines[0] and "summary.json" in lines[0], lines[0]
    if value != -1e-4:
        assert name in lines[0] and "nothing from this file was imported" in lines[0]
    assert database.read_bytes() == before   # nothing written, not even the import's record
    con = sqlite3.connect(database)
    try:
        assert con.execute("SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM imports), "
                           "(SELECT COUNT(*) FROM results)").fetchone() == (1, 1, measured)
    finally:
        con.close()


@pytest.mark.skipif(not POOLED, reason="the import reads in a pool only with 2 CPUs or more")
def test_workers_that_die_between_two_windows_give_one_error_not_a_broken_pool(runs):
    """The pool refuses a window's first batch when its workers died after the window before
    (a CI run under load hit it: "internal error: BrokenProcessPool"): the next run gets an
    error that names the signal, and the import stops as for a worker that died mid-run."""
    import multiprocessing
    import time
    from cvptools import db
    paths = sorted(str(p) for p in runs.iterdir())[:40]
    gen = db._prepared(paths, None, None, window=16)
    first = [next(gen) for _ in range(16)]
    assert all(not isinstance(result, Exception) for _, result in first)
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGTERM)
    assert wait_for(lambda: not any(pid_alive(w.pid) for w in workers), timeout=5)
    time.sleep(0.5)   # the pool's own thread sees them gone
    rest = list(gen)
    assert len(rest) == 1, rest
    path, error = rest[0]
    assert path == paths[16] and isinstance(error, db.CvpError), rest
    assert "worker processes stopped before reading it" in str(error) and "SIGTERM" in str(error)

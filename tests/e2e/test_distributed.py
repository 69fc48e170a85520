"""The distributed mode end to end: cvpbench started by Open MPI's mpirun on this host, with 2
ranks over shared memory and over TCP; the options every rank must share; a rank that dies and
a rank that hangs. Skipped where mpirun is missing, unless CVP_REQUIRE_MPI=1 (scripts/test.sh,
after setup-deps.sh installed Open MPI), which makes a missing mpirun a failure."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from e2e_support import SCHEMA, binary_path, refuse_constant

MPIRUN = shutil.which("mpirun")

if MPIRUN is None:
    if os.environ.get("CVP_REQUIRE_MPI") == "1":
        pytest.fail("CVP_REQUIRE_MPI=1 but mpirun is not installed (bash scripts/setup-deps.sh)",
                    pytrace=False)
    pytest.skip("mpirun is not installed", allow_module_level=True)

# Small: the triad and its distributed points only, on the threads backend.
SMALL = ["--filter", "^triad/", "--backend", "threads", "--triad-n", "262144", "--threads", "1",
         "--repetitions", "3", "--precision", "0", "--min-time", "0.01", "--budget", "60"]


def launcher(ranks, *extra):
    """mpirun for `ranks` ranks on this host, each free to use every CPU (the plan gives each
    its share); as root where the tests run as root."""
    cmd = [MPIRUN, "-np", str(ranks), "--oversubscribe", "--bind-to", "none", *extra]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    return cmd


def run_mpi(cmd, cwd, timeout=240):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def check_two_rank_run(result, out):
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse_constant)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    cluster = summary["machine"]["cluster"]
    assert cluster["ranks"] == 2 and len(cluster["hosts"]) == 2
    # Each rank on its own share of this host's CPUs.
    shares = cluster["rank_cpus"]
    assert len(shares) == 2 and all(shares) and shares[0] != shares[1]
    network = summary["machine"]["limits"]["network"]
    assert network["latency_us"] > 0 and network["bandwidth_bytes_per_s"] > 0
    assert network["allreduce_us"] > 0 and network["ranks"] == 2
    rows = [r for r in summary["results"] if r["mode"] == "distributed"]
    assert rows, "no distributed row"
    for r in rows:
        assert r["ranks"] == 2 and r["verified"] is True, r.get("error")
        assert "/ranks:2/mode:distributed/" in r["name"]
        assert r["speedup"]["value"] > 0
        assert "communication_s" in r["values"]
        # Two ranks' teams on this host's two cores: the capacity counts both.
        assert r["attainable"]["capacity"] > 1.2
    # The other rank is this run's own process, not other work beside it (its name is the
    # program's, or "exe" after the program restarted itself through /proc/self/exe).
    busy = {p["name"] for p in summary["noise"]["busy_processes"]}
    assert not busy & {"exe", "cvpbench"}, busy
    # Rank 0 alone prints the table and writes the run folder.
    assert result.stdout.count("workload ") == 1
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == ["benchmark.json",
                                                                           "summary.json"]
    return summary


def test_two_ranks_over_shared_memory(tmp_path):
    out = tmp_path / "run"
    result = run_mpi(launcher(2) + [str(binary_path()), *SMALL, "--out", str(out)], tmp_path)
    summary = check_two_rank_run(result, out)
    assert "distributed: 2 ranks on 1 host" in result.stderr
    assert "shared memory" in summary["machine"]["limits"]["network"]["transport"]


def test_two_ranks_over_tcp(tmp_path):
    out = tmp_path / "run"
    result = run_mpi(launcher(2, "--mca", "btl", "tcp,self") + [str(binary_path()), *SMALL,
                                                                 "--out", str(out)], tmp_path)
    summary = check_two_rank_run(result, out)
    assert "tcp,self" in summary["machine"]["limits"]["network"]["transport"]


def test_one_process_has_no_distributed_point(tmp_path):
    listed = subprocess.run([str(binary_path()), "--list"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0
    assert "mode:distributed" not in listed.stdout
    assert "wait:mpi" not in listed.stdout
    under_mpi = run_mpi(launcher(2) + [str(binary_path()), "--list", "--filter", "^(triad|requests)/"],
                        tmp_path)
    assert under_mpi.returncode == 0, under_mpi.stderr
    assert "/ranks:2/mode:distributed/" in under_mpi.stdout
    # Requests whose wait is a round trip to rank 1: served by rank 0, on one core of its share.
    assert "/wait:mpi/k:1/" in under_mpi.stdout
    assert "/wait:mpi/k:8/requests:" in under_mpi.stdout
    assert not any("wait:mpi" in line and ("mode:parallel" in line or "mode:distributed" in line)
                   for line in under_mpi.stdout.splitlines())
    # Listed once, by rank 0 (the triad's size follows this machine's last-level cache).
    serial = [line for line in under_mpi.stdout.splitlines()
              if re.fullmatch(r"triad/n:\d+/mode:serial/backend:threads/threads:1", line)]
    assert len(serial) == 1, under_mpi.stdout


def test_ranks_with_different_options_are_refused(tmp_path):
    out = tmp_path / "run"
    cmd = launcher(1) + [str(binary_path()), *SMALL, "--out", str(out), ":", "-np", "1",
                         str(binary_path()), *SMALL, "--seed", "7", "--out", str(out)]
    result = run_mpi(cmd, tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "the ranks were started with different options" in result.stderr
    assert not out.exists()


def rank_pids(rank):
    """The pids of cvpbench processes whose MPI rank is `rank` (from their environment)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "exe")).name != "cvpbench":
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            pids.append(int(proc.name))
    return pids


LONG_TRIAD = ["--filter", "^triad/", "--backend", "threads", "--triad-n", "262144", "--threads",
              "1", "--repetitions", "1000", "--precision", "0", "--min-time", "0.05", "--budget",
              "600"]


def start_long_run(tmp_path, extra=(), workload=LONG_TRIAD):
    out = tmp_path / "run"
    log = tmp_path / "stderr.log"
    args = [*workload, *extra]
    process = subprocess.Popen(launcher(2) + [str(binary_path()), *args, "--out", str(out)],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                               text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "round" not in log.read_text():
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    pids = rank_pids(1)
    assert pids, "rank 1 not found"
    return process, log, out, pids


def test_a_rank_that_dies_ends_the_run_naming_it(tmp_path):
    process, log, out, pids = start_long_run(tmp_path)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=120)
    text = log.read_text()
    assert process.returncode != 0
    assert "rank 1" in text, text[-2000:]
    # No torn file: either nothing, or a whole pair (rank 0 ended while between points).
    if out.exists():
        names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        assert names in ([], ["benchmark.json", "summary.json"]) or "summary.json" not in names, names
    assert not rank_pids(0) and not rank_pids(1)


# A backend rank of the requests whose wait is a round trip over MPI: rank 0 waits for its replies.
LONG_ROUND_TRIPS = ["--filter", "wait:mpi", "--no-crossover", "--in-flight", "8", "--requests",
                    "200", "--w-us", "2000", "--repetitions", "1000", "--precision", "0",
                    "--budget", "600"]


@pytest.mark.parametrize("workload", [LONG_TRIAD, LONG_ROUND_TRIPS], ids=["triad", "wait-mpi"])
def test_a_rank_that_hangs_ends_the_run_within_the_timeout(tmp_path, workload):
    process, log, out, pids = start_long_run(tmp_path, ["--rank-timeout", "5"], workload)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        process.wait(timeout=120)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = log.read_text()
    assert process.returncode != 0
    assert time.monotonic() - started < 60
    assert "rank 0 (" in text and "waited 5 s (--rank-timeout)" in text, text[-2000:]
    # The folder this run made is gone, its staging folder with it.
    assert not out.exists(), list(out.iterdir())


def test_summa_product_is_checked_and_a_planted_error_is_caught(tmp_path):
    args = ["--filter", "^matmul/", "--backend", "threads", "--size", "96", "--threads", "1",
            "--repetitions", "3", "--precision", "0", "--min-time", "0.005", "--budget", "60"]
    out = tmp_path / "good"
    good = run_mpi(launcher(2) + [str(binary_path()), *args, "--out", str(out)], tmp_path)
    assert good.returncode == 0, good.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    rows = [r for r in summary["results"] if r["mode"] == "distributed"]
    assert rows and all(r["verified"] for r in rows)
    # SUMMA's communication is in the bound: below the 2 ranks' capacity, above 1.
    assert all(1 < r["attainable"]["value"] < r["attainable"]["capacity"] for r in rows)
    # A wrong element on rank 0's block fails the distributed point only.
    bad_out = tmp_path / "bad"
    bad = run_mpi(launcher(2) + [str(binary_path()), *args, "--inject-fault", "wrong:distributed",
                                 "--out", str(bad_out)], tmp_path)
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "result differs from the serial answer" in bad.stderr
    failed = json.loads((bad_out / "summary.json").read_text())
    by_mode = {r["mode"]: r for r in failed["results"]}
    assert by_mode["serial"]["verified"] is True
    assert by_mode["distributed"]["verified"] is False


def test_weak_scaling_grows_the_problem_with_the_workers(tmp_path):
    out = tmp_path / "run"
    args = ["--scaling", "both", "--filter", "^matmul/", "--backend", "threads", "--size", "64",
            "--threads", "1", "--repetitions", "3", "--precision", "0", "--min-time", "0.005",
            "--budget", "60", "--out", str(out)]
    result = run_mpi(launcher(2) + [str(binary_path()), *args], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    weak = [r for r in summary["results"] if r["weak"] > 1]
    strong = [r for r in summary["results"] if r["mode"] == "distributed" and r["weak"] == 1]
    assert weak and strong
    for r in weak:
        assert "/weak:2/" in r["name"] and r["mode"] == "distributed"
        # n x 2^(1/3), rounded: 81 for 64.
        assert r["params"] == {"n": 81}
        assert r["work"]["per_execution"] == 2 * 81 ** 3
        assert r["gustafson_serial_fraction"] is not None
    assert all(r["gustafson_serial_fraction"] is None for r in strong)
    assert "weak scaling x" in result.stdout


def test_requests_are_shared_over_the_ranks_and_checked(tmp_path):
    args = ["--filter", "^requests/.*(serial|ranks)", "--no-crossover", "--in-flight", "4",
            "--requests", "40", "--c-us", "20", "--w-us", "300", "--repetitions", "3",
            "--precision", "0", "--budget", "60"]
    out = tmp_path / "good"
    good = run_mpi(launcher(2) + [str(binary_path()), *args, "--out", str(out)], tmp_path)
    assert good.returncode == 0, good.stderr[-3000:]
    rows = [r for r in json.loads((out / "summary.json").read_text())["results"]
            if r["mode"] == "distributed"]
    assert len(rows) == 1 and rows[0]["verified"] is True
    assert rows[0]["in_flight"] == 4 and rows[0]["threads"] == 2 and rows[0]["ranks"] == 2
    assert rows[0]["params"]["requests"] == 40
    bad = run_mpi(launcher(2) + [str(binary_path()), *args, "--inject-fault", "wrong:distributed",
                                 "--out", str(tmp_path / "bad")], tmp_path)
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "responses differ from the serial handling" in bad.stderr


# The requests whose wait is a round trip over MPI to a backend rank that holds each 500 us.
ROUND_TRIPS = ["--filter", "wait:mpi", "--no-crossover", "--in-flight", "8", "--requests", "64",
               "--c-us", "20", "--w-us", "500", "--repetitions", "3", "--precision", "0",
               "--budget", "60"]


@pytest.mark.parametrize("transport", [[], ["--mca", "btl", "tcp,self"]], ids=["shm", "tcp"])
def test_requests_wait_on_a_backend_rank_over_mpi(tmp_path, transport):
    out = tmp_path / "good"
    good = run_mpi(launcher(2, *transport) + [str(binary_path()), *ROUND_TRIPS, "--out", str(out)],
                   tmp_path)
    assert good.returncode == 0, good.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse_constant)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    rows = summary["results"]
    assert sorted((r["mode"], r["backend"]) for r in rows) == [
        ("concurrent", "eventloop"), ("concurrent", "threads"), ("serial", "threads")]
    for r in rows:
        assert r["verified"] is True, r.get("error")
        assert r["params"]["wait"] == "mpi" and r["params"]["backend_ranks"] == 1
        assert r["params"]["hold_us"] == 500
        # Every wait went through the backend's hold: none is shorter.
        assert r["io"]["wait_us"]["p50"] >= 500 and r["io"]["wait_us"]["mean"] >= 500
        assert r["cores"] == 1 and r["ranks"] == 1
        assert "communication_s" not in r["values"]  # its waits are measured instead
    # Rank 0 served them on its share of the host, rank 1 answered on its own.
    shares = summary["machine"]["cluster"]["rank_cpus"]
    assert shares == ["0", "1"]
    assert all(r["evidence"]["cpus_seen"] == [0] for r in rows)
    assert "over MPI (backend hold 500us)" in good.stdout
    if transport:
        return  # the check of the responses is the same whatever carried them
    # A reply the serial handling does not give is caught, on the planted point only.
    bad = run_mpi(launcher(2, *transport) + [str(binary_path()), *ROUND_TRIPS, "--inject-fault",
                                             "wrong:wait:mpi.*concurrent/backend:threads",
                                             "--out", str(tmp_path / "bad")], tmp_path)
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "responses differ from the serial handling" in bad.stderr
    failed = {(r["mode"], r["backend"]): r["verified"]
              for r in json.loads((tmp_path / "bad" / "summary.json").read_text())["results"]}
    assert failed == {("serial", "threads"): True, ("concurrent", "threads"): False,
                      ("concurrent", "eventloop"): True}


def test_an_interrupted_run_writes_what_it_measured(tmp_path):
    process, log, out, _ = start_long_run(tmp_path)
    for pid in rank_pids(0):
        os.kill(pid, signal.SIGINT)
    process.wait(timeout=120)
    text = log.read_text()
    assert process.returncode == 130, text[-2000:]
    assert "the results measured so far are in" in text, text[-2000:]
    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse_constant)
    assert summary["interrupted"] is True and summary["results"]
    assert sorted(p.name for p in out.iterdir()) == ["benchmark.json", "summary.json"]
    assert not rank_pids(0) and not rank_pids(1)

"""The examples (examples/), built out of tree against the installed package, run as a user runs
them: each writes a run folder whose summary validates, holds its workload's kind and rows in
every mode, and is read by `scripts/cvp report` and `scripts/cvp compare`.

scripts/test.sh installs the package, builds examples/ against it and sets
CVPBENCH_EXAMPLES_DIR to that build folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT, load_summary, run

sys.path.insert(0, str(ROOT / "scripts"))
from cvptools import runio as cvp_io  # noqa: E402

PYTHON = "/usr/bin/python3"
CVP = ROOT / "scripts" / "cvp"

BUILD_HINT = ("rm -rf build/install build/examples && "
              "cmake --install build/release --prefix $PWD/build/install && "
              "cmake -S examples -B build/examples -DCMAKE_PREFIX_PATH=$PWD/build/install && "
              "cmake --build build/examples, then CVPBENCH_EXAMPLES_DIR=$PWD/build/examples "
              "(bash scripts/test.sh does all of it)")

# name: (program, workload, kind, extra arguments that keep the run short)
EXAMPLES = {
    "collatz": ("collatz_bench", "collatz", "cpu", ["--collatz-n", "200000"]),
    "handler": ("handler_bench", "orders", "io", ["--orders-w-us", "500"]),
    "mandel": ("mandel_bench", "mandel", "cpu", ["--mandel-n", "128"]),
    # Two parameters (n, sweeps) and a counter.
    "jacobi": ("jacobi_bench", "jacobi", "cpu", ["--jacobi-n", "128"]),
    # Handlers that wait on real I/O themselves: an fdatasync (blocking: threads only), and a
    # TCP service the program starts (asynchronous: threads and event loops).
    "journal": ("journal_bench", "journal", "io", ["--journal-in-flight", "4"]),
    "echo": ("echo_bench", "echo", "io", ["--echo-in-flight", "16", "--echo-delay-us", "500"]),
}
# The backends an example's request points run on, where not both.
BACKENDS = {"journal": {"threads"}}


@pytest.fixture(scope="session")
def examples_dir():
    configured = os.environ.get("CVPBENCH_EXAMPLES_DIR")
    if not configured:
        pytest.fail("CVPBENCH_EXAMPLES_DIR is not set: the examples are tested as built out of "
                    "tree against the installed package; build them with " + BUILD_HINT)
    path = Path(configured)
    if not path.is_dir():
        pytest.fail(f"CVPBENCH_EXAMPLES_DIR={path} is not a folder; build the examples with "
                    + BUILD_HINT)
    return path


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example_run(request, examples_dir, tmp_path_factory):
    program, workload, kind, extra = EXAMPLES[request.param]
    binary = examples_dir / program
    if not binary.exists():
        pytest.fail(f"{binary} does not exist; build the examples with " + BUILD_HINT)
    folder = tmp_path_factory.mktemp(request.param) / "out"
    result = run(binary, ["--quick", *extra, "--out", str(folder)], cwd=folder.parent)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return folder, result, workload, kind, request.param


def test_the_example_prints_its_table_and_verdict(example_run):
    _, result, workload, _, _ = example_run
    assert "workload" in result.stdout and "speedup" in result.stdout, result.stdout
    assert any(line.startswith(workload + " ") and "concurrency" in line
               for line in result.stdout.splitlines()), result.stdout


def test_the_summary_validates_and_holds_every_mode(example_run):
    folder, _, workload, kind, name = example_run
    loaded = cvp_io.load_run(str(folder))  # the schema check cvp itself makes
    assert loaded.format == cvp_io.SUMMARY
    summary = load_summary(folder)
    assert [w["name"] for w in summary["workloads"]] == [workload]
    assert summary["workloads"][0]["kind"] == kind
    rows = summary["results"]
    assert rows and all(r["workload"] == workload and r["kind"] == kind for r in rows)
    modes = {r["mode"] for r in rows}
    if summary["machine"]["allowed_cores"] > 1:
        assert modes == {"serial", "concurrent", "parallel"}
    else:
        assert {"serial", "concurrent"} <= modes
    assert all(r["verified"] for r in rows), [r["name"] for r in rows if not r["verified"]]
    assert not summary.get("errors"), summary.get("errors")
    if kind == "io":
        assert ({r["backend"] for r in rows if r["mode"] != "serial"}
                == BACKENDS.get(name, {"threads", "eventloop"}))
        for r in rows:
            assert r["io"]["errors"] == 0
            assert r["io"]["c_measured_us"] > 0
            assert r["params"]["requests"] == r["work"]["per_execution"]
            assert r["io"]["wait_us"]["mean"] > 0
            assert r["io"]["wait_us"]["p90"] >= r["io"]["wait_us"]["p50"]


def _cvp(*args, cwd):
    return subprocess.run([PYTHON, str(CVP), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cvp_report_reads_it(example_run, tmp_path):
    folder, _, _, _, _ = example_run
    page = tmp_path / "report.html"
    result = _cvp("report", str(folder), "-o", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert page.stat().st_size > 0


def test_cvp_compare_calls_a_run_the_same_as_itself(example_run, tmp_path):
    folder, _, _, _, _ = example_run
    result = _cvp("compare", str(folder), str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "overall:" in result.stdout, result.stdout
    as_json = _cvp("compare", str(folder), str(folder), "--json", "-", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    comparison = json.loads(as_json.stdout)
    summary = load_summary(folder)
    assert len(comparison["benchmarks"]) == len(summary["results"])
    assert not comparison["only_in_a"] and not comparison["only_in_b"]
    assert all(b["change"] not in ("slower", "faster") for b in comparison["benchmarks"])
    assert comparison["overall"]["change"] is None


def test_a_users_unit_test_measures_in_process_and_writes_nothing(examples_dir, tmp_path):
    """examples/mandel/mandel_test.cc measures with cvp::measure() and judges its own speedup:
    it prints the parallel row, exits 0 when the speedup is above x1.5 or when it cannot judge
    (a busy machine, fewer than 2 cores, said in words), and leaves no file behind."""
    binary = examples_dir / "mandel_test"
    if not binary.exists():
        pytest.fail(f"{binary} does not exist; build the examples with " + BUILD_HINT)
    result = run(binary, [], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "parallel on 2 threads: x" in result.stdout, result.stdout
    judged = "not judged:" not in result.stdout
    if judged:
        speedup = float(result.stdout.split("parallel on 2 threads: x")[1].split()[0])
        assert speedup > 1.5, result.stdout
    assert list(tmp_path.iterdir()) == [], "measure() wrote files"


def test_two_parameters_name_their_points_and_a_counter_reaches_the_summary(examples_dir, tmp_path):
    """examples/jacobi/jacobi.cc: points of two parameters are named jacobi/n:N/sweeps:S, their
    params hold both, a flag replaces one parameter's values, and the counter `updates` (the
    cell updates of an execution, each band's halo included) is in every row's values: exactly
    what the serial point's two bands update, and more with more tasks."""
    folder = tmp_path / "out"
    result = run(examples_dir / "jacobi_bench",
                 ["--quick", "--jacobi-n", "64", "--jacobi-sweeps", "2,3", "--backend", "threads",
                  "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = load_summary(folder)["results"]
    assert {r["group"] for r in rows} == {"jacobi/n:64/sweeps:2", "jacobi/n:64/sweeps:3"}
    for r in rows:
        assert r["verified"], r["name"]
        sweeps = r["params"]["sweeps"]
        assert r["params"] == {"n": 64, "sweeps": sweeps}
        assert r["name"].startswith(f"jacobi/n:64/sweeps:{sweeps}/mode:")
        # 62 interior columns; two bands of 32 rows, each recomputing up to `sweeps` rows of
        # the other's side: 62 rows, and 2 (sweeps - k) more at sweep k.
        serial_updates = 62 * (62 * sweeps + sweeps * (sweeps - 1))
        if r["mode"] == "serial":
            assert r["values"]["updates"] == serial_updates, r
        else:
            assert r["values"]["updates"] >= serial_updates, r
    assert "jacobi n=64 sweeps=2" in result.stdout, result.stdout


@pytest.mark.parametrize("name", ["journal", "echo"])
def test_a_handlers_own_wait_names_its_points_and_bounds_them(name, examples_dir, tmp_path):
    """A handler that waits itself: its points are named by what it waits on (not w_us:0), its
    params say who waits, and each bound is min(K T_s / (c' + w'), P T_s / c') with the point's
    own measured wait w' and CPU c' (so within the CI of the speedup where the waits, not the
    CPU, hold it)."""
    program, workload, _, extra = EXAMPLES[name]
    folder = tmp_path / "out"
    result = run(examples_dir / program, ["--quick", *extra, "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = load_summary(folder)
    rows = summary["results"]
    waits_on = "fdatasync" if name == "journal" else "lookup-service"
    assert all(r["name"].startswith(f"{workload}/wait:{waits_on}/k:") for r in rows), rows
    assert all("w_us" not in r["params"] for r in rows)
    assert {r["params"]["wait_owner"] for r in rows} == {"blocking" if name == "journal" else "async"}
    serial = next(r for r in rows if r["mode"] == "serial")
    t_s = serial["wall_s"]["median"] / serial["work"]["per_execution"] * 1e6
    for r in rows:
        if r["mode"] == "serial" or r.get("speedup") is None:
            continue
        c, w = r["io"]["c_measured_us"], r["io"]["wait_us"]["mean"]
        cores = r["attainable"]["capacity"] if r["mode"] == "parallel" else 1
        expected = min(r["params"]["k"] * t_s / (c + w), cores * t_s / c)
        assert r["attainable"]["value"] == pytest.approx(expected, rel=1e-6), r["name"]
    verdict = next(line for line in result.stdout.splitlines() if line.startswith(workload + " waiting on"))
    assert f"waits on {waits_on}:" in verdict and "serially" in verdict, verdict
    if name == "journal":
        assert "no event loop ran it" in verdict, verdict

"""cvp compare at scale and at the edges: millions of samples in bounded memory and time, the
selection that replaces the n*m pairwise ratios, the whole-run test's bounded columns, numeric
options, names that would break the table, and Google Benchmark output with Complexity() rows."""

import copy
import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

from cvp_testing import CVP, GOLDEN, run_cvp, write_json
from cvptools import compare, runio, stats

REPEATED = GOLDEN / "repeated"
COMPLEXITY = GOLDEN / "complexity"


def _big_summary(path, n, factor, seed, rows=1):
    """The real 20-repetition summary with `rows` results of `n` lognormal samples each (2%
    spread) around that result's median x `factor`."""
    doc = json.loads((REPEATED / "summary.json").read_text())
    rng = np.random.default_rng(seed)
    results = []
    for r in doc["results"][:rows]:
        r = copy.deepcopy(r)
        samples = r["wall_s"]["median"] * factor * rng.lognormal(0.0, 0.02, n)
        r["wall_s"]["samples"] = [float(x) for x in np.round(samples, 13)]
        r["wall_s"]["median"] = float(np.median(r["wall_s"]["samples"]))
        results.append(r)
    doc["results"] = results
    return write_json(path, doc)


def _measured_run(*args, timeout=600):
    """`cvp ARGS` in a child Python that reports its own peak resident memory (bytes) last."""
    code = ("import resource, runpy, sys\n"
            f"sys.argv = [{str(CVP)!r}] + sys.argv[1:]\n"
            "try:\n"
            f"    runpy.run_path({str(CVP)!r}, run_name='__main__')\n"
            "finally:\n"
            "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "    unit = 1 if sys.platform == 'darwin' else 1024  # bytes there, KiB here\n"
            "    sys.stderr.write(f'\\nPEAK {peak * unit}\\n')\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    seconds = time.monotonic() - started
    peak = int(proc.stderr.strip().splitlines()[-1].split()[1])
    return proc, peak, seconds


def test_two_million_samples_a_side_in_bounded_memory_and_time(tmp_path):
    """A legal 34 MB summary a side with 2,000,000 samples: the Hodges-Lehmann estimate of all
    4e12 pairwise ratios and its interval, exactly, in well under a GiB (the ratios themselves
    would take 29 TiB)."""
    n = 2_000_000
    a = _big_summary(tmp_path / "a.json", n, 1.0, 1)
    b = _big_summary(tmp_path / "b.json", n, 1.01, 2)
    assert a.stat().st_size < runio.MAX_BYTES
    proc, peak, seconds = _measured_run("compare", a, b, "--json", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    print(f"\n2e6 vs 2e6 samples: peak {peak / 2**20:.0f} MiB, {seconds:.1f} s")
    assert peak < 1.5 * 2**30 and seconds < 300
    out = proc.stdout
    row = json.loads(out)["benchmarks"][0]
    assert row["n_a"] == row["n_b"] == n
    assert row["ratio"] == pytest.approx(1.01, abs=2e-4)           # the planted shift
    assert row["ci"][0] < row["ratio"] < row["ci"][1]
    assert row["ci"][1] / row["ci"][0] < 1.001                       # 2e6 a side resolve 0.1%
    assert row["p_slower"] < 1e-100 and row["change"] is None        # within the 5% margin
    assert row["verdict"] == "slower, within +-5%"


def _dense(a, b):
    return np.sort((b[:, None] - a[None, :]).ravel())


def test_selection_gives_exactly_the_dense_order_statistics(monkeypatch):
    """The selection must return the very value np.sort of all differences has at each rank,
    with ties, with differences that round, over 600 orders of magnitude."""
    monkeypatch.setattr(stats, "DENSE_PAIRS_LIMIT", 40)
    monkeypatch.setattr(stats, "_SELECT_SAMPLE", 64)
    rng = np.random.default_rng(7)
    checked = 0
    for trial in range(600):
        m, n = (int(x) for x in rng.integers(1, 45, 2))
        kind = trial % 3
        if kind == 0:    # many ties
            a, b = rng.integers(0, 4, m).astype(float), rng.integers(0, 4, n).astype(float)
        elif kind == 1:  # log times 0.1% apart: differences at the rounding limit
            a = np.log(rng.lognormal(0, 1e-3, m))
            b = np.log(rng.lognormal(0, 1e-3, n)) + 1e-17
        else:
            a = rng.normal(0, 1, m) * 10.0 ** int(rng.integers(-300, 300))
            b = rng.normal(0, 1, n) * 10.0 ** int(rng.integers(-300, 300))
        a.sort()
        b.sort()
        d = _dense(a, b)
        for k in {1, len(d), (len(d) + 1) // 2, int(rng.integers(1, len(d) + 1))}:
            assert stats.pairwise_difference_kth(a, b, k, seed=trial) == d[k - 1], (m, n, k)
            checked += 1
    assert checked > 1500


def test_shift_interval_is_the_same_on_both_paths(monkeypatch):
    rng = np.random.default_rng(3)
    a = np.log(rng.lognormal(0.0, 0.03, 1500))
    b = np.log(rng.lognormal(0.02, 0.03, 1600))
    assert len(a) * len(b) > stats.DENSE_PAIRS_LIMIT
    selected = stats.shift_interval(a, b)
    monkeypatch.setattr(stats, "DENSE_PAIRS_LIMIT", 10 ** 8)
    assert stats.shift_interval(a, b) == selected
    with pytest.raises(ValueError):
        stats.pairwise_difference_kth(np.sort(a), np.sort(b), 0)


def test_hundreds_of_samples_a_side_do_not_overflow_the_floor(tmp_path):
    """1/C(1200, 600) is below the smallest float: the floor reads 0 (shown '<1e-300'), not an
    OverflowError."""
    assert stats.rank_min_p(5, 5) == 1 / 252
    assert stats.rank_min_p(600, 600) == 0.0
    assert 0 < stats.rank_min_p(400, 400) < 1e-200
    a = _big_summary(tmp_path / "a.json", 600, 1.0, 1, rows=3)
    b = _big_summary(tmp_path / "b.json", 600, 1.10, 2, rows=3)
    proc = run_cvp("compare", a, b)
    assert proc.returncode == 0, proc.stderr
    assert "1/C(1200,600) = <1e-300" in proc.stdout and "B is slower overall" in proc.stdout


def test_the_whole_run_test_uses_at_most_50_repetitions_a_side():
    rng = np.random.default_rng(5)
    a = [rng.normal(0, 1, 200_000) for _ in range(3)]
    b = [rng.normal(0.5, 1, 150_000) for _ in range(3)]
    started = time.monotonic()
    up, down, floor, how = stats.round_permutation_p(a, b, resamples=2000)
    assert time.monotonic() - started < 20
    assert up < 0.01 and down > 0.5 and floor == 1 / math.comb(100, 50)
    assert "on 50 of 200000 and 50 of 150000 repetitions (A and B)" in how
    small = stats.round_permutation_p([[1.0, 2.0, 3.0]] * 2, [[4.0, 5.0, 6.0]] * 2)
    assert small == (0.05, 1.0, 0.05, "exact over all 20 assignments of columns")


@pytest.mark.parametrize("option,value,fragment", [
    ("--alpha", "nan", "not a finite number"),
    ("--alpha", "inf", "not a finite number"),
    ("--margin", "nan", "not a finite number"),
    ("--margin", "-inf", "not a finite number"),
    ("--resamples", "nan", "not an integer"),
    ("--resamples", "100000000", "must be at most 1000000"),
    ("--seed", "-1", "must be at least 0"),
    ("--seed", "inf", "not an integer"),
])
def test_compare_refuses_numeric_options_that_are_not_numbers(option, value, fragment):
    proc = run_cvp("compare", REPEATED, REPEATED, f"{option}={value}")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr


def test_compare_runs_checks_resamples_and_seed():
    from cvptools import CvpError
    run = runio.load_run(REPEATED)
    for bad in (dict(resamples=10 ** 7), dict(resamples=True), dict(seed=-1), dict(seed=1.5)):
        with pytest.raises(CvpError):
            compare.compare_runs(run, run, **bad)


def test_names_cannot_break_the_table_or_drive_the_terminal(tmp_path):
    doc = json.loads((REPEATED / "summary.json").read_text())
    doc["results"][0]["name"] += "\n\x1b[2J\u202efake line"
    a = write_json(tmp_path / "a.json", doc)
    proc = run_cvp("compare", a, a)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout
    assert not any(line.startswith("fake line") for line in proc.stdout.splitlines())
    assert "\\u000a\\u001b[2J\\u202efake line" in proc.stdout


# --- Complexity() rows of real Google Benchmark output ----------------------------------------

def _scaled_gbench(path, factor):
    doc = json.loads((COMPLEXITY / "benchmark.json").read_text())
    for b in doc["benchmarks"]:
        if not runio.is_complexity_row(b) and b.get("aggregate_name") != "cv":
            b["real_time"] *= factor
            b["cpu_time"] *= factor
    return write_json(path, doc)


def test_compare_reads_real_output_with_complexity_rows(tmp_path):
    raw = json.loads((COMPLEXITY / "benchmark.json").read_text())
    assert {b.get("aggregate_name") for b in raw["benchmarks"]} >= {"BigO", "RMS"}
    slower = _scaled_gbench(tmp_path / "b.json", 2.0)
    proc = run_cvp("compare", COMPLEXITY, slower, "--json", tmp_path / "c.json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "c.json").read_text())
    names = [r["name"] for r in result["benchmarks"]]
    assert names == ["sum/256", "sum/1024", "sum/4096", "sum/16384"]  # no BigO, no RMS row
    assert all(r["ratio"] == pytest.approx(2.0) and r["n_a"] == r["n_b"] == 2
               for r in result["benchmarks"])
    assert "BigO" not in proc.stdout and "RMS" not in proc.stdout


def test_gate_reads_real_output_with_complexity_rows(tmp_path):
    base = [COMPLEXITY / "benchmark.json"] * 3
    cand = [_scaled_gbench(tmp_path / f"c{i}.json", 1.0 + 0.001 * i) for i in range(3)]
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand,
                   "--json", tmp_path / "g.json")
    assert proc.returncode in (0, 3), proc.stderr
    doc = json.loads((tmp_path / "g.json").read_text())
    assert [r["name"] for r in doc["first"]["benchmarks"]] == [
        "sum/256", "sum/1024", "sum/4096", "sum/16384"]

"""Honest under load: --budget bounds the whole run, the minimum blocks included; other processes
are measured per block and carried into the rows; intervals from too few pairs are n/a; and what
is read or asked for is checked before anything is measured."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from e2e_support import TINY, load_summary, run

SCHEMA = Path(__file__).resolve().parents[2] / "benchmarks" / "schema" / "summary.schema.json"
CVP = Path(__file__).resolve().parents[2] / "scripts" / "cvp"
SMALL = ["--filter", "^matmul/n:96/mode:(serial|parallel)/backend:threads/threads:[12]$",
         "--size", "96", "--min-time", "0.01"]


def _warm_limits(cvpbench, cwd):
    """The machine's limits are measured once per machine and cached (a few seconds where the
    last-level cache is large): measure them before a run whose wall time is judged."""
    result = run(cvpbench, [*SMALL, "--repetitions", "1", "--precision", "0",
                            "--out", str(cwd / "warm")], cwd=cwd)
    assert result.returncode == 0, result.stderr


def _timed(cvpbench, args, cwd):
    start = time.monotonic()
    result = run(cvpbench, args, cwd=cwd)
    return result, time.monotonic() - start


def test_a_budget_too_small_for_the_minimum_ends_on_time_and_says_what_each_point_got(
        cvpbench, tmp_path):
    # 400 blocks of 10 ms per point cannot fit in 3 s: the run keeps to its budget.
    _warm_limits(cvpbench, tmp_path)
    folder = tmp_path / "short"
    result, took = _timed(cvpbench, [*SMALL, "--repetitions", "400", "--precision", "0",
                                     "--budget", "3", "--out", str(folder)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert took < 3 * 1.1 + 1.5, f"{took:.1f} s for --budget 3"
    summary = load_summary(folder)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    points = [r for r in summary["results"] if r["mode"] != "serial"]
    assert points
    for r in points:
        pairs = r["speedup"]["pairs"]
        assert 1 <= pairs < 400, r["name"]
        assert r["precision"]["met"] is False
        assert f"{pairs} of 400 pairs in its share of the budget" in r["precision"]["missed"], \
            r["precision"]["missed"]
    # The same plan with a budget that buys its minimum gets all of it.
    roomy = tmp_path / "roomy"
    result = run(cvpbench, [*SMALL, "--repetitions", "8", "--precision", "0", "--budget", "60",
                            "--out", str(roomy)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for r in load_summary(roomy)["results"]:
        # Met, or (on a busy machine) short for its disturbed blocks, never for the budget.
        assert r["precision"]["met"] or "budget" not in r["precision"]["missed"], r["precision"]


def test_too_few_pairs_for_an_interval_print_na_never_a_zero_width(cvpbench, tmp_path):
    folder = tmp_path / "few"
    result = run(cvpbench, [*TINY, "--filter", "^matmul/", "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    # Two pairs each; fewer only where disturbed blocks were set aside for longer than the run
    # waits out a burst (a second of a group's rounds), and then the row says so.
    pairs = {}
    for r in summary["results"]:
        if r["mode"] == "serial":
            continue
        pairs[(r["group"], r["mode"], r["backend"], str(r["threads"]))] = r["speedup"]["pairs"]
        said = f"{r['name']}: {r['precision']['missed']}\n{result.stderr}"
        assert r["speedup"]["pairs"] == 2 or (
            1 <= r["speedup"]["pairs"] < 2 and "were disturbed" in r["precision"]["missed"]), said
        assert r["speedup"]["ci_known"] is False, r["name"]
        assert r["precision"]["reached"] is None
    table = [line for line in result.stdout.splitlines() if line.startswith("matmul/")
             and " serial " not in line]
    assert len(table) == len(pairs), result.stdout
    for line in table:
        count = pairs[tuple(line.split()[:4])]
        assert f"n/a ({count} pair{'s' if count > 1 else ''})" in line, "\n".join(table)
    assert not any("+-0.00%" in line for line in table)
    # The verdict carries the same: no interval, and noisy is not claimed for a run with no target.
    verdict = next(v for v in summary["verdicts"] if v.startswith("matmul"))
    assert "(CI n/a: 2 pairs)" in verdict, verdict
    # And so does the report read from the file.
    page = tmp_path / "report.html"
    report = subprocess.run([sys.executable, str(CVP), "report", str(folder), "-o", str(page)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    html = page.read_text()
    assert "n/a\u00a0(2 pairs)" in html and "+-n/a" in html
    assert "+-0.0%" not in html


@pytest.fixture
def two_busy_loops():
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    time.sleep(0.5)
    yield
    for p in loops:
        p.kill()
        p.wait()


def test_other_processes_are_measured_per_block_and_the_budget_holds_beside_them(
        cvpbench, tmp_path, two_busy_loops):
    _warm_limits(cvpbench, tmp_path)
    folder = tmp_path / "busy"
    result, took = _timed(cvpbench, [*SMALL, "--repetitions", "6", "--precision", "5%",
                                     "--budget", "8", "--out", str(folder)], tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert took < 8 * 1.1 + 1.5, f"{took:.1f} s for --budget 8 beside two busy loops"
    summary = load_summary(folder)
    assert summary["config"]["disturbance_signals"]["other_processes"] is True
    shares = [r["load"]["others_cpu_share"] for r in summary["results"]
              if r.get("load", {}).get("others_cpu_share") is not None]
    assert shares, "no row carries the load of other processes"
    # Two loops on two CPUs take about half of each: measured, not guessed.
    assert max(shares) > 0.2, shares
    # Every row either met its target or says why, with the pairs it got.
    for m in summary["precision"]["missed"]:
        assert m["why"], m


def test_a_folder_holding_a_trace_is_refused_before_anything_is_measured(cvpbench, tmp_path):
    folder = tmp_path / "traced"
    folder.mkdir()
    (folder / "trace.json").write_text('{"theirs": true}\n')
    result, took = _timed(cvpbench, [*TINY, "--trace", "--out", str(folder)], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "already holds the results of a run (trace.json)" in result.stderr
    assert (folder / "trace.json").read_text() == '{"theirs": true}\n'
    assert sorted(p.name for p in folder.iterdir()) == ["trace.json"]
    assert "machine limits" not in result.stderr  # refused before the limits, the set-up, the blocks


def test_a_repeated_option_is_named_in_plain_words(cvpbench, tmp_path):
    result = run(cvpbench, ["--budget", "3", "--budget=4", "--list"], cwd=tmp_path)
    assert result.returncode == 2
    assert "--budget was given 2 times: give it once" in result.stderr
    assert "At Most" not in result.stderr
    # Once is fine.
    assert run(cvpbench, ["--budget", "3", "--list"], cwd=tmp_path).returncode == 0


def test_an_out_path_that_cannot_be_made_leaves_no_folder_behind(cvpbench, tmp_path):
    deep = tmp_path / "top"
    path = str(deep) + "/" + "/".join(["d" * 100] * 41)  # past PATH_MAX
    result = run(cvpbench, [*TINY, "--out", path], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "cannot create the folder" in result.stderr
    assert not deep.exists(), sorted(str(p) for p in tmp_path.rglob("*"))
    # A folder the user had stays, and only what the run made goes.
    deep.mkdir()
    (deep / "mine.txt").write_text("keep\n")
    result = run(cvpbench, [*TINY, "--out", path], cwd=tmp_path)
    assert result.returncode == 2
    assert sorted(p.name for p in deep.iterdir()) == ["mine.txt"]


def test_a_false_cache_of_limits_is_measured_again_and_said(cvpbench, tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, CVPBENCH_CACHE_DIR=str(cache))
    args = [*SMALL, "--repetitions", "3", "--precision", "0"]
    first = subprocess.run([str(cvpbench), *args, "--out", str(tmp_path / "a")], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    (entry,) = cache.glob("limits-*.json")
    limits = json.loads(entry.read_text())
    limits["flops_per_s"]["one_core"] = 1e6  # plausible in form, false for any machine today
    limits["flops_per_s"]["all_cores"] = 2e6
    entry.write_text(json.dumps(limits))
    second = subprocess.run([str(cvpbench), *args, "--out", str(tmp_path / "b")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "the cached machine limits cannot be right" in second.stderr
    summary = load_summary(tmp_path / "b")
    assert "were measured again" in summary["machine"]["limits_note"]
    assert summary["machine"]["limits"]["flops_per_s"]["one_core"] > 1e8
    # The cache was rewritten: the next run reads true limits and says nothing.
    third = subprocess.run([str(cvpbench), *args, "--out", str(tmp_path / "c")], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "cannot be right" not in third.stderr, third.stderr

"""cvpbench when things go wrong: planted wrong results and exceptions, Ctrl-C, kill -9,
no CPU affinity, and the noise and quota readings."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from e2e_support import (SCHEMA, TINY, json_files_are_whole, load_summary, run, start,
                         wait_for_text)

jsonschema = pytest.importorskip("jsonschema")

# A long run of tiny benchmarks: many repetitions, so that a signal lands mid-run.
LONG = [a if a != "2" else "400" for a in TINY]
WRONG_MATMUL = "^matmul/n:64/mode:parallel/backend:threads/"
WRONG_REQUESTS = "^requests/.*/mode:parallel/backend:threads/"
THROW_REQUESTS = "^requests/.*/mode:concurrent/backend:eventloop/"
THROW_MATMUL = "^matmul/n:64/mode:concurrent/backend:tbb/"


def validate(summary):
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))


def no_temporary_files(folder):
    return not [p.name for p in Path(folder).glob(".*")]


def test_planted_faults_are_reported_and_the_rest_runs(cvpbench, tmp_path):
    folder = tmp_path / "faults"
    result = run(cvpbench, [*TINY, "--out", str(folder),
                            "--inject-fault", f"wrong:{WRONG_MATMUL}",
                            "--inject-fault", f"wrong:{WRONG_REQUESTS}",
                            "--inject-fault", f"throw:{THROW_REQUESTS}",
                            "--inject-fault", f"throw:{THROW_MATMUL}"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    summary = load_summary(folder)
    validate(summary)
    assert summary["config"]["inject_faults"] == [
        f"wrong:{WRONG_MATMUL}", f"wrong:{WRONG_REQUESTS}", f"throw:{THROW_REQUESTS}",
        f"throw:{THROW_MATMUL}"]
    import re
    planted = [re.compile(p) for p in (WRONG_MATMUL, WRONG_REQUESTS, THROW_REQUESTS, THROW_MATMUL)]
    failed = {r["name"]: r for r in summary["results"] if any(p.search(r["name"]) for p in planted)}
    assert len(failed) >= 4, failed.keys()
    for name, r in failed.items():
        assert not r["verified"], name
        if re.search(WRONG_MATMUL, name):
            assert r["error"] == "result differs from the serial answer"
        elif re.search(WRONG_REQUESTS, name):
            assert "responses differ from the serial handling's" in r["error"], r["error"]
            assert r["io"]["errors"] >= 1
        else:
            assert "planted exception" in r["error"], r["error"]
    assert {e["name"] for e in summary["errors"]} == set(failed)
    # The rest ran, were verified and measured.
    others = [r for r in summary["results"] if r["name"] not in failed]
    assert others
    for r in others:
        assert r["verified"] and "error" not in r and r["wall_s"]["median"] > 0, r["name"]
    # The raw Google Benchmark JSON says the same, in its own words.
    raw = json.loads((folder / "benchmark.json").read_text())
    raw_errors = {b["run_name"].rsplit("/", 1)[0]: b["error_message"]
                  for b in raw["benchmarks"] if b.get("error_occurred")}
    assert set(raw_errors) == set(failed)
    for name, message in raw_errors.items():
        assert message == failed[name]["error"]
    # And stderr lists every failure.
    assert f"cvpbench: {len(failed)} benchmarks failed:" in result.stderr
    for name in failed:
        assert name in result.stderr
    assert no_temporary_files(folder)


def _stopped_mid_run(cvpbench, tmp_path, name, signum, count):
    """A long run stopped by `signum` after `count` progress lines: (its folder, its stderr);
    it exited 130."""
    folder = tmp_path / name
    log = tmp_path / "stderr.txt"
    process = start(cvpbench, [*LONG, "--out", str(folder)], tmp_path, log)
    assert wait_for_text(process, log, "about", count=count), log.read_text()
    process.send_signal(signum)
    assert process.wait(timeout=120) == 130, log.read_text()
    return folder, log.read_text()


def test_sigint_mid_run_writes_what_was_measured_and_exits_130(cvpbench, tmp_path):
    folder, stderr = _stopped_mid_run(cvpbench, tmp_path, "interrupted", signal.SIGINT, 30)
    assert "interrupted" in stderr
    summary = load_summary(folder)
    validate(summary)
    assert summary["interrupted"] is True
    assert summary["results"], "nothing measured before the signal"
    for r in summary["results"]:
        assert r["verified"] and "error" not in r, r["name"]
        # 400 blocks at least were asked for; a baseline samples on while its points need
        # more, and disturbed blocks are measured again: the interruption came first.
        assert r["repetitions_done"] >= 1
        assert len(r["wall_s"]["samples"]) == r["repetitions_done"]
    assert summary["errors"] == []
    # The raw JSON is whole, and marks the skipped repetitions.
    raw = json.loads((folder / "benchmark.json").read_text())
    assert any(b.get("error_message") == "interrupted" for b in raw["benchmarks"])
    assert no_temporary_files(folder)


def test_sigterm_is_handled_like_sigint(cvpbench, tmp_path):
    folder, _ = _stopped_mid_run(cvpbench, tmp_path, "terminated", signal.SIGTERM, 10)
    summary = load_summary(folder)
    validate(summary)
    assert summary["interrupted"] is True


def test_second_sigint_quits_at_once_without_files(cvpbench, tmp_path):
    # One request that waits 10 s: the first signal's safe point (the next request) is 10 s away.
    folder = tmp_path / "quit"
    log = tmp_path / "stderr.txt"
    args = ["--filter", "^requests/.*/mode:serial/backend:threads/", "--w-us", "10000000",
            "--c-us", "10", "--in-flight", "1", "--requests", "2", "--no-crossover",
            "--repetitions", "1", "--out", str(folder)]
    process = start(cvpbench, args, tmp_path, log)
    assert wait_for_text(process, log, "benchmarks x"), log.read_text()
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None, "the first signal should wait for the safe point"
    second = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 130
    assert time.monotonic() - second < 3
    assert "interrupted again" in log.read_text()
    leftovers = list(folder.iterdir()) if folder.exists() else []
    assert leftovers == [], leftovers


@pytest.mark.parametrize("when", ["start", "mid-run", "finishing"])
def test_kill_9_leaves_no_corrupt_file(cvpbench, tmp_path, when):
    folder = tmp_path / "killed"
    log = tmp_path / "stderr.txt"
    args = [*LONG, "--out", str(folder)]
    if when == "finishing":
        args = [*TINY, "--out", str(folder)]
    process = start(cvpbench, args, tmp_path, log)
    text = {"start": "benchmarks x", "mid-run": "about", "finishing": "done in"}[when]
    wait_for_text(process, log, text, count=20 if when == "mid-run" else 1)
    process.kill()
    process.wait(timeout=30)
    state = _output_state(folder)
    assert state in ("no folder", "staging only", "both files whole"), state
    if state == "both files whole":
        validate(load_summary(folder))


def _output_state(folder):
    """What a killed run left in its --out folder: "no folder" (none, or still empty), "staging
    only" (nothing but the run's private .cvpbench-staging-* folder), "both files whole"
    (benchmark.json and summary.json published, each parsing as a whole); anything else is
    described as it is, and fails the test."""
    if not folder.exists() or not any(folder.iterdir()):
        return "no folder"
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".cvpbench-staging-")}
    if not names:
        return "staging only"
    whole = json_files_are_whole(folder)  # raises on a half-written file
    if names == {"benchmark.json", "summary.json"} and len(whole) == 2:
        return "both files whole"
    return f"unexpected: {sorted(names)}"


def test_noaffinity_build_labels_every_result_unpinned(cvpbench_noaffinity, tmp_path):
    folder = tmp_path / "unpinned"
    result = run(cvpbench_noaffinity, [*TINY, "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cannot pin threads" in result.stderr
    summary = load_summary(folder)
    validate(summary)
    assert summary["machine"]["pinning_supported"] is False
    assert summary["results"]
    for r in summary["results"]:
        assert r["evidence"]["pinned"] is False, r["name"]
        assert r["verified"] and "error" not in r, r["name"]
        assert r["wall_s"]["median"] > 0
    raw = json.loads((folder / "benchmark.json").read_text())
    iterations = [b for b in raw["benchmarks"] if b["run_type"] == "iteration"]
    assert iterations and all(b["pinned"] == 0 for b in iterations)
    assert "NOT PINNED" in result.stdout


def test_summary_records_noise_and_cgroup_quota(cvpbench, tmp_path):
    folder = tmp_path / "noise"
    result = run(cvpbench, [*TINY, "--filter", "^matmul/n:64/mode:serial/backend:threads/",
                            "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    validate(summary)
    assert "cgroup_cpu_quota" in summary["machine"]
    noise = summary["noise"]
    assert isinstance(summary["noisy"], bool)
    assert summary["noisy"] == noise["noisy"] == bool(summary["noise_reasons"])
    if os.path.exists("/proc/loadavg"):
        assert len(noise["load_avg_before"]) == 3 and len(noise["load_avg_after"]) == 3
    if summary["noisy"]:
        assert "the machine was busy during this run" in result.stdout
    assert summary["interrupted"] is False


def run_limited(cvpbench, args, cwd, limit, value):
    """Runs cvpbench with one resource limit lowered (for it alone)."""
    import resource
    import subprocess

    def lower():
        resource.setrlimit(limit, (value, value))

    return subprocess.run([str(cvpbench), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, preexec_fn=lower)


def assert_refused(result, prefix, folder):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cvpbench: error: " + prefix), lines[0]
    assert result.stdout == ""
    assert not folder.exists()


def test_thread_limits_are_refused_clearly(cvpbench, tmp_path):
    import resource
    folder = tmp_path / "x"
    result = run_limited(cvpbench, ["--in-flight", "1000", "--requests", "1000", "--out",
                                    str(folder)], tmp_path, resource.RLIMIT_NPROC, 300)
    assert_refused(result, "--in-flight 1000: needs 1000 threads at once", folder)
    assert "--backend eventloop" in result.stderr


@pytest.mark.parametrize("args,prefix", [
    (["--size", "20000"], "--size 20000: four 20000 x 20000 matrices need"),
    (["--requests", "10000000", "--in-flight", "8", "--no-crossover"],
     "--requests 10000000: 10000000 requests need"),
])
def test_sizes_beyond_memory_are_refused_before_allocating(cvpbench, tmp_path, args, prefix):
    import resource
    folder = tmp_path / "x"
    result = run_limited(cvpbench, [*args, "--out", str(folder)], tmp_path, resource.RLIMIT_AS,
                         3 << 30)
    assert_refused(result, prefix, folder)
    assert "GiB of memory available" in result.stderr

"""Why a speedup is what it is: the trace of a run (--trace), the machine's limits (--limits) and
the diagnosis of rows that miss their bound, from real runs of the program."""

import json
import re
from collections import Counter

import pytest

from e2e_support import SCHEMA, TINY, load_summary, refuse_constant, run

jsonschema = pytest.importorskip("jsonschema")


def _strict(text):
    return json.loads(text, parse_constant=refuse_constant)


@pytest.fixture(scope="module")
def traced_run(cvpbench, tmp_path_factory):
    folder = tmp_path_factory.mktemp("traced") / "out"
    result = run(cvpbench, [*TINY, "--trace", "--out", str(folder)], cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_trace_is_a_strict_trace_event_file_of_every_point(traced_run):
    folder, _ = traced_run
    trace = _strict((folder / "trace.json").read_text())
    summary = load_summary(folder)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    assert summary["trace"] == "trace.json"
    assert summary["config"]["trace"] is True
    points = trace["otherData"]["points"]
    assert {p["name"] for p in points} == {r["name"] for r in summary["results"]}
    names = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert set(names.values()) == {p["name"] for p in points}
    for row in summary["results"]:
        assert row["timeline"] is not None, row["name"]
        assert 0 < row["timeline"]["busy_mean"] <= 1.0 + 1e-9


def test_parallel_tasks_stack_across_cores_and_requests_wait(traced_run, cvpbench):
    folder, _ = traced_run
    trace = _strict((folder / "trace.json").read_text())
    by_name = {p["name"]: p for p in trace["otherData"]["points"]}
    events = trace["traceEvents"]
    parallel = next(p for n, p in by_name.items()
                    if n.startswith("matmul/") and "/mode:parallel/backend:threads/threads:2" in n
                    and n.endswith("threads:2"))
    tasks = [e for e in events if e["pid"] == parallel["pid"] and e["ph"] == "X" and e["cat"] == "task"]
    assert len(tasks) == parallel["spans_recorded"] > 0
    assert {e["tid"] for e in tasks} <= {1, 2}
    assert {e["args"]["cpu"] for e in tasks} <= set(parallel["cpus"])
    # Both cores take tasks once the product outlasts a sleeping worker's wake-up; a shorter one
    # may be done by the first worker awake (as in test_cvpbench's parallel rows).
    row = next(r for r in load_summary(folder)["results"] if r["name"] == parallel["name"])
    if len(set(parallel["cpus"])) == 2 and row["wall_s"]["median"] >= 1e-3:
        assert len({e["args"]["cpu"] for e in tasks}) == 2, "the tasks ran on one core only"
    concurrent = next(p for n, p in by_name.items()
                      if n.startswith("requests/") and "/mode:concurrent/backend:eventloop/" in n)
    mine = [e for e in events if e["pid"] == concurrent["pid"]]
    phases = Counter(e["ph"] for e in mine if e.get("cat") == "wait")
    assert phases["b"] == phases["e"] == 40  # every request's wait
    cpu_parts = [e for e in mine if e["ph"] == "X" and e["cat"] == "cpu"]
    assert len(cpu_parts) == 80  # before and after each wait
    assert {e["args"]["cpu"] for e in cpu_parts} == set(concurrent["cpus"])


def test_without_trace_there_is_no_trace_file(cvpbench, tmp_path):
    folder = tmp_path / "out"
    result = run(cvpbench, [*TINY, "--filter", "^matmul/", "--limits", "off", "--out", str(folder)],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    assert not (folder / "trace.json").exists()
    assert summary["trace"] is None
    assert summary["machine"]["limits"] is None
    assert all(r["timeline"] is None for r in summary["results"])
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))


def test_limits_are_measured_once_and_then_read_from_the_cache(cvpbench, tmp_path, monkeypatch):
    monkeypatch.setenv("CVPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    args = [*TINY, "--filter", "^matmul/n:64/mode:serial/backend:threads/"]
    limits = []
    for i, mode in enumerate(["cached", "cached", "measure"]):
        folder = tmp_path / f"out{i}"
        result = run(cvpbench, [*args, "--limits", mode, "--out", str(folder)], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        limits.append(load_summary(folder)["machine"]["limits"])
    first, cached, again = limits
    assert first["cached"] is False and cached["cached"] is True and again["cached"] is False
    assert cached["flops_per_s"] == first["flops_per_s"]
    assert cached["measured_at"] == first["measured_at"]
    for figure in (first["flops_per_s"]["one_core"], first["bandwidth_bytes_per_s"]["all_cores"],
                   first["context_switch_us"], first["timer_wakeup_us"]["median"]):
        assert figure > 0
    assert len(list((tmp_path / "cache").glob("limits-*.json"))) == 1


def test_a_bad_limits_mode_is_refused(cvpbench, tmp_path):
    result = run(cvpbench, ["--limits", "sometimes", "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert result.returncode == 2
    assert "--limits" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_planted_shortfall_gets_a_diagnosis(cvpbench, tmp_path):
    """A parallel point slowed by busy work in its timed region misses its bound; the run says
    why, with the number, in its summary and on the console."""
    folder = tmp_path / "out"
    target = "^matmul/n:64/mode:parallel/backend:threads/threads:2$"
    args = [a if a != "2" or TINY[i - 1] != "--repetitions" else "6" for i, a in enumerate(TINY)]
    result = run(cvpbench, [*args, "--filter", "^matmul/n:64/mode:(serial|parallel)/backend:threads/",
                            "--inject-slowdown", f"100:{target}", "--verbose",
                            "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    row = next(r for r in summary["results"] if r["name"].endswith("/threads:2")
               and r["mode"] == "parallel")
    assert row["speedup"]["ci95"][1] < row["bound"]
    assert row["diagnosis"] is not None
    assert row["diagnosis"]["line"]
    assert {"name": row["name"], "cause": row["diagnosis"]["cause"],
            "line": row["diagnosis"]["line"]} in summary["diagnoses"]
    # Grouped by cause; --verbose gives the row its own line under it.
    assert "why not more" in result.stdout
    cause = row["diagnosis"]["cause"]
    # Its group's line counts it (another row of the run may share the cause on a busy machine).
    assert re.search(rf"^  {cause}: matmul n:64 parallel threads( threads:[\d/]+)? \(\d+ rows?\)$",
                     result.stdout, re.MULTILINE), result.stdout
    assert f"    {row['name']}: {row['diagnosis']['line']}\n" in result.stdout
    # Copies of its serial point ran at once on its CPUs (the contention measure): the planted
    # busy work is the team's own, so contention is not what is named.
    copies = row["contention"]
    assert copies is not None and copies["skipped"] is None, copies
    assert copies["cpus"] == sorted(row["evidence"]["intended_cpus"]) and copies["rounds"] >= 1
    assert copies["copies_rate"] > row["speedup"]["value"], copies
    assert cause != "contention", row["diagnosis"]["line"]
    # --no-contention leaves it out.
    bare = tmp_path / "bare"
    result = run(cvpbench, [*args, "--filter", "^matmul/n:64/mode:(serial|parallel)/backend:threads/",
                            "--inject-slowdown", f"100:{target}", "--no-contention",
                            "--out", str(bare)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert all(r["contention"] is None for r in load_summary(bare)["results"])

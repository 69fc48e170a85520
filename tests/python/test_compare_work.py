"""cvp compare compares like with like: time per request, matched across request counts and
naming generations, throughput and speedups across machines; read from summaries and from the
raw Google Benchmark JSON that cvpbench writes."""

import copy
import json
import re

import pytest

from cvp_testing import GOLDEN, assert_clean_error, load_golden, run_cvp, write_json
from cvptools import CvpError, compare, runio

REPEATED = GOLDEN / "repeated"
_REQ = re.compile(r"/requests:[0-9]+")


def _old_names(doc):
    """A summary as cvpbench wrote it before names carried /requests:N."""
    doc = copy.deepcopy(doc)
    for r in doc["results"]:
        r["name"] = _REQ.sub("", r["name"])
        if r.get("speedup", {}).get("baseline"):
            r["speedup"]["baseline"] = _REQ.sub("", r["speedup"]["baseline"])
    return doc


def _new_names(doc):
    """The same with /requests:N after k:K, as cvpbench writes now."""
    doc = _old_names(doc)
    for r in doc["results"]:
        if r["kind"] == "io":
            r["name"] = re.sub(r"(/k:[0-9]+)", rf"\1/requests:{r['params']['requests']}",
                               r["name"], count=1)
    return doc


def _io_result(doc):
    return next(r for r in doc["results"] if r["kind"] == "io" and r["mode"] != "serial")


def test_different_request_counts_are_matched_per_request_and_said(tmp_path):
    base = _new_names(load_golden("runner"))
    other = copy.deepcopy(base)
    r = _io_result(other)
    old_count = r["params"]["requests"]
    r["params"]["requests"] = 2 * old_count  # twice the work, twice the time: same per request
    r["name"] = r["name"].replace(f"/requests:{old_count}", f"/requests:{2 * old_count}")
    r["wall_s"]["samples"] = [2 * s for s in r["wall_s"]["samples"]]
    r["wall_s"]["median"] *= 2
    a = runio.load_run(write_json(tmp_path / "a.json", base))
    b = runio.load_run(write_json(tmp_path / "b.json", other))
    result = compare.compare_runs(a, b)
    assert result["only_in_a"] == [] and result["only_in_b"] == []
    row = next(x for x in result["benchmarks"] if x.get("name_b") == r["name"])
    assert row["same_work"] is False and (row["work_a"], row["work_b"]) == (old_count,
                                                                           2 * old_count)
    assert row["ratio"] == pytest.approx(1.0) and row["median_b_s"] / row["median_a_s"] == \
        pytest.approx(2.0)
    assert row["verdict"] == "no change (within +-5%)"
    assert f"not the same work: A ran {old_count} requests, B {2 * old_count}" in row["notes"][0]
    text = compare.format_table(result)
    assert "1 benchmark(s) ran a different number of requests" in text
    assert "/req" in text  # io rows print time per request


def test_old_and_new_names_meet(tmp_path):
    golden = load_golden("runner")
    a = runio.load_run(write_json(tmp_path / "a.json", _old_names(golden)))
    b = runio.load_run(write_json(tmp_path / "b.json", _new_names(golden)))
    result = compare.compare_runs(a, b)
    assert result["only_in_a"] == [] and result["only_in_b"] == []
    assert len(result["benchmarks"]) == len(golden["results"])
    io_rows = [r for r in result["benchmarks"] if r["kind"] == "io"]
    assert io_rows and all(r["unit"] == "request" and r["same_work"] for r in io_rows)
    assert all("/requests:" in r["name_b"] for r in io_rows)


def test_results_differing_only_in_request_count_in_one_run_are_an_error(tmp_path):
    doc = _new_names(load_golden("runner"))
    twin = copy.deepcopy(_io_result(doc))
    twin["name"] = _REQ.sub("/requests:7", twin["name"])
    doc["results"].append(twin)
    run = runio.load_run(write_json(tmp_path / "s.json", doc))
    with pytest.raises(CvpError, match="differ only in their request count"):
        compare.compare_runs(run, run)


def test_different_machines_compare_throughput_and_speedups(tmp_path):
    a = runio.load_run(GOLDEN / "runner")
    b = runio.load_run(GOLDEN / "workstation")
    result = compare.compare_runs(a, b)
    machines = result["machines"]
    assert not machines["same"]
    assert {"cpu_model", "physical_cores", "logical_cpus", "host"} <= set(machines["differences"])
    assert result["quantity"] == "throughput B/A (work per second)"
    words = ("higher throughput", "lower throughput", "same throughput", "inconclusive")
    assert all(r["verdict"].startswith(words) for r in result["benchmarks"])
    row = next(r for r in result["benchmarks"] if r["kind"] == "cpu" and r["speedup_b"]
               and r["speedup_b"]["value"] > 1.5)
    assert row["throughput_ratio"] == pytest.approx(1 / row["ratio"])
    assert row["throughput_unit"] == "GFLOP/s"
    text = compare.format_table(result)
    assert "A machine: Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz, 2 cores, 2 logical " \
           "CPUs, allowed CPUs 0-1, host ci-runner-7" in text
    assert "B machine: AMD Ryzen 7 5800X 8-Core Processor, 8 cores, 16 logical CPUs" in text
    assert "A and B ran on different machines" in text and "not raw times" in text
    header = next(line for line in text.splitlines() if line.startswith("benchmark"))
    for column in ("A throughput", "B throughput", "A speedup", "B speedup", "p(lower)"):
        assert column in header
    assert "GFLOP/s" in text and "requests/s" in text
    assert "A median" not in header


def test_same_machine_is_not_called_different(tmp_path):
    result = compare.compare_runs(runio.load_run(GOLDEN / "runner"), runio.load_run(GOLDEN / "runner"))
    assert result["machines"]["same"] and result["machines"]["differences"] == []
    text = compare.format_table(result)
    assert "A and B ran on different machines" not in text and "A machine:" not in text


def test_busy_machine_is_noted(tmp_path):
    doc = load_golden("runner")
    noisy = dict(doc, noisy=True, noise_reasons=["other processes used CPU during the run"])
    a = runio.load_run(write_json(tmp_path / "a.json", doc))
    b = runio.load_run(write_json(tmp_path / "b.json", noisy))
    text = compare.format_table(compare.compare_runs(a, b))
    assert "B was measured on a busy machine (other processes used CPU during the run)" in text


# --- raw Google Benchmark JSON ------------------------------------------------------------------

def _gbench():
    return json.loads((REPEATED / "benchmark.json").read_text())


def _gb_scaled(doc, factor):
    doc = copy.deepcopy(doc)
    for b in doc["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "cv":
            continue
        for key in ("real_time", "cpu_time"):
            b[key] *= factor
        for key in ("requests/s", "FLOP/s"):
            if key in b:
                b[key] /= factor
    return doc


def test_gbench_request_benchmarks_are_compared_per_request(tmp_path):
    a = runio.load_run(REPEATED / "benchmark.json")
    b = runio.load_run(write_json(tmp_path / "b.json", _gb_scaled(_gbench(), 1.25)))
    result = compare.compare_runs(a, b)
    rows = {r["name"]: r for r in result["benchmarks"]}
    io_rows = [r for r in rows.values() if r["kind"] == "io"]
    assert len(io_rows) == 3 and all(r["unit"] == "request" and r["work_a"] == 120
                                     for r in io_rows)
    for r in io_rows:
        assert r["per_unit_a_s"] == pytest.approx(r["median_a_s"] / 120)
        assert r["throughput_unit"] == "requests/s"
        assert r["throughput_a"] == pytest.approx(120 / r["median_a_s"], rel=0.02)
    matmul = rows["matmul/n:128/mode:serial/backend:threads/threads:1"]
    assert matmul["unit"] == "product" and matmul["throughput_unit"] == "GFLOP/s"
    assert all(r["n_a"] == 20 and r["change"] == "slower" for r in rows.values())
    assert all(r["ratio"] == pytest.approx(1.25) for r in rows.values())
    assert result["machines"]["same"]


def test_gbench_old_names_take_the_request_count_from_the_counter(tmp_path):
    doc = _gbench()
    for b in doc["benchmarks"]:
        for key in ("name", "run_name"):
            b[key] = _REQ.sub("", b[key])
    a = runio.load_run(write_json(tmp_path / "old.json", doc))
    new = runio.load_run(REPEATED / "benchmark.json")
    result = compare.compare_runs(a, new)
    io_rows = [r for r in result["benchmarks"] if r["kind"] == "io"]
    assert len(io_rows) == 3 and result["only_in_a"] == [] and result["only_in_b"] == []
    assert all(r["work_a"] == 120 and r["work_b"] == 120 and r["same_work"] for r in io_rows)
    assert compare.measured(a)[io_rows[0]["key"]].work_source == "requests/s counter"

    for b in doc["benchmarks"]:
        b.pop("requests/s", None)
    bare = runio.load_run(write_json(tmp_path / "bare.json", doc))
    rows = [r for r in compare.compare_runs(bare, bare)["benchmarks"] if r["kind"] == "io"]
    assert all(r["unit"] == "run" and r["same_work"] is None for r in rows)
    assert all("request count unknown" in r["notes"][0] for r in rows)


def test_gbench_other_host_is_another_machine(tmp_path):
    doc = _gbench()
    doc["context"]["host_name"] = "elsewhere"
    doc["context"]["num_cpus"] = 16
    a = runio.load_run(REPEATED / "benchmark.json")
    b = runio.load_run(write_json(tmp_path / "b.json", doc))
    result = compare.compare_runs(a, b)
    assert result["machines"]["differences"] == ["logical_cpus", "host"]
    text = compare.format_table(result)
    assert "CPU model not recorded, 16 logical CPUs" in text and "host elsewhere" in text


def test_cli_refuses_runs_with_nothing_in_common(tmp_path):
    doc = _gbench()
    for b in doc["benchmarks"]:
        for key in ("name", "run_name"):
            b[key] = "other/" + b[key]
    other = write_json(tmp_path / "other.json", doc)
    assert_clean_error(run_cvp("compare", REPEATED / "benchmark.json", other),
                       "no benchmark in common")

"""cvp export: github-action-benchmark custom JSON and Bencher Metric Format.

On the modelled golden inputs; test_export_in_dashboards.py checks the same on real output of the program
and against what the dashboards accept."""

import copy
import json

import pytest

from cvp_testing import GOLDEN, assert_clean_error, run_cvp, write_json
from cvptools import CvpError, export, runio
from cvptools.runio import Run

# The golden request names carry their request count (`/requests:N`) or not, by generation.
IO_K64_EVENTLOOP = ("requests/c_us:50/w_us:1000/k:64/",
                    "/mode:concurrent/backend:eventloop/threads:1")


def _io_name(names, head=IO_K64_EVENTLOOP[0], tail=IO_K64_EVENTLOOP[1]):
    return next(n for n in names if n.startswith(head) and n.endswith(tail))


@pytest.fixture(scope="module")
def runner():
    return [runio.load_run(GOLDEN / "runner")]


def test_gab_smaller_is_times(runner):
    doc = export.export(runner, "gab-smaller")
    assert isinstance(doc, list) and doc
    for entry in doc:
        assert set(entry) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(entry["name"], str) and isinstance(entry["value"], float)
        assert entry["unit"] in ("ms", "us")
    assert len({e["name"] for e in doc}) == len(doc)
    walls = [e for e in doc if e["name"].endswith(" wall time")]
    assert all(e["name"].startswith("matmul/") for e in walls)
    first = walls[0]
    assert first["name"] == "matmul/n:512/mode:serial/backend:threads/threads:1 wall time"
    assert first["value"] == pytest.approx(54.3, abs=0.1)
    assert "±" not in first["range"]
    assert "93.75% CI [" in first["extra"]  # [min, max] of 5 samples covers 93.75%, not 95%
    assert any(e["name"].endswith("latency p99") and e["unit"] == "us" for e in doc)


def test_gab_smaller_gives_request_results_per_request(runner):
    doc = {e["name"]: e for e in export.export(runner, "gab-smaller")}
    r = next(r for r in runner[0].doc["results"]
             if r["name"] == _io_name(r["name"] for r in runner[0].doc["results"]))
    name = r["name"]
    assert f"{name} wall time" not in doc  # the time of the whole run is not a request's
    per = doc[f"{name} time per request"]
    assert per["unit"] == "us"
    assert per["value"] == pytest.approx(r["wall_s"]["median"] / r["params"]["requests"] * 1e6)
    assert doc[f"{name} latency p50"]["value"] == r["latency_us"]["p50"]
    assert doc[f"{name} latency p99"]["value"] == r["latency_us"]["p99"]


def test_gab_range_is_asymmetric():
    run = runio.load_run(GOLDEN / "runner")
    doc = copy.deepcopy(run.doc)
    r = doc["results"][0]
    r["wall_s"].update(median=0.050, ci95=[0.049, 0.053])  # +3 ms / -1 ms
    out = export.export([Run(run.path, run.format, doc)], "gab-smaller")[0]
    assert out["value"] == pytest.approx(50.0)
    assert out["range"] == "+3 / -1"
    assert "93.75% CI [49, 53] ms" in out["extra"]


def test_gab_bigger_is_speedups_and_throughputs(runner):
    doc = export.export(runner, "gab-bigger")
    speedups = [e for e in doc if e["name"].endswith(" speedup")]
    assert speedups and all(e["unit"] == "x" for e in speedups)
    assert not any("mode:serial" in e["name"] for e in speedups)
    tbb = next(e for e in speedups
               if e["name"] == "matmul/n:512/mode:parallel/backend:tbb/threads:2 speedup")
    assert tbb["value"] == pytest.approx(1.83, abs=0.05)
    assert "baseline matmul/n:512/mode:serial/backend:tbb/threads:1 (53.76 ms)" in tbb["extra"]
    assert "bound 2" in tbb["extra"]
    assert tbb["range"].startswith("+") and " / -" in tbb["range"]
    units = {e["unit"] for e in doc if e["name"].endswith(" throughput")}
    assert units == {"GFLOP/s", "requests/s"}
    assert all("range" in e for e in doc)  # throughputs carry the wall time's interval


def test_bmf_shape(runner):
    doc = export.export(runner, "bmf")
    assert isinstance(doc, dict)
    for name, measures in doc.items():
        assert "latency" in measures and "throughput" in measures
        for slug, m in measures.items():
            assert set(m) <= {"value", "lower_value", "upper_value"}
            if "lower_value" in m:
                assert m["lower_value"] <= m["value"] <= m["upper_value"] or slug == "speedup"
    serial = doc["matmul/n:512/mode:serial/backend:threads/threads:1"]
    assert "speedup" not in serial
    assert serial["latency"]["value"] == pytest.approx(5.43e7, rel=0.01)  # nanoseconds
    assert serial["throughput"]["value"] == pytest.approx(4.945e9, rel=0.01)  # FLOP/s
    assert serial["throughput"]["value"] == pytest.approx(2 * 512 ** 3 / 0.0543, rel=0.01)
    name = _io_name(doc)
    io = doc[name]
    assert set(io) == {"latency", "latency-p50", "latency-p95", "latency-p99", "throughput",
                       "speedup", "efficiency", "efficiency-ideal"}
    r = next(r for r in runner[0].doc["results"] if r["name"] == name)
    requests = r["params"]["requests"]
    assert io["latency"]["value"] == pytest.approx(r["wall_s"]["median"] / requests * 1e9)
    assert io["latency"]["lower_value"] == pytest.approx(r["wall_s"]["ci95"][0] / requests * 1e9)
    assert io["latency-p99"] == {"value": pytest.approx(r["latency_us"]["p99"] * 1e3)}
    assert io["throughput"]["value"] == pytest.approx(r["throughput"]["value"])  # requests/s
    par = doc["matmul/n:512/mode:parallel/backend:tbb/threads:2"]["speedup"]
    assert par["lower_value"] <= par["value"] <= par["upper_value"]
    # A run written before rows carried an attainable bound: both efficiencies are the one.
    assert io["efficiency"] == io["efficiency-ideal"] == {"value": pytest.approx(r["efficiency"])}


def test_bmf_other_throughput_units_get_their_own_measure(runner):
    doc = copy.deepcopy(runner[0].doc)
    doc["results"][0]["throughput"]["unit"] = "MB/s"
    out = export.export([Run(runner[0].path, runner[0].format, doc)], "bmf")
    measures = out["matmul/n:512/mode:serial/backend:threads/threads:1"]
    assert "throughput" not in measures and "throughput-mb-s" in measures


def test_speedup_without_a_baseline_is_left_out(runner):
    doc = copy.deepcopy(runner[0].doc)
    r = next(r for r in doc["results"] if r["mode"] == "parallel")
    r["speedup"].update(value=0.0, ci95=[0.0, 0.0], baseline="unavailable")
    run = Run(runner[0].path, runner[0].format, doc)
    assert "speedup" not in export.export([run], "bmf")[r["name"]]
    assert f"{r['name']} speedup" not in {e["name"] for e in export.export([run], "gab-bigger")}


def test_not_finite_is_refused(runner):
    doc = copy.deepcopy(runner[0].doc)
    doc["results"][1]["throughput"]["value"] = float("nan")
    run = Run(runner[0].path, runner[0].format, doc)
    with pytest.raises(CvpError, match="throughput.value is nan, not a finite number"):
        export.export([run], "gab-bigger")


def test_request_result_without_a_request_count_is_refused(runner, tmp_path):
    doc = copy.deepcopy(runner[0].doc)
    r = next(r for r in doc["results"] if r["kind"] == "io")
    del r["params"]["requests"]
    r.get("io", {}).pop("requests", None)
    folder = tmp_path / "norequests"
    write_json(folder / "summary.json", doc)
    proc = run_cvp("export", folder, "--format", "bmf")
    assert_clean_error(proc, "without a request count")
    assert proc.stdout == ""


def test_two_runs_with_the_same_benchmark_are_refused():
    proc = run_cvp("export", GOLDEN / "runner", GOLDEN / "runner", "--format", "bmf")
    assert_clean_error(proc, "export one machine at a time")


def test_export_cli_writes_new_file_only(tmp_path):
    proc = run_cvp("export", GOLDEN / "runner", "--format", "bmf", "-o", "bmf.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "bmf.json").read_text())
    again = run_cvp("export", GOLDEN / "runner", "--format", "bmf", "-o", "bmf.json",
                    cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = run_cvp("export", GOLDEN / "runner", "--format", "gab-bigger", "-o", "bmf.json",
                     "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert isinstance(json.loads((tmp_path / "bmf.json").read_text()), list)
    stdout = run_cvp("export", GOLDEN / "runner", "--format", "gab-smaller")
    assert isinstance(json.loads(stdout.stdout), list)

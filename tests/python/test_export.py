"""cvp export: github-action-benchmark custom JSON and Bencher Metric Format."""

import json

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import export, io


@pytest.fixture(scope="module")
def runner():
    return [io.load_run(GOLDEN / "runner")]


def test_gab_smaller_is_times(runner):
    doc = export.export(runner, "gab-smaller")
    assert isinstance(doc, list) and doc
    for entry in doc:
        assert set(entry) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(entry["name"], str) and isinstance(entry["value"], float)
        assert entry["unit"] in ("ms", "us")
    walls = [e for e in doc if e["name"].endswith(" wall time")]
    first = walls[0]
    assert first["name"] == "matmul/n:512/mode:serial/backend:threads/threads:1 wall time"
    assert first["value"] == pytest.approx(54.3, abs=0.1)
    assert first["range"].startswith("± ")
    assert any(e["name"].endswith("latency p99") and e["unit"] == "us" for e in doc)


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
    units = {e["unit"] for e in doc if e["name"].endswith(" throughput")}
    assert units == {"GFLOP/s", "requests/s"}


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
    io = doc["requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1"]
    assert set(io) == {"latency", "throughput", "speedup"}
    par = doc["matmul/n:512/mode:parallel/backend:tbb/threads:2"]["speedup"]
    assert par["lower_value"] <= par["value"] <= par["upper_value"]


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

"""cvp compare: ratios of medians with CIs, tests, and the secondary geometric mean."""

import copy
import json

import pytest

from cvp_testing import GOLDEN, load_golden, run_cvp, write_json
from cvptools import compare, runio


def _scaled(doc, factor, only=None):
    doc = copy.deepcopy(doc)
    for r in doc["results"]:
        if only is None or r["name"] == only:
            w = r["wall_s"]
            w["samples"] = [s * factor for s in w["samples"]]
            w["median"] *= factor
            w["ci95"] = [c * factor for c in w["ci95"]]
    return doc


def test_known_ratio_is_inside_the_ci(tmp_path):
    base = load_golden("runner")
    name = base["results"][3]["name"]
    a = runio.load_run(write_json(tmp_path / "a.json", base))
    b = runio.load_run(write_json(tmp_path / "b.json", _scaled(base, 2.0, only=name)))
    result = compare.compare_runs(a, b, correction="none")
    row = next(r for r in result["benchmarks"] if r["name"] == name)
    assert row["ratio"] == pytest.approx(2.0)
    assert row["ci"][0] <= 2.0 <= row["ci"][1]
    assert 0.90 <= row["ci_coverage"] < 0.95  # 5 vs 5: the 5th of 25 pairwise ratios
    assert row["verdict"] == "slower"
    assert row["p_slower"] == pytest.approx(1 / 252)  # every B above every A: 1/C(10,5)
    others = [r for r in result["benchmarks"] if r["name"] != name]
    assert all(r["verdict"] == "no change (within +-5%)" for r in others)
    assert 1.0 < result["geomean_ratio"] < 1.1
    assert "secondary" in result["geomean_note"]


def test_one_changed_row_among_many_is_not_flagged_below_the_needed_repetitions(tmp_path):
    """At 5 repetitions the best p of a row is 1/252; across 48 rows Benjamini-Hochberg needs
    0.05/48 from a row alone, so a lone change reads inconclusive and the footer says that 7
    repetitions would resolve it."""
    base = load_golden("runner")
    name = base["results"][3]["name"]
    a = runio.load_run(write_json(tmp_path / "a.json", base))
    b = runio.load_run(write_json(tmp_path / "b.json", _scaled(base, 2.0, only=name)))
    result = compare.compare_runs(a, b)
    row = next(r for r in result["benchmarks"] if r["name"] == name)
    assert row["verdict"] == "inconclusive (p 0.004 in this row, 0.190 across 48 rows)"
    group = result["resolution"][0]
    assert group["repetitions_for_lone_row"] == 7 and not group["lone_row_flaggable"]
    assert "a lone row needs >= 7 repetitions a side" in compare.format_table(result)


def test_compare_cli_table_and_json(tmp_path):
    base = load_golden("runner")
    write_json(tmp_path / "a" / "summary.json", base)
    write_json(tmp_path / "b" / "summary.json", _scaled(base, 0.5))
    proc = run_cvp("compare", "a", "b", "--json", "cmp.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "B/A" in proc.stdout and "faster" in proc.stdout
    assert "geometric mean of per-benchmark ratios (secondary" in proc.stdout
    doc = json.loads((tmp_path / "cmp.json").read_text())
    assert doc["geomean_ratio"] == pytest.approx(0.5)
    assert all(r["verdict"] == "faster" for r in doc["benchmarks"])
    again = run_cvp("compare", "a", "b", "--json", "cmp.json", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_compare_google_benchmark_json():
    a = runio.load_run(GOLDEN / "runner" / "benchmark.json")
    result = compare.compare_runs(a, a)
    names = [r["name"] for r in result["benchmarks"]]
    assert "matmul/n:512/mode:parallel/backend:tbb/threads:2" in names  # /real_time stripped
    assert all(r["ratio"] == pytest.approx(1.0) for r in result["benchmarks"])


def test_google_benchmark_nan_counters_are_accepted(tmp_path):
    """Google Benchmark writes NaN for some aggregate counters; summaries must be strict."""
    text = (GOLDEN / "runner" / "benchmark.json").read_text()
    text = text.replace('"aggregate_name": "cv",', '"aggregate_name": "cv", "ctx_voluntary": NaN,')
    assert "NaN" in text
    path = tmp_path / "benchmark.json"
    path.write_text(text)
    run = runio.load_run(path)
    assert compare.compare_runs(run, run)["benchmarks"]

"""Weak scaling beside strong on one machine: --scaling weak grows the parallel points' problem
with their workers and drops the strong ones, --scaling both keeps both, and a bad value is one
sentence and exit code 2."""

import json

import jsonschema
import pytest

from e2e_support import SCHEMA, binary_path, run

ARGS = ["--filter", "^triad/", "--backend", "threads", "--triad-n", "65536", "--threads", "2",
        "--repetitions", "3", "--precision", "0", "--min-time", "0.005", "--budget", "60"]


def test_weak_alone_replaces_the_strong_parallel_points(tmp_path):
    out = tmp_path / "run"
    result = run(binary_path(), [*ARGS, "--scaling", "weak", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    parallel = [r for r in summary["results"] if r["mode"] == "parallel"]
    assert parallel and all(r["weak"] == 2 for r in parallel)
    for r in parallel:
        assert r["params"] == {"n": 131072}
        assert r["work"]["per_execution"] == 24 * 131072
        assert r["karp_flatt"] is None and r["gustafson_serial_fraction"] is not None
    serial = [r for r in summary["results"] if r["mode"] == "serial"]
    assert serial[0]["weak"] == 1 and serial[0]["params"] == {"n": 65536}


def test_both_keeps_the_strong_points_beside_the_weak(tmp_path):
    listed = run(binary_path(), [*ARGS, "--scaling", "both", "--list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert "triad/n:65536/mode:parallel/backend:threads/threads:2" in names
    assert "triad/n:65536/weak:2/mode:parallel/backend:threads/threads:2" in names
    strong = run(binary_path(), [*ARGS, "--list"], tmp_path)
    assert "weak" not in strong.stdout


def test_a_bad_scaling_is_refused(tmp_path):
    result = run(binary_path(), [*ARGS, "--scaling", "sideways"], tmp_path)
    assert result.returncode == 2
    assert "--scaling" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


REQUESTS = ["--filter", "^requests/", "--quick", "--no-crossover", "--in-flight", "8",
            "--repetitions", "3", "--precision", "0", "--min-time", "0.005", "--budget", "40"]


def test_requests_weak_rows_carry_their_scaled_figures(tmp_path):
    """A weak request row is K x P in flight and N x P requests on P cores, in its group, with
    its speedup, bound and scaled efficiency, and its Gustafson fraction against the concurrent
    point of the K it grew from on one core (io.weak), which the verdict names too."""
    out = tmp_path / "run"
    result = run(binary_path(), [*REQUESTS, "--scaling", "both", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    cores = summary["machine"]["allowed_cores"]
    if cores < 2:
        pytest.skip("one core allowed: no point has more than one worker to grow with")
    rows = {r["name"]: r for r in summary["results"]}
    weak = [r for r in rows.values() if r["weak"] > 1]
    backends = {r["backend"] for r in rows.values() if r["mode"] == "parallel" and r["weak"] == 1}
    assert {r["backend"] for r in weak} == backends == {"threads", "eventloop"}
    for r in weak:
        p = min(8, cores)
        assert r["mode"] == "parallel" and r["weak"] == p and r["cores"] == p, r["name"]
        assert f"/k:{8 * p}/" in r["name"] and f"/weak:{p}/" in r["name"]
        strong = next(s for s in rows.values() if s["weak"] == 1 and s["mode"] == "parallel"
                      and s["backend"] == r["backend"])
        assert r["group"] == strong["group"]
        assert r["in_flight"] == 8 * p and r["params"]["k"] == 8 * p
        assert r["params"]["requests"] == p * strong["params"]["requests"]
        assert r["work"]["per_execution"] == r["params"]["requests"]
        assert r["speedup"]["value"] > 0 and r["attainable"]["value"] > 0
        assert abs(r["efficiency"] - r["speedup"]["value"] / r["attainable"]["value"]) < 1e-9
        assert r["karp_flatt"] is None
        one_core = rows[r["io"]["weak"]["one_core"]]
        assert one_core["mode"] == "concurrent" and one_core["in_flight"] == 8
        assert one_core["backend"] == r["backend"]
        scaled = r["io"]["weak"]["scaled_speedup"]
        assert abs(scaled - r["speedup"]["value"] / one_core["speedup"]["value"]) < 1e-9
        assert abs(r["gustafson_serial_fraction"] - (p - scaled) / (p - 1)) < 1e-9
    verdict = next(v for v in summary["verdicts"] if v.startswith("requests c="))
    assert "weak scaling x" in verdict and f"at K={8 * min(8, cores)} on" in verdict, verdict
    assert "Gustafson serial fraction" in verdict, verdict


def test_requests_weak_runs_beyond_the_engine_are_refused(tmp_path):
    args = ["--filter", "^requests/", "--no-crossover", "--in-flight", "60000", "--requests",
            "60000", "--scaling", "weak", "--backend", "eventloop", "--out", str(tmp_path / "run")]
    result = run(binary_path(), args, tmp_path)
    if result.returncode == 0:
        pytest.skip("one core allowed: nothing grows")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--scaling weak: requests/" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()

"""Weak scaling beside strong on one machine: --scaling weak grows the parallel points' problem
with their workers and drops the strong ones, --scaling both keeps both, and a bad value is one
sentence and exit code 2."""

import json

import jsonschema

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

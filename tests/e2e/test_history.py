"""Runs of the program, as they come out, into the results database: imported, shown with the
values the summaries give, a history per benchmark, and a dashboard."""

import json
import subprocess
import sys
from pathlib import Path

from e2e_support import TINY, load_summary, run

CVP = Path(__file__).resolve().parents[2] / "scripts" / "cvp"


def cvp(*args):
    return subprocess.run([sys.executable, str(CVP), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_program_runs_through_the_database(cvpbench, tmp_path):
    runs = []
    for i in range(3):
        folder = tmp_path / f"run{i}"
        result = run(cvpbench, [*TINY, "--filter", "^(matmul|requests)/", "--limits", "off",
                                "--out", str(folder)], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        runs.append(folder)
    db = tmp_path / "results.sqlite"
    proc = cvp("db", "import", "--db", db, *runs)
    assert proc.returncode == 0, proc.stderr
    assert "3 run(s) added" in proc.stdout
    assert "0 run(s) added, 3 already present" in cvp("db", "import", "--db", db, *runs).stdout

    listed = json.loads(cvp("db", "list", "--db", db, "--json", "-").stdout)["runs"]
    assert len(listed) == 3 and len({r["machine"] for r in listed}) == 1
    summary = load_summary(runs[0])
    digest = next(r["digest"] for r in listed if r["source"].endswith("run0/summary.json"))
    shown = json.loads(cvp("db", "show", "--db", db, digest[:10], "--json", "-").stdout)
    stored = {r["benchmark"]: r for r in shown["results"]}
    measured = [r for r in summary["results"] if not r.get("error")]
    assert len(stored) == len(measured) > 4
    for r in measured:
        s = stored[r["name"]]
        per = r["work"]["per_execution"]
        assert abs(s["time"] - r["wall_s"]["median"] / per) <= 1e-12 * s["time"]
        assert s["work_unit"] == r["work"]["unit"]
        if r.get("speedup"):
            assert s["speedup"] == r["speedup"]["value"]
    assert shown["commit"] == summary["tool"]["git_commit"]

    proc = cvp("history", "--db", db, "matmul/n:64/mode:serial/backend:threads/", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    series = json.loads(proc.stdout)["series"]
    assert len(series) == 1 and series[0]["runs"] == 3 and len(series[0]["points"]) == 3
    assert cvp("history", "--db", db, "--regressions").returncode == 0   # 3 runs: no level yet

    site = tmp_path / "site"
    proc = cvp("dashboard", db, "-o", site)
    assert proc.returncode == 0, proc.stderr
    assert (site / "index.html").is_file() and len(list((site / "runs").iterdir())) == 3

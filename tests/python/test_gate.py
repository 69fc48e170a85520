"""cvp gate: planted regressions are caught, A/A pairs pass, noisy machines are inconclusive."""

import json
import os
import stat
import sys

from cvp_testing import run_cvp, synthetic_rounds
from cvptools import gate, io

SLOW = "matmul/n:256/mode:parallel/backend:tbb/threads:2"
SLOW_IO = "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1"


def _evaluate(base, cand, **options):
    rounds = lambda files: gate.rounds_from_runs([io.load_run(f) for f in files])  # noqa: E731
    return gate.evaluate(rounds(base), rounds(cand), gate.GateOptions(**options))


def test_planted_20_percent_slowdown_is_flagged(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=11)
    first = _evaluate(base, cand)
    assert first["flagged"] == [SLOW]
    row = next(r for r in first["benchmarks"] if r["name"] == SLOW)
    assert 1.15 < row["ratio"] < 1.25 and row["ci95"][0] <= 1.2 <= row["ci95"][1]
    assert row["p_holm"] < 0.05


def test_aa_pair_passes(tmp_path):
    for seed in (1, 2, 3):
        base, cand = synthetic_rounds(tmp_path, seed=seed, prefix=f"s{seed}")
        first = _evaluate(base, cand)
        assert first["flagged"] == []
        assert gate.decide(first)[0] == gate.PASS


def test_slowdown_below_threshold_is_not_a_regression(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.03}, seed=5, drift=0.02, noise=0.003)
    first = _evaluate(base, cand)
    row = next(r for r in first["benchmarks"] if r["name"] == SLOW)
    assert row["significant"] and not row["flagged"]


def test_io_threshold_is_separate(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW_IO: 1.07}, seed=6, noise=0.003)
    assert _evaluate(base, cand)["flagged"] == []
    assert _evaluate(base, cand, threshold_io=0.05)["flagged"] == [SLOW_IO]


def test_cli_flags_and_confirms_with_json_files(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=11)
    args = ["gate", "--baseline-json", *base, "--candidate-json", *cand]
    proc = run_cvp(*args, "--markdown", tmp_path / "gate.md")
    assert proc.returncode == 3, proc.stderr  # flagged but not re-measured
    assert "unconfirmed" in proc.stdout
    assert (tmp_path / "gate.md").read_text() == proc.stdout

    rbase, rcand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=12, prefix="re")
    proc = run_cvp(*args, "--confirm-json", *rcand, "--confirm-baseline-json", *rbase)
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSION" in proc.stdout and "regression (confirmed)" in proc.stdout
    assert f"`{SLOW}`" in proc.stdout

    gone_base, gone_cand = synthetic_rounds(tmp_path, seed=13, prefix="gone")
    proc = run_cvp(*args, "--confirm-json", *gone_cand, "--confirm-baseline-json", *gone_base,
                   "--json", tmp_path / "gate.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "gate.json").read_text())
    assert doc["first"]["flagged"] == [SLOW] and doc["confirm"]["flagged"] == []


def test_cli_aa_passes(tmp_path):
    base, cand = synthetic_rounds(tmp_path, seed=21)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## cvpbench gate: PASS")
    assert "Canary `matmul/n:256/mode:serial/backend:tbb/threads:1`" in proc.stdout


def test_noisy_canary_is_inconclusive(tmp_path):
    base, cand = synthetic_rounds(tmp_path, seed=31, canary_noise=0.25)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 3, proc.stderr
    assert "too noisy" in proc.stdout


FAKE = """\
#!{python}
# A stand-in for cvpbench: writes Google Benchmark JSON with a planted slowdown.
import json, math, os, random, sys
args = sys.argv[1:]
out = args[args.index("--out") + 1]
flt = args[args.index("--filter") + 1] if "--filter" in args else None
counter = os.path.join({state!r}, "calls")
with open(counter, "a") as f:
    f.write(" ".join(args) + "\\n")
with open(counter) as f:
    calls = len(f.readlines())
rng = random.Random(calls)
times = {times!r}
slow = {slow!r}
if flt:
    import re
    times = {{n: t for n, t in times.items() if re.search(flt, n)}}
bench = []
for name, t in times.items():
    for i in range(3):
        v = t * slow.get(name, 1.0) * math.exp(rng.gauss(0, 0.01)) * 1e6
        bench.append({{"name": name + "/real_time", "run_name": name + "/real_time",
                      "run_type": "iteration", "repetitions": 3, "repetition_index": i,
                      "threads": 1, "iterations": 10, "real_time": v, "cpu_time": v,
                      "time_unit": "us"}})
os.makedirs(out)
with open(os.path.join(out, "benchmark.json"), "w") as f:
    json.dump({{"context": {{"host_name": "fake"}}, "benchmarks": bench}}, f)
"""


def _fake_binary(folder, name, slow):
    from cvp_testing import SYNTHETIC
    path = folder / name
    path.write_text(FAKE.format(python=sys.executable, state=str(folder), times=SYNTHETIC,
                                slow=slow))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_binary_mode_interleaves_and_confirms_with_filter(tmp_path):
    base = _fake_binary(tmp_path, "base", {})
    cand = _fake_binary(tmp_path, "cand", {SLOW: 1.25})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", cand, "--rounds", "3",
                   "--", "--extra-flag")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert "regression (confirmed)" in proc.stdout
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 12  # 3 rounds x 2 binaries, then the same again for confirmation
    assert all(c.startswith("--quick --out ") and c.endswith("--extra-flag") for c in calls)
    assert "round1-baseline" in calls[0] and "round1-candidate" in calls[1]
    assert "round2-candidate" in calls[2] and "round2-baseline" in calls[3]  # order alternates
    assert all("--filter" in c for c in calls[6:]) and not any("--filter" in c for c in calls[:6])


def test_binary_mode_aa_passes(tmp_path):
    base = _fake_binary(tmp_path, "base", {})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "3")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert len((tmp_path / "calls").read_text().splitlines()) == 6


def test_binary_that_fails_is_reported(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('boom: no such workload\\n')"
                   f"\nsys.exit(4)\n")
    bad.chmod(0o755)
    proc = run_cvp("gate", "--baseline-bin", bad, "--candidate-bin", bad, "--rounds", "2")
    assert proc.returncode == 2
    assert "exited with status 4" in proc.stderr and "boom" in proc.stderr
    assert os.path.exists(bad)


def test_filter_regex_matches_exactly_the_names():
    import re
    names = ["requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1",
             "matmul/n:512/mode:parallel/backend:tbb/threads:2"]
    rx = re.compile(gate.filter_regex(names))
    assert rx.search(names[0]) and rx.search(names[1] + "/real_time")
    assert not rx.search(names[0] + "6")  # threads:16 is another benchmark
    assert not rx.search("matmul/n:512/mode:parallel/backend:tbb/threads:4")
    assert "\\-" not in gate.filter_regex(["a-b"])  # undefined in POSIX regular expressions
    assert gate.without_filter(["--filter", "x", "--size", "64", "--filter=y"]) == ["--size", "64"]

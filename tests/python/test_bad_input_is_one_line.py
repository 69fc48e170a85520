"""Bad input to any command: one clear line on stderr, exit code 2, no traceback, no output."""

import copy
import json
import os

import pytest

from cvp_testing import GOLDEN, assert_clean_error, load_golden, run_cvp, setter, write_json
from cvptools import CvpError, runio

RUNNER = str(GOLDEN / "runner")
GBENCH = str(GOLDEN / "runner" / "benchmark.json")


def _text(name, content):
    def make(tmp):
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return make


def _summary(change):
    def make(tmp):
        doc = load_golden("runner")
        change(doc)
        return write_json(tmp / "bad.json", doc)
    return make


def _drop(path):
    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


def _only_serial(doc):
    doc["results"] = [r for r in doc["results"] if r["mode"] == "serial"]


def _duplicate(doc):
    doc["results"].append(copy.deepcopy(doc["results"][0]))


def _huge(tmp):
    path = tmp / "huge.json"
    with open(path, "wb") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: costs no disk, only its size is looked at
    return path


# (id, command, how to make the input, expected fragment of the one error line)
CASES = [
    ("missing", "plot", lambda tmp: tmp / "nope.json", "nope.json: no such file"),
    ("empty", "report", _text("e.json", b""), "e.json: empty file"),
    ("blank", "export", _text("b.json", "  \n\t\n"), "b.json: empty file"),
    ("malformed", "plot", _text("m.json", '{\n  "a": 1\n  "b": 2\n}'),
     "m.json: not valid JSON (line 3, column 3: Expecting ',' delimiter)"),
    ("truncated", "report", _text("t.json", '{"schema_version": 1, "results": ['),
     "t.json: not valid JSON (line 1"),
    ("nan", "plot", _text("n.json", '{"schema_version": NaN}'), "NaN is not valid JSON"),
    ("not-utf8", "plot", _text("u.json", b'{"a": "\xff\xfe"}'), "u.json: not UTF-8 text"),
    ("top-level-list", "plot", _text("l.json", "[1, 2, 3]"), "the top level is a list"),
    ("top-level-number", "export", _text("num.json", "42"), "the top level is int"),
    ("unknown-document", "plot", _text("o.json", '{"hello": "world"}'),
     "not a cvpbench summary (no schema_version)"),
    ("future-schema", "report", _summary(setter(["schema_version"], 2)),
     "bad.json: schema_version 2 is not supported (this cvp reads version 1)"),
    ("string-schema", "plot", _summary(setter(["schema_version"], "1")),
     "schema_version '1' is not supported"),
    ("missing-machine", "plot", _summary(_drop(["machine"])),
     "does not match the summary schema at the top level: 'machine' is a required property"),
    ("wrong-type", "report", _summary(setter(["results", 0, "wall_s", "median"], "fast")),
     "at /results/0/wall_s/median: 'fast' is not of type 'number'"),
    ("bad-mode", "export", _summary(setter(["results", 2, "mode"], "turbo")),
     "at /results/2/mode: 'turbo' is not one of"),
    ("negative-sample", "plot", _summary(setter(["results", 1, "wall_s", "samples"], [-1.0])),
     "at /results/1/wall_s/samples/0"),
    ("huge", "plot", _huge, "too large (68157440 bytes; the limit is 67108864 bytes)"),
    ("deep", "report", _text("d.json", "[" * 100 + "]" * 100), "nesting deeper than 64 levels"),
    ("very-deep", "plot", _text("vd.json", "[" * 200000 + "]" * 200000),
     "nesting deeper than 64 levels"),
    ("folder-without-summary", "plot", lambda tmp: tmp, "folder holds neither summary.json"),
    ("nothing-to-draw", "plot", _summary(_only_serial), "nothing to draw"),
    ("duplicate-name", "export", _summary(_duplicate), "appears twice"),
    ("gbench-to-export", "export", lambda tmp: GBENCH, "is raw Google Benchmark JSON"),
    ("gbench-without-list", "compare", _text("g.json", '{"context": {}, "benchmarks": 3}'),
     "Google Benchmark JSON without a 'benchmarks' list"),
    ("gbench-bad-time", "compare",
     _text("g2.json", '{"context": {}, "benchmarks": [{"name": "x", "real_time": "1"}]}'),
     "benchmarks[0] (x) has no valid 'real_time'"),
]


def _argv(command, path, tmp):
    if command == "plot":
        return ["plot", path, "-o", tmp / "charts"]
    if command == "report":
        return ["report", path, "-o", tmp / "report.html"]
    if command == "export":
        return ["export", path, "--format", "bmf", "-o", tmp / "out.json"]
    if command == "compare":
        return ["compare", RUNNER, path]
    raise AssertionError(command)


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, files in os.walk(folder) for f in files)


@pytest.mark.parametrize("command,make,fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, command, make, fragment):
    path = make(tmp_path)
    before = _listing(tmp_path)
    proc = run_cvp(*_argv(command, path, tmp_path), cwd=tmp_path)
    assert_clean_error(proc, fragment)
    assert proc.stderr.startswith("cvp: error: ")
    assert _listing(tmp_path) == before  # no partial output


# Errors that need more than one input, or a flag.
def _two(tmp):
    v2 = load_golden("runner")
    v2["schema_version"] = 2
    return write_json(tmp / "v2" / "summary.json", v2)


COMMAND_CASES = [
    ("mixed-versions", lambda t: ["plot", RUNNER, _two(t), "-o", t / "c"],
     "v2/summary.json: schema_version 2 is not supported"),
    ("mixed-formats", lambda t: ["compare", RUNNER, GBENCH],
     "mixes gbench and summary inputs"),
    ("no-common-benchmark", lambda t: ["compare", GBENCH, write_json(
        t / "other.json", {"context": {}, "benchmarks": [
            {"name": "other/x", "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ns"}]})],
     "no benchmark in common"),
    ("chart-without-data", lambda t: ["plot", GOLDEN / "workstation", "--chart", "crossover",
                                      "-o", t / "c"],
     "nothing to draw for the crossover chart"),
    ("existing-report", lambda t: ["report", RUNNER, "-o", _text("r.html", "mine")(t)],
     "r.html: already exists (use --force to overwrite)"),
    ("report-into-folder", lambda t: ["report", RUNNER, "-o", t], "is a folder"),
    ("gate-unpaired", lambda t: ["gate", "--baseline-json", GBENCH, GBENCH,
                                 "--candidate-json", GBENCH],
     "2 --baseline-json files but 1 --candidate-json files"),
    ("gate-one-round", lambda t: ["gate", "--baseline-json", GBENCH, "--candidate-json", GBENCH],
     "the gate needs at least 2"),
    ("gate-both-modes", lambda t: ["gate", "--baseline-json", GBENCH, "--candidate-json", GBENCH,
                                   "--baseline-bin", "x", "--candidate-bin", "y"],
     "give either"),
    ("gate-missing-binary", lambda t: ["gate", "--baseline-bin", t / "no-such-bin",
                                       "--candidate-bin", t / "no-such-bin"],
     "no-such-bin: no such program"),
    ("gate-bad-threshold", lambda t: ["gate", "--baseline-json", GBENCH, "--candidate-json",
                                      GBENCH, "--threshold-cpu", "150%"],
     "must be a fraction in [0, 1)"),
    ("gate-unknown-canary", lambda t: ["gate", "--baseline-json", GBENCH, GBENCH,
                                       "--candidate-json", GBENCH, GBENCH, "--canary", "nope/*"],
     "canary 'nope/*' matches no benchmark"),
    ("export-no-format", lambda t: ["export", RUNNER], "the following arguments are required"),
    ("unknown-command", lambda t: ["draw", RUNNER], "invalid choice: 'draw'"),
]


@pytest.mark.parametrize("make_argv,fragment", [c[1:] for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])
def test_bad_command(tmp_path, make_argv, fragment):
    argv = make_argv(tmp_path)
    before = _listing(tmp_path)
    proc = run_cvp(*argv, cwd=tmp_path)
    assert_clean_error(proc, fragment)
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("case", ["missing-machine", "wrong-type", "bad-mode", "negative-sample"])
def test_builtin_validator_agrees(tmp_path, monkeypatch, case):
    """Without jsonschema the built-in validator reports the same problem at the same place."""
    make, fragment = next((c[2], c[3]) for c in CASES if c[0] == case)
    path = make(tmp_path)
    with pytest.raises(CvpError) as with_lib:
        runio.load_run(path)
    monkeypatch.setattr(runio, "jsonschema", None)
    with pytest.raises(CvpError) as builtin:
        runio.load_run(path)
    assert fragment in str(with_lib.value)
    assert fragment.split(":")[0] in str(builtin.value)  # same location


def test_help_for_every_command():
    for command in ("plot", "report", "compare", "gate", "export"):
        proc = run_cvp(command, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout, command


def test_golden_files_validate(golden):
    for name in ("runner", "workstation", "hostile"):
        run = runio.load_run(golden / name)
        assert run.format == runio.SUMMARY
        assert json.loads((golden / name / "summary.json").read_text())["schema_version"] == 1
    assert runio.load_run(golden / "runner" / "benchmark.json").format == runio.GBENCH

"""Property tests (Hypothesis) of what compare and gate read: a real run's files with one value
changed either compare (with JSON that strict parsers accept) or raise CvpError, one line; any
other exception is a bug."""

import copy
import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cvp_testing import GOLDEN, parent_node  # noqa: E402
from cvptools import CvpError, compare, gate, runio  # noqa: E402

SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
SUMMARY = json.loads((GOLDEN / "repeated" / "summary.json").read_text())
RAW = json.loads((GOLDEN / "repeated" / "benchmark.json").read_text())

values = st.none() | st.booleans() | st.integers(-2**40, 2**40) | \
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | \
    st.lists(st.integers(-3, 3), max_size=3) | st.just({})


def _paths(node, prefix=()):
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


SUMMARY_PATHS = [p for p in _paths(SUMMARY) if p[:1] in (("machine",), ("results",))]
RAW_PATHS = [p for p in _paths(RAW) if p[:1] == ("context",) or
             (p[:1] == ("benchmarks",) and len(p) <= 3)]


def _mutate(doc, path, action, value):
    doc = copy.deepcopy(doc)
    node = parent_node(doc, path)
    if action == "delete":
        if isinstance(node, dict):
            node.pop(path[-1], None)
        else:
            del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def _expect_clean(tmp_path, doc, name):
    target = tmp_path / name
    target.write_text(json.dumps(doc))
    try:
        changed = runio.load_run(str(target))
        original = runio.load_run(str(GOLDEN / "repeated" / name))
        result = compare.compare_runs(original, changed)
        json.dumps(result, allow_nan=False)
        compare.format_table(result)
        rounds = gate.rounds_from_runs([original, changed])
        first = gate.evaluate(rounds, list(reversed(rounds)), gate.GateOptions())
        json.dumps(first, allow_nan=False)
    except CvpError as e:
        assert str(e) and "\n" not in str(e)


@SETTINGS
@given(st.sampled_from(SUMMARY_PATHS), st.sampled_from(["delete", "replace"]), values)
def test_a_summary_with_one_value_changed(tmp_path, path, action, value):
    _expect_clean(tmp_path, _mutate(SUMMARY, path, action, value), "summary.json")


@SETTINGS
@given(st.sampled_from(RAW_PATHS), st.sampled_from(["delete", "replace"]), values)
def test_a_benchmark_file_with_one_value_changed(tmp_path, path, action, value):
    _expect_clean(tmp_path, _mutate(RAW, path, action, value), "benchmark.json")


def test_the_unchanged_files_compare_cleanly(tmp_path):
    for name, doc in (("summary.json", SUMMARY), ("benchmark.json", RAW)):
        _expect_clean(tmp_path, doc, name)
        run = runio.load_run(str(GOLDEN / "repeated" / name))
        result = compare.compare_runs(run, run)
        assert all(math.isclose(r["ratio"], 1.0) for r in result["benchmarks"])
        assert all(r["change"] in ("same", "inconclusive") for r in result["benchmarks"])

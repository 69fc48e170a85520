"""Property tests of the readers (Hypothesis): whatever the bytes or the document, loading a
result file and reading it through results.py and export.py either works or raises CvpError
(one line, exit 2 in the CLI); any other exception is a bug."""

import copy
import json

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cvp_testing import GOLDEN, json_paths, parent_node  # noqa: E402
from cvptools import CvpError, export, runio, results  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
SUMMARY = json.loads((GOLDEN / "real" / "summary.json").read_text())
RAW = json.loads((GOLDEN / "real" / "benchmark.json").read_text())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)


def _read_everything(path):
    run = runio.load_run(str(path))
    results.samples_by_name(run)
    if run.format == runio.SUMMARY:
        for fmt in export.FORMATS:
            try:
                export.export([run], fmt)
            except CvpError:
                pass
    return run


def _expect_clean(path):
    try:
        _read_everything(path)
    except CvpError as e:
        assert str(e) and "\n" not in str(e)


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes(tmp_path, data):
    path = tmp_path / "input.json"
    path.write_bytes(data)
    _expect_clean(path)


@SETTINGS
@given(json_values)
def test_any_json_document(tmp_path, doc):
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc))
    _expect_clean(path)


SUMMARY_PATHS = [p for p in json_paths(SUMMARY) if p]
RAW_PATHS = [p for p in json_paths(RAW) if p]


def _mutate(doc, path, action, value):
    doc = copy.deepcopy(doc)
    node = parent_node(doc, path)
    if action == "delete":
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@SETTINGS
@given(st.sampled_from(SUMMARY_PATHS), st.sampled_from(["delete", "replace"]), json_values)
def test_a_real_summary_with_one_value_changed(tmp_path, path, action, value):
    target = tmp_path / "summary.json"
    target.write_text(json.dumps(_mutate(SUMMARY, path, action, value)))
    _expect_clean(target)


@SETTINGS
@given(st.sampled_from(RAW_PATHS), st.sampled_from(["delete", "replace"]), json_values)
def test_a_real_benchmark_file_with_one_value_changed(tmp_path, path, action, value):
    target = tmp_path / "benchmark.json"
    target.write_text(json.dumps(_mutate(RAW, path, action, value)))
    _expect_clean(target)


def test_the_unchanged_files_read(tmp_path):
    for name, doc in (("summary.json", SUMMARY), ("benchmark.json", RAW)):
        target = tmp_path / name
        target.write_text(json.dumps(doc))
        _read_everything(target)

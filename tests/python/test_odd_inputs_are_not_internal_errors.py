"""Inputs that used to escape as internal errors: strings that are not Unicode, folder names that
are not UTF-8, Google Benchmark's Complexity() rows, and a closed or full standard output."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cvp_testing import CVP, GOLDEN, assert_clean_error, run_cvp

RUNNER = GOLDEN / "runner"
COMPLEXITY = GOLDEN / "complexity"


def _with_host(tmp_path, raw_host):
    folder = tmp_path / "run"
    folder.mkdir()
    text = (RUNNER / "summary.json").read_bytes()
    (folder / "summary.json").write_bytes(text.replace(b'"host": "ci-runner-7"', raw_host))
    return folder


@pytest.mark.parametrize("command", [["report", "-o", "r.html"], ["plot", "-o", "charts"],
                                     ["export", "--format", "bmf", "-o", "e.json"]])
@pytest.mark.parametrize("host", [b'"host": "ci-\\ud800-7"', b'"host": "\\udfff"',
                                  b'"host": "ok", "\\udc80": 1'])
def test_a_lone_surrogate_is_one_line_and_exit_2(tmp_path, command, host):
    folder = _with_host(tmp_path, host)
    verb, *rest = command
    result = run_cvp(verb, folder, *rest, cwd=tmp_path)
    assert_clean_error(result, "not valid Unicode")
    assert not (tmp_path / rest[-1]).exists()


def test_invalid_utf8_bytes_are_one_line_and_exit_2(tmp_path):
    folder = _with_host(tmp_path, b'"host": "ci-\xff\xfe-7"')
    assert_clean_error(run_cvp("report", folder, "-o", tmp_path / "r.html"), "not UTF-8")


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems require UTF-8 names")
@pytest.mark.parametrize("command", [["report", "-o", "r.html"], ["plot", "-o", "charts"],
                                     ["compare"]])
def test_a_folder_name_that_is_not_utf8_works(tmp_path, command):
    odd = os.path.join(os.fsencode(tmp_path), b"run-\xff\xfe")
    os.mkdir(odd)
    shutil.copy(RUNNER / "summary.json", os.path.join(odd, b"summary.json"))
    verb, *rest = command
    args = [odd, odd] if verb == "compare" else [odd, *rest]
    result = subprocess.run([sys.executable, str(CVP), verb, *args], cwd=tmp_path,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    if verb == "compare":
        assert b"run-\\xff\\xfe" in result.stdout
    else:
        assert (tmp_path / rest[-1]).exists()


def test_complexity_rows_of_real_google_benchmark_output_are_read(tmp_path):
    result = run_cvp("compare", COMPLEXITY, COMPLEXITY)
    assert result.returncode == 0, result.stderr
    assert "sum/256" in result.stdout
    assert "BigO" not in result.stdout and "RMS" not in result.stdout


def test_a_full_stdout_is_one_line_and_exit_2(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, str(CVP), "compare", RUNNER, RUNNER],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    result.stdout = ""
    assert_clean_error(result, "cannot write to standard output")


def test_a_closed_stdout_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, str(CVP), "compare", RUNNER, RUNNER],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            timeout=300, preexec_fn=lambda: os.close(1))
    result.stdout = ""
    assert_clean_error(result, "standard output is closed")


def test_a_pipe_closed_early_is_not_an_error(tmp_path):
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    result = subprocess.run([sys.executable, str(CVP), "compare", RUNNER, RUNNER],
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=300)
    reader.stdin.close()
    reader.wait(timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_integer_too_long_to_convert_is_one_line_and_exit_2(tmp_path):
    text = (RUNNER / "summary.json").read_text()
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(
        text.replace('"schema_version": 1', '"schema_version": 1' + "0" * 5000, 1))
    assert_clean_error(run_cvp("report", folder, "-o", tmp_path / "r.html"),
                       "not a usable JSON document")


def test_an_output_that_appears_during_the_write_is_not_replaced(tmp_path, monkeypatch):
    from cvptools import runio
    target = tmp_path / "out.html"
    real_mkstemp = runio.tempfile.mkstemp

    def mkstemp_then_plant(*args, **kwargs):
        result = real_mkstemp(*args, **kwargs)
        target.write_text("the user's file\n")  # created after the existence check
        return result
    monkeypatch.setattr(runio.tempfile, "mkstemp", mkstemp_then_plant)
    with pytest.raises(runio.CvpError, match="appeared while it was being written"):
        runio.write_outputs({str(target): b"<html>"}, force=False)
    assert target.read_text() == "the user's file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]

"""A missing Python package: its own exit code (69), the package named, and the fix."""

import os
import sys

from cvp_testing import GOLDEN, run_cvp

RUNNER = str(GOLDEN / "runner")


def _without_numpy(tmp_path):
    """An environment in which `import numpy` fails as it does where numpy is not installed."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "numpy.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n")
    env = dict(os.environ, PYTHONPATH=str(shim))
    env.pop("CVP_PYTHON", None)
    return env


def test_missing_package_exits_69_and_names_the_package(tmp_path, monkeypatch):
    env = _without_numpy(tmp_path)
    result = run_cvp("plot", RUNNER, "-o", tmp_path / "charts", env=env)
    assert result.returncode == 69, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "'numpy'" in lines[0] and sys.executable in lines[0]
    assert "apt-get install python3-numpy" in lines[0]
    assert not (tmp_path / "charts").exists()


def test_missing_package_points_to_an_interpreter_that_has_it(tmp_path):
    env = _without_numpy(tmp_path)
    # Another interpreter (a wrapper, so its path differs) that does see numpy.
    other = tmp_path / "other-python3"
    other.write_text(f"#!/bin/sh\nunset PYTHONPATH\nexec '{sys.executable}' \"$@\"\n")
    other.chmod(0o755)
    env["CVP_PYTHON"] = str(other)
    result = run_cvp("compare", RUNNER, RUNNER, env=env)
    assert result.returncode == 69, result.stderr
    assert f"run '{other} scripts/cvp ...'" in result.stderr


def test_bad_input_is_still_2_not_69(tmp_path):
    result = run_cvp("plot", tmp_path / "nope.json", "-o", tmp_path / "charts")
    assert result.returncode == 2

"""The code keeps the shape its readers rely on: no function of the product (the library in
src/, the programs in benchmarks/, the plug-ins in workloads/, the installed headers and the cvp
tools in scripts/) runs over 80 lines, so each reads as a list of named steps.

C++ functions are measured with universal-ctags (its end line per function); Python ones with
the standard library's ast. The checker is shown to flag a function one line over the limit and to
pass one at it, so a clean result means something."""
import ast
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 80
CPP_ROOTS = ("src", "benchmarks", "workloads", "include")
PY_ROOTS = ("scripts",)


def _tracked(roots):
    out = subprocess.run(["git", "ls-files", "--", *roots], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if line]


def python_lengths(paths):
    """(lines, 'file:line name') for every function and method in `paths`."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1,
                              f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                              f":{node.lineno} {node.name}"))
    return found


def cpp_lengths(paths):
    """(lines, 'file:line name') for every C++ function definition ctags finds in `paths`."""
    if not paths:
        return []
    result = subprocess.run(
        ["ctags", "--output-format=json", "--fields=+neK", "--kinds-c++=f", "--language-force=c++",
         "-f", "-", *map(str, paths)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    found = []
    for line in result.stdout.splitlines():
        tag = json.loads(line)
        if tag.get("_type") == "tag" and "end" in tag:
            found.append((tag["end"] - tag["line"] + 1, f"{tag['path']}:{tag['line']} {tag['name']}"))
    return found


def _ctags_ok():
    if shutil.which("ctags") is None:
        return False
    probe = subprocess.run(["ctags", "--version"], capture_output=True, text=True)
    return "Universal Ctags" in probe.stdout


needs_ctags = pytest.mark.skipif(
    not _ctags_ok() and os.environ.get("CVP_REQUIRE_TEST_TOOLS") != "1",
    reason="universal-ctags is not installed (apt-get install universal-ctags)")


def _too_long(found):
    return sorted((n, where) for n, where in found if n > LIMIT)


def _python_function(lines):
    body = "\n".join(f"    x{i} = {i}" for i in range(lines - 1))
    return f"def f():\n{body}\n"


def _cpp_function(lines):
    body = "\n".join(f"  int x{i} = {i}; (void)x{i};" for i in range(lines - 2))
    return f"int f() {{\n{body}\n}}\n"


def test_the_python_measure_flags_one_line_over_and_passes_the_limit(tmp_path):
    over, at = tmp_path / "over.py", tmp_path / "at.py"
    over.write_text(_python_function(LIMIT + 1))
    at.write_text(_python_function(LIMIT))
    assert [n for n, _ in python_lengths([over])] == [LIMIT + 1]
    assert _too_long(python_lengths([over]))
    assert not _too_long(python_lengths([at]))


@needs_ctags
def test_the_cpp_measure_flags_one_line_over_and_passes_the_limit(tmp_path):
    over, at = tmp_path / "over.cc", tmp_path / "at.cc"
    over.write_text(_cpp_function(LIMIT + 1))
    at.write_text(_cpp_function(LIMIT))
    assert [n for n, _ in cpp_lengths([over])] == [LIMIT + 1]
    assert not _too_long(cpp_lengths([at]))


def test_no_python_function_of_the_product_is_over_the_limit():
    paths = [p for p in _tracked(PY_ROOTS) if p.suffix == ".py" or p.name == "cvp"]
    assert paths, "no Python files found: the roots moved?"
    assert _too_long(python_lengths(paths)) == []


@needs_ctags
def test_no_cpp_function_of_the_product_is_over_the_limit():
    paths = [p for p in _tracked(CPP_ROOTS) if p.suffix in (".cc", ".h")]
    assert paths, "no C++ files found: the roots moved?"
    assert _too_long(cpp_lengths(paths)) == []

"""`cmake --install` puts `cvp` beside the program: PREFIX/bin/cvp runs from any folder, finds
its package relative to itself (also through a link, and after the prefix is moved), and
reports a real run folder; a prefix without the package says so in one line."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_support import TINY, run


@pytest.fixture(scope="module")
def prefix(cvpbench, tmp_path_factory):
    build = Path(cvpbench).parents[1]
    if not (build / "cmake_install.cmake").exists():
        pytest.skip(f"{build} is not a CMake build folder to install from")
    where = tmp_path_factory.mktemp("install") / "prefix"
    done = subprocess.run(["cmake", "--install", str(build), "--prefix", str(where)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return where


@pytest.fixture(scope="module")
def run_folder(cvpbench, tmp_path_factory):
    folder = tmp_path_factory.mktemp("made") / "run"
    made = run(cvpbench, [*TINY, "--filter", "^matmul/", "--out", str(folder)],
               cwd=folder.parent)
    assert made.returncode == 0, made.stderr[-2000:]
    return folder


def _cvp(program, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CVP_SCHEMA")}
    return subprocess.run([str(program), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_installed_cvp_runs_from_another_folder(prefix, tmp_path):
    assert (prefix / "bin" / "cvp").exists()
    done = _cvp(prefix / "bin" / "cvp", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cvp")
    link = tmp_path / "elsewhere" / "cvp"
    link.parent.mkdir()
    link.symlink_to(prefix / "bin" / "cvp")
    assert _cvp(link, "--version", cwd=tmp_path).stdout.strip().startswith("cvp ")


def test_installed_cvp_reports_a_real_run(prefix, run_folder, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(prefix, moved, symlinks=True)
    done = _cvp(moved / "bin" / "cvp", "report", run_folder, "-o", "page.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "page.html").read_text()
    assert "matmul/n:64/mode:parallel" in page or "matmul" in page
    assert "<img" in page  # the charts were drawn by the installed package
    # The installed package validates with the installed schema: a summary it breaks fails.
    broken = tmp_path / "broken"
    shutil.copytree(run_folder, broken)
    text = (broken / "summary.json").read_text().replace('"schema_version": 1',
                                                         '"schema_version": "1"', 1)
    (broken / "summary.json").write_text(text)
    bad = _cvp(moved / "bin" / "cvp", "report", broken, "-o", "bad.html", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not (tmp_path / "bad.html").exists()


def test_a_prefix_without_the_package_says_so_in_one_line(prefix, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(prefix, broken, symlinks=True)
    shutil.rmtree(broken / "share" / "cvpbench" / "cvptools")
    done = _cvp(broken / "bin" / "cvp", "--help", cwd=tmp_path)
    assert done.returncode == 69
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "not installed beside" in done.stderr

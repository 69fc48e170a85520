"""A cvp command that makes folders for its outputs and then fails removes the folders it made,
and only those: a full disk in the middle of `cvp plot -o` leaves no empty folder behind, and
nothing that was there before is touched.

The full disk is simulated where the bytes reach the disk (os.fsync raising ENOSPC, as a
write to a full file system does), in the same process as the command; the input is the
program's real run (golden/real)."""

import errno
import os
from pathlib import Path

import pytest

from cvp_testing import GOLDEN
from cvptools import cli
from cvptools import runio

REAL = GOLDEN / "real"
PLOT = ["plot", str(REAL), "--chart", "speedup", "--format", "svg"]


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*"))


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    """Each test is one command of its own: what another made is not its to remove."""
    monkeypatch.setattr(runio, "_made_folders", [])


@pytest.fixture
def full_disk(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", fsync)


def _main(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_plot_on_a_full_disk_removes_the_folders_it_made(tmp_path, capsys, full_disk):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    before = _tree(tmp_path)
    code, out, err = _main(PLOT + ["-o", str(tmp_path / "mine" / "new" / "charts")], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert _tree(tmp_path) == before  # new/ and new/charts/ are gone; notes.txt and mine/ stay
    assert runio._made_folders == []


def test_a_folder_that_was_there_stays_when_the_command_fails(tmp_path, capsys, full_disk):
    out = tmp_path / "charts"
    out.mkdir()   # the user's own, empty: cvp did not make it, so cvp does not remove it
    code, _, err = _main(PLOT + ["-o", str(out)], capsys)
    assert code == 2 and "No space left on device" in err
    assert out.is_dir() and _tree(tmp_path) == ["charts"]


def test_the_same_plot_writes_its_charts_when_the_disk_has_room(tmp_path, capsys):
    """The real command, without the fault: the folders are made and kept with the chart."""
    code, out, err = _main(PLOT + ["-o", str(tmp_path / "new" / "charts")], capsys)
    assert code == 0, err
    assert _tree(tmp_path) == ["new", "new/charts", "new/charts/speedup.svg"]
    assert runio._made_folders  # remembered, but a command that finished removes nothing


def test_only_empty_folders_the_process_made_are_removed(tmp_path):
    runio.make_folder(str(tmp_path / "a" / "b" / "c"))
    (tmp_path / "a" / "b" / "theirs.txt").write_text("written meanwhile by someone else")
    runio.make_folder(str(tmp_path / "a" / "b" / "c"))   # exists now: nothing more to remember
    runio.make_folder(str(tmp_path / "d"))
    runio.remove_made_folders()
    assert _tree(tmp_path) == ["a", "a/b", "a/b/theirs.txt"]
    assert runio._made_folders == []


def test_a_file_in_the_way_is_refused_and_what_was_made_is_removed(tmp_path, capsys):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "file").write_text("x")
    code, _, err = _main(PLOT + ["-o", str(tmp_path / "new" / "file" / "charts")], capsys)
    assert code == 2 and "cannot create folder" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "new" / "file").read_text() == "x"

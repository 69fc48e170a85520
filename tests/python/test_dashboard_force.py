"""`cvp dashboard --force` replaces what a dashboard wrote and nothing else.

A site folder is where people publish from: a `.git/`, a `CNAME`, a README of their own sit
beside the pages. The marker `.cvp-dashboard` lists the files the dashboard wrote; --force
replaces those, keeps every other file byte for byte, refuses (changing nothing) where one of
them is in the way of a new page, and puts the old site back when installing the new one fails.
The database holds synthetic runs derived from the program's real run (golden/real)."""

import errno
import json
import os
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import cli, dashboard
from cvptools import db as cvpdb
from cvptools import runio
import synthetic

STEPPED = "matmul/n:64/mode:serial/backend:threads/threads:1"


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    base = tmp_path_factory.mktemp("dashboard-force")
    folders = synthetic.generate(base / "runs", runs=8, benchmarks=4, machines=1, steps=[],
                                 noise=0.01, template=GOLDEN / "real" / "summary.json")
    where = base / "results.sqlite"
    with cvpdb.open_database(str(where), create=True) as d:
        d.import_runs([str(f) for f in folders])
    return where


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(folder).rglob("*"))}


def _listed(site):
    lines = (Path(site) / dashboard.MARKER).read_text().splitlines()
    return lines[lines.index("files:") + 1:]


def _build(database, out, **kw):
    with cvpdb.open_database(str(database)) as d:
        return dashboard.build(d, str(out), **kw)


def _publish_files(site):
    """What a person adds to a site folder to publish it: a git checkout, a domain, notes, and
    a file of their own inside one of the dashboard's folders."""
    site = Path(site)
    (site / ".git" / "objects" / "ab").mkdir(parents=True)
    (site / ".git" / "HEAD").write_text("ref: refs/heads/gh-pages\n")
    (site / ".git" / "objects" / "ab" / "cdef").write_bytes(b"\x78\x01blob")
    (site / "CNAME").write_text("bench.example.org\n")
    (site / ".nojekyll").write_text("")
    (site / "bench" / "README.txt").write_text("notes on the benchmarks\n")
    return {"CNAME", ".nojekyll", ".git", ".git/HEAD", ".git/objects", ".git/objects/ab",
            ".git/objects/ab/cdef", "bench/README.txt"}


def _no_temporaries(parent):
    return not [p for p in Path(parent).iterdir() if p.name.startswith(".cvp-dashboard-")]


def test_force_replaces_the_dashboards_files_and_keeps_every_other(database, tmp_path):
    site = tmp_path / "site"
    proc = run_cvp("dashboard", database, "-o", site)
    assert proc.returncode == 0, proc.stderr
    written = set(_listed(site))
    assert {"index.html", "runs.html", "plotly.min.js"} <= written
    assert written == {k for k, v in _snapshot(site).items() if v is not None} - {
        dashboard.MARKER}   # the marker lists every file the dashboard wrote, and only those
    theirs = _publish_files(site)
    before = _snapshot(site)
    assert all(k in before for k in theirs)   # there to be lost
    proc = run_cvp("dashboard", database, "-o", site, "--force", "--metric", "speedup")
    assert proc.returncode == 0, proc.stderr
    after = _snapshot(site)
    assert {k: after.get(k) for k in theirs} == {k: before[k] for k in theirs}
    assert set(_listed(site)) == written       # the new site lists the same pages...
    index = dashboard.bench_file(STEPPED)
    assert after[f"bench/{index}"] != before[f"bench/{index}"]  # ... rewritten (speedup now)
    assert "speedup over serial" in after[f"bench/{index}"].decode()
    assert set(after) == set(before)           # nothing else came or went
    assert _no_temporaries(tmp_path)


def test_a_file_no_dashboard_wrote_in_the_way_is_refused_and_nothing_changes(database,
                                                                             tmp_path):
    site = tmp_path / "site"
    _build(database, site)
    _publish_files(site)
    # runs.html no longer listed: as far as cvp knows, the user wrote it.
    marker = site / dashboard.MARKER
    marker.write_text("\n".join(l for l in marker.read_text().splitlines()
                                if l != "runs.html") + "\n")
    before = _snapshot(site)
    proc = run_cvp("dashboard", database, "-o", site, "--force")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "runs.html is in the way" in lines[0], proc.stderr
    assert "nothing was changed" in lines[0]
    assert _snapshot(site) == before
    assert _no_temporaries(tmp_path)


@pytest.mark.parametrize("when", ["first old page", "a new page", "the marker"])
def test_a_failure_while_installing_puts_the_old_site_back(database, tmp_path, monkeypatch,
                                                           when):
    """os.rename fails (a full or failing disk) while the old pages are moved aside, while the
    new ones are moved in, or when the marker is replaced (the last step): the old pages, the
    marker and the user's files are all as they were."""
    site = tmp_path / "site"
    _build(database, site)
    _publish_files(site)
    before = _snapshot(site)
    old = len(_listed(site))
    fail_at = {"first old page": 1, "a new page": old + 3, "the marker": -1}[when]
    real_rename, real_replace = os.rename, os.replace
    calls = {"n": 0}

    def rename(src, dst, *a, **kw):
        if ".cvp-dashboard-" in str(src) or ".cvp-dashboard-" in str(dst):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_rename(src, dst, *a, **kw)

    def replace(src, dst, *a, **kw):
        if fail_at == -1 and str(dst).endswith(dashboard.MARKER) and "-marker-" not in str(src):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *a, **kw)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(runio.CvpError, match="the previous one, if any, was left as it is"):
        _build(database, site, force=True, options=dashboard.Options(metric="speedup"))
    monkeypatch.undo()
    assert calls["n"] >= (fail_at if fail_at > 0 else old)  # it failed where it was meant to
    assert _snapshot(site) == before
    assert _no_temporaries(tmp_path)


def test_a_marker_of_an_older_cvp_replaces_the_layout_it_wrote(database, tmp_path):
    """Before the marker listed its files it said one line; such a site's own files are its
    three pages and the .html files of bench/ and runs/, and nothing else goes."""
    site = tmp_path / "site"
    _build(database, site)
    theirs = _publish_files(site)
    (site / dashboard.MARKER).write_text("cvpbench dashboard, written by cvp 0.9; cvp dashboard "
                                         "--force replaces this folder\n")
    (site / "runs" / "gone-from-the-database.html").write_text("an old page")
    before = _snapshot(site)
    _build(database, site, force=True)
    after = _snapshot(site)
    assert {k: after.get(k) for k in theirs} == {k: before[k] for k in theirs}
    assert "runs/gone-from-the-database.html" not in after
    assert "files:" in after[dashboard.MARKER].decode()


def test_a_marker_never_reaches_outside_the_folder_or_through_a_link(database, tmp_path):
    site = tmp_path / "site"
    _build(database, site)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the site's")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "page.html").write_text("not the site's either")
    (site / "linked").symlink_to(elsewhere, target_is_directory=True)
    (site / "link.html").symlink_to(outside)
    with open(site / dashboard.MARKER, "a") as f:
        f.write(f"../outside.txt\n{outside}\nlinked/page.html\nlink.html\n./CNAME\n")
    (site / "CNAME").write_text("bench.example.org\n")
    _build(database, site, force=True)
    assert outside.read_text() == "not the site's"
    assert (elsewhere / "page.html").read_text() == "not the site's either"
    assert (site / "link.html").is_symlink() and (site / "linked").is_symlink()
    assert (site / "CNAME").read_text() == "bench.example.org\n"


def test_an_empty_folder_is_written_into_and_a_foreign_one_refused(database, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _build(database, empty)
    assert (empty / "index.html").is_file() and (empty / dashboard.MARKER).is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "CNAME").write_text("x\n")
    for force in (False, True):
        with pytest.raises(runio.CvpError, match="not a dashboard written by cvp"):
            _build(database, mine, force=force)
    assert _snapshot(mine) == {"CNAME": b"x\n"}


def test_a_failed_build_removes_the_folders_it_made_for_the_site(database, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.setattr(runio, "_made_folders", [])

    def full(self, *args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(dashboard._Site, "_run_page", full)
    code = cli.main(["dashboard", str(database), "-o", str(tmp_path / "new" / "deeper" / "site")])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err, err
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []

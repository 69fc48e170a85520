"""Distributed and weak-scaling points through every command, on runs the program really wrote:
golden/weak (one machine, `--scaling both`) and golden/distributed (2 MPI ranks on one host,
`--scaling both`; `slow` is the same run with every distributed point slowed by 10%), made by
their generate.py.

- plot: a weak-vs-strong chart (speedup vs workers P, ideal S = P, Amdahl fit of the strong
  points, Gustafson fit of the weak ones, the fitted fractions in the legend); distributed
  points a series of their own at P = threads x ranks in the scaling chart; weak points never
  in the strong series nor in the headline.
- report: that chart, the cluster and network rows, the rows labelled.
- compare: the run against itself reads no change anywhere; against the slowed run the
  distributed rows read slower (and faster the other way); a cluster is one machine: the set
  of its hosts and the CPU model.
- db, history, dashboard: ranks and weak stored and shown, the cluster as one machine, the
  schema migrated from version 4.
- export: every name once.
"""

import copy
import json
import sqlite3

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import CvpError, compare, export, plots, report, runio, stats
from cvptools import db as cvpdb
from cvptools import results as res

WEAK = GOLDEN / "weak"
DIST = GOLDEN / "distributed" / "run"
SLOW = GOLDEN / "distributed" / "slow"
REAL = GOLDEN / "real"


def _run(folder):
    return runio.load_run(folder)


def _rows(folder):
    return res.live_results(_run(folder))


def _with_doc(tmp_path, folder, name, change):
    """A copy of a real run's summary with `change(doc)` applied, as a run folder."""
    doc = json.loads((folder / "summary.json").read_text())
    change(doc)
    out = tmp_path / name
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(doc))
    return out


# --- what the program wrote ---------------------------------------------------------------------

def test_the_fixtures_hold_distributed_and_weak_rows():
    dist = _rows(DIST)
    assert {r["mode"] for r in dist} == {"serial", "concurrent", "parallel", "distributed"}
    assert all(res.ranks_of(r) == 2 for r in dist if r["mode"] == "distributed")
    assert all(res.ranks_of(r) == 1 for r in dist if r["mode"] != "distributed")
    weak = [r for r in dist if res.is_weak(r)]
    assert weak and all(f"/weak:{res.format_value(r['weak'])}/" in r["name"] for r in weak)
    # A weak point's P is its workers over every rank.
    assert all(res.weak_of(r) == res.workers_of(r) for r in weak)
    assert all(r["gustafson_serial_fraction"] is not None for r in weak)
    assert all(r.get("gustafson_serial_fraction") is None for r in dist if not res.is_weak(r))
    assert res.cluster_hosts(_run(DIST).doc) == "vm" or res.cluster_hosts(_run(DIST).doc)
    assert res.network_of(_run(DIST).doc)["ranks"] == 2
    assert res.cluster_of(_run(WEAK).doc) is None and res.cluster_hosts(_run(WEAK).doc) is None
    assert any(res.is_weak(r) for r in _rows(WEAK))
    assert not any(res.is_weak(r) or res.ranks_of(r) > 1 for r in _rows(REAL))


def test_ranks_and_weak_from_a_name_alone():
    assert res.name_ranks_weak("matmul/n:256/ranks:2/weak:4/mode:distributed/backend:threads/"
                               "threads:2") == (2, 4.0)
    assert res.name_ranks_weak("matmul/n:256/mode:serial/backend:threads/threads:1") == (1, 1.0)


def test_the_gustafson_fit():
    # A single weak point: the summary's own serial fraction, (P - S) / (P - 1).
    for r in [r for r in _rows(DIST) + _rows(WEAK) if res.is_weak(r)]:
        s = stats.gustafson_fit([res.weak_of(r)], [r["speedup"]["value"]])
        assert s == pytest.approx(r["gustafson_serial_fraction"], rel=1e-9, abs=1e-12)
    # Points on a line of Gustafson's law give its s back.
    p = [2, 4, 8, 16]
    assert stats.gustafson_fit(p, stats.gustafson_speedup(p, 0.12)) == pytest.approx(0.12)
    with pytest.raises(ValueError):
        stats.gustafson_fit([1], [1.0])


# --- plot ---------------------------------------------------------------------------------------

def _series(ax):
    """{legend label: the data line} of the error-bar series drawn on `ax`."""
    return {c.get_label(): c.lines[0] for c in ax.containers if c.get_label()}


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend()
            for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("folder", [WEAK, DIST], ids=["weak", "distributed"])
def test_weak_chart_has_both_scalings_and_both_fits(folder):
    run = _run(folder)
    assert "weak" in plots.available([run])
    fig = plots.build("weak", [run])
    texts = _legend_texts(fig)
    groups = plots._weak_groups(run)
    assert len([ax for ax in fig.axes if ax.get_legend()]) == len(groups) == 2
    for key, members in groups.items():
        # Fitted, as the Amdahl fit, over the points with one worker per core.
        weak = [r for r in members if res.is_weak(r) and r["backend"] == "threads"
                and r["threads"] <= r["cores"]]
        s = stats.gustafson_fit([res.weak_of(r) for r in weak],
                                [r["speedup"]["value"] for r in weak])
        assert any(f"Gustafson s = {s:.3f}" in t for t in texts), (s, texts)
    assert any("Amdahl f = " in t and t.startswith("strong") for t in texts)
    assert any(t.startswith("weak parallel") for t in texts)
    assert "ideal S = P" in texts
    if folder == DIST:
        assert any(t.startswith("strong distributed") for t in texts)
        assert any(t.startswith("weak distributed") for t in texts)


def test_weak_points_are_drawn_at_their_workers():
    run = _run(DIST)
    fig = plots.build("weak", [run])
    ax = next(ax for ax in fig.axes if ax.get_legend())
    weak = next(v for k, v in _series(ax).items() if k.startswith("weak distributed"))
    members = next(iter(plots._weak_groups(run).values()))
    expected = sorted(res.weak_of(r) for r in members
                      if res.is_weak(r) and r["mode"] == "distributed")
    assert sorted(weak.get_xdata()) == expected


def test_no_weak_chart_without_weak_rows_and_asking_for_it_is_bad_input(tmp_path):
    run = _run(REAL)
    assert "weak" not in plots.available([run])
    with pytest.raises(CvpError, match="nothing to draw for the weak chart"):
        plots.build("weak", [run])
    proc = run_cvp("plot", REAL, "-o", tmp_path / "charts", "--chart", "weak")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_scaling_chart_keeps_weak_out_and_draws_distributed_apart():
    run = _run(DIST)
    groups = plots._scaling_groups(run)
    members = [r for g in groups.values() for r in g]
    assert members and not any(res.is_weak(r) for r in members)
    assert {r["mode"] for r in members} == {"parallel", "distributed"}
    fig = plots.build("scaling", [run])
    ax = next(ax for ax in fig.axes if ax.get_legend())
    by_label = _series(ax)
    dist = next(v for k, v in by_label.items() if k.startswith("distributed · threads"))
    strong = sorted(res.workers_of(r) for r in next(iter(groups.values()))
                    if r["mode"] == "distributed")
    assert sorted(dist.get_xdata()) == strong      # P = threads x ranks: 2 and 4
    par = next(v for k, v in by_label.items() if k.startswith("parallel · threads"))
    assert len(par.get_xdata()) == len([r for r in next(iter(groups.values()))
                                        if r["mode"] == "parallel"])


@pytest.mark.parametrize("folder", [WEAK, DIST], ids=["weak", "distributed"])
def test_headline_leaves_weak_points_out(folder):
    for group in plots.headline(_run(folder)):
        for points in group["points"].values():
            assert not any(res.is_weak(r) for r in points)


def test_plot_writes_the_weak_chart(tmp_path):
    proc = run_cvp("plot", DIST, WEAK, "-o", tmp_path / "charts", "--format", "png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "charts" / "weak.png").stat().st_size > 10_000


# --- report -------------------------------------------------------------------------------------

def test_report_has_the_cluster_the_network_the_chart_and_labelled_rows(tmp_path):
    out = tmp_path / "report.html"
    proc = run_cvp("report", DIST, "-o", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    net = res.network_of(_run(DIST).doc)
    assert "<th>cluster</th><td>2 MPI ranks on 1 host (vm)" in page
    assert f"latency {net['latency_us']:.2f} us" in page
    assert "<th>MPI library</th>" in page
    assert report._CHART_TITLES["weak"] in page
    assert ">distributed, 2 ranks</td>" in page
    weak = next(r for r in _rows(DIST) if res.is_weak(r) and r["mode"] == "parallel")
    assert (f"parallel, weak x{res.format_value(weak['weak'])} (n={weak['params']['n']}), "
            f"Gustafson s {weak['gustafson_serial_fraction']:.3f}") in page
    # A weak point sits under its group's heading, not one of its grown problem's own.
    assert f"matmul n={weak['params']['n']}</th>" not in page


def test_report_of_one_machine_has_no_cluster_rows():
    assert report.cluster_pairs(_run(WEAK)) == []


# --- compare ------------------------------------------------------------------------------------

def _verdicts(result):
    return {r["name"]: r["change"] for r in result["benchmarks"]}


def test_distributed_run_against_itself_reads_no_change():
    result = compare.compare_runs(_run(DIST), _run(DIST))
    assert result["machines"]["same"]
    changes = _verdicts(result)
    assert len(changes) == len(_rows(DIST))
    assert not {"slower", "faster"} & set(changes.values()), changes
    assert result["overall"]["change"] is None


@pytest.mark.parametrize("a,b,direction", [(DIST, SLOW, "slower"), (SLOW, DIST, "faster")],
                         ids=["planted", "reversed"])
def test_planted_distributed_slowdown_is_flagged(a, b, direction):
    result = compare.compare_runs(_run(a), _run(b))
    assert result["machines"]["same"]              # one cluster, the same hosts
    changes = _verdicts(result)
    distributed = [n for n in changes if "/mode:distributed/" in n]
    assert len(distributed) == 8
    flagged = [n for n in distributed if changes[n] == direction]
    # 10% planted on each; a busy 2-core machine may hide it in one row or two.
    assert len(flagged) >= 6, changes
    opposite = {"slower": "faster", "faster": "slower"}[direction]
    assert not any(changes[n] == opposite for n in distributed)
    assert result["overall"]["change"] == direction


def test_compare_cli_on_distributed_runs(tmp_path):
    proc = run_cvp("compare", DIST, SLOW, "--json", tmp_path / "cmp.json")
    assert proc.returncode == 0, proc.stderr
    names = [r["name"] for r in json.loads((tmp_path / "cmp.json").read_text())["benchmarks"]]
    assert len(names) == len(set(names))
    assert any("/ranks:2/weak:" in n for n in names)


def test_a_cluster_is_one_machine_its_hosts_and_cpu(tmp_path):
    def hosts(*names):
        def change(doc):
            doc["machine"]["cluster"]["hosts"] = list(names)
            doc["machine"]["cluster"]["ranks"] = len(names)
        return change
    here = _run(DIST)
    host = here.doc["machine"]["cluster"]["hosts"][0]
    # The same set of hosts, in another order and with another rank 0 placement: one machine.
    placed = _with_doc(tmp_path, DIST, "placed", lambda d: (
        hosts(host, host, host)(d), d["machine"].update(allowed_cpus=[0])))
    assert compare.machine_differences(compare.machine_info(here),
                                       compare.machine_info(_run(placed))) == []
    # Other hosts: another machine, named by its hosts.
    other = _run(_with_doc(tmp_path, DIST, "other", hosts(host, "node-b")))
    result = compare.compare_runs(here, other)
    assert not result["machines"]["same"]
    assert result["machines"]["differences"] == ["hosts"]
    assert any(",".join(sorted({host, "node-b"})) in n for n in result["notes"])
    # Another CPU model on the same hosts: another machine too.
    cpu = _run(_with_doc(tmp_path, DIST, "cpu", lambda d: d["machine"].update(
        cpu_model="Another CPU")))
    assert compare.machine_differences(compare.machine_info(here),
                                       compare.machine_info(cpu)) == ["cpu_model"]
    # A cluster is never the same machine as one host's run, even on that host.
    assert "hosts" in compare.machine_differences(compare.machine_info(here),
                                                  compare.machine_info(_run(WEAK)))


# --- db, history, dashboard ---------------------------------------------------------------------

def test_db_stores_ranks_weak_and_the_cluster(tmp_path):
    where = str(tmp_path / "r.sqlite")
    other = _with_doc(tmp_path, DIST, "other", lambda d: d["machine"]["cluster"].update(
        hosts=["vm", "node-b"]))
    with cvpdb.open_database(where, create=True) as database:
        database.import_runs([str(DIST), str(SLOW), str(WEAK), str(other)])
        machines = database.machines()
        assert sorted(m["hosts"] or "" for m in machines) == ["", "node-b,vm", "vm"]
        # The two runs on the cluster's hosts are one machine.
        cluster = next(m for m in machines if m["hosts"] == "vm")
        assert cluster["runs"] == 2 and "cluster of vm" in cluster["label"]
        by_name = {b["name"]: b for b in database.benchmarks()}
        for r in _rows(DIST):
            b = by_name[res.result_name(r)]
            assert (b["ranks"], b["weak"]) == (res.ranks_of(r), res.weak_of(r))
        run = database.run(database.runs(machine_id=cluster["id"])[0]["digest"][:12])
        assert {(x["ranks"], x["weak"]) for x in run["results"]} >= {(2, 2.0), (2, 4.0), (1, 1.0)}
    proc = run_cvp("db", "machines", "--db", where)
    assert proc.returncode == 0 and "cluster hosts" in proc.stdout and "node-b,vm" in proc.stdout
    proc = run_cvp("history", "--db", where, "--json", "-",
                   "^matmul/n:256/ranks:2/weak:4/mode:distributed/")
    assert proc.returncode == 0, proc.stderr
    series = json.loads(proc.stdout)["series"]
    assert {(s["ranks"], s["weak"], s["cluster_hosts"]) for s in series} == {
        (2, 4.0, "vm"), (2, 4.0, "node-b,vm")}
    assert [s["runs"] for s in series if s["cluster_hosts"] == "vm"] == [2]


def test_a_version_4_database_is_migrated(tmp_path):
    where = tmp_path / "v4.sqlite"
    con = sqlite3.connect(where)
    for step in cvpdb.MIGRATIONS[:4]:
        for statement in step:
            con.execute(statement.format(id="INTEGER PRIMARY KEY", blob="BLOB", real="REAL"))
    con.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    # A distributed benchmark imported by a cvp before version 5: no ranks or weak stored.
    con.execute("INSERT INTO benchmarks (name, mode) VALUES "
                "('matmul/n:256/ranks:2/weak:4/mode:distributed/backend:threads/threads:2', "
                "'distributed')")
    con.commit()
    con.close()
    proc = run_cvp("db", "import", "--db", where, DIST)
    assert proc.returncode == 0, proc.stderr
    con = sqlite3.connect(where)
    assert con.execute("SELECT value FROM meta").fetchone() == (str(cvpdb.SCHEMA_VERSION),)
    con.close()
    with cvpdb.open_database(str(where)) as database:
        old = next(b for b in database.benchmarks() if "/weak:4/" in b["name"])
        assert (old["ranks"], old["weak"]) == (2, 4.0)   # from its name


def test_dashboard_shows_clusters_ranks_and_weak_apart(tmp_path):
    where = str(tmp_path / "r.sqlite")
    assert run_cvp("db", "import", "--db", where, DIST, WEAK).returncode == 0
    proc = run_cvp("dashboard", where, "-o", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    index = (tmp_path / "site" / "index.html").read_text()
    assert "cluster of hosts vm" in index
    assert ">parallel, weak<" in index and ">distributed, weak<" in index
    assert "2 ranks" in index
    pages = list((tmp_path / "site" / "bench").glob("*.html"))
    weak_page = next(p.read_text() for p in pages
                     if "ranks:2/weak:4/mode:distributed" in p.read_text())
    assert "MPI ranks: 2" in weak_page and "weak scaling: problem grown: x4" in weak_page


# --- export -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(export.FORMATS))
def test_export_names_stay_unique(fmt):
    doc = export.export([_run(DIST)], fmt)
    names = list(doc) if fmt == "bmf" else [e["name"] for e in doc]
    assert len(names) == len(set(names))
    assert sum("/ranks:2/" in n for n in names) >= 8
    assert any("/weak:4/" in n for n in names)


@pytest.mark.parametrize("chart", ["weak", "scaling"])
def test_nothing_covers_data_in_the_distributed_charts(chart):
    """No panel overlaps another and no legend sits on a data point (as test_plots checks for
    the other charts), with two runs side by side."""
    fig = plots.build(chart, [_run(DIST), _run(WEAK)])
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]

    def overlaps(a, b):
        return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
    for i, a in enumerate(boxes):
        assert not any(overlaps(a, b) for b in boxes[i + 1:])
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        points = [ax.transData.transform(xy) for line in ax.lines
                  if line.get_transform() == ax.transData for xy in line.get_xydata()]
        assert not [p for p in points if box.contains(*p)], ax.get_title()

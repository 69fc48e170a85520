"""Two bounds per row: `bound` (the ideal: min(threads, cores), for requests the model with
P = cores) and `attainable` ({"value", "model"}: what this machine allows as measured), with
`efficiency` against the attainable one and `efficiency_ideal` against the ideal. Files written
before rows carried `attainable` (the published run in results/amd-epyc-zen4-2core) read as
attainable = ideal. The run is a real one (golden/traced); the attainable bound planted here on
one row is what a run on a machine with a slower second core would write."""

import json

import pytest

from cvp_testing import GOLDEN, ROOT, run_cvp
from cvptools import dashboard, export, plots, report, results
from cvptools import db as cvpdb
from cvptools.runio import SUMMARY, Run

TRACED = GOLDEN / "traced"
OLD = ROOT / "results" / "amd-epyc-zen4-2core"  # written before rows carried `attainable`
ROW = "matmul/n:512/mode:parallel/backend:threads/threads:2"
MODEL = "the team's measured capacity: CPU 0 1.00 + CPU 1 0.50"


def _doc(attainable=None):
    doc = json.loads((TRACED / "summary.json").read_text())
    if attainable is not None:
        r = next(r for r in doc["results"] if r["name"] == ROW)
        r["attainable"] = {"value": attainable, "model": MODEL}
        r["efficiency_ideal"] = r["speedup"]["value"] / r["bound"]
        r["efficiency"] = r["speedup"]["value"] / attainable
    return doc


def _row(doc):
    return next(r for r in doc["results"] if r["name"] == ROW)


def test_old_rows_read_attainable_as_the_ideal():
    r = _row(json.loads((OLD / "summary.json").read_text()))
    assert "attainable" not in r
    assert results.attainable_bound(r) == results.ideal_bound(r) == 2.0
    assert not results.bounds_differ(r)
    assert results.efficiencies(r) == (pytest.approx(r["efficiency"]),) * 2
    assert report.bounds_text(r) == "2.00" and "/" not in report.efficiencies_text(r)


def test_both_bounds_where_they_differ_by_more_than_1_percent():
    r = _row(_doc(1.5))
    assert results.attainable_bound(r) == 1.5 and results.ideal_bound(r) == 2.0
    assert results.bounds_differ(r)
    assert report.bounds_text(r) == "1.50 /\u00a02.00"
    speedup = r["speedup"]["value"]
    assert report.efficiencies_text(r) == f"{speedup / 1.5:.2f} /\u00a0{speedup / 2:.2f}"
    # Within 1%: one bound, one efficiency.
    close = _row(_doc(1.99))
    assert not results.bounds_differ(close) and report.bounds_text(close) == "1.99"


def _ideal_lines(fig):
    return [c for ax in fig.axes for c in ax.collections
            if c.get_label() == "ideal bound (thin line)"]


@pytest.mark.parametrize("attainable, thin", [(None, 0), (1.99, 0), (1.5, 1)])
def test_the_chart_draws_the_ideal_as_a_thin_line_only_where_it_differs(attainable, thin):
    run = Run(str(TRACED / "summary.json"), SUMMARY, _doc(attainable))
    fig = plots.build("speedup", [run])
    assert len(_ideal_lines(fig)) == thin
    outlines = [p for ax in fig.axes for c in ax.containers
                if c.get_label() == "attainable bound (dashed outline)" for p in c.patches]
    assert outlines
    heights = sorted(round(p.get_height(), 3) for p in outlines)
    assert (1.5 in heights) == (attainable == 1.5)


def test_report_and_exports_show_both(tmp_path):
    doc = _doc(1.5)
    run = Run(str(TRACED / "summary.json"), SUMMARY, doc)
    assert report.attainable_models(run) == {MODEL: 1}
    bigger = {e["name"]: e for e in export.gab_bigger([run])}
    extra = bigger[f"{ROW} speedup"]["extra"]
    assert f"attainable bound 1.5 ({MODEL}); ideal 2" in extra
    others = [e["extra"] for name, e in bigger.items()
              if name.endswith(" speedup") and ROW not in name]
    assert others and not any("attainable" in text for text in others)
    measures = export.bmf([run])[ROW]
    speedup = _row(doc)["speedup"]["value"]
    assert measures["efficiency"]["value"] == pytest.approx(speedup / 1.5)
    assert measures["efficiency-ideal"]["value"] == pytest.approx(speedup / 2)


def test_the_database_keeps_both_and_the_dashboard_shows_them(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(_doc(1.5)))
    dbfile = str(tmp_path / "results.sqlite")
    for source in (folder, GOLDEN / "real"):
        done = run_cvp("db", "import", "--db", dbfile, source)
        assert done.returncode == 0, done.stderr
    with cvpdb.open_database(dbfile) as database:
        stored = [{x["benchmark"]: x for x in database.run(r["digest"][:12])["results"]}
                  for r in database.runs()]
    planted = next(s[ROW] for s in stored if ROW in s)
    assert planted["attainable"] == 1.5 and planted["bound"] == 2.0
    assert dashboard._pair(planted, "attainable", "bound") == "1.5 / 2"
    old = next(s for s in stored if ROW not in s)
    row = next(iter(old.values()))
    assert row["attainable"] is None and row["efficiency_ideal"] is None
    assert "/" not in dashboard._pair(row, "attainable", "bound")
    assert dashboard._pair(row, "efficiency", "efficiency_ideal") == dashboard._num(
        row["efficiency"])

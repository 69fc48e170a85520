"""cvp timeline, the roofline chart and the report's explanations, on a real traced run
(golden/traced: cvpbench --quick --trace over a few points of each workload)."""

import json
import os
import shutil

import pytest

from cvp_testing import GOLDEN, load_golden, run_cvp
from cvptools import CvpError
from cvptools import runio
from cvptools import plots, report, timeline

TRACED = GOLDEN / "traced"
PNG = b"\x89PNG\r\n\x1a\n"


def _trace():
    return json.loads((TRACED / "trace.json").read_text())


def test_the_fixture_is_a_real_traced_run():
    summary = load_golden("traced")
    assert summary["trace"] == "trace.json"
    assert summary["machine"]["limits"]["flops_per_s"]["one_core"] > 0
    assert all(r["timeline"] is not None for r in summary["results"])
    names = {p["name"] for p in _trace()["otherData"]["points"]}
    assert names == {r["name"] for r in summary["results"]}


def test_default_points_show_each_mode_of_one_backend():
    chosen = timeline.default_points(_trace()["otherData"]["points"])
    tasks = [p for p in chosen if p["workload"] == "matmul"]
    assert [p["mode"] for p in tasks] == ["serial", "concurrent", "parallel"]
    assert {p["backend"] for p in tasks} == {"threads"}
    requests = [p for p in chosen if p["workload"] == "requests"]
    assert [p["mode"] for p in requests] == ["serial", "concurrent", "parallel"]
    assert requests[1]["backend"] == requests[2]["backend"] == "eventloop"
    assert requests[1]["in_flight"] == 64  # the most in flight, up to 64


def test_lanes_are_the_workers_and_their_spans():
    doc = _trace()
    point = next(p for p in doc["otherData"]["points"]
                 if p["workload"] == "matmul" and p["mode"] == "parallel" and p["threads"] == 2)
    panel = timeline.lay_out(doc, point)
    assert [lane.worker for lane in panel.lanes] == [0, 1]
    spans = [e for e in doc["traceEvents"] if e["pid"] == point["pid"] and e["ph"] == "X"
             and e["cat"] == "task"]
    assert sum(len(lane.spans) for lane in panel.lanes) == len(spans)
    assert {cpu for lane in panel.lanes for _, _, cpu, _ in lane.spans} <= set(point["cpus"])
    assert panel.waits == []
    one = timeline.lay_out(doc, point, max_workers=1)
    assert len(one.lanes) == 1 and one.hidden == 1


def test_requests_waiting_are_counted():
    doc = _trace()
    point = next(p for p in doc["otherData"]["points"]
                 if p["workload"] == "requests" and p["mode"] == "concurrent" and p["in_flight"] == 64)
    panel = timeline.lay_out(doc, point)
    times, counts = timeline._waiting_steps(panel.waits, panel.window_us)
    assert max(counts) <= 64
    assert max(counts) >= 32  # most of the 64 in flight wait while one runs
    assert counts[-1] >= 0


def test_timeline_cli_writes_png_and_svg(tmp_path):
    png = tmp_path / "t.png"
    proc = run_cvp("timeline", TRACED, "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes().startswith(PNG)
    svg = tmp_path / "t.svg"
    proc = run_cvp("timeline", TRACED / "summary.json", "--point", "triad/.*parallel", "-o", svg)
    assert proc.returncode == 0, proc.stderr
    assert b"<svg" in svg.read_bytes()[:1000]


def test_timeline_refuses_what_it_cannot_draw(tmp_path):
    untraced = run_cvp("timeline", GOLDEN / "plugins", "-o", tmp_path / "a.png")
    assert untraced.returncode == 2 and "has no trace.json: run cvpbench with --trace" in untraced.stderr
    nothing = run_cvp("timeline", TRACED, "--point", "^nothing", "-o", tmp_path / "b.png")
    assert nothing.returncode == 2 and "matches no traced point (traced: " in nothing.stderr
    torn = tmp_path / "torn"
    torn.mkdir()
    shutil.copy(TRACED / "summary.json", torn)
    (torn / "trace.json").write_bytes((TRACED / "trace.json").read_bytes()[:5000])
    broken = run_cvp("timeline", torn, "-o", tmp_path / "c.png")
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr
    assert "Traceback" not in untraced.stderr + nothing.stderr + broken.stderr
    wrong_kind = run_cvp("timeline", TRACED, "-o", tmp_path / "d.jpg")
    assert wrong_kind.returncode == 2 and ".png or .svg" in wrong_kind.stderr
    assert not any(tmp_path.glob("*.png")) and not (tmp_path / "d.jpg").exists()


def test_timeline_never_overwrites_or_follows_a_link(tmp_path):
    out = tmp_path / "t.png"
    out.write_text("mine")
    proc = run_cvp("timeline", TRACED, "-o", out)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert out.read_text() == "mine"
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link.png"
    os.symlink(target, link)
    proc = run_cvp("timeline", TRACED, "-o", link)
    assert proc.returncode == 2
    assert target.read_text() == "keep" and os.path.islink(link)


def test_roofline_needs_limits():
    traced = runio.load_runs([TRACED])
    assert "roofline" in plots.available(traced)
    fig = plots.build("roofline", traced)
    labels = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "one core" in labels and "GFLOP/s" in labels
    assert plots.render(fig, "png").startswith(PNG)
    older = runio.load_runs([GOLDEN / "plugins"])
    assert "roofline" not in plots.available(older)
    with pytest.raises(CvpError, match="nothing to draw for the roofline chart"):
        plots.build("roofline", older)


def test_roofline_without_limits_is_refused_by_the_cli(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    doc = load_golden("traced")
    doc["machine"]["limits"] = None  # a run made with --limits off
    (run / "summary.json").write_text(json.dumps(doc))
    proc = run_cvp("plot", run, "-o", tmp_path / "charts", "--chart", "roofline")
    assert proc.returncode == 2 and "--limits off" in proc.stderr


def test_report_explains_a_traced_run_and_not_an_untraced_one():
    page = report.build_report(runio.load_runs([TRACED]), verbose=True)
    assert "<h3>Who ran when</h3>" in page
    assert "<h3>The machine's own limits</h3>" in page
    assert "<h3>Why not more</h3>" in page
    summary = load_golden("traced")
    rows = {r["name"]: r for r in summary["results"]}
    for d in summary["diagnoses"]:  # --verbose: the own line of every row not within 3%
        if report.close_to_bound(rows[d["name"]]):
            assert report._e(d["line"]) not in page
        else:
            assert report._e(d["line"]) in page
    assert "Roofline" in page
    older = report.build_report(runio.load_runs([GOLDEN / "plugins"]))
    for section in ("Who ran when", "own limits", "Why not more", "Roofline"):
        assert section not in older

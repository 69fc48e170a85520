"""Inputs at scale: `cvp plot` and `cvp report` over hundreds of run folders finish, draw at most
`--detail` runs side by side and every run in the runs chart (and the report's table), say how
many runs there are and which are drawn, keep only a few whole documents in memory, and never
make an image larger than plots.MAX_SIDE_PX on a side or plots.MAX_PIXELS in all.

The old layout made the headline figure about 5.5 inches wide per run: 100 runs asked
matplotlib for a 72,050 px wide image, which it refuses (2^16 px at most), so from about 100
runs on both commands ended in an internal error; the tests check that the bound holds where
that layout would have broken it."""

import base64
import copy
import gc
import io as stdio
import json
import re
import struct
import weakref

import pytest

from cvp_testing import GOLDEN, ROOT, run_cvp, write_json
from cvptools import CvpError, plots, report, runio
from cvptools.commands import plot as plot_command

REAL = GOLDEN / "real" / "summary.json"          # a small real summary (11 results)
AMD = ROOT / "results" / "amd-epyc-zen4-2core"   # a real run with a crossover sweep
RUNS = 300


def _varied(doc, i):
    """Run i: another host and date (so every title differs) and speedups a little apart."""
    doc = copy.deepcopy(doc)
    doc["machine"]["host"] = f"host-{i:04d}"
    doc["machine"]["date"] = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
    factor = 1.0 + 0.002 * (i % 50)
    for r in doc["results"]:
        if r["mode"] != "serial" and r["speedup"]["value"] > 0:
            r["speedup"]["value"] *= factor
            r["speedup"]["ci95"] = [x * factor for x in r["speedup"]["ci95"]]
    return doc


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """RUNS run folders, each a varied copy of a real summary."""
    base = json.loads(REAL.read_text())
    folder = tmp_path_factory.mktemp("many")
    paths = []
    for i in range(RUNS):
        paths.append(write_json(folder / f"run-{i:04d}" / "summary.json", _varied(base, i)).parent)
    return paths


def _png_size(data):
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def _assert_bounded_png(data):
    width, height = _png_size(data)
    assert width <= plots.MAX_SIDE_PX and height <= plots.MAX_SIDE_PX, (width, height)
    assert width * height <= plots.MAX_PIXELS, (width, height)
    return width, height


def _svg_size_pt(text):
    found = re.search(r'<svg[^>]*width="([0-9.]+)pt" height="([0-9.]+)pt"', text)
    assert found, text[:400]
    return float(found.group(1)), float(found.group(2))


def _old_speedup_width_px(runs):
    """The width the old layout gave the headline figure: a column of
    max(4.5, 1.6 + 0.55 x bars) inches per run, at 110 dpi."""
    widest = max(sum(len(m) for m in g["points"].values())
                 for run in runs for g in plots.headline(run))
    return max(4.5, 1.6 + 0.55 * widest) * len(runs) * 110


# --- the commands, as users run them ------------------------------------------------------------

def test_plot_300_runs(many, tmp_path):
    proc = run_cvp("plot", *many, "-o", tmp_path / "charts", timeout=300)
    assert proc.returncode == 0, proc.stderr
    written = proc.stdout.split()
    charts = sorted({p.rsplit("/", 1)[-1].split(".")[0] for p in written})
    assert "runs" in charts and "speedup" in charts
    # the command says how many runs it read and how many each detailed chart draws
    note = proc.stderr.strip().splitlines()
    assert len(note) == 1 and f"{RUNS} runs" in note[0] and "draw 8 each" in note[0], note
    assert "every run is in the runs chart" in note[0]
    runs = runio.load_runs(many[:8])
    assert _old_speedup_width_px(runs) * RUNS / 8 > 65536  # the old figure: refused by matplotlib
    for path in written:
        data = (tmp_path / "charts" / path.rsplit("/", 1)[-1]).read_bytes()
        if path.endswith(".png"):
            _assert_bounded_png(data)
        else:
            width, height = _svg_size_pt(data.decode("utf-8"))
            assert max(width, height) <= plots.MAX_SIDE_IN * 72 + 0.01  # pt, as written


def test_report_300_runs(many, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cvp("report", *many, "-o", out, "--detail", "4", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{RUNS} runs" in proc.stderr and "(--detail 4)" in proc.stderr
    page = out.read_text()
    assert f"<h2>All {RUNS} runs</h2>" in page
    assert f"from: {RUNS} inputs, listed in the table of runs; the first 4" in page
    table = re.search(r"<table class=runs>.*?</table>", page, flags=re.S).group(0)
    numbers = [int(n) for n in re.findall(r"<tr><td class=n>(\d+)</td>", table)]
    assert numbers == list(range(1, RUNS + 1))  # every run, in input order, once
    assert "host-0299" in table and "run-0299" in table
    # sections and results tables for the first 4 runs only, each saying which run it is
    sections = re.findall(r"<h2>Results: run (\d+) of 300: ", page)
    assert sections == ["1", "2", "3", "4"]
    assert "Runs 1-4 of 300: the first 4 with data for this chart." in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 2 and '<img alt="runs chart"' in page
    for data in images:
        _assert_bounded_png(base64.b64decode(data))
    assert str(ROOT) not in page and str(tmp_path) not in page  # folder names, never paths


def test_detail_is_checked(many, tmp_path):
    for bad, says in (("17", "must be at most 16"), ("0", "must be at least 1")):
        proc = run_cvp("plot", many[0], "--detail", bad, "-o", tmp_path / "c")
        assert proc.returncode == 2 and says in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert (plot_command.DEFAULT_DETAIL, plot_command.MAX_DETAIL) == (plots.DEFAULT_DETAIL,
                                                                    plots.MAX_DETAIL)
    assert not (tmp_path / "c").exists()


# --- memory: a digest of every run, whole documents only for the few drawn ----------------------

class _Tracked:
    """Runs made one at a time, each watched through a weak reference."""

    def __init__(self, doc, count):
        self.doc, self.count, self.refs = doc, count, []

    def __iter__(self):
        for i in range(self.count):
            run = runio.Run(path=f"run-{i:04d}/summary.json", format=runio.SUMMARY,
                         doc=_varied(self.doc, i))
            self.refs.append(weakref.ref(run))
            yield run
            del run

    def alive(self):
        gc.collect()
        return sum(1 for ref in self.refs if ref() is not None)


def test_gather_holds_few_whole_documents():
    source = _Tracked(json.loads(REAL.read_text()), RUNS)
    sel = plots.gather(source, detail=5)
    assert sel.total == RUNS and len(source.refs) == RUNS
    bound = 5 * (1 + len(plots.DETAIL_CHARTS))
    # identical runs: the first 5 serve every chart, and nothing else is held
    assert len(sel.kept) == 5 and source.alive() == 5 <= bound
    # a digest is small next to the document it stands for
    digest_size = len(repr(sel.digests[0]))
    assert digest_size * 10 < len(json.dumps(json.loads(REAL.read_text())))


def test_each_detailed_chart_draws_the_first_runs_with_its_data():
    """Of 20 runs only 5, 12 and 17 have a crossover sweep: the crossover chart draws those (not
    runs 1-8 that have nothing for it) and says so; the other charts draw runs 1-8."""
    real, amd = json.loads(REAL.read_text()), json.loads((AMD / "summary.json").read_text())
    docs = [_varied(amd if i in (4, 11, 16) else real, i) for i in range(20)]
    runs = [runio.Run(path=f"run-{i:02d}/summary.json", format=runio.SUMMARY, doc=d)
            for i, d in enumerate(docs)]
    sel = plots.gather(iter(runs), detail=8)
    assert sel.drawn("crossover") == [5, 12, 17]
    assert sel.drawn("speedup") == list(range(1, 9))
    assert set(sel.kept) == set(range(1, 9)) | {12, 17}
    fig = plots.build("crossover", sel)
    title = fig._suptitle.get_text().replace("\n", " ")
    assert "Runs 5, 12, 17 of 20 drawn" in title
    columns = [ax.get_title() for ax in fig.axes if "run 12 of 20: run-11" in ax.get_title()]
    assert len(columns) == 1
    assert plots.build("speedup", sel)._suptitle.get_text().replace("\n", " ").count(
        "Runs 1-8 of 20 drawn") == 1
    assert plots.gather(iter(runs), detail=2).drawn("crossover") == [5, 12]


# --- the runs chart ---------------------------------------------------------------------------

def test_runs_chart_draws_every_run_and_says_so():
    source = _Tracked(json.loads(REAL.read_text()), RUNS)
    sel = plots.gather(source)
    fig = plots.build("runs", sel)
    assert f"all {RUNS} runs" in fig._suptitle.get_text().replace("\n", " ")
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(panels) == 2  # matmul n=64 and requests c=20us: the two verdict lines
    for ax in panels:
        assert f"in {RUNS} of {RUNS} runs" in ax.get_title(loc="left")
        points = [c for c in ax.containers]
        assert len(points) == 2  # concurrency and parallelism of the verdict backend
        for container in points:
            assert len(container.lines[0].get_xdata()) == RUNS
        assert ax.get_xlim() == (0.5, RUNS + 0.5)
    width, height = _assert_bounded_png(plots.render(fig, "png"))
    assert width <= 14 * plots.DPI + 1


def test_runs_chart_needs_two_runs():
    run = runio.load_run(REAL)
    assert "runs" not in plots.available([run])
    assert "runs" in plots.available([run, run])
    with pytest.raises(CvpError, match="nothing to draw for the runs chart"):
        plots.build("runs", [run])


# --- bounds whatever the input ------------------------------------------------------------------

def test_render_caps_any_figure():
    """The last guard: a figure larger than the caps is drawn at a lower resolution (PNG) or
    squeezed to MAX_SIDE_IN (SVG). Without it matplotlib refuses the same figure."""
    fig = plots._figure(figsize=(700, 12))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="too large"):
        fig.savefig(stdio.BytesIO(), format="png", dpi=plots.DPI)
    _assert_bounded_png(plots.render(fig, "png"))
    width, height = _svg_size_pt(plots.render(fig, "svg").decode("utf-8"))
    assert max(width, height) <= plots.MAX_SIDE_IN * 72 + 0.01  # pt, as written
    square = plots._figure(figsize=(70, 70))  # under the side cap, over the pixel cap
    square.add_subplot().plot([0, 1], [0, 1])
    assert 70 * 70 * plots.DPI ** 2 > plots.MAX_PIXELS
    _assert_bounded_png(plots.render(square, "png"))


def test_rows_are_capped_and_the_title_says_so(tmp_path):
    """One run with 30 matmul sizes: 30 rows of 3.3 inches would make a figure 10,900 px tall;
    the chart draws MAX_ROWS of them and says how many there were."""
    doc = json.loads(REAL.read_text())
    matmul = [r for r in doc["results"] if r["workload"] == "matmul"]
    for n in range(100, 100 + 29):
        for r in matmul:
            extra = copy.deepcopy(r)
            extra["params"]["n"] = n
            extra["name"] = extra["name"].replace("n:64", f"n:{n}")
            extra["speedup"]["baseline"] = extra["speedup"]["baseline"].replace("n:64", f"n:{n}")
            doc["results"].append(extra)
    run = runio.load_run(write_json(tmp_path / "wide" / "summary.json", doc))
    assert len(plots.headline(run)) == 31  # 30 matmul sizes and the requests
    assert (3.3 * 31 + 1.3) * plots.DPI > plots.MAX_SIDE_PX  # what drawing them all would take
    fig = plots.build("speedup", [run])
    rows = [ax for ax in fig.axes if "(cpu-bound)" in ax.get_title()
            or "(io-bound)" in ax.get_title()]
    assert len(rows) == plots.MAX_ROWS
    assert f"The first {plots.MAX_ROWS} of 31 workloads drawn." in \
        fig._suptitle.get_text().replace("\n", " ")
    _assert_bounded_png(plots.render(fig, "png"))


def test_messages_name_a_few_inputs_not_all(tmp_path):
    doc = json.loads(REAL.read_text())
    doc["results"] = [r for r in doc["results"] if r["mode"] == "serial"]
    paths = [write_json(tmp_path / f"s{i}" / "summary.json", doc).parent for i in range(40)]
    proc = run_cvp("plot", *paths, "-o", tmp_path / "c")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "and 37 more inputs: nothing to draw" in line
    assert len(line) < 600


def test_titles_stay_distinct_at_scale():
    """Identical titles are numbered by input, in time linear in the number of runs."""
    keys = [("m", "h", "run")] * 20000 + [("m", "h", "other")]
    suffixes = plots.title_suffixes(keys)
    assert suffixes[0] == " (input 1)" and suffixes[19999] == " (input 20000)"
    assert suffixes[-1] == ""


def test_report_of_a_list_still_works():
    """build_report takes a list of runs (as before) as well as a gathered Selection."""
    runs = [runio.load_run(REAL), runio.load_run(REAL)]
    page = report.build_report(runs)
    assert "<h2>All 2 runs</h2>" in page and page.count("<h2>Results: ") == 2
    assert "(input 2)" in page

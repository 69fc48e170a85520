"""cvp plot: every chart in PNG and SVG, machines side by side, nothing-to-draw errors, and charts
a person reads at a glance: the headline quotes the verdict's points, one colour per series in
every chart, distinct titles, CIs everywhere, an axis per panel, nothing drawn over data."""

import json
import re
import shutil

import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from cvp_testing import GOLDEN, ROOT, run_cvp, write_json
from cvptools import CvpError, runio, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULTS = ROOT / "results"
AMD = RESULTS / "amd-epyc-zen4-2core"        # a real run on 2 cores
INTEL = RESULTS / "intel-xeon-16core"        # a real run on 16 cores
REAL_RUNS = [AMD, INTEL, RESULTS / "intel-xeon-16core-n2048",
             RESULTS / "intel-xeon-16core-cpusets" / "cpus-0-7",
             RESULTS / "intel-xeon-16core-cpusets" / "cpus-even"]


def _assert_chart_files(folder, names, formats=("png", "svg")):
    for name in names:
        for fmt in formats:
            data = (folder / f"{name}.{fmt}").read_bytes()
            assert len(data) > 5000, (name, fmt)
            if fmt == "png":
                assert data.startswith(PNG_MAGIC)
            else:
                assert b"<svg" in data[:2000]


def test_plot_cli_writes_every_chart(tmp_path):
    proc = run_cvp("plot", GOLDEN / "runner", "-o", tmp_path / "charts")
    assert proc.returncode == 0, proc.stderr
    _assert_chart_files(tmp_path / "charts", plots.DETAIL_CHARTS)
    assert len(proc.stdout.split()) == 8  # one run: no runs chart
    again = run_cvp("plot", GOLDEN / "runner", "-o", tmp_path / "charts", "--chart", "io")
    assert again.returncode == 2 and "already exists" in again.stderr
    forced = run_cvp("plot", GOLDEN / "runner", "-o", tmp_path / "charts", "--chart", "io",
                     "--format", "svg", "--force")
    assert forced.returncode == 0, forced.stderr


def test_real_runs_side_by_side_cli(tmp_path):
    """The committed 2-core and 16-core runs, drawn together by the command users run."""
    proc = run_cvp("plot", AMD, INTEL, "-o", tmp_path / "charts", "--format", "png")
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    _assert_chart_files(tmp_path / "charts", plots.CHARTS, formats=("png",))


def test_machines_side_by_side(tmp_path):
    runs = runio.load_runs([GOLDEN / "runner", GOLDEN / "workstation"])
    assert plots.available(runs) == list(plots.CHARTS)
    fig = plots.build("scaling", runs)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "Intel(R) Xeon(R) Platinum 8370C" in titles and "2 cores" in titles
    assert "AMD Ryzen 7 5800X 8-Core Processor" in titles and "8 cores" in titles
    legends = " ".join(t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts())
    assert "Amdahl f =" in legends and "ideal" in legends
    # the crossover sweep exists only on the 2-core runner: it alone gets a panel
    fig = plots.build("crossover", runs)
    panels = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) == 1 and "Intel(R) Xeon(R) Platinum 8370C" in panels[0]
    assert not any("not measured" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_hostile_strings_do_not_break_charts():
    runs = [runio.load_run(GOLDEN / "hostile")]
    files = plots.render_charts(runs, ["speedup", "scaling"], ["png"])
    assert all(data.startswith(PNG_MAGIC) for data in files.values())


def test_nothing_to_draw_is_an_error():
    runs = [runio.load_run(GOLDEN / "workstation")]
    with pytest.raises(CvpError, match="nothing to draw for the crossover chart"):
        plots.build("crossover", runs)


def test_failed_points_are_left_out(tmp_path, runner_summary):
    """cvpbench writes speedup 0 with baseline 'unavailable' when a baseline failed, and keeps
    failed points with an `error`: charts skip both instead of drawing zeros."""
    results = runner_summary["results"]
    results[3]["speedup"].update(value=0.0, ci95=[0.0, 0.0], baseline="unavailable")
    results[4]["error"] = "result differs from the serial answer"
    results[20]["speedup"].update(value=0.0, ci95=[0.0, 0.0], baseline="unavailable")
    runs = [runio.load_run(write_json(tmp_path / "s.json", runner_summary))]
    files = plots.render_charts(runs, formats=["png"])
    assert sorted(files) == sorted(f"{c}.png" for c in plots.DETAIL_CHARTS)  # one run
    bars = _bars(plots.build("speedup", runs))
    assert all(value > 0 for _, _, value in bars)


def test_numeric_group_order():
    keys = [(("c_us", 100.0),), (("c_us", 10.0),), (("c_us", 2000.0),), (("c_us", 50.0),)]
    assert sorted(keys, key=plots._numeric_order)[0] == (("c_us", 10.0),)
    assert sorted(keys, key=plots._numeric_order)[-1] == (("c_us", 2000.0),)


# --- the headline chart quotes what the verdict lines quote ---------------------------------

def _bars(fig):
    """[(axes, label, height)] of every filled bar (the bounds are outlines, labelled so)."""
    out = []
    for ax in fig.axes:
        for container in ax.containers:
            if isinstance(container, BarContainer) and plots._series_key(container.get_label()):
                out += [(ax, container.get_label(), p.get_height()) for p in container.patches]
    return out


def _verdict_numbers(line):
    """(concurrency, parallelism, backend) as printed by cvpbench."""
    conc = re.search(r"concurrency (x[0-9.]+)", line)
    par = re.search(r"parallelism (x[0-9.]+)", line)
    backend = re.search(r"\[(\S+) backend", line)
    return (conc.group(1) if conc else None, par.group(1) if par else None,
            backend.group(1) if backend else None)


def _panel(fig, fragment):
    panels = [ax for ax in fig.axes if fragment in ax.get_title()]
    assert len(panels) == 1, (fragment, [ax.get_title() for ax in fig.axes])
    return panels[0]


@pytest.mark.parametrize("folder", REAL_RUNS, ids=lambda p: p.name)
def test_headline_bars_are_the_verdict_points(folder):
    """The issue: the chart drew the point with the most threads (2 x CPUs, oversubscribed), so
    it read x1.34 where the verdict said x1.47. Every verdict number must be a bar of the chart,
    in bold, for the backend the verdict names."""
    run = runio.load_run(folder)
    fig = plots.build("speedup", [run])
    bars = _bars(fig)
    checked = 0
    for line in run.doc["verdicts"]:
        head = re.match(r"(\S+) (n=\d+|c=\S+ w=\S+ K=\d+):", line)
        if not head:
            continue  # the crossover line has a chart of its own
        conc, par, backend = _verdict_numbers(line)
        if head.group(1) == "matmul":
            panel = _panel(fig, f"matmul {head.group(2)} ")
        else:
            c_us = re.match(r"c=(\d+)us", head.group(2)).group(1)
            panel = _panel(fig, f"requests c_us={c_us},")
        for mode, quoted in (("concurrent", conc), ("parallel", par)):
            if quoted is None:
                continue
            label = f"{mode} · {backend}"
            heights = [h for ax, lab, h in bars if ax is panel and lab == label]
            assert len(heights) == 1, (line, label)
            assert plots._fmt_x(heights[0]) == quoted, (line, label, heights[0])
            bold = [t.get_text() for t in panel.texts if t.get_fontweight() == "bold"]
            assert quoted in bold, (line, bold)
            checked += 1
    # 3 verdict lines x 2 numbers on the 2-core run, at least one number on every run
    assert checked == (6 if folder == AMD else checked) and checked >= 1


def test_headline_leaves_out_oversubscribed_points():
    """On the 2-core run the 4-thread (oversubscribed) parallel matmul reads x1.85 for threads at
    n=1024; the headline shows the 2-thread point, x1.98, and nothing with more threads than
    cores in the parallel cluster."""
    run = runio.load_run(AMD)
    groups = {g["label"]: g for g in plots.headline(run)}
    parallel = groups["matmul n=1024"]["points"]["parallel"]
    assert {r["threads"] for r in parallel} == {2}
    assert all(r["threads"] <= r["cores"] for r in parallel)
    over = next(r for r in run.doc["results"]
                if r["workload"] == "matmul" and r["params"]["n"] == 1024
                and r["mode"] == "parallel" and r["backend"] == "threads" and r["threads"] == 4)
    assert plots._fmt_x(over["speedup"]["value"]) != "x1.98"  # the test can tell them apart
    requests = next(g for g in plots.headline(run) if g["kind"] == "io")
    assert {r["in_flight"] for m in ("concurrent", "parallel")
            for r in requests["points"][m]} == {64}
    assert requests["verdict_backend"] == "eventloop"


def test_headline_falls_back_without_verdict_lines(tmp_path):
    """A summary without verdict lines gets cvpbench's own rule: 2 x cores tasks, one thread
    per core, K=64, the threads (matmul) and event-loop (requests) backends."""
    doc = json.loads((AMD / "summary.json").read_text())
    doc["verdicts"] = []
    run = runio.load_run(write_json(tmp_path / "s.json", doc))
    groups = plots.headline(run)
    matmul = groups[0]
    assert matmul["verdict_backend"] == "threads"
    assert {r["in_flight"] for r in matmul["points"]["concurrent"]} == {4}
    assert {r["threads"] for r in matmul["points"]["parallel"]} == {2}


# --- one colour per series, everywhere --------------------------------------------------------

def _series_colours(fig):
    """{(mode, backend): {colour}} from everything a chart labels as a series."""
    from matplotlib.colors import to_hex
    out = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            key = plots._series_key(label.split(" (")[0])
            if key is None:
                continue
            if isinstance(handle, BarContainer):
                colour = handle.patches[0].get_facecolor()
            elif isinstance(handle, ErrorbarContainer):
                colour = handle.lines[0].get_color()
            elif hasattr(handle, "get_facecolor") and not hasattr(handle, "get_color"):
                colour = handle.get_facecolor()[0]  # a scatter
            else:
                colour = handle.get_color()
            out.setdefault(key, set()).add(to_hex(colour))
    return out


def test_one_colour_per_series_in_every_chart():
    runs = runio.load_runs([AMD, INTEL])
    seen = {}
    for name in plots.CHARTS:
        for key, colours in _series_colours(plots.build(name, runs)).items():
            seen.setdefault(key, {})[name] = colours
    # the series that appear in several charts: the test compares across charts
    assert set(seen[("parallel", "threads")]) == set(plots.CHARTS)
    assert set(seen[("concurrent", "eventloop")]) == {"speedup", "io", "crossover", "runs"}
    for key, charts in seen.items():
        colours = set().union(*charts.values())
        assert colours == {plots.series_colour(*key)}, (key, charts)
    distinct = {plots.series_colour(*key) for key in seen}
    assert len(distinct) == len(seen)  # no two series share a colour


def test_unknown_backends_get_stable_colours():
    assert plots.series_colour("parallel", "hpx") == plots.series_colour("parallel", "hpx")
    assert plots.series_colour("parallel", "hpx") not in plots.PALETTE.values()


# --- titles that tell runs apart ----------------------------------------------------------------

def _column_titles(fig, runs):
    top = [ax for ax in fig.axes if ax.get_title().count("\n") >= 3]
    return [ax.get_title().rsplit("\n", 1)[0] for ax in top][:len(runs)]


def test_two_runs_of_one_host_get_different_titles():
    """cpus-0-7 and cpus-even: the same host, CPU model, commit and core count."""
    folders = [RESULTS / "intel-xeon-16core-cpusets" / "cpus-0-7",
               RESULTS / "intel-xeon-16core-cpusets" / "cpus-even"]
    runs = runio.load_runs(folders)
    assert runs[0].doc["machine"]["host"] == runs[1].doc["machine"]["host"]
    assert plots.machine_label(runs[0]) == plots.machine_label(runs[1])
    titles = plots.run_titles(runs)
    assert titles[0] != titles[1]
    assert "cpus-0-7" in titles[0] and "cpus-even" in titles[1]
    columns = _column_titles(plots.build("speedup", runs), runs)
    assert len(columns) == 2 and columns[0] != columns[1]


def test_identical_runs_are_numbered(tmp_path):
    """The same summary under two folders of the same name still reads as two inputs."""
    for side in ("a", "b"):
        (tmp_path / side / "run").mkdir(parents=True)
        shutil.copy(AMD / "summary.json", tmp_path / side / "run" / "summary.json")
    runs = runio.load_runs([tmp_path / "a" / "run", tmp_path / "b" / "run"])
    titles = plots.run_titles(runs)
    assert titles[0] != titles[1] and titles[1].endswith("(input 2)")
    assert str(tmp_path) not in "".join(titles)  # folder names only, no paths of this machine


def test_titles_name_host_date_and_commit():
    title = plots.run_titles([runio.load_run(INTEL)])[0]
    assert "vm" in title and "2026-11-27 13:53" in title and "80705197f2b6" in title


# --- confidence intervals on every measurement ------------------------------------------------

def _errorbars(ax):
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _spans(container):
    segments = container.lines[2][0].get_segments()
    return [(seg[0][0], seg[0][1], seg[1][1]) for seg in segments]


def test_io_chart_has_throughput_cis():
    run = runio.load_run(AMD)
    fig = plots.build("io", [run])
    ax = next(ax for ax in fig.axes if _errorbars(ax))
    containers = {c.get_label(): c for c in _errorbars(ax)}
    assert {"serial · threads", "concurrent · threads", "parallel · eventloop"} <= set(containers)
    point = next(r for r in run.doc["results"]
                 if r["kind"] == "io" and r["mode"] == "concurrent" and r["backend"] == "threads"
                 and r["in_flight"] == 64 and r["params"]["c_us"] == 50)
    lo, hi = plots.throughput_ci(point)
    # throughput is work / wall time: its CI is the wall-time CI turned upside down
    median, (wall_lo, wall_hi) = point["wall_s"]["median"], point["wall_s"]["ci95"]
    assert lo == pytest.approx(point["throughput"]["value"] * median / wall_hi)
    assert hi == pytest.approx(point["throughput"]["value"] * median / wall_lo)
    assert lo < point["throughput"]["value"] < hi
    spans = {x: (a, b) for x, a, b in _spans(containers["concurrent · threads"])}
    assert spans[64] == (pytest.approx(lo), pytest.approx(hi))
    for container in containers.values():
        assert all(b > a for _, a, b in _spans(container)), container.get_label()


def test_every_measurement_chart_draws_cis():
    runs = runio.load_runs([AMD, INTEL])
    for name in ("scaling", "io", "crossover"):
        fig = plots.build(name, runs)
        drawn = [ax for ax in fig.axes if ax.lines or ax.containers]
        with_ci = [ax for ax in drawn if _errorbars(ax)]
        # every panel with measurements (the Karp-Flatt panels derive e, they measure nothing)
        measured = [ax for ax in drawn if "Karp-Flatt" not in ax.get_ylabel()]
        assert measured and with_ci == measured, name
    fig = plots.build("speedup", runs)
    for ax in fig.axes:
        for container in ax.containers:
            if isinstance(container, BarContainer) and plots._series_key(container.get_label()):
                assert container.errorbar is not None


# --- an axis per panel, nothing drawn over data -------------------------------------------------

def test_speedup_panels_have_their_own_linear_axes():
    """A log axis shared with a 16-core panel flattened x2 into a sliver: every panel is linear
    and scaled to its own data, so x2 fills most of the 2-core panel."""
    runs = runio.load_runs([AMD, INTEL])
    fig = plots.build("speedup", runs)
    amd, intel = sorted((ax for ax in fig.axes if "matmul n=1024" in ax.get_title()),
                        key=lambda ax: ax.get_position().x0)
    for ax in (amd, intel):
        assert ax.get_yscale() == "linear"
    assert not amd.get_shared_y_axes().joined(amd, intel)
    low, high = amd.get_ylim()
    assert (2.0 - low) / (high - low) > 0.6
    assert intel.get_ylim()[1] > 16


def _overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _data_points(ax):
    points = []
    for line in ax.lines:
        if line.get_transform() != ax.transData:
            continue  # axhline and the like: drawn across the axes, not data points
        xy = line.get_xydata()
        if len(xy):
            points += list(ax.transData.transform(xy))
    for container in ax.containers:
        if isinstance(container, BarContainer):
            for p in container.patches:
                box = p.get_window_extent()
                points += [(box.x0, box.y1), (box.x1, box.y1), ((box.x0 + box.x1) / 2, box.y1)]
    return points


@pytest.mark.parametrize("name", plots.CHARTS)
def test_nothing_covers_data(name):
    """The Karp-Flatt inset covered the 16-core scaling curve: no axes overlaps another, and no
    legend sits on a data point."""
    runs = runio.load_runs([AMD, INTEL])
    fig = plots.build(name, runs)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()
             and ax.axison]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlaps(a, b), name
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        assert not any(_overlaps(box, axes_box) for axes_box in boxes), name
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        inside = [p for p in _data_points(ax) if box.contains(*p)]
        assert not inside, (name, ax.get_title())


def test_scaling_ticks_are_the_thread_counts():
    fig = plots.build("scaling", [runio.load_run(INTEL)])
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() if t.get_text()]
    assert {"1", "2", "4", "8", "16", "32"} <= set(labels)
    assert not any("^" in label for label in labels)

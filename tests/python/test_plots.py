"""cvp plot: every chart in PNG and SVG, machines side by side, nothing-to-draw errors."""

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import CvpError, io, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    _assert_chart_files(tmp_path / "charts", plots.CHARTS)
    assert len(proc.stdout.split()) == 8
    again = run_cvp("plot", GOLDEN / "runner", "-o", tmp_path / "charts", "--chart", "io")
    assert again.returncode == 2 and "already exists" in again.stderr
    forced = run_cvp("plot", GOLDEN / "runner", "-o", tmp_path / "charts", "--chart", "io",
                     "--format", "svg", "--force")
    assert forced.returncode == 0, forced.stderr


def test_machines_side_by_side(tmp_path):
    runs = io.load_runs([GOLDEN / "runner", GOLDEN / "workstation"])
    assert plots.available(runs) == list(plots.CHARTS)
    fig = plots.build("scaling", runs)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "Intel(R) Xeon(R) Platinum 8370C" in titles and "2 cores" in titles
    assert "AMD Ryzen 7 5800X 8-Core Processor" in titles and "8 cores" in titles
    legends = " ".join(t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts())
    assert "Amdahl f =" in legends and "ideal" in legends
    # the crossover sweep exists only on the 2-core runner: its column says so
    fig = plots.build("crossover", runs)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "not measured on this machine" in texts


def test_hostile_strings_do_not_break_charts():
    runs = [io.load_run(GOLDEN / "hostile")]
    files = plots.render_charts(runs, ["speedup", "scaling"], ["png"])
    assert all(data.startswith(PNG_MAGIC) for data in files.values())


def test_nothing_to_draw_is_an_error():
    runs = [io.load_run(GOLDEN / "workstation")]
    with pytest.raises(CvpError, match="nothing to draw for the crossover chart"):
        plots.build("crossover", runs)


def test_failed_points_are_left_out(tmp_path, runner_summary):
    """cvpbench writes speedup 0 with baseline 'unavailable' when a baseline failed, and keeps
    failed points with an `error`: charts skip both instead of drawing zeros."""
    results = runner_summary["results"]
    results[3]["speedup"].update(value=0.0, ci95=[0.0, 0.0], baseline="unavailable")
    results[4]["error"] = "result differs from the serial answer"
    results[20]["speedup"].update(value=0.0, ci95=[0.0, 0.0], baseline="unavailable")
    from cvp_testing import write_json
    runs = [io.load_run(write_json(tmp_path / "s.json", runner_summary))]
    files = plots.render_charts(runs, formats=["png"])
    assert sorted(files) == sorted(f"{c}.png" for c in plots.CHARTS)


def test_numeric_group_order():
    keys = [(("c_us", 100.0),), (("c_us", 10.0),), (("c_us", 2000.0),), (("c_us", 50.0),)]
    assert sorted(keys, key=plots._numeric_order)[0] == (("c_us", 10.0),)
    assert sorted(keys, key=plots._numeric_order)[-1] == (("c_us", 2000.0),)

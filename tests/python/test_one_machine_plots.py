"""`cvp plot` over runs of one machine with different workloads (golden/one_machine: three real
runs, of matmul, of matmul and the triad, and of the triad): a panel for each run that has a
workload and none for a run that has not, each panel titled with its own run and workload, the
runs of one machine side by side."""

import copy

import pytest

from cvp_testing import GOLDEN, run_cvp
from cvptools import plots, runio
from cvptools.runio import Run

ONE = GOLDEN / "one_machine"
MATMUL, TRIAD = "matmul n=128", "triad n=1048576"


def _runs(*names):
    return [runio.load_run(ONE / name) for name in names]


def _panels(fig):
    """[(title, has data)] of the panels drawn (visible axes with a title)."""
    return [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]


@pytest.mark.parametrize("chart", ["speedup", "scaling"])
def test_a_panel_only_where_the_run_has_the_workload(chart):
    fig = plots.build(chart, _runs("matmul", "matmul_triad", "triad"))
    titles = _panels(fig)
    assert len(titles) == 4, titles  # not 3 runs x 2 workloads
    assert not any("not measured" in t.get_text() for ax in fig.axes for t in ax.texts)
    matmul = [t for t in titles if MATMUL in " ".join(t.split())]
    triad = [t for t in titles if TRIAD in " ".join(t.split())]
    assert len(matmul) == 2 and len(triad) == 2
    # Each panel names its own run: matmul from the runs that have it, the triad likewise.
    assert sorted(t.split("\n")[2] for t in matmul) == ["matmul", "matmul_triad"]
    assert sorted(t.split("\n")[2] for t in triad) == ["matmul_triad", "triad"]


def test_runs_with_the_same_workloads_keep_one_column_per_run():
    runs = _runs("matmul_triad", "matmul_triad")
    fig = plots.build("speedup", runs)
    titles = _panels(fig)
    assert len(titles) == 4
    # The runs' titles head the first row only; the second row names its workload alone.
    machine = plots.run_title_lines(runs[0])[0]
    assert [machine in t for t in titles] == [True, True, False, False], titles
    assert all(t.startswith(TRIAD) for t in titles[2:])


def test_runs_of_one_machine_sit_together():
    first, second, third = _runs("matmul_triad", "matmul", "matmul_triad")
    other = Run(second.path, second.format, copy.deepcopy(second.doc))
    other.doc["machine"]["host"] = "another-host"
    # Inputs: this machine, another, this machine: the two of this machine are drawn first.
    fig = plots.build("speedup", [first, other, third])
    row = [t for t in _panels(fig) if MATMUL in t]
    assert [("another-host" in t) for t in row] == [False, False, True], row


def test_cvp_plot_over_three_runs_of_one_machine(tmp_path):
    out = tmp_path / "charts"
    result = run_cvp("plot", ONE / "matmul", ONE / "matmul_triad", ONE / "triad", "-o", out,
                     "--format", "png", timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out / "speedup.png").stat().st_size > 10_000

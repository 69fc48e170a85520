"""Change-point detection (E-Divisive means, permutation test) on series with planted steps,
and on A/A series where it must stay quiet."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import changepoint_calibration as cal
from cvptools import changepoint as cp


def noisy(n, sigma=0.02, seed=0, level=1.0):
    return level * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n))


def test_planted_step_found_where_it_is_with_its_size():
    x = noisy(60, seed=1)
    x[30:] *= 1.10
    (c,) = cp.detect(x)
    assert abs(c.index - 30) <= 1
    assert c.direction == "up"
    assert c.ci[0] <= 1.10 <= c.ci[1]
    assert c.ci[0] > 1.0
    assert c.ratio == pytest.approx(c.after / c.before)
    assert c.p_value <= 0.01


def test_a_a_series_stay_quiet():
    # At p 0.01 per split, a few false alarms in 100 series are expected; 5 would be too many.
    alarms = sum(len(cp.detect(noisy(60, seed=s))) for s in range(100))
    assert alarms <= 4


def test_two_steps_and_a_step_down():
    x = noisy(90, seed=2)
    x[30:60] *= 1.15
    found = cp.detect(x)
    assert any(c.direction == "up" and abs(c.index - 30) <= 1 for c in found)
    assert any(c.direction == "down" and abs(c.index - 60) <= 1 for c in found)
    # Binary segmentation may also cut a short stretch of chance-low values next to a step
    # (here three runs 3.6% low, 27..29); nothing else, and nothing large, is found.
    others = [c for c in found if abs(c.index - 30) > 1 and abs(c.index - 60) > 1]
    assert len(others) <= 1 and all(abs(c.ratio - 1) < 0.05 for c in others)
    y = noisy(50, seed=3)
    y[25:] *= 0.9
    (c,) = cp.detect(y)
    assert c.direction == "down" and c.ratio < 1 and c.ci[1] < 1.0


def test_long_series_windowed_find_the_step():
    x = noisy(10_000, seed=4)
    x[6_000:] *= 1.05
    found = cp.detect(x)
    assert [abs(c.index - 6_000) <= 2 for c in found] == [True]


def test_min_size_short_series_and_magnitude_filter():
    x = noisy(40, seed=5)
    x[38:] *= 2.0            # two runs at the end: not a level of its own with min_size 3
    assert all(c.index <= 37 for c in cp.detect(x, min_size=3))
    assert [c.index for c in cp.detect(x, min_size=2)] == [38]
    assert cp.detect([1.0, 2.0, 1.0, 2.0, 1.0]) == []   # shorter than 2 x min_size
    y = noisy(60, sigma=0.002, seed=6)
    y[30:] *= 1.01
    assert len(cp.detect(y)) == 1
    assert cp.detect(y, min_relative_change=0.02) == []


@pytest.mark.parametrize("bad", [[1.0, float("nan")] * 5, [1.0, float("inf")] * 5,
                                 [1.0, 0.0] * 5, [1.0, -2.0] * 5, ["a"] * 10, [[1.0]] * 10])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match="change points need"):
        cp.detect(bad)


def test_deterministic():
    x = noisy(80, seed=7)
    x[40:] *= 1.04
    assert cp.detect(x) == cp.detect(list(x))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=0, max_size=40),
       st.floats(min_value=1e-3, max_value=1e3))
def test_properties(values, scale):
    found = cp.detect(values)
    idx = [c.index for c in found]
    assert idx == sorted(set(idx))
    assert all(3 <= i <= len(values) - 3 for i in idx)
    assert [c.index for c in cp.detect([v * scale for v in values])] == idx


def test_calibration_counts_both_ways():
    rows = cal.calibrate([0.0, 0.10], series=10, length=40, noise=0.01, latency=True)
    quiet, step = rows
    assert quiet["found"] == 0 and quiet["false_alarm_series"] <= 1
    assert step["found"] == 10 and step["missed"] == 0
    assert step["runs_to_find_median"] == 3


def test_long_series_raise_no_more_false_alarms_than_short_ones():
    # 20 series of 3,000 runs (15 windows each) at 2% noise: the windows share the level.
    alarms = sum(len(cp.detect(noisy(3_000, seed=100 + s))) for s in range(20))
    assert alarms <= 1

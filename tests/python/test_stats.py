"""Statistics: known answers on synthetic data."""

import math
import random

import numpy as np
import pytest

from cvptools import stats


def test_ratio_of_medians_ci_contains_known_ratio():
    rng = random.Random(7)
    a = [0.010 * math.exp(rng.gauss(0, 0.03)) for _ in range(10)]
    b = [2 * x for x in a]
    ratio, (lo, hi) = stats.ratio_of_medians_ci(a, b)
    assert ratio == pytest.approx(2.0)
    assert lo <= 2.0 <= hi
    assert hi - lo < 0.2


def test_ratio_ci_is_reproducible_with_a_seed():
    a, b = [1.0, 1.1, 0.9, 1.05, 0.97], [1.2, 1.3, 1.1, 1.25, 1.15]
    assert stats.ratio_of_medians_ci(a, b, seed=3) == stats.ratio_of_medians_ci(a, b, seed=3)


def test_one_sided_tests_point_the_right_way():
    a = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    b = [x * 1.3 for x in a]
    assert stats.slower_p_value(a, b) < 0.01
    assert stats.faster_p_value(a, b) > 0.5
    assert stats.faster_p_value(b, a) < 0.01


def test_amdahl_fit_recovers_planted_serial_fraction():
    p = np.array([1, 2, 4, 8, 16])
    s = stats.amdahl_speedup(p, 0.1)
    f, err = stats.amdahl_fit(p, s)
    assert f == pytest.approx(0.1, abs=0.01)


def test_amdahl_fit_with_noise_and_two_cores():
    f, _ = stats.amdahl_fit([1, 2], [1.0, 1.0 / (0.08 + 0.92 / 2)])
    assert f == pytest.approx(0.08, abs=0.01)
    with pytest.raises(ValueError):
        stats.amdahl_fit([1, 1], [1.0, 1.0])


def test_karp_flatt_matches_amdahl_on_exact_data():
    for p in (2, 4, 8):
        e = stats.karp_flatt(float(stats.amdahl_speedup(p, 0.1)), p)
        assert e == pytest.approx(0.1)
    assert stats.karp_flatt(1.0, 1) is None


def test_holm_adjustment():
    adjusted = stats.holm([0.01, 0.04, 0.03, None])
    assert adjusted[0] == pytest.approx(0.03)
    assert adjusted[2] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06)  # monotone step-down
    assert adjusted[3] is None


def test_paired_tests():
    d = np.log([1.2, 1.21, 1.19, 1.22, 1.18])
    assert stats.paired_slower_p_value(d) < 1e-4
    assert stats.paired_slower_p_value(d, "wilcoxon") == pytest.approx(1 / 32)
    assert stats.paired_slower_p_value(-d) > 0.99
    assert stats.paired_slower_p_value([0.1]) is None
    ratio, (lo, hi) = stats.paired_ratio_ci(d)
    assert lo < ratio < hi and ratio == pytest.approx(1.2, abs=0.01)


def test_geometric_mean_and_cv():
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert stats.coefficient_of_variation([0.9, 1.1]) == pytest.approx(0.1414, abs=1e-3)

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


# --- exact rank statistics for small samples ---------------------------------------------------

def test_rank_distribution_is_the_exact_mann_whitney_one():
    from scipy import stats as sps
    for m, n in ((3, 3), (3, 5), (5, 5), (4, 7), (10, 10)):
        counts = stats._rank_counts(m, n)
        assert sum(counts) == math.comb(m + n, m) and counts == counts[::-1]
        rng = random.Random(m * 100 + n)
        a = [rng.gauss(0, 1) for _ in range(m)]
        b = [rng.gauss(0.7, 1) for _ in range(n)]
        res = stats.shift_interval(a, b)
        ref_up = sps.mannwhitneyu(b, a, alternative="greater", method="exact").pvalue
        ref_down = sps.mannwhitneyu(b, a, alternative="less", method="exact").pvalue
        assert res["p_up"] == pytest.approx(ref_up) and res["p_down"] == pytest.approx(ref_down)


def test_attainable_limits_at_small_n():
    assert stats.rank_min_p(3, 3) == pytest.approx(0.05)       # 1/C(6,3): the 1/20
    assert stats.rank_min_p(5, 5) == pytest.approx(1 / 252)
    assert stats.rank_min_p(2, 2) == pytest.approx(1 / 6)
    assert stats.rank_order_index(3, 3, 0.05) == 1             # p <= alpha: attainable
    assert stats.rank_order_index(3, 3, 0.01) == 0             # not at alpha 0.01
    assert stats.rank_order_index(5, 5, 0.05) == 5
    assert stats.rank_order_index(10, 10, 0.05) == 28
    assert stats.rank_repetitions_needed(0.05) == 3
    assert stats.rank_repetitions_needed(0.01) == 5
    assert stats.rank_rows_needed(0.05, 48, 0.05) == 48
    assert stats.rank_rows_needed(1 / 252, 48, 0.05) == 4
    assert stats.rank_rows_needed(1 / 6, 48, 0.05) is None


def test_shift_interval_at_n3_is_the_range_of_pairwise_ratios():
    a = [math.log(x) for x in (1.00, 1.02, 0.99)]
    b = [math.log(x) for x in (1.10, 1.12, 1.09)]
    res = stats.shift_interval(a, b)
    assert res["lower"] == pytest.approx(math.log(1.09 / 1.02))
    assert res["upper"] == pytest.approx(math.log(1.12 / 0.99))
    assert res["coverage"] == pytest.approx(0.90) and res["p_up"] == pytest.approx(0.05)
    assert res["lower"] < res["estimate"] < res["upper"]


@pytest.mark.parametrize("n", [3, 5, 10])
def test_shift_interval_coverage_and_level_by_simulation(n):
    """The lower bound exceeds the true shift at most alpha of the time (exactly 0.05 at n=3),
    the two-sided interval covers it at least 1 - 2 alpha of the time."""
    rng = np.random.default_rng(n)
    trials, shift = 4000, 0.1
    above = covered = 0
    for _ in range(trials):
        a = rng.standard_t(3, n) * 0.02          # heavy tails: the bound is distribution-free
        b = rng.standard_t(3, n) * 0.02 + shift
        res = stats.shift_interval(a, b)
        above += res["lower"] > shift
        covered += res["lower"] <= shift <= res["upper"]
    level = stats.rank_cdf(n, n, stats.rank_order_index(n, n, 0.05) - 1)
    slack = 3 * math.sqrt(level * (1 - level) / trials)
    assert above / trials <= level + slack
    assert covered / trials >= 1 - 2 * level - 2 * slack


def test_benjamini_hochberg():
    adjusted = stats.benjamini_hochberg([0.01, 0.04, 0.03, None, 0.5])
    assert adjusted[0] == pytest.approx(0.04)
    assert adjusted[1] == pytest.approx(0.0533, abs=1e-3)
    assert adjusted[2] == pytest.approx(0.0533, abs=1e-3)
    assert adjusted[3] is None and adjusted[4] == pytest.approx(0.5)
    # many rows at the floor of n=3 pass together; a few do not
    assert max(stats.benjamini_hochberg([0.05] * 48)) == pytest.approx(0.05)
    assert min(stats.benjamini_hochberg([0.05] * 5 + [0.5] * 43)) > 0.05


def test_paired_attainable_p_and_rounds_needed():
    assert stats.paired_min_p(5, "wilcoxon") == 2 ** -5
    assert stats.paired_min_p(5, "t") == 0.0 and stats.paired_min_p(1, "t") == 1.0
    assert stats.paired_rounds_needed(10, 0.05, "wilcoxon") == 8     # 10 * 2^-8 <= 0.05
    assert stats.paired_rounds_needed(48, 0.05, "wilcoxon") == 10
    assert stats.paired_rounds_needed(1, 0.05, "wilcoxon") == 5
    assert stats.paired_rounds_needed(48, 0.05, "t") == 2


def test_paired_min_detectable_is_where_the_test_starts_to_flag():
    rng = random.Random(4)
    d = np.array([rng.gauss(0, 0.02) for _ in range(8)])
    for test in ("t", "wilcoxon"):
        level = 0.01
        r = stats.paired_min_detectable(d, level, test)
        centred = d - (np.mean(d) if test == "t" else np.median(d))
        assert stats.paired_slower_p_value(centred + math.log1p(r) * 1.001, test) <= level
        assert stats.paired_slower_p_value(centred + math.log1p(r) * 0.99, test) > level
    assert stats.paired_min_detectable(d[:5], 0.01, "wilcoxon") == math.inf  # 2^-5 > 0.01
    from scipy import stats as sps
    n = stats.paired_rounds_for(d, 0.05, 0.005)  # sd held at its estimate
    sd = float(np.std(d, ddof=1))
    reach = lambda k: sps.t.ppf(1 - 0.005, k - 1) * sd / math.sqrt(k)  # noqa: E731
    assert reach(n) <= math.log1p(0.05) < reach(n - 1)


def test_round_permutation_p_moves_repetitions_whole():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    up, down, floor, how = stats.round_permutation_p(a, b + 5)
    assert (up, down, floor) == (pytest.approx(0.05), 1.0, pytest.approx(0.05))
    assert how == "exact over all 20 assignments of columns"
    # one row: the same as the row's own exact rank test
    res = stats.shift_interval(a[0], b[0])
    up, down, _, _ = stats.round_permutation_p(a[:1], b[:1])
    assert up == pytest.approx(res["p_up"]) and down == pytest.approx(res["p_down"])
    # noise shared by a round (one column of every row slowed) does not fool it: its level
    # holds where a test that took the rows as independent would not
    hits = 0
    for _ in range(400):
        x = rng.normal(0, 0.01, size=(13, 10))
        x += rng.normal(0, 0.05, size=10)[None, :]        # a whole round slower or faster
        hits += stats.round_permutation_p(x[:, :5], x[:, 5:])[0] <= 0.05
    assert hits / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)

"""Change points in noisy performance series: E-Divisive means with a permutation test.

The method is the one Daly et al. ("The Use of Change Point Detection to Identify Software
Performance Regressions in a Continuous Integration System", ICPE 2020) took from Matteson and
James ("A Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data",
JASA 2014), and that Apache Otava (Hunter) runs over CI results:

* The values are compared as logarithms: a step is a ratio, the same at any scale.
* For a segment y[0:n] and a split t, the energy distance between y[0:t] and y[t:n] (alpha = 1)
      E(t) = 2/(m k) sum|y_i - y_j| - 1/(m(m-1)) sum_L|y_i - y_l| - 1/(k(k-1)) sum_R|y_j - y_l|
  (m = t, k = n - t; the within sums over ordered pairs), weighted q(t) = m k / n E(t), is
  largest where the two sides differ most, in level or in spread, with no assumption about the
  noise's distribution. Splits leave at least min_size values on each side.
* The best split is kept when a permutation test says so: the same maximum over random
  reorderings of the segment exceeds the observed one with probability p <= p_value (p from
  1 + exceedances over 1 + permutations). The test stops as soon as p can no longer reach
  p_value, so a segment with nothing in it costs a few permutations, not all of them.
* Each side of a kept split is tested again (binary segmentation) until nothing is found.

Cost: q for every split of a segment of n values comes from one pass over the n x n
distances, O(n^2) per permutation. A series longer than `window` (default 200) is
therefore examined in windows of that length, overlapping by half (as Otava windows its
series): every step lies well inside some window, a change found twice by overlapping windows
is kept once (the lower p, then the larger step), and the cost grows linearly with the length.
The windows share p_value (each tests at p_value / the number of windows), so that a long
series is no more likely to raise a false alarm than a short one. A step must last min_size
values to be seen in any case.

Each change point's size is reported on the final segmentation: the ratio of the medians of
the neighbouring segments (each cut to the `window` // 2 values nearest the change, so that a
long history's slow drift does not leak in), with a 95% percentile-bootstrap interval that
resamples the two sides separately (stats.ratio_of_medians_ci). A split whose interval holds 1
is dropped: the energy statistic also answers to a change of spread or shape, but what is
reported is a change of level. The random generator is seeded: the same series gives the same
answer.
"""

from dataclasses import dataclass

import numpy as np

DEFAULT_SEED = 20201105


@dataclass(frozen=True)
class ChangePoint:
    index: int          # first index of the new level
    before: float       # median of the level before (original units)
    after: float        # median of the level after
    ratio: float        # after / before
    ci: tuple           # 95% CI of the ratio
    p_value: float      # permutation test of the split that found it (x windows, if windowed)
    direction: str      # "up" (after > before) or "down"


def regression_direction(higher_is_better):
    """The direction of a regression: down for throughputs and speedups, up for times."""
    return "down" if higher_is_better else "up"


def _check(values):
    try:
        y = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("change points need a sequence of numbers") from None
    if y.ndim != 1:
        raise ValueError("change points need a one-dimensional sequence of numbers")
    bad = ~np.isfinite(y) | (y <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"change points need positive finite values; value {i} is {y[i]!r}")
    return y


_LOWER = {}


def _q(y, min_size):
    """q(t) for t = min_size .. n - min_size of the segment y. From the row and column sums of
    the strictly lower triangle of |y_i - y_j| (r_i over j < i, c_j over i > j), the sums
    over the pairs left of t, right of t and across t are prefix and suffix sums: one O(n^2)
    pass, no n x n cumulative sums."""
    n = len(y)
    lower = _LOWER.get(n)
    if lower is None:
        lower = _LOWER[n] = np.tril(np.ones((n, n)), -1)
    m_ = np.abs(y[:, None] - y[None, :]) * lower
    r = m_.sum(axis=1)
    c = m_.sum(axis=0)
    t = np.arange(min_size, n - min_size + 1)
    left = 2.0 * np.cumsum(r)[t - 1]                     # ordered pairs, both left of t
    right = 2.0 * np.cumsum(c[::-1])[::-1][t]            # ordered pairs, both from t on
    full = 2.0 * r.sum()
    between = (full - left - right) / 2.0                # i < t <= j
    m = t.astype(float)
    k = (n - t).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        within_l = np.where(m > 1, left / (m * (m - 1)), 0.0)
        within_r = np.where(k > 1, right / (k * (k - 1)), 0.0)
    energy = 2.0 * between / (m * k) - within_l - within_r
    return t, m * k / n * energy


def _best_split(y, min_size, p_value, permutations, rng):
    """(split, p) of the segment y, or None when no split is significant."""
    n = len(y)
    if n < 2 * min_size:
        return None
    t, q = _q(y, min_size)
    best = int(np.argmax(q))
    observed = q[best]
    if not observed > 0:
        return None
    # Give up once (1 + exceed) / (1 + permutations) > p_value can no longer be avoided.
    allowed = int(np.floor(p_value * (permutations + 1))) - 1
    if allowed < 0:
        raise ValueError(f"{permutations} permutations cannot show p <= {p_value}")
    exceed = 0
    for _ in range(permutations):
        _, qp = _q(y[rng.permutation(n)], min_size)
        if qp.max() >= observed * (1 - 1e-12):
            exceed += 1
            if exceed > allowed:
                return None
    return int(t[best]), (1 + exceed) / (1 + permutations)


def _segment(y, offset, min_size, p_value, permutations, rng, found):
    """Binary segmentation of y (starting at `offset` in the series); appends (index, p)."""
    stack = [(0, len(y))]
    while stack:
        a, b = stack.pop()
        split = _best_split(y[a:b], min_size, p_value, permutations, rng)
        if split is None:
            continue
        t, p = split
        found.append((offset + a + t, p))
        stack.append((a, a + t))
        stack.append((a + t, b))


def detect(values, *, p_value=0.01, min_size=3, permutations=199, window=200, seed=DEFAULT_SEED,
           min_relative_change=0.0):
    """The change points of a series of positive values, in index order (see the module)."""
    from . import stats

    x = _check(values)
    if min_size < 1:
        raise ValueError("min_size must be at least 1")
    if not 0 < p_value < 1:
        raise ValueError("p_value must lie in (0, 1)")
    window = max(int(window or len(x)), 4 * min_size)
    # Enough permutations that p_value can be reached with an exceedance to spare.
    permutations = max(int(permutations), int(np.ceil(2.0 / p_value)) - 1)
    n = len(x)
    if n < 2 * min_size:
        return []
    y = np.log(x)
    rng = np.random.default_rng(seed)
    candidates = []
    if n <= window:
        _segment(y, 0, min_size, p_value, permutations, rng, candidates)
    else:
        step = window // 2
        starts = list(range(0, n - window + 1, step))
        if starts[-1] + window < n:
            starts.append(n - window)
        # Each window is a test of its own: at p_value each, a long series would collect
        # false alarms in proportion to its length. The windows share p_value (Bonferroni),
        # which costs little power: a step the size of the noise is far beyond it in a
        # window of 200 runs.
        p_window = p_value / len(starts)
        perms = max(permutations, int(np.ceil(2.0 / p_window)) - 1)
        for s in starts:
            _segment(y[s:s + window], s, min_size, p_window, perms, rng, candidates)
        # reported against p_value: the window's p times the number of windows
        candidates = [(i, min(1.0, p * len(starts))) for i, p in candidates]
    # One change found by overlapping windows (or twice, a value apart): keep the best.
    kept = []
    for index, p in sorted(candidates, key=lambda c: (c[1], c[0])):
        if all(abs(index - k) >= min_size for k, _ in kept):
            kept.append((index, p))
    kept.sort()
    # Sizes on the final segmentation, each side cut to the values nearest the change. A
    # change whose size is not told apart from none (its CI holds 1), or is smaller than
    # min_relative_change, is dropped, and the sizes of its neighbours are measured again
    # without it, until every change left stands.
    reach = max(window // 2, min_size)
    while True:
        bounds = [0] + [k for k, _ in kept] + [n]
        out = []
        for i, (index, p) in enumerate(kept):
            lo = max(bounds[i], index - reach)
            hi = min(bounds[i + 2], index + reach)
            before, after = x[lo:index], x[index:hi]
            ratio, ci = stats.ratio_of_medians_ci(before, after, seed=seed)
            out.append(ChangePoint(index=index, before=float(np.median(before)),
                                   after=float(np.median(after)), ratio=float(ratio),
                                   ci=(float(ci[0]), float(ci[1])), p_value=float(p),
                                   direction="up" if ratio > 1.0 else "down"))
        weak = [c for c in out if c.ci[0] <= 1.0 <= c.ci[1]
                or abs(c.ratio - 1.0) < min_relative_change]
        if not weak:
            break
        # the weakest goes first: one at a time, as each removal changes its neighbours
        drop = min(weak, key=lambda c: abs(np.log(c.ratio)))
        kept = [(k, p) for k, p in kept if k != drop.index]
    return out

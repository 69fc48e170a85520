"""Statistics for cvpbench results: exact rank intervals for the ratio of two runs' times, ratios
of medians with bootstrap CIs, one-sided tests on log times, paired tests and what they can
resolve, Holm's correction, the Amdahl fit and the Karp-Flatt metric.

Following Hoefler & Belli: summarise times first (median), then take ratios; never average
ratios except as an explicitly secondary geometric mean; no normality assumption for CIs.

Small samples are the rule here (3 to 10 repetitions), so every test states what it can attain:
a rank test on n vs m samples cannot give a p below 1/C(n+m, n), and a Wilcoxon signed-rank
test on n pairs cannot go below 2^-n. Callers check that bound against alpha before they let a
"no change" stand.
"""

import functools
import math

import numpy as np
from scipy import optimize
from scipy import stats as sps

DEFAULT_SEED = 20240601
DEFAULT_RESAMPLES = 2000


def median(values):
    return float(np.median(np.asarray(values, dtype=float)))


def ratio_of_medians_ci(a, b, level=0.95, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """Ratio median(b)/median(a) with a percentile-bootstrap CI, resampling a and b separately.
    REQUIRES: all samples > 0. With fewer than two samples on a side the CI is the point."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ratio = float(np.median(b) / np.median(a))
    if len(a) < 2 or len(b) < 2:
        return ratio, (ratio, ratio)
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, len(a), size=(resamples, len(a)))], axis=1)
    mb = np.median(b[rng.integers(0, len(b), size=(resamples, len(b)))], axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(mb / ma, [tail, 100.0 - tail])
    return ratio, (float(lo), float(hi))


def slower_p_value(a, b):
    """One-sided Mann-Whitney U on log samples: p for 'b takes longer than a'. None if a side
    has no samples. (Logs do not change ranks; they state that the effect is multiplicative.)"""
    if len(a) == 0 or len(b) == 0:
        return None
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    return float(sps.mannwhitneyu(lb, la, alternative="greater").pvalue)


def faster_p_value(a, b):
    """One-sided Mann-Whitney U on log samples: p for 'b takes less time than a'."""
    if len(a) == 0 or len(b) == 0:
        return None
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    return float(sps.mannwhitneyu(lb, la, alternative="less").pvalue)


# --- exact two-sample rank statistics (Mann-Whitney / Hodges-Lehmann) ------------------------

EXACT_RANK_LIMIT = 10000  # n*m above which the normal approximation of U is used


@functools.lru_cache(maxsize=256)
def _rank_counts(m, n):
    """Number of arrangements of m A and n B samples with U = u (u = 0..m*n), U = the number of
    pairs (a, b) with b > a: the coefficients of the Gaussian binomial [m+n choose m]_q."""
    if m > n:
        m, n = n, m
    poly = [1]
    for i in range(1, m + 1):
        shift = n + i
        new = poly + [0] * shift          # times (1 - q^(n+i))
        for k, c in enumerate(poly):
            new[k + shift] -= c
        for k in range(i, len(new)):      # divided by (1 - q^i), exactly
            new[k] += new[k - i]
        poly = new[:len(new) - i]
    return tuple(poly)


def rank_cdf(m, n, u):
    """P(U <= u) for the Mann-Whitney count U of m and n exchangeable samples (no ties)."""
    if u < 0:
        return 0.0
    if u >= m * n:
        return 1.0
    if m * n <= EXACT_RANK_LIMIT:
        counts = _rank_counts(m, n)
        return sum(counts[:int(u) + 1]) / math.comb(m + n, m)
    mean, sd = m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0)
    return float(sps.norm.cdf((math.floor(u) + 0.5 - mean) / sd))


def rank_min_p(m, n):
    """The smallest one-sided p an exact rank test on m vs n samples can give: 1/C(m+n, m)
    (every B above every A). 1.0 when a side is empty."""
    if m < 1 or n < 1:
        return 1.0
    return 1.0 / math.comb(m + n, m)


def rank_repetitions_needed(alpha, other=None):
    """Smallest n such that an n vs n rank test (or n vs `other`) can reach p <= alpha."""
    for n in range(1, 1000):
        if rank_min_p(other or n, n) <= alpha:
            return n
    return None


def rank_rows_needed(min_p, rows, alpha):
    """How many of `rows` rows must reach p = min_p together before Benjamini-Hochberg at alpha
    flags them (the smallest k with min_p <= k alpha / rows); None when even all cannot."""
    if rows < 1:
        return None
    k = max(1, math.ceil(min_p * rows / alpha - 1e-12))
    return k if k <= rows else None


def rank_order_index(m, n, alpha):
    """The k of the exact one-sided (1 - alpha) bound: the largest k >= 1 with
    P(U <= k-1) <= alpha; the bound is the k-th smallest pairwise difference. 0 if none exists
    (the sample sizes cannot reach alpha)."""
    if rank_min_p(m, n) > alpha:
        return 0
    lo, hi = 1, m * n // 2 + 1  # P(U <= k-1) <= alpha holds at lo; find the largest such k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if rank_cdf(m, n, mid - 1) <= alpha:
            lo = mid
        else:
            hi = mid - 1
    return lo


def shift_interval(a, b, alpha=0.05):
    """B against A on a log scale, for small samples, without a distributional assumption.

    a, b: log times (any location-shift scale). Returns a dict:
      estimate: Hodges-Lehmann shift, the median of all m*n differences b_j - a_i;
      lower, upper: the exact distribution-free bounds (Bauer 1972): the k-th smallest and k-th
        largest difference with k = rank_order_index(m, n, alpha); each is a one-sided (1-alpha)
        bound, together a two-sided interval of coverage 1 - 2 P(U <= k-1) >= 1 - 2 alpha;
        None when the sizes cannot reach alpha;
      coverage: that two-sided coverage (None if no interval);
      p_up, p_down: exact one-sided Mann-Whitney p-values for "b above a" and "b below a" (ties
        count half, rounded conservatively); lower > 0 exactly when p_up <= alpha (no ties);
      min_p: the smallest attainable one-sided p, 1/C(m+n, m); k; m; n.
    REQUIRES: both sides non-empty, finite values."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("shift_interval needs samples on both sides")
    d = np.sort((b[:, None] - a[None, :]).ravel())
    total = m * n
    greater = int(np.sum(d > 0))
    ties = int(np.sum(d == 0))
    less = total - greater - ties
    # P(U >= x) = P(U <= total - x); with ties counted as half, round x down (conservative).
    p_up = rank_cdf(m, n, total - math.floor(greater + ties / 2.0))
    p_down = rank_cdf(m, n, total - math.floor(less + ties / 2.0))
    k = rank_order_index(m, n, alpha)
    out = {"m": m, "n": n, "estimate": float(np.median(d)), "lower": None, "upper": None,
           "coverage": None, "k": k, "p_up": float(p_up), "p_down": float(p_down),
           "min_p": rank_min_p(m, n), "u_up": math.floor(greater + ties / 2.0),
           "u_down": math.floor(less + ties / 2.0)}
    if k:
        out.update(lower=float(d[k - 1]), upper=float(d[total - k]),
                   coverage=1.0 - 2.0 * rank_cdf(m, n, k - 1))
    return out


ROUND_EXACT_LIMIT = 20000  # assignments enumerated; beyond, a seeded Monte Carlo sample


def round_permutation_p(a, b, resamples=20000, seed=DEFAULT_SEED):
    """One test of a whole run against another that does not assume its rows independent.

    a: rows x m, b: rows x n (log times; column j of a side holds repetition j of every row).
    Statistic: the sum over rows of the Mann-Whitney count of B above A (ties half). Its null
    distribution comes from reassigning whole columns between A and B: valid when a side's
    columns are exchangeable (repetitions run in random order), whatever the benchmarks' noise
    shares across rows (another process, a frequency step), and for that reason it cannot go
    below 1/C(m+n, m) either. Exact over all assignments up to ROUND_EXACT_LIMIT, else
    `resamples` random ones (p = (1 + hits) / (1 + resamples)).
    Returns (p_up, p_down, min_p, how)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    m, n = a.shape[1], b.shape[1]
    x = np.concatenate([a, b], axis=1)                        # rows x (m + n)
    gt = (x[:, :, None] > x[:, None, :]).astype(float)
    gt += 0.5 * (x[:, :, None] == x[:, None, :])
    g = gt.sum(axis=0)                                        # G[i, j]: rows where i > j
    total = math.comb(m + n, m)
    if total <= ROUND_EXACT_LIMIT:
        import itertools
        masks = np.zeros((total, m + n))
        for k, chosen in enumerate(itertools.combinations(range(m + n), n)):
            masks[k, list(chosen)] = 1.0
        how = f"exact over all {total} assignments of columns"
    else:
        rng = np.random.default_rng(seed)
        chosen = np.argsort(rng.random((resamples, m + n)), axis=1)[:, :n]
        masks = np.zeros((resamples, m + n))
        np.put_along_axis(masks, chosen, 1.0, axis=1)
        how = f"{resamples} random assignments of columns (seed {seed})"
    observed_mask = np.concatenate([np.zeros(m), np.ones(n)])
    stat = lambda mk: np.einsum("ki,ij,kj->k", mk, g, 1.0 - mk)  # noqa: E731  B above A
    null_up = stat(masks)
    null_down = stat(1.0 - masks)  # A above B, same assignment (counts swap roles)
    obs_up = float(stat(observed_mask[None, :])[0])
    obs_down = float(stat(1.0 - observed_mask[None, :])[0])
    eps = 1e-9
    if total <= ROUND_EXACT_LIMIT:
        p_up = float(np.mean(null_up >= obs_up - eps))
        p_down = float(np.mean(null_down >= obs_down - eps))
    else:
        p_up = float((1 + np.sum(null_up >= obs_up - eps)) / (1 + resamples))
        p_down = float((1 + np.sum(null_down >= obs_down - eps)) / (1 + resamples))
    return p_up, p_down, 1.0 / total, how


def geometric_mean(values):
    values = np.asarray(values, dtype=float)
    return float(np.exp(np.mean(np.log(values)))) if len(values) else float("nan")


def paired_log_ratios(baseline, candidate):
    """log(candidate_i / baseline_i) for paired rounds. REQUIRES: equal lengths, all > 0."""
    return np.log(np.asarray(candidate, dtype=float)) - np.log(np.asarray(baseline, dtype=float))


def paired_slower_p_value(log_ratios, test="t"):
    """One-sided paired test that the candidate is slower (mean/median log ratio > 0).
    test='t': paired t-test on log ratios; test='wilcoxon': Wilcoxon signed-rank (its smallest
    possible p with n rounds is 2**-n, so it needs more rounds to survive Holm's correction)."""
    d = np.asarray(log_ratios, dtype=float)
    n = len(d)
    if n < 2:
        return None
    if test == "wilcoxon":
        if np.all(d == 0):
            return 1.0
        return float(sps.wilcoxon(d, alternative="greater").pvalue)
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        return 0.0 if mean > 0 else 1.0
    t = mean / (sd / math.sqrt(n))
    return float(sps.t.sf(t, n - 1))


def paired_ratio_ci(log_ratios, level=0.95):
    """Geometric-mean ratio of paired rounds with its t interval (on the log scale)."""
    d = np.asarray(log_ratios, dtype=float)
    n = len(d)
    centre = float(np.exp(np.mean(d)))
    if n < 2:
        return centre, (centre, centre)
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * np.std(d, ddof=1) / math.sqrt(n))
    lo, hi = np.clip([np.mean(d) - half, np.mean(d) + half], -700.0, 700.0)  # finite ends
    return centre, (float(np.exp(lo)), float(np.exp(hi)))


def paired_min_p(n, test="t"):
    """The smallest one-sided p the paired test can reach with n rounds: 2^-n for Wilcoxon
    (every round slower); for the t-test any p > 0 is reachable with n >= 2 (0.0 here)."""
    if n < 2:
        return 1.0
    return 2.0 ** -n if test == "wilcoxon" else 0.0


def paired_rounds_needed(benchmarks, alpha, test="t"):
    """Fewest rounds with which the first Holm step (p * benchmarks <= alpha) is reachable."""
    if test != "wilcoxon":
        return 2
    return max(2, math.ceil(math.log2(max(benchmarks, 1) / alpha) - 1e-12))


def paired_min_detectable(log_ratios, level, test="t"):
    """The smallest slowdown (a factor - 1) that this round-to-round noise lets the one-sided
    paired test flag at significance `level`: the shift s >= 0 such that the centred log ratios
    plus s reach p <= level. t-test: t_{n-1}(1-level) * sd / sqrt(n). Wilcoxon: found by
    bisection; inf when 2^-n > level. None with fewer than 2 rounds."""
    d = np.asarray(log_ratios, dtype=float)
    n = len(d)
    if n < 2:
        return None
    if test == "wilcoxon":
        if 2.0 ** -n > level:
            return math.inf
        # The signed-rank statistic of c + s changes only where a Walsh average of c crosses
        # -s, and grows with s: test once inside each interval between those points (never on
        # one, where a zero or a tie would appear) and bisect over the intervals.
        c = d - np.median(d)
        walsh = (c[:, None] + c[None, :]) / 2.0
        cuts = np.unique(-walsh[np.triu_indices(n)])
        cuts = np.concatenate(([0.0], cuts[cuts > 0]))
        spans = [(cuts[i] + cuts[i + 1]) / 2.0 for i in range(len(cuts) - 1)]
        spans.append(cuts[-1] + max(1.0, abs(cuts[-1])))

        def reaches(i):
            p = paired_slower_p_value(c + spans[i], "wilcoxon")
            return p is not None and p <= level
        lo, hi = 0, len(spans) - 1  # reaches(hi): every round slower gives 2^-n <= level
        while lo < hi:
            mid = (lo + hi) // 2
            if reaches(mid):
                hi = mid
            else:
                lo = mid + 1
        return float(math.expm1(cuts[lo]))
    sd = float(np.std(d, ddof=1))
    shift = float(sps.t.ppf(1.0 - level, n - 1) * sd / math.sqrt(n))
    return float(math.expm1(shift)) if shift < 700 else math.inf


def paired_rounds_for(log_ratios, slowdown, level, test="t", limit=200):
    """About how many rounds the observed round-to-round spread needs before a slowdown of
    `slowdown` (e.g. 0.05) is flaggable at `level` (t-test: sd held at its estimate; Wilcoxon:
    2^-n <= level is the binding bound when the spread is small). None beyond `limit`."""
    d = np.asarray(log_ratios, dtype=float)
    if len(d) < 2 or slowdown <= 0:
        return None
    if test == "wilcoxon":
        return max(2, math.ceil(math.log2(1.0 / level) - 1e-12))
    sd = float(np.std(d, ddof=1))
    target = math.log1p(slowdown)
    for n in range(2, limit + 1):
        if sps.t.ppf(1.0 - level, n - 1) * sd / math.sqrt(n) <= target:
            return n
    return None


def holm(p_values):
    """Holm-Bonferroni step-down adjusted p-values, in the input order (None stays None)."""
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(indexed)
    adjusted = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values):
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate), in the input order
    (None stays None). When every hypothesis is null it controls the chance of any false flag
    at alpha, like Holm, but many rows that move together can pass where Holm needs each alone
    to pass alpha / m."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted = [None] * len(p_values)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        p, i = indexed[rank]
        running = min(running, p * m / (rank + 1))
        adjusted[i] = running
    return adjusted


def coefficient_of_variation(values):
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.mean(values) == 0:
        return 0.0
    return float(np.std(values, ddof=1) / np.mean(values))


def amdahl_speedup(p, serial_fraction):
    p = np.asarray(p, dtype=float)
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / p)


def amdahl_fit(threads, speedups):
    """Least-squares serial fraction f in S(p) = 1 / (f + (1-f)/p), f in [0, 1].
    Returns (f, standard error or None). REQUIRES: at least one point with p > 1."""
    p = np.asarray(threads, dtype=float)
    s = np.asarray(speedups, dtype=float)
    if not np.any(p > 1):
        raise ValueError("an Amdahl fit needs a point with more than one thread")
    popt, pcov = optimize.curve_fit(amdahl_speedup, p, s, p0=[0.05], bounds=(0.0, 1.0))
    err = float(np.sqrt(pcov[0, 0])) if np.all(np.isfinite(pcov)) else None
    return float(popt[0]), err


def karp_flatt(speedup, p):
    """Experimentally determined serial fraction e = (1/S - 1/p) / (1 - 1/p); None for p <= 1."""
    if p <= 1 or speedup <= 0:
        return None
    return (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p)

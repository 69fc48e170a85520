"""Statistics for cvpbench results: exact rank intervals for the ratio of two runs' times, ratios
of medians with bootstrap CIs, one-sided tests on log times, paired tests and what they can
resolve, Holm's correction, the Amdahl and Gustafson fits and the Karp-Flatt metric.

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
    (every B above every A). 1.0 when a side is empty; 0.0 when it is below the smallest float
    (from about 515 samples a side)."""
    if m < 1 or n < 1:
        return 1.0
    if m + n <= 1000:
        try:
            return 1.0 / math.comb(m + n, m)
        except OverflowError:
            pass
    log_c = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    return math.exp(-log_c) if log_c < 745.0 else 0.0


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


DENSE_PAIRS_LIMIT = 1 << 21  # m*n up to which the pairwise differences are materialised
_SELECT_SAMPLE = 16384       # candidates sampled per narrowing step of the selection


def _rank_counts_sorted(a, b):
    """(pairs with b_j > a_i, pairs with b_j == a_i) for sorted a and b, in O((m+n) log m)."""
    left = np.searchsorted(a, b, side="left")
    right = np.searchsorted(a, b, side="right")
    return int(left.sum()), int((right - left).sum())


def _row_positions(a, b, t, lo, hi, strict):
    """Per row i (a_i), the number of j with b_j - a_i < t (strict) or <= t, the differences
    computed in floating point exactly as b[j] - a[i], clipped to [lo, hi]. A first guess from
    searchsorted(b, a + t) is corrected where a + t rounded differently (each step jumps over a
    whole run of equal b values, so a correction takes a few steps, not one per element)."""
    pos = np.clip(np.searchsorted(b, a + t, side="left" if strict else "right"), lo, hi)
    while True:  # forward while the element at pos is still inside
        rows = np.nonzero(pos < hi)[0]
        d = b[pos[rows]] - a[rows]
        rows = rows[d < t] if strict else rows[d <= t]
        if not rows.size:
            break
        pos[rows] = np.minimum(np.searchsorted(b, b[pos[rows]], side="right"), hi[rows])
    while True:  # back while the element before pos is outside
        rows = np.nonzero(pos > lo)[0]
        d = b[pos[rows] - 1] - a[rows]
        rows = rows[d >= t] if strict else rows[d > t]
        if not rows.size:
            break
        pos[rows] = np.maximum(np.searchsorted(b, b[pos[rows] - 1], side="left"), lo[rows])
    return pos


def pairwise_difference_kth(a, b, k, seed=DEFAULT_SEED):
    """The k-th smallest (1-based) of the m*n differences b[j] - a[i] (as floating point
    computes them), for sorted a and b, without forming them: memory O(m + n), time about
    O((m + n) log n) per narrowing step and a handful of steps. Exact: the same value as
    np.sort(b[:, None] - a[None, :]).ravel()[k - 1].

    The selection keeps, per row i, the window [lo_i, hi_i) of the j still in play (every
    difference left of it is below the answer, every one right of it above), narrows it with
    two pivots drawn from a random sample of the candidates around the quantile of the rank
    sought (Floyd-Rivest; the seed changes only how fast it gets there, never the result), and
    sorts the last <= DENSE_PAIRS_LIMIT candidates. A pivot is a candidate's own value, so
    every step removes at least one candidate."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    m, n = len(a), len(b)
    if not 1 <= k <= m * n:
        raise ValueError(f"k={k} outside 1..{m * n}")
    rng = np.random.default_rng(seed)
    lo = np.zeros(m, dtype=np.int64)
    hi = np.full(m, n, dtype=np.int64)
    while True:
        live = np.nonzero(hi > lo)[0]          # rows with candidates left
        width = hi[live] - lo[live]
        cum = np.cumsum(width)
        total = int(cum[-1])
        rank = k - int(lo.sum())               # the rank sought among the candidates
        if total <= DENSE_PAIRS_LIMIT:
            rows = np.repeat(live, width)
            cols = np.repeat(lo[live] - (cum - width), width) + np.arange(total)
            return float(np.partition(b[cols] - a[rows], rank - 1)[rank - 1])
        draw = rng.integers(0, total, size=_SELECT_SAMPLE)
        at = np.searchsorted(cum, draw, side="right")
        cols = lo[live[at]] + draw - (cum[at] - width[at])
        sample = np.sort(b[cols] - a[live[at]])
        q = rank / total
        centre = q * _SELECT_SAMPLE
        spread = 3.0 * math.sqrt(_SELECT_SAMPLE * q * (1.0 - q)) + 2.0
        pivots = (sample[max(0, int(centre - spread))],
                  sample[min(_SELECT_SAMPLE - 1, int(centre + spread))])
        sub_a, sub_lo, sub_hi = a[live], lo[live], hi[live]
        for pivot in pivots:
            le = _row_positions(sub_a, b, pivot, sub_lo, sub_hi, strict=False)
            below = int(le.sum()) - int(sub_lo.sum())  # candidates <= pivot
            if below < rank:       # the answer is above the pivot
                lo[live] = sub_lo = le
                rank -= below
                continue
            if not np.array_equal(le, sub_hi):
                hi[live] = le      # the answer is at most the pivot: drop what lies above
                break
            lt = _row_positions(sub_a, b, pivot, sub_lo, sub_hi, strict=True)
            if int(lt.sum()) - int(sub_lo.sum()) < rank:
                return float(pivot)  # fewer than `rank` below the pivot, at least up to it
            hi[live] = lt          # the answer is below the pivot
            break


def _pairwise_order_stats(a, b, ks):
    """{k: k-th smallest b[j] - a[i]} for sorted a, b: materialised when m*n is small, else by
    pairwise_difference_kth (the same values, bounded memory)."""
    m, n = len(a), len(b)
    if m * n <= DENSE_PAIRS_LIMIT:
        d = np.sort((b[:, None] - a[None, :]).ravel())
        return {k: float(d[k - 1]) for k in ks}
    return {k: pairwise_difference_kth(a, b, k) for k in ks}


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
    Beyond m*n = DENSE_PAIRS_LIMIT the differences are not formed: the counts come from merging
    the sorted samples and the three order statistics from pairwise_difference_kth, the same
    values in O(m + n) memory (millions of samples a side take seconds). Beyond
    m*n = EXACT_RANK_LIMIT the p-values and k use the normal approximation of U (rank_cdf).
    REQUIRES: both sides non-empty, finite values."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("shift_interval needs samples on both sides")
    total = m * n
    greater, ties = _rank_counts_sorted(a, b)
    less = total - greater - ties
    # P(U >= x) = P(U <= total - x); with ties counted as half, round x down (conservative).
    p_up = rank_cdf(m, n, total - math.floor(greater + ties / 2.0))
    p_down = rank_cdf(m, n, total - math.floor(less + ties / 2.0))
    k = rank_order_index(m, n, alpha)
    middle = [(total + 1) // 2] if total % 2 else [total // 2, total // 2 + 1]
    wanted = set(middle) | ({k, total - k + 1} if k else set())
    order = _pairwise_order_stats(a, b, sorted(wanted))
    estimate = float(np.mean(np.array([order[i] for i in middle])))  # as np.median does
    out = {"m": m, "n": n, "estimate": estimate, "lower": None, "upper": None,
           "coverage": None, "k": k, "p_up": float(p_up), "p_down": float(p_down),
           "min_p": rank_min_p(m, n), "u_up": math.floor(greater + ties / 2.0),
           "u_down": math.floor(less + ties / 2.0)}
    if k:
        out.update(lower=order[k], upper=order[total - k + 1],
                   coverage=1.0 - 2.0 * rank_cdf(m, n, k - 1))
    return out


ROUND_EXACT_LIMIT = 20000  # assignments enumerated; beyond, a seeded Monte Carlo sample
ROUND_MAX_COLUMNS = 50     # repetitions per side the whole-run test uses at most
MAX_RESAMPLES = 1_000_000  # random assignments at most (they are scored in bounded blocks)
_BLOCK_CELLS = 1 << 22     # elements per temporary array while scoring


def _round_columns(a, b, rng):
    """Each side as a rows x columns array, a side of more than ROUND_MAX_COLUMNS columns
    represented by that many drawn at random; (a, b, notes on what was drawn)."""
    sides, notes = [], []
    for side in (a, b):
        rows = [np.asarray(r, dtype=float) for r in side]
        count = len(rows[0])
        if count > ROUND_MAX_COLUMNS:
            keep = np.sort(rng.choice(count, ROUND_MAX_COLUMNS, replace=False))
            rows = [r[keep] for r in rows]
            notes.append(f"{ROUND_MAX_COLUMNS} of {count}")
        sides.append(np.stack(rows))
    return sides[0], sides[1], notes


def _column_wins(x, cols):
    """G[i, j]: the rows where column i is above column j (ties half), in bounded blocks."""
    g = np.zeros((cols, cols))
    step = max(1, _BLOCK_CELLS // (cols * cols))
    for start in range(0, x.shape[0], step):
        part = x[start:start + step]
        g += (part[:, :, None] > part[:, None, :]).sum(axis=0)
        g += 0.5 * (part[:, :, None] == part[:, None, :]).sum(axis=0)
    return g


def _all_assignments(cols, n):
    """Every choice of n columns for B, as 0/1 masks in blocks of 4096."""
    import itertools
    combos = itertools.combinations(range(cols), n)
    while True:
        chosen = list(itertools.islice(combos, 4096))
        if not chosen:
            return
        mk = np.zeros((len(chosen), cols))
        mk[np.repeat(np.arange(len(chosen)), n), np.array(chosen).ravel()] = 1.0
        yield mk


def _random_assignments(rng, cols, n, resamples):
    """`resamples` random choices of n columns for B, as 0/1 masks in bounded blocks."""
    per_block = max(1, _BLOCK_CELLS // cols)
    left = resamples
    while left:
        size = min(left, per_block)
        left -= size
        chosen = np.argsort(rng.random((size, cols)), axis=1)[:, :n]
        mk = np.zeros((size, cols))
        np.put_along_axis(mk, chosen, 1.0, axis=1)
        yield mk


def round_permutation_p(a, b, resamples=20000, seed=DEFAULT_SEED):
    """One test of a whole run against another that does not assume its rows independent.

    a: rows x m, b: rows x n (log times; column j of a side holds repetition j of every row;
    a list of equal-length 1-D arrays will do). Statistic: the sum over rows of the
    Mann-Whitney count of B above A (ties half). Its null distribution comes from reassigning
    whole columns between A and B: valid when a side's columns are exchangeable (repetitions
    run in random order), whatever the benchmarks' noise shares across rows (another process,
    a frequency step), and for that reason it cannot go below 1/C(m+n, m) either. Exact over
    all assignments up to ROUND_EXACT_LIMIT, else `resamples` random ones (p = (1 + hits) /
    (1 + resamples)). A side with more than ROUND_MAX_COLUMNS columns is represented by that
    many of them, drawn at random with `seed` before any value is looked at (still a valid
    test; the floor 1/C(100, 50) ~ 1e-29 is no limit), so memory and time stay bounded
    whatever the repetition count. Returns (p_up, p_down, min_p, how)."""
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be in 1..{MAX_RESAMPLES}: {resamples}")
    rng = np.random.default_rng(seed)
    a, b, notes = _round_columns(a, b, rng)
    m, n = a.shape[1], b.shape[1]
    x = np.concatenate([a, b], axis=1)                        # rows x (m + n)
    cols = m + n
    g = _column_wins(x, cols)
    total = math.comb(cols, m)
    exact = total <= ROUND_EXACT_LIMIT
    if exact:
        blocks = _all_assignments(cols, n)
        how = f"exact over all {total} assignments of columns"
    else:
        blocks = _random_assignments(rng, cols, n, resamples)
        how = f"{resamples} random assignments of columns (seed {seed})"
    if notes:
        how += (f", on {' and '.join(notes)} repetitions (A and B), drawn at random (seed "
                f"{seed}) before any value was read")

    def up(mk):    # B above A: sum over B columns j, A columns i of G[j, i]
        return np.einsum("ki,ki->k", mk @ g, 1.0 - mk)

    def down(mk):  # A above B under the same assignment
        return np.einsum("ki,ki->k", (1.0 - mk) @ g, mk)
    observed = np.concatenate([np.zeros(m), np.ones(n)])[None, :]
    obs_up, obs_down = float(up(observed)[0]), float(down(observed)[0])
    eps = 1e-9
    hits_up = hits_down = count = 0
    for mk in blocks:
        hits_up += int(np.sum(up(mk) >= obs_up - eps))
        hits_down += int(np.sum(down(mk) >= obs_down - eps))
        count += len(mk)
    if exact:
        p_up, p_down = hits_up / count, hits_down / count
    else:
        p_up, p_down = (1 + hits_up) / (1 + count), (1 + hits_down) / (1 + count)
    return float(p_up), float(p_down), 1.0 / total, how


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


@functools.lru_cache(maxsize=64)
def _signed_rank_cdf(n):
    """P(W+ <= k), k = 0 .. n(n+1)/2, for the Wilcoxon signed-rank statistic of n pairs under
    the null hypothesis (no ties), by counting the rank subsets of each sum."""
    probs = np.zeros(n * (n + 1) // 2 + 1)
    probs[0] = 1.0
    top = 0
    for rank in range(1, n + 1):
        probs[rank:top + rank + 1] = 0.5 * probs[rank:top + rank + 1] + 0.5 * probs[:top + 1]
        probs[:rank] *= 0.5
        top += rank
    return np.cumsum(probs)


def paired_hl_ci(log_ratios, level=0.95):
    """Hodges-Lehmann ratio of paired rounds, the estimate that goes with the Wilcoxon
    signed-rank test: exp of the median of the Walsh averages (d_i + d_j) / 2, i <= j, with its
    distribution-free interval (the Walsh averages of ranks C and M + 1 - C, where C is the
    largest count with P(W+ < C) <= (1 - level) / 2; with too few rounds for the level, the
    smallest and largest Walsh averages). A few rounds disturbed on one side (a slow run of the
    baseline or of the candidate) move it little, where they move the geometric mean by their
    full size."""
    d = np.asarray(log_ratios, dtype=float)
    n = len(d)
    walsh = np.sort(((d[:, None] + d[None, :]) / 2.0)[np.triu_indices(n)])
    centre = float(np.exp(np.median(walsh)))
    if n < 2:
        return centre, (centre, centre)
    cdf = _signed_rank_cdf(n)
    # C - 1 is the largest w with P(W+ <= w) <= (1 - level) / 2
    count = int(np.searchsorted(cdf, (1.0 - level) / 2.0 * (1 + 1e-12), side="right"))
    count = max(count, 1)
    lo, hi = np.clip([walsh[count - 1], walsh[len(walsh) - count]], -700.0, 700.0)
    return centre, (float(np.exp(lo)), float(np.exp(hi)))


def robust_spread(log_ratios):
    """The spread of log ratios that a few outlying rounds do not move: 1.4826 x the median
    absolute deviation from the median (the standard deviation, for normal data)."""
    d = np.asarray(log_ratios, dtype=float)
    if len(d) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


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
    2^-n <= level, and the t bound on the robust spread, whichever needs more). None beyond
    `limit`."""
    d = np.asarray(log_ratios, dtype=float)
    if len(d) < 2 or slowdown <= 0:
        return None
    floor = 2
    if test == "wilcoxon":
        # 2^-n <= level, and the spread: the t bound on the robust spread (a rough guide)
        floor = max(2, math.ceil(math.log2(1.0 / level) - 1e-12))
        sd = robust_spread(d)
    else:
        sd = float(np.std(d, ddof=1))
    target = math.log1p(slowdown)
    for n in range(floor, limit + 1):
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


def gustafson_speedup(p, serial_fraction):
    """The scaled speedup of Gustafson's law: S(P) = P - s (P - 1)."""
    p = np.asarray(p, dtype=float)
    return p - serial_fraction * (p - 1.0)


def gustafson_fit(workers, speedups):
    """Least-squares serial fraction s in S(P) = P - s (P - 1) over weak-scaling points (P, S):
    the line through (1, 1), so s = sum((P - S)(P - 1)) / sum((P - 1)^2). Not clipped: below 0
    is a scaled speedup above P, above 1 one below 1. REQUIRES: a point with P > 1."""
    p = np.asarray(workers, dtype=float)
    s = np.asarray(speedups, dtype=float)
    if not np.any(p > 1):
        raise ValueError("a Gustafson fit needs a point with more than one worker")
    d = p - 1.0
    return float(np.sum((p - s) * d) / np.sum(d * d))

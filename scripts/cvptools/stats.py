"""Statistics for cvpbench results: ratios of medians with bootstrap CIs, one-sided tests on log
times, Holm's correction, the Amdahl fit and the Karp-Flatt metric.

Following Hoefler & Belli: summarise times first (median), then take ratios; never average
ratios except as an explicitly secondary geometric mean; no normality assumption for CIs.
"""

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
    return centre, (float(np.exp(np.mean(d) - half)), float(np.exp(np.mean(d) + half)))


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

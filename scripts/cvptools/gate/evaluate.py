"""The gate's statistics: rounds from files, the paired test per benchmark with Holm's correction,
the slowdown thresholds, the noise canary, and the decision (pass, regression, inconclusive)."""

import fnmatch
import glob
import math
from dataclasses import dataclass

import numpy as np

from .. import CvpError
from .. import stats
from ..compare import measured
from ..results import first_workload_of_kind, kind_rank
from ..text import md_code


PASS, REGRESSION, BAD_INPUT, INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_CANARY = "matmul/*mode:serial*"  # for files that list no workload of kind cpu
_LOG_LIMIT = math.log(1e100)  # log ratios beyond this are not measurements
TESTS = ("auto", "t", "wilcoxon")
DEFAULT_ROUNDS = 30  # binary mode; calibrated in results/gate-calibration/


@dataclass
class GateOptions:
    threshold_cpu: float = 0.03  # below 5%, so that a 5% slowdown is not a coin toss
    threshold_io: float = 0.10
    threshold_memory: float = 0.10
    alpha: float = 0.05
    test: str = "auto"  # chosen_test: Wilcoxon where the rounds allow it, else t
    canary: str = None  # None: canary_pattern() of the baseline's first round
    canary_required: bool = False
    canary_cv_max: float = 0.10

    def threshold(self, kind):
        """The slowdown that counts for a benchmark of `kind`; a kind this cvp does not know
        gets the cpu threshold, the strictest."""
        if kind == "io":
            return self.threshold_io
        if kind == "memory":
            return self.threshold_memory
        return self.threshold_cpu

    def validate(self):
        """CvpError for a value no gate can use (NaN, infinite, negative, out of range)."""
        def number(name, value, low, high, low_open=False):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < low or value >= high \
                    or (low_open and value == low):
                side = "(" if low_open else "["
                raise CvpError(f"gate: {name} must be a finite number in {side}{low:g}, "
                               f"{high:g}): {value!r}")
        number("threshold_cpu", self.threshold_cpu, 0.0, 1.0)
        number("threshold_io", self.threshold_io, 0.0, 1.0)
        number("threshold_memory", self.threshold_memory, 0.0, 1.0)
        if self.canary is not None and (not isinstance(self.canary, str) or not self.canary):
            raise CvpError(f"gate: canary must be a benchmark name or glob: {self.canary!r}")
        number("alpha", self.alpha, 0.0, 1.0, low_open=True)
        number("canary_cv_max", self.canary_cv_max, 0.0, math.inf)
        if self.test not in TESTS:
            raise CvpError(f"gate: test must be one of {', '.join(TESTS)}: {self.test!r}")
        return self


class Round(dict):
    """One round: {work key: Measured}, and `canary`, the default canary pattern its file
    implies (see canary_pattern)."""
    canary = DEFAULT_CANARY
    seconds = None  # binary mode: the wall time of the round it came from


def canary_pattern(run):
    """The default canary for a run: the serial points of the first workload of kind cpu that
    the file lists (a summary's `workloads`, a raw file's `cvpbench_workload_kinds`), as a
    glob; DEFAULT_CANARY when it lists none (files written before workloads were listed)."""
    w = first_workload_of_kind(run, "cpu")
    if w is None:
        return DEFAULT_CANARY
    return f"{glob.escape(w.name)}/*mode:serial*"


def rounds_from_runs(runs):
    """[Round] per run (per-unit medians: see compare.measured)."""
    out = []
    for run in runs:
        r = Round(measured(run))
        r.canary = canary_pattern(run)
        out.append(r)
    return out


def chosen_test(opts, rounds, benchmarks):
    """The paired test a gate of `rounds` rounds over `benchmarks` benchmarks runs: --test t or
    wilcoxon as given; auto (the default): the Wilcoxon signed-rank test (with the
    Hodges-Lehmann ratio) when its smallest p, 2^-rounds, passes Holm's first step
    (alpha / benchmarks), else the t-test. On a shared machine a run now and then is slowed on
    one side of its pair (another process on its CPU for the whole run): the ranks and the
    Hodges-Lehmann estimate hardly move, the t-test's standard deviation and the geometric
    mean move by the full size of it."""
    if opts.test != "auto":
        return opts.test
    wilcoxon = stats.paired_min_p(rounds, "wilcoxon") * max(benchmarks, 1) <= opts.alpha
    return "wilcoxon" if wilcoxon else "t"


def check_power(rounds, benchmarks, opts, what="the gate"):
    """CvpError unless a flag is attainable: with the Wilcoxon test the smallest p of n rounds is
    2^-n, and Holm's first step multiplies it by the number of benchmarks (--test auto falls
    back to the t-test there)."""
    if rounds < 2:
        raise CvpError(f"{rounds} paired round(s); {what} needs at least 2")
    test = chosen_test(opts, rounds, benchmarks)
    best = min(1.0, stats.paired_min_p(rounds, test) * max(benchmarks, 1))
    if best > opts.alpha:
        need = stats.paired_rounds_needed(benchmarks, opts.alpha, opts.test)
        raise CvpError(
            f"{what} cannot flag anything: with --test {opts.test}, {rounds} rounds and "
            f"{benchmarks} benchmark(s) the smallest p is 2^-{rounds} = "
            f"{stats.paired_min_p(rounds, opts.test):.3g}, {best:.3g} after Holm's correction, "
            f"above alpha {opts.alpha:g}; use at least {need} rounds (or --test t, or fewer "
            f"benchmarks)")


def judge_canary(baseline, candidate, limit, test="t"):
    """The canary judged as the test judges every benchmark: on its paired log ratios
    log(candidate_i / baseline_i), one per round. `spread` is their spread as the test sees it
    (about the coefficient of variation of the ratio): the sample standard deviation for the
    t-test; for the Wilcoxon test, whose ranks a few outlying rounds hardly move, 1.4826 x their
    median absolute deviation (stats.robust_spread). `noisy`: it exceeds `limit`. A
    drift of the machine that both sides of a round's pair see (what duets are for) moves the
    times, not the ratios, so it leaves the spread alone; noise between the two sides of a pair
    raises it. `cv_baseline` and `cv_candidate`, each side's coefficient of variation across
    rounds, say how much of that drift there was; they are not judged. With a time of zero (or
    ratios beyond 1e100) the canary cannot be judged: spread None, not noisy."""
    cv_a = stats.coefficient_of_variation(baseline)
    cv_b = stats.coefficient_of_variation(candidate)
    spread = None
    if min(list(baseline) + list(candidate)) > 0:
        d = stats.paired_log_ratios(baseline, candidate)
        if np.all(np.abs(d) <= _LOG_LIMIT):
            spread = float(np.std(d, ddof=1)) if test == "t" else stats.robust_spread(d)
    return {"spread": spread, "limit": limit, "cv_baseline": cv_a, "cv_candidate": cv_b,
            "noisy": spread is not None and spread > limit}


def _canary_name(names, pattern):
    for name in names:
        if fnmatch.fnmatchcase(name, pattern) or name == pattern:
            return name
    return None


def _display(rounds, key):
    names = sorted({r[key].name for r in rounds})
    return names


def _benchmark_row(name, baseline_rounds, candidate_rounds, everything, opts, test,
                   first_step):
    """One benchmark's row: its times, ratio and interval, one-sided p, and what it resolves."""
    a = [r[name].median for r in baseline_rounds]
    b = [r[name].median for r in candidate_rounds]
    kind = baseline_rounds[0][name].kind
    row = {"name": name, "names": _display(everything, name), "kind": kind,
           "unit": baseline_rounds[0][name].unit, "baseline_s": a, "candidate_s": b,
           "threshold": opts.threshold(kind), "notes": []}
    works = {r[name].work for r in everything}
    if len(works) > 1:
        shown = ", ".join(str(w) for w in sorted(works, key=lambda w: (w is None, w or 0)))
        row["notes"].append(f"request counts differ between rounds ({shown}): compared per "
                            f"request" if None not in works else
                            f"request count unknown in some rounds ({shown})")
    d = stats.paired_log_ratios(a, b) if min(a + b) > 0 else None
    if d is None or not np.all(np.abs(d) <= _LOG_LIMIT):
        row.update(ratio=None, ci95=None, p=None, resolution=None)
        row["notes"].append("not tested: a time of zero" if d is None else
                            "not tested: times differ by more than 1e100 times")
    else:
        ratio, ci = stats.paired_hl_ci(d) if test == "wilcoxon" else \
            stats.paired_ratio_ci(d)
        resolution = stats.paired_min_detectable(d, first_step, test)
        row.update(ratio=ratio, ci95=list(ci), p=stats.paired_slower_p_value(d, test),
                   resolution=resolution if math.isfinite(resolution) else None)
        row["resolves_threshold"] = math.isfinite(resolution) and \
            resolution <= row["threshold"]
        if not row["resolves_threshold"]:
            row["rounds_for_threshold"] = stats.paired_rounds_for(
                d, row["threshold"], first_step, test)
    return row


def _canary(baseline_rounds, names, rows, opts, test):
    """The canary's judgement (None when no benchmark matches an optional canary)."""
    pattern = opts.canary if opts.canary is not None else \
        getattr(baseline_rounds[0], "canary", DEFAULT_CANARY)
    name = _canary_name(names, pattern)
    if name is not None:
        row = next(r for r in rows if r["name"] == name)
        return {"name": name, "pattern": pattern,
                "chosen": "--canary" if opts.canary is not None else "default",
                **judge_canary(row["baseline_s"], row["candidate_s"],
                               opts.canary_cv_max, test)}
    if opts.canary_required:
        raise CvpError(f"canary {pattern!r} matches no benchmark present in every round")
    return None


def evaluate(baseline_rounds, candidate_rounds, opts, only=None):
    """Test every benchmark present in all rounds on both sides. A JSON-ready dict.
    CvpError when the rounds do not pair or when no flag is attainable."""
    opts.validate()
    if len(baseline_rounds) != len(candidate_rounds):
        raise CvpError(f"{len(baseline_rounds)} baseline rounds but {len(candidate_rounds)} "
                       f"candidate rounds; rounds are paired in order")
    if len(baseline_rounds) < 2:
        raise CvpError(f"{len(baseline_rounds)} paired round(s); the gate needs at least 2")
    everything = baseline_rounds + candidate_rounds
    names = [n for n in baseline_rounds[0] if all(n in r for r in everything)]
    seen_anywhere = {n for r in everything for n in r}
    skipped = sorted(seen_anywhere - set(names))
    if only is not None:
        names = [n for n in names if n in only]
    if not names:
        raise CvpError("no benchmark is present in every round of both baseline and candidate")
    n_rounds = len(baseline_rounds)
    check_power(n_rounds, len(names), opts,
                "the confirmation" if only is not None else "the gate")
    test = chosen_test(opts, n_rounds, len(names))
    first_step = opts.alpha / len(names)  # Holm's first step: what a lone regression must reach
    rows = [_benchmark_row(name, baseline_rounds, candidate_rounds, everything, opts, test,
                           first_step) for name in names]
    for row, adjusted in zip(rows, stats.holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted <= opts.alpha
        row["flagged"] = bool(row["significant"] and row["ratio"] >= 1 + row["threshold"])
    canary = None if only is not None else _canary(baseline_rounds, names, rows, opts, test)
    tested = [r for r in rows if r.get("resolves_threshold") is not None]
    underpowered = [r["name"] for r in tested if not r["resolves_threshold"]]
    return {"rounds": n_rounds, "test": test, "test_option": opts.test, "alpha": opts.alpha,
            "thresholds": {kind: opts.threshold(kind)
                           for kind in sorted({r["kind"] for r in rows}, key=kind_rank)},
            "min_p": stats.paired_min_p(n_rounds, test),
            "holm_first_step": first_step,
            "benchmarks": rows, "skipped": skipped, "canary": canary,
            "flagged": [r["name"] for r in rows if r["flagged"]],
            "underpowered": underpowered,
            "powerless": bool(tested) and len(underpowered) == len(tested)}


def flagged_names(evaluation):
    """The benchmark names (as the binaries spell them) of the flagged rows, for --filter."""
    out = []
    for r in evaluation["benchmarks"]:
        if r["flagged"]:
            out += [n for n in r.get("names", [r["name"]]) if n not in out]
    return out


def decide(first, confirm=None, confirm_available=False):
    """(exit code, headline, notes) from the first evaluation and the optional confirmation."""
    notes = []
    canary = first["canary"]
    if canary is None:
        notes.append("No canary benchmark found: the noise check was skipped.")
    elif canary["noisy"]:
        return INCONCLUSIVE, "INCONCLUSIVE: the machine is too noisy", [
            f"Canary {md_code(canary['name'])}: its candidate / baseline ratio varies by "
            f"{100 * canary['spread']:.1f}% across the paired rounds (standard deviation of "
            f"the log ratios; limit {100 * canary['limit']:.1f}%): the two sides of a round "
            f"disagree by more than drift they share; rerun on a quieter machine."]
    elif canary["spread"] is None:
        notes.append(f"Canary {md_code(canary['name'])} has a time of zero: the noise check "
                     f"was skipped.")
    weak = [r for r in first["benchmarks"] if r.get("resolves_threshold") is False]
    if not first["flagged"] and first.get("powerless"):
        return INCONCLUSIVE, "INCONCLUSIVE: too few rounds for this noise", notes + [
            f"No benchmark could have been flagged at its threshold: with {first['rounds']} "
            f"rounds and this round-to-round spread the smallest slowdown any of them could "
            f"flag is {_flaggable(min(_finite_or_inf(r['resolution']) for r in weak))}. "
            + _rounds_advice(weak)]
    if weak:
        notes.append(
            f"{len(weak)} of {len(first['benchmarks'])} benchmark(s) could not have flagged a "
            f"slowdown at their threshold with {first['rounds']} rounds at this noise (the "
            f"'could flag' column); for them 'ok' only rules out larger slowdowns. "
            + _rounds_advice(weak))
    if not first["flagged"]:
        return PASS, "PASS: no regression", notes
    if confirm is None:
        if confirm_available:
            raise CvpError("internal: confirmation expected but missing")
        return INCONCLUSIVE, "INCONCLUSIVE: regression flagged but not confirmed", notes + [
            "Flagged benchmarks were not re-measured (pass --confirm-json with re-run files, or "
            "use --baseline-bin/--candidate-bin so the gate re-runs them)."]
    confirmed = [n for n in first["flagged"] if n in confirm["flagged"]]
    if confirmed:
        return REGRESSION, f"REGRESSION: {len(confirmed)} benchmark(s) slower, confirmed", notes
    unclear = _unresolved_on_rerun(first, confirm)
    if unclear:
        # A re-run that could not have flagged the threshold at its own noise clears nothing.
        return INCONCLUSIVE, "INCONCLUSIVE: regression flagged, re-run too noisy to tell", \
            notes + ["Flagged in the first pass; on re-run " + ", ".join(
                md_code(n) for n in unclear) + " could not have flagged a slowdown at the "
                "threshold at the re-run's noise (the smallest it could flag was "
                + ", ".join(_flaggable(r["resolution"]) for r in confirm["benchmarks"]
                            if r["name"] in unclear)
                + "), so the re-run neither confirms nor clears it; rerun on a quieter "
                "machine."]
    return PASS, "PASS: flagged slowdowns did not reproduce on re-run", notes + [
        "Flagged in the first pass but not on re-run: " + ", ".join(
            md_code(n) for n in first["flagged"]) + "."]


def _unresolved_on_rerun(first, confirm):
    """The benchmarks flagged in the first pass and not confirmed whose re-run could not have
    flagged their threshold at its own noise (or could not be tested)."""
    rows = {r["name"]: r for r in confirm["benchmarks"]}
    return [n for n in first["flagged"] if n not in confirm["flagged"]
            and rows.get(n, {}).get("resolves_threshold") is not True]


def _finite_or_inf(value):
    return math.inf if value is None else value


def _flaggable(resolution, tested=True):
    if resolution is None:
        return "nothing" if tested else "n/a"
    if not math.isfinite(resolution):
        return "nothing"
    return f">= +{100 * resolution:.1f}%"


def _rounds_advice(rows):
    needs = [r.get("rounds_for_threshold") for r in rows]
    known = [n for n in needs if n]
    if not known:
        return "More rounds, or a quieter machine, are needed."
    return (f"About {max(known)} rounds would let "
            f"{'them' if len(known) == len(needs) else f'{len(known)} of them'} resolve their "
            f"thresholds at this noise.")

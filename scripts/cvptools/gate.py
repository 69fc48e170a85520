"""A CI gate: is the candidate slower than the baseline, beyond noise and beyond a threshold?

Method (one verdict per benchmark):
  * rounds are paired (round i of the baseline with round i of the candidate); each round
    contributes one time per benchmark: the median of its repetitions, per unit of work (per
    request for request benchmarks, matched by name without `/requests:N`, so rounds that ran
    different request counts still pair, and the table says so);
  * the per-round log ratio log(candidate / baseline) is tested one-sided for "slower": by
    default (--test auto) with the Wilcoxon signed-rank test wherever its smallest p, 2^-rounds,
    can pass Holm's first step, the ratio being the Hodges-Lehmann estimate (the median of the
    pairwise means of the log ratios), else with the paired t-test and the geometric mean. On a
    shared machine a run is now and then slowed on one side of its pair (another process on
    its CPU for the whole run, which the program's own disturbance check does not see): ranks
    and the Hodges-Lehmann estimate hardly move, the t-test and the geometric mean move by the
    full size of it;
  * Holm's correction across benchmarks keeps the family-wise false-alarm rate at alpha;
  * a regression is flagged only when significant (Holm-adjusted p <= alpha) AND the
    ratio (Hodges-Lehmann or geometric mean, as above) reaches the threshold of the
    benchmark's kind (cpu 3%, memory 10%,
    io 10%; the kind is the one the files declare: a summary's `kind`, a raw file's
    `cvpbench_workload_kinds`, else the fallback guess from the name);
  * flagged benchmarks are re-measured once; only a regression seen again is confirmed;
  * a canary is judged as the test judges every benchmark: on its paired log ratios
    log(candidate_i / baseline_i), one per round (for a duet point, the two runs of the duet).
    When their spread as the test sees it (t: the standard deviation; Wilcoxon: 1.4826 x the
    median absolute deviation, which a few outlying rounds do not move; either about the
    coefficient of variation of the ratio) exceeds a limit (10%), the two sides of a pair
    disagree by more than the gate can
    judge: the verdict is inconclusive. A drift of the machine between rounds that both sides
    of a pair see (the duet's point: a slower round is slower for both) moves its times, not
    its ratios, so it does not make the gate inconclusive; noise that hits one side of a pair
    and not the other does. (The canary's time across rounds, the coefficient of variation of
    each side, is reported but not judged.) By default the canary is the first serial point of
    the first cpu-kind workload the baseline's first round lists (its summary's `workloads`,
    or its raw context's `cvpbench_workload_kinds`), or `matmul/*mode:serial*` for files that
    list none.

What it can flag: a Wilcoxon test on n rounds cannot give p below 2^-n, and Holm multiplies the
smallest p by the number of benchmarks m, so m * 2^-n > alpha makes every flag impossible: with
--test wilcoxon the gate refuses (bad input) and says how many rounds it needs; --test auto
runs the t-test there. The t-test can reach any p, so each
benchmark also gets the smallest slowdown its observed round-to-round spread would let it flag
(at the first Holm step); when no benchmark can flag its own threshold the verdict is
inconclusive, never a pass.

Exit codes: 0 pass, 1 confirmed regression, 3 inconclusive (noisy machine, too few rounds for
the noise, or unconfirmed regression), 2 bad input (130 when stopped: see cli.py).

Defaults (GateOptions, DEFAULT_ROUNDS; cli.py repeats them for --help): 30 rounds, cpu
threshold 3% (below the 5% a gate should find, so that a 5% slowdown is not measured just
under its threshold half the time), memory and io 10%, alpha 0.05, --test auto, canary limit
10%. Calibrated with cvp gate --calibrate on a 2-core VM: results/gate-calibration/.

Binary mode (make_plan, run_rounds): every run gets `--seed ROUND`. Where the gate may use 2
CPUs or more (--duet auto), the one-core points (mode serial or concurrent) run as duets, after
Bulej et al., "Duet Benchmarking" (ICPE 2020): in each round both binaries start at the same
moment, each pinned to a CPU of its own (`--cpus A`, `--cpus B`, swapped every round), with the
same `--filter` and `--seed`, so that whatever disturbs one disturbs the other; the other points
(mode parallel, which need every core) run interleaved, the order within each round drawn at
random from a seeded generator (randomized multiple interleaved trials, Abedi and Brecht, ICPE
2017). With fewer than 2 CPUs every point runs interleaved, and the Markdown says so. The
evaluation covers both sets the same way; the confirmation re-run splits the same way.

Calibration (calibrate): the same binary as baseline and candidate, A/A and with planted
slowdowns (`--inject-slowdown PCT:REGEX` on the candidate), many gates per condition, from a
pool of rounds or each with rounds of its own.

Supervisor: each run in a new empty folder of the gate's own and a process group of its own,
stderr to a file, a time limit that follows the work, and the whole group (and every orphan it
left) stopped when the run ends, times out or the gate is stopped; a duet's two runs start
together and are stopped together. Every string from outside that reaches the Markdown goes
through md_code.
"""

import contextlib
import fnmatch
import glob
import math
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from . import CvpError
from . import stats
from .compare import measured
from .runio import GBENCH_FILE, SUMMARY_FILE, display_path, load_run
from .results import KIND_ORDER, first_workload_of_kind, kind_rank
from .text import md_code
from .text import visible as _visible

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
    rows = []
    for name in names:
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
        rows.append(row)
    for row, adjusted in zip(rows, stats.holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted <= opts.alpha
        row["flagged"] = bool(row["significant"] and row["ratio"] >= 1 + row["threshold"])
    canary = None
    if only is None:
        pattern = opts.canary if opts.canary is not None else \
            getattr(baseline_rounds[0], "canary", DEFAULT_CANARY)
        name = _canary_name(names, pattern)
        if name is not None:
            row = next(r for r in rows if r["name"] == name)
            canary = {"name": name, "pattern": pattern,
                      "chosen": "--canary" if opts.canary is not None else "default",
                      **judge_canary(row["baseline_s"], row["candidate_s"],
                                     opts.canary_cv_max, test)}
        elif opts.canary_required:
            raise CvpError(f"canary {pattern!r} matches no benchmark present in every round")
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


def _pct(ratio):
    return f"{100 * (ratio - 1):+.1f}%"


def _thresholds_text(first, opts):
    """'5% (cpu), 10% (memory) or 10% (io)': the threshold of every kind the rows have, and of
    cpu and io, which every gate names, in the order cpu, memory, io."""
    kinds = sorted({r["kind"] for r in first["benchmarks"]} | {"cpu", "io"}, key=kind_rank)
    parts = [f"{100 * opts.threshold(k):g}% ({md_code(k) if k not in KIND_ORDER else k})"
             for k in kinds]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _test_text(first):
    """How the rows were tested: the test, and the ratio that goes with it."""
    if first["test"] == "wilcoxon":
        text = ("one-sided Wilcoxon signed-rank test on per-round log time ratios (candidate / "
                "baseline: the Hodges-Lehmann estimate, the median of the pairwise means of the "
                "log ratios, with its distribution-free interval)")
    else:
        text = ("one-sided paired t-test on per-round log time ratios (candidate / baseline: "
                "their geometric mean, with its t interval)")
    if first.get("test_option") == "auto":
        text += (" (--test auto: Wilcoxon where the rounds let it reach Holm's first step, "
                 "else t)")
    return text


def markdown(first, confirm, code, headline, notes, opts, context=""):
    lines = [f"## cvpbench gate: {headline}", ""]
    if context:
        lines += [context, ""]
    lines += [f"Candidate vs baseline over {first['rounds']} paired rounds: {_test_text(first)}, "
              f"Holm-corrected across {len(first['benchmarks'])} "
              f"benchmarks (alpha = {opts.alpha}). A regression needs significance and a slowdown "
              f"of at least {_thresholds_text(first, opts)} by kind, seen again on re-run.", ""]
    if first["test"] == "wilcoxon":
        power = (f"With {first['rounds']} rounds the smallest p the Wilcoxon test can give is "
                 f"2^-{first['rounds']} = {first['min_p']:.3g}; Holm's first step needs p <= "
                 f"{first['holm_first_step']:.3g}.")
    else:
        power = (f"Holm's first step needs p <= {first['holm_first_step']:.3g} "
                 f"(alpha / {len(first['benchmarks'])}).")
    lines += [power + " 'could flag': the smallest slowdown each benchmark's own round-to-round "
              "spread lets the test flag at that step.", ""]
    canary = first["canary"]
    if canary and canary["spread"] is not None:
        state = "too noisy" if canary["noisy"] else "ok"
        lines += [f"Canary {md_code(canary['name'])}: its candidate / baseline ratio varies by "
                  f"{100 * canary['spread']:.1f}% across the paired rounds (limit "
                  f"{100 * canary['limit']:.1f}%): {state}. Its time varies by "
                  f"{100 * canary['cv_baseline']:.1f}% (baseline) and "
                  f"{100 * canary['cv_candidate']:.1f}% (candidate) across rounds; drift that "
                  f"both sides of a round see leaves the ratio, which the gate tests, alone.",
                  ""]
    confirmed = set(confirm["flagged"]) if confirm else set()
    unclear = set(_unresolved_on_rerun(first, confirm)) if confirm else set()
    lines += ["| benchmark | kind | candidate / baseline | 95% CI | p (Holm) | could flag "
              "| verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = sorted(first["benchmarks"], key=lambda r: (not r["flagged"], -(r["ratio"] or 0)))
    for r in rows:
        if r["ratio"] is None:
            why = (r.get("notes") or ["not tested"])[-1]
            lines.append(f"| {md_code(r['name'], True)} | {md_code(r['kind'], True)} | n/a | "
                         f"n/a | n/a | n/a | {why} |")
            continue
        if r["flagged"]:
            if confirm is None:
                verdict = "**slower (unconfirmed)**"
            elif r["name"] in confirmed:
                verdict = "**regression (confirmed)**"
            elif r["name"] in unclear:
                verdict = "**slower once; re-run too noisy to tell**"
            else:
                verdict = "slower once, not on re-run"
        elif r["significant"] and r["ratio"] > 1:
            verdict = f"slower, below the {100 * r['threshold']:g}% threshold"
        elif r.get("resolves_threshold") is False:
            verdict = f"ok, but could not flag {100 * r['threshold']:g}%"
        else:
            verdict = "ok"
        p = "n/a" if r["p_holm"] is None else f"{r['p_holm']:.2g}"
        lines.append(f"| {md_code(r['name'], True)} | {md_code(r['kind'], True)} | "
                     f"{r['ratio']:.3f} ({_pct(r['ratio'])}) "
                     f"| [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | {p} | "
                     f"{_flaggable(r.get('resolution'), r.get('resolves_threshold') is not None)}"
                     f" | {verdict} |")
    lines.append("")
    for r in rows:
        for note in (r.get("notes", []) if r["ratio"] is not None else []):
            lines += [f"{md_code(r['name'])}: {note}.", ""]
    if first["skipped"]:
        lines += ["Not in every round (not tested): " + ", ".join(
            md_code(n) for n in first["skipped"]) + ".", ""]
    lines += notes
    lines.append(f"\nExit code {code}.")
    return "\n".join(lines).rstrip() + "\n"


# --- running binaries ---------------------------------------------------------------------------

_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _regex_literal(text):
    """Escape only what both POSIX ERE and ECMAScript treat as special (re.escape does more,
    and escapes like '\\-' are undefined in POSIX)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def _name_regex(name):
    """A benchmark name as a regex: literal, except that its `/requests:N` segment matches any
    request count (the count follows from the options and the cores, like the pairing, which
    ignores it)."""
    return "/requests:[0-9]+".join(_regex_literal(part)
                                   for part in re.split(r"/requests:[0-9]+(?=/|$)", name))


def filter_regex(names):
    """A regex for `--filter` that matches exactly these benchmarks (whatever their request
    count), with or without Google Benchmark's suffixes (/real_time ...); valid for POSIX, RE2
    and std::regex engines."""
    parts = []
    for n in names:
        part = _name_regex(n)
        if part not in parts:
            parts.append(part)
    return "^(" + "|".join(parts) + ")(/.*)?$"


def check_program(program):
    """CvpError unless `program` (a path, or a name on PATH) can be executed."""
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.exists(program):
            raise CvpError(f"{program}: no such program")
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise CvpError(f"{program}: not executable")
    elif shutil.which(program) is None:
        raise CvpError(f"{program}: no such program on PATH")


# Time limits of one binary run, when --timeout-s is not given: a run gets FIRST_LIMIT_S until
# some run has finished; from then on LIMIT_FACTOR times the longest run so far (of either
# binary: a candidate 10 times slower than the baseline is a hang or a regression no gate needs
# to wait out), at least MIN_LIMIT_S. `--list` gets LIST_LIMIT_S.
FIRST_LIMIT_S = 1800.0
LIMIT_FACTOR = 10.0
MIN_LIMIT_S = 60.0
LIST_LIMIT_S = 60.0
KILL_GRACE_S = 2.0          # from SIGTERM to SIGKILL of a binary's process group
_POLL_S = 0.02
_TAIL_BYTES = 8192          # of a binary's stderr, for the one line an error quotes
_LIST_BYTES = 4 << 20       # of `--list` output read
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))


def default_limit(durations):
    """The limit (seconds) of the next binary run when none is given: FIRST_LIMIT_S before any
    run has finished, then LIMIT_FACTOR x the longest finished run, at least MIN_LIMIT_S."""
    if not durations:
        return FIRST_LIMIT_S
    return max(MIN_LIMIT_S, LIMIT_FACTOR * max(durations))


class Stopped(BaseException):
    """The gate was told to stop (SIGINT, SIGTERM or SIGHUP) while it ran binaries. A
    BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self):
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def _processes():
    """[(pid, state, ppid, pgid)] of every process, from /proc; None without /proc."""
    if not os.path.exists("/proc/self/stat"):
        return None
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    out = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                text = f.read().decode("ascii", "replace")
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 2:
            out.append((int(entry), fields[0], int(fields[1]), int(fields[2])))
    return out


def _live_targets(pgids, sweep):
    """{pid: process group} of the live (not zombie) processes of the process groups `pgids`,
    and with `sweep` of every live descendant of this process too (as a child subreaper every
    orphan of the binaries becomes one, even one that made a session of its own). None without
    /proc."""
    table = _processes()
    if table is None:
        return None
    live = {pid: group for pid, state, _, group in table if state not in ("Z", "X")}
    found = {pid: group for pid, group in live.items() if group in pgids}
    if sweep:
        children = {}
        for pid, _, parent, _ in table:
            children.setdefault(parent, []).append(pid)
        todo = list(children.get(os.getpid(), []))
        while todo:
            pid = todo.pop()
            if pid in live:
                found[pid] = live[pid]
            todo += children.get(pid, [])
    found.pop(os.getpid(), None)
    return found


def become_subreaper():
    """Make this process the child subreaper of its descendants (Linux): an orphan of a binary
    is then re-parented here, not to init, so that the gate can still find and stop it. True
    when it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class Supervisor:
    """Runs the binaries for the gate, so that nothing they start outlives it.

    * Every run starts in a session (and process group) of its own (start_new_session), with
      stdin and stdout on /dev/null and stderr into a file in the gate's private folder: the
      gate waits for the process it started, never for the end of a pipe that a process left
      behind could hold open.
    * run_together() starts several runs at the same moment (a duet) and waits for all of them;
      one that fails stops the others at once.
    * When those processes end, time out (see default_limit), or the gate is stopped, their
      whole process groups get SIGTERM and, KILL_GRACE_S later, SIGKILL. A process is reaped
      only after that, so its process group id cannot be reused by another process meanwhile.
      With `sweep` (the command line sets it, after become_subreaper()) every other live
      descendant of the gate is stopped the same way: an orphan that made a session of its own
      (a daemon's double fork) has left the group but is still the gate's descendant. Runs that
      were started together are stopped together, once all of them have ended, so that the
      sweep after one cannot cut its partner short.
    * Every file is under `root`, a new folder made with mkdtemp (inside `parent` when given):
      each run gets a new empty folder of its own in it (folder()), so nothing a run did not
      write itself can be read as its output. `root` is removed by close() unless `keep`.
    * install() makes SIGINT, SIGTERM and SIGHUP raise Stopped (main thread only); while a
      child is being started or stopped a signal is held and raised right after, so no child
      escapes between its start and its registration. close() restores the handlers.
    Only cli.py prints: messages go through `log`."""

    def __init__(self, parent=None, keep=False, timeout=None, grace=KILL_GRACE_S, log=None,
                 sweep=False):
        try:
            self.root = tempfile.mkdtemp(prefix="cvp-gate-", dir=parent)
        except OSError as e:
            raise CvpError(f"{parent or tempfile.gettempdir()}: cannot make a folder for the "
                           f"gate ({e.strerror})") from None
        self.keep = keep
        self.timeout = timeout
        self.grace = grace
        self.log = log or (lambda line: None)
        self.sweep = sweep
        self.durations = []
        self.pending = None        # the first stop signal received
        self._raised = False       # ... and whether it was raised as Stopped yet
        self._hold = 0
        self._procs = []           # started and not yet stopped
        self._previous = {}
        self._closed = False

    # -- signals --
    def install(self):
        """A signal ignored when the gate started (nohup, a background job) stays ignored."""
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        """The first stop signal raises Stopped (or is held, see _check); later ones are only
        noted: the gate is already stopping, and its cleanup must not be cut short."""
        if self.pending is not None:
            return
        self.pending = signum
        if not self._hold and not self._closed:
            self._raised = True
            raise Stopped(signum)

    def _check(self):
        if self.pending is not None and not self._hold and not self._raised:
            self._raised = True
            raise Stopped(self.pending)

    # -- folders --
    def folder(self, prefix):
        """A new, empty folder of this gate's own."""
        return tempfile.mkdtemp(prefix=prefix, dir=self.root)

    def limit(self):
        return self.timeout if self.timeout else default_limit(self.durations)

    # -- processes --
    def run(self, cmd, stderr_path, what, limit=None, stdout_path=None, record=True):
        """Run `cmd` (an argument list, no shell); return its exit status once it and its
        process group are gone. CvpError when it cannot start or outlives its limit."""
        return self.run_together([(cmd, stderr_path, what, stdout_path)], limit=limit,
                                 record=record)[0]

    def run_together(self, jobs, limit=None, record=True):
        """Start every job, (cmd, stderr_path, what, stdout_path), at the same moment (their
        files are opened first, then the processes started one right after the other); wait for
        all of them; return their exit statuses once they and their process groups are gone.
        When one exits with a status other than 0 the others are stopped at once and get None.
        CvpError when one cannot start or when they outlive `limit` (from the start). Without
        `limit` or --timeout-s, the default limit (default_limit) is taken again each time a
        run of the set finishes, its time counted: the partner of a duet run that hangs is
        stopped at LIMIT_FACTOR x the finished run's time (at least MIN_LIMIT_S), not at the
        FIRST_LIMIT_S that the first round starts with."""
        adaptive = not limit and not self.timeout and record
        limit = limit or self.limit()
        self._check()
        procs = []
        self._hold += 1
        try:
            with contextlib.ExitStack() as files:
                streams = [(files.enter_context(open(stderr_path, "wb")),
                            files.enter_context(open(stdout_path or os.devnull, "wb")))
                           for _, stderr_path, _, stdout_path in jobs]
                try:
                    for (cmd, _, _, _), (err, out) in zip(jobs, streams):
                        procs.append(self._start(cmd, err, out))
                        self._procs.append(procs[-1])
                except BaseException:
                    if procs:
                        self._stop(procs, [""] * len(procs))
                    raise
            started = time.monotonic()
        finally:
            self._hold -= 1
        ended = [None] * len(procs)
        deadline = [started + limit]
        try:
            self._check()
            finished = self._wait(procs, ended, deadline, started if adaptive else None)
        except BaseException:
            self._stop(procs, [""] * len(procs))
            raise
        self._stop(procs, [what if finished and ended[i] is not None else ""
                           for i, (_, _, what, _) in enumerate(jobs)])
        if not finished:
            i = ended.index(None)
            cmd, what = jobs[i][0], jobs[i][2]
            moved = deadline[0] < started + limit
            limit = deadline[0] - started
            if self.timeout:
                how = "the limit of --timeout-s"
            elif not record:
                how = "the limit of --list without --timeout-s"
            else:
                partner = " (the run started with it included)" if moved else ""
                how = (f"the default limit: {LIMIT_FACTOR:g} x the longest run so far"
                       f"{partner}, at least {MIN_LIMIT_S:g} s, or {FIRST_LIMIT_S:g} s before "
                       f"any run has finished; set one with --timeout-s")
            whom = ("it and its process group" if len(jobs) == 1 else
                    "the runs started with it and their process groups")
            raise CvpError(f"{cmd[0]}: still running after {limit:g} s ({what}; {how}); "
                           f"stopped {whom}")
        codes = [None if end is None else proc.returncode for proc, end in zip(procs, ended)]
        if record:
            self.durations += [end - started for end, code in zip(ended, codes) if code == 0]
        return codes

    @staticmethod
    def _start(cmd, err, out):
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        except FileNotFoundError:
            raise CvpError(f"{cmd[0]}: no such program") from None
        except PermissionError:
            raise CvpError(f"{cmd[0]}: not executable") from None
        except OSError as e:
            raise CvpError(f"{cmd[0]}: cannot run ({e.strerror})") from None

    def _wait(self, procs, ended, deadline, started=None):
        """True once every process has exited (left unreaped where the system allows), or one
        has exited with a status other than 0; False at the deadline, deadline[0]. `ended` gets
        the time at which each was seen to exit. With `started` (the default limit applies),
        a process that exits 0 brings the deadline of the others forward to started +
        default_limit(the runs so far and its own), where that is earlier. A stop signal
        raises Stopped out of the sleep."""
        pause = _POLL_S
        while True:
            failed = False
            for i, proc in enumerate(procs):
                if ended[i] is None:
                    status = self._status(proc)
                    if status is not None:
                        ended[i] = time.monotonic()
                        failed = failed or status != 0
                        if status == 0 and started is not None:
                            deadline[0] = min(deadline[0], started + default_limit(
                                self.durations + [ended[i] - started]))
            if failed or all(end is not None for end in ended):
                return True
            left = deadline[0] - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.2)
            self._check()

    @staticmethod
    def _status(proc):
        """The exit status of `proc` (negative: the signal that killed it) once it has exited,
        else None; the process is left unreaped where the system allows."""
        if proc.returncode is not None:
            return proc.returncode
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            try:
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                pass
            else:
                if info is None:
                    return None
                if info.si_code == getattr(os, "CLD_EXITED", 1):
                    return info.si_status
                return -info.si_status
        return proc.poll()

    def _stop(self, procs, whats):
        """SIGTERM to the processes' groups (and, with `sweep`, to every other live descendant),
        SIGKILL after the grace period, then reap. `whats` (one per process; '' for none) name
        the runs in the message that counts what a run left running."""
        self._hold += 1
        try:
            pgids = {proc.pid for proc in procs}  # a session leader's process group id is its pid
            targets = _live_targets(pgids, self.sweep)
            if targets:
                others = {pid: group for pid, group in targets.items() if pid not in pgids}
                strays = [pid for pid, group in others.items() if group not in pgids]
                for proc, what in zip(procs, whats):
                    left = [pid for pid, group in others.items() if group == proc.pid]
                    if len(procs) == 1:
                        left += strays
                    if what and left:
                        self.log(f"cvp gate: {len(left)} process(es) that {proc.args[0]} left "
                                 f"running ({what}) stopped")
                named = [what for what in whats if what]
                if len(procs) > 1 and strays and named:
                    self.log(f"cvp gate: {len(strays)} process(es) that the binaries left "
                             f"running ({'; '.join(named)}) stopped")
            if targets is None or targets:
                self._signal(pgids, targets, signal.SIGTERM)
                deadline = time.monotonic() + self.grace
                while time.monotonic() < deadline and self._alive(pgids, procs):
                    time.sleep(_POLL_S)
                targets = _live_targets(pgids, self.sweep)
                if targets is None or targets:
                    self._signal(pgids, targets, signal.SIGKILL)
            for proc in procs:
                proc.wait()
            if self.sweep:
                self._reap_orphans()
            self._procs = [p for p in self._procs if p not in procs]
        finally:
            self._hold -= 1

    @staticmethod
    def _signal(pgids, targets, sig):
        sends = [(os.killpg, pgid) for pgid in sorted(pgids)]
        sends += [(os.kill, pid) for pid in sorted(targets or ())]
        for send, target in sends:
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _alive(self, pgids, procs):
        targets = _live_targets(pgids, self.sweep)
        if targets is not None:
            return bool(targets)
        for proc in procs:  # without /proc: reap the leaders, then ask whether a group is left
            proc.poll()
        for pgid in pgids:
            try:
                os.killpg(pgid, 0)
                return True
            except (ProcessLookupError, PermissionError):
                pass
        return False

    @staticmethod
    def _reap_orphans():
        """Collect the orphans re-parented to this subreaper (no other child is running)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def close(self):
        """Stop the binaries still running, remove the private folder (unless `keep`), restore
        the signal handlers. Safe to call twice."""
        self._hold += 1
        try:
            if self._procs:
                self._stop(list(self._procs), [""] * len(self._procs))
            if not self.keep and not self._closed:
                shutil.rmtree(self.root, ignore_errors=True)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = {}
            self._closed = True
        finally:
            self._hold -= 1


def _tail(path):
    """The last non-empty line of a file (its last _TAIL_BYTES), on one line, or ''."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return _visible(lines[-1][:200]) if lines else ""


def list_benchmarks(sup, binary, extra, more=()):
    """The benchmark names `BIN --quick --list [more] [extra]` prints, or None when the binary
    cannot list them (then the power check waits for the measurements, and there is no duet)."""
    folder = sup.folder("list-")
    listing = os.path.join(folder, "stdout.txt")
    try:
        code = sup.run([binary, "--quick", "--list", *more, *extra],
                       os.path.join(folder, "stderr.txt"), "--list",
                       limit=sup.timeout or LIST_LIMIT_S, stdout_path=listing, record=False)
    except CvpError as e:
        sup.log(f"cvp gate: {binary} could not list its benchmarks ({e}); counting them from "
                f"the first round")
        return None
    if code != 0:
        return None
    with open(listing, "rb") as f:
        text = f.read(_LIST_BYTES).decode("utf-8", "replace")
    names = [line.strip() for line in text.splitlines()]
    names = [n for n in names if n and " " not in n]
    return names or None


def read_output(out, binary, what):
    """The run a binary wrote into `out`, a path inside a folder the gate made empty just before
    the run: it must be a folder (not a link) holding a regular file (not a link) that the
    binary wrote in this run."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        raise CvpError(f"{binary}: exited with status 0 but wrote no --out folder ({what})") \
            from None
    if not stat.S_ISDIR(st.st_mode):
        raise CvpError(f"{binary}: its --out {display_path(out)} is not a folder ({what})")
    for name in (SUMMARY_FILE, GBENCH_FILE):
        path = os.path.join(out, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise CvpError(f"{binary}: {display_path(path)} is not a regular file ({what})")
        return load_run(path)
    raise CvpError(f"{binary}: wrote neither {SUMMARY_FILE} nor {GBENCH_FILE} into its --out "
                   f"folder ({what})")


# --- the plan of a binary-mode gate: duet rounds for one-core points -----------------------------

DEFAULT_SEED = 1
DUET_CHOICES = ("auto", "on", "off")
_ONE_CORE = re.compile(r"/mode:(serial|concurrent)(/|$)")


def is_one_core(name):
    """True for the points that use one core (mode serial or concurrent): the duet's."""
    return bool(_ONE_CORE.search(name))


def option_value(args, name):
    """The value of the last `name X` or `name=X` in `args`, or None."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


def without_option(args, name):
    """`args` less any `name X` and `name=X`."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def without_filter(args):
    """`args` less any --filter option (both `--filter X` and `--filter=X`)."""
    return without_option(args, "--filter")


def parse_cpu_list(text):
    """{cpu} of a list like cvpbench's --cpus ('0-3,8'); CvpError when it is not one."""
    cpus = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*([0-9]{1,6})\s*(?:-\s*([0-9]{1,6})\s*)?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise CvpError(f"--cpus {text!r} after --: not a CPU list such as 0-3,8")
        cpus.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return cpus


def allowed_cpus():
    """The CPUs this process may run on (os.sched_getaffinity), or None where unknown."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _siblings(cpu):
    """The CPUs that share `cpu`'s core (SMT siblings, itself included), from sysfs."""
    path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
    try:
        with open(path) as f:
            return parse_cpu_list(f.read().strip())
    except (OSError, CvpError):
        return {cpu}


def duet_cpus(cpus):
    """Two CPUs of `cpus` for a duet, on different cores where the machine has SMT: the lowest,
    and the lowest one that is not its sibling (else the next one). None with fewer than 2."""
    cpus = sorted(cpus or ())
    if len(cpus) < 2:
        return None
    siblings = _siblings(cpus[0])
    return cpus[0], next((c for c in cpus[1:] if c not in siblings), cpus[1])


def interleave_orders(seed, label, rounds):
    """For each round, True when the baseline runs first: drawn at random from a generator
    seeded with (`seed`, `label`), so the same gate runs in the same order (randomized multiple
    interleaved trials; strict alternation would line up with any periodic disturbance)."""
    rng = random.Random(f"cvp-gate/{seed}/{label}")
    return [rng.random() < 0.5 for _ in range(rounds)]


@dataclass
class Plan:
    """How a binary-mode gate runs its rounds. With `cpus` (two CPUs): the one-core points
    (`one_core`, names as the binaries pinned to one CPU list them) run as duets, both binaries
    started together, pinned to cpus[0] and cpus[1] (swapped every round), and the other points
    (`all_core`) in interleaved runs; without: every point in interleaved runs. The order of the
    interleaved runs within a round is drawn from `seed`. `note` says why there is no duet."""
    seed: int = DEFAULT_SEED
    cpus: tuple = None
    one_core: list = None
    all_core: list = None
    note: str = ""
    count: int = None   # benchmarks both binaries list (None: unknown)
    listed: list = None  # every name either binary listed (None: not listed)

    def describe(self):
        """JSON-ready."""
        return {"duet": self.cpus is not None, "cpus": list(self.cpus) if self.cpus else None,
                "one_core": len(self.one_core) if self.one_core is not None else None,
                "all_core": len(self.all_core) if self.all_core is not None else None,
                "seed": self.seed, "note": self.note or None}


def _union(listings, keep):
    out = []
    for names in listings:
        for n in names or ():
            if keep(n) and n not in out:
                out.append(n)
    return out


def _common_count(per_binary):
    from .compare import work_key
    if not all(per_binary):
        return None
    keys = [{work_key(n) for n in names} for names in per_binary]
    return len(set.intersection(*keys))


def make_plan(sup, binaries, extra, duet="auto", seed=DEFAULT_SEED, count=False):
    """The Plan for these binaries (baseline, candidate) and arguments. Lists the benchmarks
    (`--list`, and `--list --cpus A` for the names pinned to one CPU) when a duet is possible or
    `count` asks for the number of benchmarks. CvpError for `--duet on` where no duet is
    possible."""
    if duet not in DUET_CHOICES:
        raise CvpError(f"--duet must be one of {', '.join(DUET_CHOICES)}: {duet!r}")
    plan = Plan(seed=seed)
    why = cpus = None
    if duet != "off":
        allowed = allowed_cpus()
        user = option_value(extra, "--cpus")
        pool = allowed if user is None or allowed is None else parse_cpu_list(user) & allowed
        cpus = duet_cpus(pool)
        if cpus is None:
            n = "an unknown number of" if pool is None else str(len(pool))
            whose = "the --cpus after -- leave" if user is not None else "the gate may use"
            why = (f"{whose} {n} CPU{'' if pool is not None and len(pool) == 1 else 's'} (a "
                   f"duet needs 2)")
            if duet == "on":
                raise CvpError(f"--duet on: no duet is possible here: {why}")
    plain = [list_benchmarks(sup, b, extra) for b in binaries] if cpus or count \
        else [None, None]
    if count:
        plan.count = _common_count(plain)
    plan.listed = _union(plain, lambda n: True) or None
    if duet == "off":
        plan.note = "Duet off (--duet off): every benchmark ran in interleaved rounds."
        return plan
    if cpus is not None and not any(plain):
        why = "the binaries could not list their benchmarks (--list), so the one-core points " \
              "could not be told apart"
    elif cpus is not None:
        one_plain = _union(plain, is_one_core)
        if not one_plain:
            plan.note = ("No duet: none of the benchmarks is one-core (mode serial or "
                         "concurrent); every benchmark ran in interleaved rounds.")
            return plan
        pinned = [list_benchmarks(sup, b, without_option(extra, "--cpus"),
                                  more=("--cpus", str(cpus[0]))) for b in binaries]
        one = _union(pinned, is_one_core)
        if not one:
            why = (f"the binaries could not list their benchmarks pinned to one CPU "
                   f"(--list --cpus {cpus[0]})")
        else:
            plan.cpus, plan.one_core = cpus, one
            plan.listed = _union([plan.listed] + pinned, lambda n: True)
            plan.all_core = _union(plain, lambda n: not is_one_core(n))
            if count:
                plan.count = _common_count(
                    [[n for n in p if is_one_core(n)] + [n for n in q or () if not is_one_core(n)]
                     if p else None for p, q in zip(pinned, plain)])
            return plan
    if duet == "on":
        raise CvpError(f"--duet on: no duet is possible here: {why}")
    plan.note = f"Duet off: {why}; every benchmark ran in interleaved rounds."
    return plan


def _job(sup, binary, folder_prefix, args, what):
    folder = sup.folder(folder_prefix)
    out = os.path.join(folder, "out")
    cmd = [binary, "--quick", "--out", out, *args]
    return (cmd, os.path.join(folder, "stderr.txt"), what, None), out


def _run_jobs(sup, jobs):
    """Run the jobs [((cmd, stderr, what, stdout), out)] together; their runs, in order."""
    codes = sup.run_together([job for job, _ in jobs])
    for ((cmd, errors, what, _), _), code in zip(jobs, codes):
        if code not in (0, None):
            tail = _tail(errors)
            why = f": {tail}" if tail else ""
            status = (f"was killed by signal {-code}" if code < 0 else
                      f"exited with status {code}")
            raise CvpError(f"{cmd[0]}: {status} ({what}){why}")
    return [read_output(out, cmd[0], what) for (cmd, _, what, _), out in jobs]


def _merge(parts):
    """One Round from [(run, keep)]: the benchmarks of each run that `keep` accepts."""
    r = Round()
    for run, keep in parts:
        for key, m in measured(run).items():
            if keep(key) and key not in r:
                r[key] = m
    r.canary = canary_pattern(parts[0][0])
    return r


def run_rounds(sup, baseline_bin, candidate_bin, rounds, extra, label="", filter_names=None,
               plan=None, candidate_extra=None):
    """Run the rounds of a gate; returns (baseline rounds, candidate rounds), [Round] each,
    round i of one paired with round i of the other. Every run gets `--seed ROUND`.

    With a duet plan (see Plan) each round runs the one-core points as a duet (both binaries
    started together, `--cpus A` and `--cpus B`, swapped every round, the same --filter), then
    the other points interleaved; without, every point interleaved. The order of an
    interleaved pair is drawn from the plan's seed (interleave_orders). `filter_names` (the
    confirmation) runs only those benchmarks, split the same way; `candidate_extra` replaces
    `extra` for the candidate. Every call is an argument list (no shell), into a new empty
    folder of its own (see Supervisor); a failing run is a CvpError. Each Round has `seconds`,
    the wall time of its round."""
    plan = plan or Plan()
    sides = {"baseline": (baseline_bin, list(extra)),
             "candidate": (candidate_bin, list(extra if candidate_extra is None
                                               else candidate_extra))}
    if plan.cpus:
        one = plan.one_core if filter_names is None else \
            [n for n in filter_names if is_one_core(n)]
        rest = plan.all_core if filter_names is None else \
            [n for n in filter_names if not is_one_core(n)]
    else:
        one, rest = [], None  # None: no split
    orders = interleave_orders(plan.seed, label, rounds)
    base, cand = [], []
    for i in range(rounds):
        r = i + 1
        started = time.monotonic()
        parts = {"baseline": [], "candidate": []}
        if one:
            cpu = dict(zip(("baseline", "candidate"), plan.cpus if i % 2 == 0
                           else plan.cpus[::-1]))
            sup.log(f"cvp gate: {label}round {r}/{rounds}: duet, baseline on CPU "
                    f"{cpu['baseline']}, candidate on CPU {cpu['candidate']}")
            jobs = []
            for side in ("baseline", "candidate"):
                binary, args = sides[side]
                jobs.append(_job(sup, binary, f"{label}round{r}-{side}-duet-",
                                 ["--seed", str(r), "--cpus", str(cpu[side]),
                                  "--filter", filter_regex(one),
                                  *without_option(without_filter(args), "--cpus")],
                                 f"{label}round {r}, {side} (duet, CPU {cpu[side]})"))
            for side, run in zip(("baseline", "candidate"), _run_jobs(sup, jobs)):
                parts[side].append((run, is_one_core))
        if rest is None or rest:
            order = ["baseline", "candidate"] if orders[i] else ["candidate", "baseline"]
            for side in order:
                binary, args = sides[side]
                if rest is not None:
                    more = ["--filter", filter_regex(rest)] + without_filter(args)
                    what, prefix, keep = (f"{label}round {r}, {side} (all-core)",
                                          f"{label}round{r}-{side}-allcore-",
                                          lambda key: not is_one_core(key))
                else:
                    # The names passed the user's own --filter already; only ours may remain.
                    more = (["--filter", filter_regex(filter_names)] + without_filter(args)
                            if filter_names else args)
                    what, prefix, keep = (f"{label}round {r}, {side}",
                                          f"{label}round{r}-{side}-", lambda key: True)
                sup.log(f"cvp gate: {label}round {r}/{rounds}: {side}"
                        + (" (all-core)" if rest is not None else ""))
                run, = _run_jobs(sup, [_job(sup, binary, prefix, ["--seed", str(r), *more],
                                            what)])
                parts[side].append((run, keep))
        seconds = time.monotonic() - started
        for side, sink in (("baseline", base), ("candidate", cand)):
            merged = _merge(parts[side])
            merged.seconds = seconds
            sink.append(merged)
    return base, cand


def run_gate(sup, baseline_bin, candidate_bin, rounds, extra, opts, plan=None, label="",
             candidate_extra=None):
    """Run the rounds, evaluate, and re-run the flagged benchmarks (unless the canary says the
    machine is too noisy): (first evaluation, confirmation or None)."""
    base, cand = run_rounds(sup, baseline_bin, candidate_bin, rounds, extra, label=label,
                            plan=plan, candidate_extra=candidate_extra)
    first = evaluate(base, cand, opts)
    confirm = None
    if wants_confirmation(first):
        sup.log(f"cvp gate: re-running {len(first['flagged'])} flagged benchmark(s) to confirm")
        base, cand = run_rounds(sup, baseline_bin, candidate_bin, rounds, extra,
                                label=f"{label}confirm-", filter_names=flagged_names(first),
                                plan=plan, candidate_extra=candidate_extra)
        confirm = evaluate(base, cand, opts, only=set(first["flagged"]))
    return first, confirm


def wants_confirmation(first):
    """A re-run is due: something was flagged and the canary did not call the machine noisy."""
    noisy = first["canary"] and first["canary"]["noisy"]
    return bool(first["flagged"]) and not noisy


def plan_text(plan, rounds):
    """The Markdown sentence on how the rounds ran."""
    if plan.cpus:
        a, b = plan.cpus
        text = (f"{rounds} rounds. One-core points (mode serial or concurrent, "
                f"{len(plan.one_core)} listed) ran as duets: in each round both binaries started "
                f"together, pinned to CPUs {a} and {b} (swapped every round), with the same "
                f"`--filter` and the round number as `--seed`.")
        if plan.all_core:
            text += (f" The other points ({len(plan.all_core)} listed) ran interleaved, the "
                     f"order within each round drawn at random (seed {plan.seed}).")
        return text
    text = (f"{rounds} interleaved rounds, the order within each round drawn at random "
            f"(seed {plan.seed}), the round number as `--seed`.")
    return text + (f" {plan.note}" if plan.note else "")


# --- calibration: what the gate finds, and how often it cries wolf ------------------------------

DEFAULT_INJECT = "^matmul/n:[0-9]+/mode:serial/"  # the default canary's points, in every plan
DEFAULT_SLOWDOWNS = (5.0, 10.0)
CALIBRATION_LEVELS = (0.80, 0.95)
OUTCOMES = ("detected", "missed", "inconclusive", "false alarm", "passed")


def _pct_text(pct):
    return f"+{pct:g}%"


def _outcome(code, first, confirm, planted, pattern):
    """One gate's outcome: detected (a planted benchmark among the confirmed regressions),
    missed (exit 0 with a slowdown planted), passed (exit 0 of an A/A gate), inconclusive
    (exit 3), false alarm (exit 1 with no planted benchmark confirmed, or any exit 1 of A/A)."""
    if code == INCONCLUSIVE:
        return "inconclusive"
    if code == PASS:
        return "missed" if planted else "passed"
    confirmed = set(confirm["flagged"]) if confirm else set()
    names = [n for r in first["benchmarks"] if r["name"] in confirmed
             for n in r.get("names", [r["name"]])]
    if planted and any(pattern.search(n) for n in names):
        return "detected"
    return "false alarm"


def _check_planted(names, slowdowns, inject):
    if slowdowns and not names:
        raise CvpError(f"--inject {inject!r} matches none of the benchmarks the gate measures; "
                       f"planted slowdowns could never be detected")


def _planted_ratios(first, pattern):
    """The candidate / baseline ratios the gate measured for the benchmarks REGEX matches."""
    return [r["ratio"] for r in first["benchmarks"] if r["ratio"] is not None
            and any(pattern.search(n) for n in r.get("names", [r["name"]]))]


def _planted_names(rounds, pattern):
    return sorted({n for r in rounds for m in r.values() for n in (m.name, m.key)
                   if pattern.search(n)})


def calibrate(sup, program, extra, opts, rounds, gates, slowdowns, inject, pool, plan, log=None):
    """Run `program` as both baseline and candidate: A/A, then each planted slowdown (the
    candidate gets `--inject-slowdown PCT:inject`); `gates` gates of `rounds` rounds each per
    condition, evaluated like a real gate (confirmation included). With `pool` (rounds per
    condition, at least 2 x rounds) the rounds run once per condition and every gate draws its
    rounds, and as many again for its confirmation, at random without replacement from the
    pool, whole rounds at a time (so a duet pair stays a pair); with pool 0 every gate runs its
    own rounds. A JSON-ready dict (see calibration_markdown)."""
    log = log or (lambda line: None)
    pattern = re.compile(inject)
    conditions = [("A/A", 0.0)] + [(_pct_text(p), p) for p in slowdowns]
    results = []
    tests = []  # the test each gate's first evaluation ran (--test auto chooses by rounds)
    planted_seen = None
    if slowdowns and plan.listed is not None:
        planted_seen = sorted(n for n in plan.listed if pattern.search(n))
        if not planted_seen:
            raise CvpError(f"--inject {inject!r} matches none of the benchmarks the binary "
                           f"lists; planted slowdowns could never be detected")
    for name, pct in conditions:
        tag = "aa" if not pct else f"slow{pct:g}".replace(".", "_")
        cand_extra = list(extra) + (["--inject-slowdown", f"{pct:g}:{inject}"] if pct else [])
        outcomes, codes, seconds, ratios = [], [], [], []
        started = time.monotonic()
        if pool:
            log(f"cvp gate: calibration {name}: {pool} rounds for the pool")
            base, cand = run_rounds(sup, program, program, pool, extra, label=f"{tag}-pool-",
                                    plan=plan, candidate_extra=cand_extra)
            if planted_seen is None:
                planted_seen = _planted_names(base, pattern)
                _check_planted(planted_seen, slowdowns, inject)
            rng = random.Random(f"cvp-gate-calibrate/{plan.seed}/{tag}")
            for _ in range(gates):
                t0 = time.monotonic()
                drawn = rng.sample(range(pool), 2 * rounds)
                first_i, confirm_i = drawn[:rounds], drawn[rounds:]
                first = evaluate([base[i] for i in first_i], [cand[i] for i in first_i], opts)
                tests.append(first["test"])
                spent = sum(base[i].seconds for i in first_i)
                confirm = None
                if wants_confirmation(first):
                    confirm = evaluate([base[i] for i in confirm_i],
                                       [cand[i] for i in confirm_i], opts,
                                       only=set(first["flagged"]))
                    spent += sum(base[i].seconds for i in confirm_i)
                code = decide(first, confirm)[0]
                ratios += _planted_ratios(first, pattern)
                seconds.append(spent + time.monotonic() - t0)
                codes.append(code)
                outcomes.append(_outcome(code, first, confirm, bool(pct), pattern))
        else:
            for g in range(gates):
                log(f"cvp gate: calibration {name}: gate {g + 1}/{gates}")
                t0 = time.monotonic()
                first, confirm = run_gate(sup, program, program, rounds, extra, opts, plan,
                                          label=f"{tag}-gate{g + 1}-",
                                          candidate_extra=cand_extra)
                tests.append(first["test"])
                if planted_seen is None:
                    planted_seen = sorted({n for r in first["benchmarks"]
                                           for n in r.get("names", [r["name"]])
                                           if pattern.search(n)})
                    _check_planted(planted_seen, slowdowns, inject)
                code = decide(first, confirm)[0]
                ratios += _planted_ratios(first, pattern)
                seconds.append(time.monotonic() - t0)
                codes.append(code)
                outcomes.append(_outcome(code, first, confirm, bool(pct), pattern))
        counts = {o: outcomes.count(o) for o in OUTCOMES}
        results.append({
            "condition": name, "slowdown_pct": pct, "gates": gates,
            "detected": counts["detected"] if pct else None,
            "missed": counts["missed"] if pct else None,
            "inconclusive": counts["inconclusive"], "false_alarm": counts["false alarm"],
            "passed": None if pct else counts["passed"],
            "exit_codes": codes,
            "planted_ratio_median": float(np.median(ratios)) if ratios else None,
            "seconds_per_gate": {"mean": sum(seconds) / len(seconds), "max": max(seconds)},
            "wall_seconds": time.monotonic() - started})
    smallest = {}
    for level in CALIBRATION_LEVELS:
        found = [r["slowdown_pct"] for r in results
                 if r["slowdown_pct"] and 100 * r["detected"] >= round(100 * level) * r["gates"]]
        smallest[f"{round(100 * level)}"] = min(found) if found else None
    return {"program": program, "arguments": list(extra), "rounds": rounds, "gates": gates,
            "pool_rounds": pool or None, "pooled": bool(pool), "inject": inject,
            "planted_benchmarks": planted_seen or [], "seed": plan.seed,
            "plan": plan.describe(), "alpha": opts.alpha,
            "test": tests[0] if len(set(tests)) == 1 else "/".join(sorted(set(tests))),
            "test_option": opts.test, "canary_limit": opts.canary_cv_max,
            "canary": opts.canary,
            "thresholds": {k: opts.threshold(k) for k in KIND_ORDER},
            "conditions": results, "smallest_detected": smallest}


_CAL_TESTS = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test with the "
              "Hodges-Lehmann ratio"}


def calibration_markdown(cal):
    """The calibration as Markdown: a table per condition and the smallest slowdowns found."""
    def cell(value):
        return "–" if value is None else str(value)

    def ratio(row):
        value = row.get("planted_ratio_median")
        return "–" if value is None else f"{value:.3f}"
    planted = cal["planted_benchmarks"]
    lines = ["## cvpbench gate calibration", "",
             f"Program {md_code(cal['program'])} run as both baseline and candidate. A/A: the "
             f"candidate unchanged; a planted slowdown: the candidate with "
             f"`--inject-slowdown PCT:REGEX`, REGEX {md_code(cal['inject'])} "
             f"({len(planted)} benchmark(s): "
             + (", ".join(md_code(n) for n in planted[:6]) + (", ..." if len(planted) > 6
                                                              else "") if planted else "none")
             + f"). Each gate: {cal['rounds']} paired rounds, evaluated like `cvp gate` "
             f"(one-sided {_CAL_TESTS.get(cal['test'], cal['test'])}, Holm, "
             f"alpha {cal['alpha']:g}, thresholds by kind"
             + (" (" + ", ".join(f"{k} {100 * v:g}%" for k, v in cal["thresholds"].items())
                + ")" if cal.get("thresholds") else "")
             + ", confirmation by a second set of rounds, canary"
             + (f" judged on its paired log ratios, limit {100 * cal['canary_limit']:g}%"
                if cal.get("canary_limit") is not None else "") + ").", ""]
    plan = cal["plan"]
    if plan["duet"]:
        lines += [f"Rounds: one-core points as duets on CPUs {plan['cpus'][0]} and "
                  f"{plan['cpus'][1]} (swapped every round)"
                  + (f", the others interleaved in an order drawn at random (seed "
                     f"{plan['seed']})." if plan["all_core"] else "."), ""]
    else:
        lines += [f"Rounds: interleaved, in an order drawn at random (seed {plan['seed']}). "
                  + (plan["note"] or ""), ""]
    if cal["pooled"]:
        lines += [f"Pool: each condition ran {cal['pool_rounds']} rounds once; every gate drew "
                  f"its {cal['rounds']} rounds, and {cal['rounds']} more for its confirmation, "
                  f"at random without replacement from that pool (whole rounds, so a duet pair "
                  f"stays a pair; seed {cal['seed']}). Gates share rounds, so their outcomes "
                  f"are not independent. Time per gate: the wall time of the rounds it drew "
                  f"(a confirmation counted as full rounds) plus its evaluation.", ""]
    else:
        lines += ["No pool: every gate ran its own rounds, and its own confirmation, like a "
                  "real gate. Time per gate: its wall time.", ""]
    lines += ["| condition | gates | detected | missed | inconclusive | false alarm | passed "
              "| planted points' ratio | time per gate, mean | max |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in cal["conditions"]:
        lines.append(f"| {r['condition']} | {r['gates']} | {cell(r['detected'])} | "
                     f"{cell(r['missed'])} | {cell(r['inconclusive'])} | "
                     f"{cell(r['false_alarm'])} | {cell(r['passed'])} | {ratio(r)} | "
                     f"{r['seconds_per_gate']['mean']:.1f} s | "
                     f"{r['seconds_per_gate']['max']:.1f} s |")
    lines.append("")
    for level, pct in cal["smallest_detected"].items():
        found = _pct_text(pct) if pct is not None else "none of those tried"
        lines.append(f"Smallest planted slowdown found in >= {level}% of gates: {found}.")
        lines.append("")
    lines += ["detected: exit 1 with a planted benchmark among the confirmed regressions; "
              "missed: exit 0 with a slowdown planted; inconclusive: exit 3; false alarm: exit 1 "
              "with no planted benchmark confirmed (A/A: any exit 1); passed: exit 0 of an A/A "
              "gate. planted points' ratio: the median, over the gates, of the candidate / "
              "baseline ratio each gate measured for the benchmarks REGEX matches."]
    return "\n".join(lines).rstrip() + "\n"

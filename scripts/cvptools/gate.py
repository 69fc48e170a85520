"""A CI gate: is the candidate slower than the baseline, beyond noise and beyond a threshold?

Method (one verdict per benchmark):
  * rounds are paired (round i of the baseline with round i of the candidate); each round
    contributes one time per benchmark: the median of its repetitions, per unit of work (per
    request for request benchmarks, matched by name without `/requests:N`, so rounds that ran
    different request counts still pair, and the table says so);
  * the per-round log ratio log(candidate / baseline) is tested one-sided for "slower"
    (paired t-test by default, Wilcoxon signed-rank on request);
  * Holm's correction across benchmarks keeps the family-wise false-alarm rate at alpha;
  * a regression is flagged only when significant (Holm-adjusted p <= alpha) AND the
    geometric-mean slowdown reaches the threshold of the benchmark's kind (cpu 5%, io 10%);
  * flagged benchmarks are re-measured once; only a regression seen again is confirmed;
  * a canary (default: the serial matmul) whose coefficient of variation across rounds exceeds
    a limit means the machine is too noisy to judge: the verdict is inconclusive.

What it can flag: a Wilcoxon test on n rounds cannot give p below 2^-n, and Holm multiplies the
smallest p by the number of benchmarks m, so m * 2^-n > alpha makes every flag impossible: the
gate refuses (bad input) and says how many rounds it needs. The t-test can reach any p, so each
benchmark also gets the smallest slowdown its observed round-to-round spread would let it flag
(at the first Holm step); when no benchmark can flag its own threshold the verdict is
inconclusive, never a pass.

Exit codes: 0 pass, 1 confirmed regression, 3 inconclusive (noisy machine, too few rounds for
the noise, or unconfirmed regression), 2 bad input.
"""

import fnmatch
import math
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from . import CvpError
from . import stats
from .compare import measured
from .io import load_run

PASS, REGRESSION, BAD_INPUT, INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_CANARY = "matmul/*mode:serial*"
_LOG_LIMIT = math.log(1e100)  # log ratios beyond this are not measurements
TESTS = ("t", "wilcoxon")


@dataclass
class GateOptions:
    threshold_cpu: float = 0.05
    threshold_io: float = 0.10
    alpha: float = 0.05
    test: str = "t"
    canary: str = DEFAULT_CANARY
    canary_required: bool = False
    canary_cv_max: float = 0.10

    def threshold(self, kind):
        return self.threshold_io if kind == "io" else self.threshold_cpu

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
        number("alpha", self.alpha, 0.0, 1.0, low_open=True)
        number("canary_cv_max", self.canary_cv_max, 0.0, math.inf)
        if self.test not in TESTS:
            raise CvpError(f"gate: test must be one of {', '.join(TESTS)}: {self.test!r}")
        return self


def rounds_from_runs(runs):
    """[{work key: Measured}] per round (per-unit medians: see compare.measured)."""
    return [measured(run) for run in runs]


def check_power(rounds, benchmarks, opts, what="the gate"):
    """CvpError unless a flag is attainable: with the Wilcoxon test the smallest p of n rounds is
    2^-n, and Holm's first step multiplies it by the number of benchmarks."""
    if rounds < 2:
        raise CvpError(f"{rounds} paired round(s); {what} needs at least 2")
    best = min(1.0, stats.paired_min_p(rounds, opts.test) * max(benchmarks, 1))
    if best > opts.alpha:
        need = stats.paired_rounds_needed(benchmarks, opts.alpha, opts.test)
        raise CvpError(
            f"{what} cannot flag anything: with --test {opts.test}, {rounds} rounds and "
            f"{benchmarks} benchmark(s) the smallest p is 2^-{rounds} = "
            f"{stats.paired_min_p(rounds, opts.test):.3g}, {best:.3g} after Holm's correction, "
            f"above alpha {opts.alpha:g}; use at least {need} rounds (or --test t, or fewer "
            f"benchmarks)")


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
            ratio, ci = stats.paired_ratio_ci(d)
            resolution = stats.paired_min_detectable(d, first_step, opts.test)
            row.update(ratio=ratio, ci95=list(ci), p=stats.paired_slower_p_value(d, opts.test),
                       resolution=resolution if math.isfinite(resolution) else None)
            row["resolves_threshold"] = math.isfinite(resolution) and \
                resolution <= row["threshold"]
            if not row["resolves_threshold"]:
                row["rounds_for_threshold"] = stats.paired_rounds_for(
                    d, row["threshold"], first_step, opts.test)
        rows.append(row)
    for row, adjusted in zip(rows, stats.holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted <= opts.alpha
        row["flagged"] = bool(row["significant"] and row["ratio"] >= 1 + row["threshold"])
    canary = None
    if only is None:
        name = _canary_name(names, opts.canary)
        if name is not None:
            cv_a = stats.coefficient_of_variation([r[name].median for r in baseline_rounds])
            cv_b = stats.coefficient_of_variation([r[name].median for r in candidate_rounds])
            canary = {"name": name, "cv_baseline": cv_a, "cv_candidate": cv_b,
                      "limit": opts.canary_cv_max,
                      "noisy": max(cv_a, cv_b) > opts.canary_cv_max}
        elif opts.canary_required:
            raise CvpError(f"canary {opts.canary!r} matches no benchmark present in every round")
    tested = [r for r in rows if r.get("resolves_threshold") is not None]
    underpowered = [r["name"] for r in tested if not r["resolves_threshold"]]
    return {"rounds": n_rounds, "test": opts.test, "alpha": opts.alpha,
            "min_p": stats.paired_min_p(n_rounds, opts.test),
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
            f"Canary `{canary['name']}` varies by "
            f"{100 * max(canary['cv_baseline'], canary['cv_candidate']):.1f}% "
            f"across rounds (limit {100 * canary['limit']:.1f}%); rerun on a quieter machine."]
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
    return PASS, "PASS: flagged slowdowns did not reproduce on re-run", notes + [
        "Flagged in the first pass but not on re-run: " + ", ".join(
            f"`{n}`" for n in first["flagged"]) + "."]


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


def _md(text):
    return str(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _pct(ratio):
    return f"{100 * (ratio - 1):+.1f}%"


def markdown(first, confirm, code, headline, notes, opts, context=""):
    test = "paired t-test" if opts.test == "t" else "Wilcoxon signed-rank test"
    lines = [f"## cvpbench gate: {headline}", ""]
    if context:
        lines += [context, ""]
    lines += [f"Candidate vs baseline over {first['rounds']} paired rounds: one-sided {test} on "
              f"per-round log time ratios, Holm-corrected across {len(first['benchmarks'])} "
              f"benchmarks (alpha = {opts.alpha}). A regression needs significance and a slowdown "
              f"of at least {100 * opts.threshold_cpu:g}% (cpu) or {100 * opts.threshold_io:g}% "
              f"(io), seen again on re-run.", ""]
    if opts.test == "wilcoxon":
        power = (f"With {first['rounds']} rounds the smallest p the Wilcoxon test can give is "
                 f"2^-{first['rounds']} = {first['min_p']:.3g}; Holm's first step needs p <= "
                 f"{first['holm_first_step']:.3g}.")
    else:
        power = (f"Holm's first step needs p <= {first['holm_first_step']:.3g} "
                 f"(alpha / {len(first['benchmarks'])}).")
    lines += [power + " 'could flag': the smallest slowdown each benchmark's own round-to-round "
              "spread lets the test flag at that step.", ""]
    canary = first["canary"]
    if canary:
        state = "too noisy" if canary["noisy"] else "ok"
        lines += [f"Canary `{_md(canary['name'])}`: CV {100 * canary['cv_baseline']:.1f}% "
                  f"(baseline), {100 * canary['cv_candidate']:.1f}% (candidate), limit "
                  f"{100 * canary['limit']:.1f}%: {state}.", ""]
    confirmed = set(confirm["flagged"]) if confirm else set()
    lines += ["| benchmark | kind | candidate / baseline | 95% CI | p (Holm) | could flag "
              "| verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = sorted(first["benchmarks"], key=lambda r: (not r["flagged"], -(r["ratio"] or 0)))
    for r in rows:
        if r["ratio"] is None:
            why = (r.get("notes") or ["not tested"])[-1]
            lines.append(f"| `{_md(r['name'])}` | {r['kind']} | n/a | n/a | n/a | n/a | "
                         f"{_md(why)} |")
            continue
        if r["flagged"]:
            if confirm is None:
                verdict = "**slower (unconfirmed)**"
            elif r["name"] in confirmed:
                verdict = "**regression (confirmed)**"
            else:
                verdict = "slower once, not on re-run"
        elif r["significant"] and r["ratio"] > 1:
            verdict = f"slower, below the {100 * r['threshold']:g}% threshold"
        elif r.get("resolves_threshold") is False:
            verdict = f"ok, but could not flag {100 * r['threshold']:g}%"
        else:
            verdict = "ok"
        p = "n/a" if r["p_holm"] is None else f"{r['p_holm']:.2g}"
        lines.append(f"| `{_md(r['name'])}` | {r['kind']} | {r['ratio']:.3f} ({_pct(r['ratio'])}) "
                     f"| [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | {p} | "
                     f"{_flaggable(r.get('resolution'), r.get('resolves_threshold') is not None)}"
                     f" | {verdict} |")
    lines.append("")
    for r in rows:
        for note in (r.get("notes", []) if r["ratio"] is not None else []):
            lines += [f"`{_md(r['name'])}`: {_md(note)}.", ""]
    if first["skipped"]:
        lines += ["Not in every round (not tested): " + ", ".join(
            f"`{_md(n)}`" for n in first["skipped"]) + ".", ""]
    lines += notes
    lines.append(f"\nExit code {code}.")
    return "\n".join(lines).rstrip() + "\n"


# --- running binaries ---------------------------------------------------------------------------

_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _regex_literal(text):
    """Escape only what both POSIX ERE and ECMAScript treat as special (re.escape does more,
    and escapes like '\\-' are undefined in POSIX)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def filter_regex(names):
    """A regex for `--filter` that matches exactly these benchmarks, with or without Google
    Benchmark's suffixes (/real_time ...); valid for both POSIX and std::regex engines."""
    return "^(" + "|".join(_regex_literal(n) for n in names) + ")(/.*)?$"


def without_filter(args):
    """`args` less any --filter option (both `--filter X` and `--filter=X`)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--filter":
            skip = True
        elif not a.startswith("--filter="):
            out.append(a)
    return out


def check_program(program):
    """CvpError unless `program` (a path, or a name on PATH) can be executed."""
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.exists(program):
            raise CvpError(f"{program}: no such program")
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise CvpError(f"{program}: not executable")
    elif shutil.which(program) is None:
        raise CvpError(f"{program}: no such program on PATH")


def list_benchmarks(binary, extra, timeout=None):
    """The benchmark names `BIN --quick --list [extra]` prints, or None when the binary cannot
    list them (then the power check waits for the measurements)."""
    try:
        proc = subprocess.run([binary, "--quick", "--list", *extra], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=timeout or 60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = [line.strip() for line in proc.stdout.decode("utf-8", "replace").splitlines()]
    names = [n for n in names if n and " " not in n]
    return names or None


def run_rounds(baseline_bin, candidate_bin, rounds, extra, workdir, label="", filter_names=None,
               timeout=None, log=None):
    """Run the two binaries interleaved, alternating which goes first; returns (base, cand) runs.
    Every call is an argument list (no shell); a failing run is a CvpError."""
    base, cand = [], []
    for i in range(rounds):
        order = [("baseline", baseline_bin, base), ("candidate", candidate_bin, cand)]
        if i % 2:
            order.reverse()
        for side, binary, sink in order:
            out = os.path.join(workdir, f"{label}round{i + 1}-{side}")
            cmd = [binary, "--quick", "--out", out]
            if filter_names:
                # The names passed the user's own --filter already; only ours may remain.
                cmd += ["--filter", filter_regex(filter_names)] + without_filter(extra)
            else:
                cmd += list(extra)
            if log:
                log(f"cvp gate: {label}round {i + 1}/{rounds}: {side}")
            try:
                proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      timeout=timeout, check=False)
            except FileNotFoundError:
                raise CvpError(f"{binary}: no such program") from None
            except PermissionError:
                raise CvpError(f"{binary}: not executable") from None
            except subprocess.TimeoutExpired:
                raise CvpError(f"{binary}: still running after {timeout} s "
                               f"({label}round {i + 1}, {side})") from None
            if proc.returncode != 0:
                tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                why = f": {tail[-1][:200]}" if tail else ""
                raise CvpError(f"{binary}: exited with status {proc.returncode} "
                               f"({label}round {i + 1}, {side}){why}")
            sink.append(load_run(out))
    return base, cand

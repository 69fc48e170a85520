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
    geometric-mean slowdown reaches the threshold of the benchmark's kind (cpu 5%, memory 10%,
    io 10%; the kind is the one the files declare: a summary's `kind`, a raw file's
    `cvpbench_workload_kinds`, else the fallback guess from the name);
  * flagged benchmarks are re-measured once; only a regression seen again is confirmed;
  * a canary whose coefficient of variation across rounds exceeds a limit means the machine is
    too noisy to judge: the verdict is inconclusive. By default it is the first serial point of
    the first cpu-kind workload the baseline's first round lists (its summary's `workloads`,
    or its raw context's `cvpbench_workload_kinds`), or `matmul/*mode:serial*` for files that
    list none.

What it can flag: a Wilcoxon test on n rounds cannot give p below 2^-n, and Holm multiplies the
smallest p by the number of benchmarks m, so m * 2^-n > alpha makes every flag impossible: the
gate refuses (bad input) and says how many rounds it needs. The t-test can reach any p, so each
benchmark also gets the smallest slowdown its observed round-to-round spread would let it flag
(at the first Holm step); when no benchmark can flag its own threshold the verdict is
inconclusive, never a pass.

Exit codes: 0 pass, 1 confirmed regression, 3 inconclusive (noisy machine, too few rounds for
the noise, or unconfirmed regression), 2 bad input (130 when stopped: see cli.py).

Binary mode (Supervisor, run_rounds): each run in a new empty folder of the gate's own and a
process group of its own, stderr to a file, a time limit that follows the work, and the whole
group (and every orphan it left) stopped when the run ends, times out or the gate is stopped.
Every string from outside that reaches the Markdown goes through md_code.
"""

import fnmatch
import glob
import math
import os
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
from .io import GBENCH_FILE, SUMMARY_FILE, display_path, load_run
from .results import KIND_ORDER, first_workload_of_kind, kind_rank

PASS, REGRESSION, BAD_INPUT, INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_CANARY = "matmul/*mode:serial*"  # for files that list no workload of kind cpu
_LOG_LIMIT = math.log(1e100)  # log ratios beyond this are not measurements
TESTS = ("t", "wilcoxon")


@dataclass
class GateOptions:
    threshold_cpu: float = 0.05
    threshold_io: float = 0.10
    threshold_memory: float = 0.10
    alpha: float = 0.05
    test: str = "t"
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
        pattern = opts.canary if opts.canary is not None else \
            getattr(baseline_rounds[0], "canary", DEFAULT_CANARY)
        name = _canary_name(names, pattern)
        if name is not None:
            cv_a = stats.coefficient_of_variation([r[name].median for r in baseline_rounds])
            cv_b = stats.coefficient_of_variation([r[name].median for r in candidate_rounds])
            canary = {"name": name, "pattern": pattern,
                      "chosen": "--canary" if opts.canary is not None else "default",
                      "cv_baseline": cv_a, "cv_candidate": cv_b,
                      "limit": opts.canary_cv_max,
                      "noisy": max(cv_a, cv_b) > opts.canary_cv_max}
        elif opts.canary_required:
            raise CvpError(f"canary {pattern!r} matches no benchmark present in every round")
    tested = [r for r in rows if r.get("resolves_threshold") is not None]
    underpowered = [r["name"] for r in tested if not r["resolves_threshold"]]
    return {"rounds": n_rounds, "test": opts.test, "alpha": opts.alpha,
            "thresholds": {kind: opts.threshold(kind)
                           for kind in sorted({r["kind"] for r in rows}, key=kind_rank)},
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
            f"Canary {md_code(canary['name'])} varies by "
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
            md_code(n) for n in first["flagged"]) + "."]


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


def _visible(text):
    """One line: control, format and line-separator characters (a new line, ESC, a
    bidirectional override) written as \\uXXXX."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def md_code(text, table=False):
    """`text` as a Markdown code span that shows it literally and nothing else: the one way any
    string from outside the gate (benchmark names, kinds, paths) reaches its Markdown.

    Inside a code span CommonMark interprets nothing (no links, images, emphasis, HTML or
    autolinks) except the backtick fence, so the fence is one backtick longer than the longest
    run of backticks in the text (padded with a space where the text begins or ends with a
    backtick, or with a space at both ends, which CommonMark would strip). Control characters
    become \\uXXXX, so the span stays on its line. In a table cell (table=True) GFM splits the
    row at every pipe not escaped by a backslash before any inline parsing, code spans
    included: a pipe becomes \\| (after an even run of backslashes, so that the escape is the
    pipe's own; GFM removes it again inside the span)."""
    text = _visible(text)
    if table and "|" in text:
        out, run = [], 0
        for c in text:
            if c == "|":
                out.append("\\" * (run % 2) + "\\|")
                run = 0
                continue
            run = run + 1 if c == "\\" else 0
            out.append(c)
        text = "".join(out)
    longest = max((len(r) for r in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    if not text or text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _pct(ratio):
    return f"{100 * (ratio - 1):+.1f}%"


def _thresholds_text(first, opts):
    """'5% (cpu), 10% (memory) or 10% (io)': the threshold of every kind the rows have, and of
    cpu and io, which every gate names, in the order cpu, memory, io."""
    kinds = sorted({r["kind"] for r in first["benchmarks"]} | {"cpu", "io"}, key=kind_rank)
    parts = [f"{100 * opts.threshold(k):g}% ({md_code(k) if k not in KIND_ORDER else k})"
             for k in kinds]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def markdown(first, confirm, code, headline, notes, opts, context=""):
    test = "paired t-test" if opts.test == "t" else "Wilcoxon signed-rank test"
    lines = [f"## cvpbench gate: {headline}", ""]
    if context:
        lines += [context, ""]
    lines += [f"Candidate vs baseline over {first['rounds']} paired rounds: one-sided {test} on "
              f"per-round log time ratios, Holm-corrected across {len(first['benchmarks'])} "
              f"benchmarks (alpha = {opts.alpha}). A regression needs significance and a slowdown "
              f"of at least {_thresholds_text(first, opts)} by kind, seen again on re-run.", ""]
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
        lines += [f"Canary {md_code(canary['name'])}: CV {100 * canary['cv_baseline']:.1f}% "
                  f"(baseline), {100 * canary['cv_candidate']:.1f}% (candidate), limit "
                  f"{100 * canary['limit']:.1f}%: {state}.", ""]
    confirmed = set(confirm["flagged"]) if confirm else set()
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


def _live_targets(pgid, sweep):
    """Live (not zombie) processes of process group `pgid`, and with `sweep` every live
    descendant of this process too (as a child subreaper every orphan of the binaries becomes
    one, even one that made a session of its own). None without /proc."""
    table = _processes()
    if table is None:
        return None
    live = {pid for pid, state, _, _ in table if state not in ("Z", "X")}
    found = {pid for pid, _, _, group in table if group == pgid and pid in live}
    if sweep:
        children = {}
        for pid, _, parent, _ in table:
            children.setdefault(parent, []).append(pid)
        todo = list(children.get(os.getpid(), []))
        while todo:
            pid = todo.pop()
            if pid in live:
                found.add(pid)
            todo += children.get(pid, [])
    found.discard(os.getpid())
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
    * When that process ends, times out (see default_limit), or the gate is stopped, its whole
      process group gets SIGTERM and, KILL_GRACE_S later, SIGKILL. The process is reaped only
      after that, so its process group id cannot be reused by another process meanwhile.
      With `sweep` (the command line sets it, after become_subreaper()) every other live
      descendant of the gate is stopped the same way: an orphan that made a session of its own
      (a daemon's double fork) has left the group but is still the gate's descendant.
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
        self._proc = None
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
        limit = limit or self.limit()
        self._check()
        self._hold += 1
        try:
            with open(stderr_path, "wb") as err, \
                    open(stdout_path or os.devnull, "wb") as out:
                try:
                    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=err, start_new_session=True, close_fds=True)
                except FileNotFoundError:
                    raise CvpError(f"{cmd[0]}: no such program") from None
                except PermissionError:
                    raise CvpError(f"{cmd[0]}: not executable") from None
                except OSError as e:
                    raise CvpError(f"{cmd[0]}: cannot run ({e.strerror})") from None
            self._proc = proc
            started = time.monotonic()
        finally:
            self._hold -= 1
        try:
            self._check()
            finished = self._wait(proc, started + limit)
        except BaseException:
            self._stop(proc, "")
            raise
        seconds = time.monotonic() - started
        self._stop(proc, what if finished else "")
        if not finished:
            if self.timeout:
                how = "the limit of --timeout-s"
            elif not record:
                how = "the limit of --list without --timeout-s"
            else:
                how = (f"the default limit: {LIMIT_FACTOR:g} x the longest run so far, at least "
                       f"{MIN_LIMIT_S:g} s, or {FIRST_LIMIT_S:g} s before any run has finished; "
                       f"set one with --timeout-s")
            raise CvpError(f"{cmd[0]}: still running after {limit:g} s ({what}; {how}); "
                           f"stopped it and its process group")
        if record and proc.returncode == 0:
            self.durations.append(seconds)
        return proc.returncode

    def _wait(self, proc, deadline):
        """True once `proc` has exited (left unreaped where the system allows), False at the
        deadline. A stop signal raises Stopped out of the sleep."""
        pause = _POLL_S
        while True:
            if self._exited(proc):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.2)
            self._check()

    @staticmethod
    def _exited(proc):
        if proc.returncode is not None:
            return True
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            try:
                return os.waitid(os.P_PID, proc.pid,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                pass
        return proc.poll() is not None

    def _stop(self, proc, what):
        """SIGTERM to the process group (and, with `sweep`, to every other live descendant),
        SIGKILL after the grace period, then reap."""
        self._hold += 1
        try:
            pgid = proc.pid  # a session leader's process group id is its pid
            targets = _live_targets(pgid, self.sweep)
            left = sorted((targets or set()) - {pgid})
            if what and left:
                self.log(f"cvp gate: {len(left)} process(es) that {proc.args[0]} left running "
                         f"({what}) stopped")
            if targets is None or targets:
                self._signal(pgid, targets, signal.SIGTERM)
                deadline = time.monotonic() + self.grace
                while time.monotonic() < deadline and self._alive(pgid, proc):
                    time.sleep(_POLL_S)
                targets = _live_targets(pgid, self.sweep)
                if targets is None or targets:
                    self._signal(pgid, targets, signal.SIGKILL)
            proc.wait()
            if self.sweep:
                self._reap_orphans()
            if self._proc is proc:
                self._proc = None
        finally:
            self._hold -= 1

    @staticmethod
    def _signal(pgid, pids, sig):
        for send, target in [(os.killpg, pgid)] + [(os.kill, p) for p in sorted(pids or ())]:
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _alive(self, pgid, proc):
        targets = _live_targets(pgid, self.sweep)
        if targets is not None:
            return bool(targets)
        proc.poll()  # without /proc: reap the leader, then ask whether the group is empty
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
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
        """Stop a binary still running, remove the private folder (unless `keep`), restore the
        signal handlers. Safe to call twice."""
        self._hold += 1
        try:
            if self._proc is not None:
                self._stop(self._proc, "")
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


def list_benchmarks(sup, binary, extra):
    """The benchmark names `BIN --quick --list [extra]` prints, or None when the binary cannot
    list them (then the power check waits for the measurements)."""
    folder = sup.folder("list-")
    listing = os.path.join(folder, "stdout.txt")
    try:
        code = sup.run([binary, "--quick", "--list", *extra], os.path.join(folder, "stderr.txt"),
                       "--list", limit=sup.timeout or LIST_LIMIT_S, stdout_path=listing,
                       record=False)
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


def run_rounds(sup, baseline_bin, candidate_bin, rounds, extra, label="", filter_names=None):
    """Run the two binaries interleaved, alternating which goes first; returns (base, cand) runs.
    Every call is an argument list (no shell), into a new empty folder of its own (see
    Supervisor); a failing run is a CvpError."""
    base, cand = [], []
    for i in range(rounds):
        order = [("baseline", baseline_bin, base), ("candidate", candidate_bin, cand)]
        if i % 2:
            order.reverse()
        for side, binary, sink in order:
            what = f"{label}round {i + 1}, {side}"
            folder = sup.folder(f"{label}round{i + 1}-{side}-")
            out = os.path.join(folder, "out")
            cmd = [binary, "--quick", "--out", out]
            if filter_names:
                # The names passed the user's own --filter already; only ours may remain.
                cmd += ["--filter", filter_regex(filter_names)] + without_filter(extra)
            else:
                cmd += list(extra)
            sup.log(f"cvp gate: {label}round {i + 1}/{rounds}: {side}")
            errors = os.path.join(folder, "stderr.txt")
            code = sup.run(cmd, errors, what)
            if code != 0:
                tail = _tail(errors)
                why = f": {tail}" if tail else ""
                status = (f"was killed by signal {-code}" if code < 0 else
                          f"exited with status {code}")
                raise CvpError(f"{binary}: {status} ({what}){why}")
            sink.append(read_output(out, binary, what))
    return base, cand

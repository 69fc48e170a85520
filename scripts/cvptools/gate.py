"""A CI gate: is the candidate slower than the baseline, beyond noise and beyond a threshold?

Method (one verdict per benchmark):
  * rounds are paired (round i of the baseline with round i of the candidate); each round
    contributes one time per benchmark (the median of its repetitions);
  * the per-round log ratio log(candidate / baseline) is tested one-sided for "slower"
    (paired t-test by default, Wilcoxon signed-rank on request);
  * Holm's correction across benchmarks keeps the family-wise false-alarm rate at alpha;
  * a regression is flagged only when significant AND the geometric-mean slowdown reaches the
    threshold of the benchmark's kind (cpu 5%, io 10% by default);
  * flagged benchmarks are re-measured once; only a regression seen again is confirmed;
  * a canary (default: the serial matmul) whose coefficient of variation across rounds exceeds
    a limit means the machine is too noisy to judge: the verdict is inconclusive.

Exit codes: 0 pass, 1 confirmed regression, 3 inconclusive (noisy machine or unconfirmed
regression), 2 bad input.
"""

import fnmatch
import os
import shutil
import subprocess
from dataclasses import dataclass

from . import CvpError
from . import stats
from .io import load_run
from .results import samples_by_name

PASS, REGRESSION, BAD_INPUT, INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_CANARY = "matmul/*mode:serial*"


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


def rounds_from_runs(runs):
    """[{name: Samples}] per round."""
    return [samples_by_name(run) for run in runs]


def _canary_name(names, pattern):
    for name in names:
        if fnmatch.fnmatchcase(name, pattern) or name == pattern:
            return name
    return None


def evaluate(baseline_rounds, candidate_rounds, opts, only=None):
    """Test every benchmark present in all rounds on both sides. A JSON-ready dict."""
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
    rows = []
    for name in names:
        a = [r[name].median for r in baseline_rounds]
        b = [r[name].median for r in candidate_rounds]
        kind = baseline_rounds[0][name].kind
        row = {"name": name, "kind": kind, "baseline_s": a, "candidate_s": b,
               "threshold": opts.threshold(kind)}
        if min(a + b) <= 0:
            row.update(ratio=None, ci95=None, p=None)
        else:
            d = stats.paired_log_ratios(a, b)
            ratio, ci = stats.paired_ratio_ci(d)
            row.update(ratio=ratio, ci95=list(ci), p=stats.paired_slower_p_value(d, opts.test))
        rows.append(row)
    for row, adjusted in zip(rows, stats.holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted < opts.alpha
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
    return {"rounds": len(baseline_rounds), "test": opts.test, "alpha": opts.alpha,
            "benchmarks": rows, "skipped": skipped, "canary": canary,
            "flagged": [r["name"] for r in rows if r["flagged"]]}


def decide(first, confirm=None, confirm_available=False):
    """(exit code, headline, notes) from the first evaluation and the optional confirmation."""
    notes = []
    canary = first["canary"]
    if canary is None:
        notes.append("No canary benchmark found: the noise check was skipped.")
    elif canary["noisy"]:
        return INCONCLUSIVE, "INCONCLUSIVE: the machine is too noisy", [
            f"Canary `{canary['name']}` varies by {100 * max(canary['cv_baseline'], canary['cv_candidate']):.1f}% "
            f"across rounds (limit {100 * canary['limit']:.1f}%); rerun on a quieter machine."]
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
    canary = first["canary"]
    if canary:
        state = "too noisy" if canary["noisy"] else "ok"
        lines += [f"Canary `{_md(canary['name'])}`: CV {100 * canary['cv_baseline']:.1f}% "
                  f"(baseline), {100 * canary['cv_candidate']:.1f}% (candidate), limit "
                  f"{100 * canary['limit']:.1f}%: {state}.", ""]
    confirmed = set(confirm["flagged"]) if confirm else set()
    lines += ["| benchmark | kind | candidate / baseline | 95% CI | p (Holm) | verdict |",
              "| --- | --- | --- | --- | --- | --- |"]
    rows = sorted(first["benchmarks"], key=lambda r: (not r["flagged"], -(r["ratio"] or 0)))
    for r in rows:
        if r["ratio"] is None:
            lines.append(f"| `{_md(r['name'])}` | {r['kind']} | n/a | n/a | n/a | "
                         f"not tested (zero time) |")
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
        else:
            verdict = "ok"
        p = "n/a" if r["p_holm"] is None else f"{r['p_holm']:.2g}"
        lines.append(f"| `{_md(r['name'])}` | {r['kind']} | {r['ratio']:.3f} ({_pct(r['ratio'])}) "
                     f"| [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | {p} | {verdict} |")
    lines.append("")
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

"""The `cvp` command line: argument parsing, printing and exit codes over the pure modules.

Exit codes: 0 success (gate: pass), 1 gate: confirmed regression, 2 bad input or usage,
3 gate: inconclusive, 69 a Python package is missing (the message names the fix), 70 internal
error, 130 interrupted. Errors are one line on stderr.
"""

import argparse
import json
import os
import sys

from . import CvpError, __version__
from . import io as cvpio
from .text import visible

EPILOG_PLOT = """examples:
  cvp plot results/ci-runner/ -o charts/
  cvp plot results/laptop results/workstation -o charts/machines --chart scaling --format svg
charts: speedup (per workload group, kinds cpu, memory, io: serial, concurrent and parallel at
the cores, the points the verdict lines quote, with 95% CI and the bound), scaling (cpu and
memory kinds: speedup vs threads with the bound and the ideal; cpu: Amdahl fit, Karp-Flatt),
io (throughput vs requests in flight, 95% CI), crossover (speedup vs CPU share c/(c+w)),
runs (two inputs or more: every run's headline speedups, a point per run, and their spread).
Several inputs are drawn side by side, one column per run, each panel on its own axis; a
series has the same colour in every chart. Given more runs than --detail (default 8), the
detailed charts draw the first 8 with data for each chart and say so in their title; the runs
chart shows every run. Runs are read one at a time; no image exceeds 8192 px on a side."""

EPILOG_TIMELINE = """examples:
  cvpbench --quick --trace --out run1 && cvp timeline run1
  cvp timeline run1 --point 'matmul/n:512/mode:(serial|parallel)/backend:tbb/' -o tbb.svg
On one core the tasks interleave in one CPU colour and the waits of requests are filled by
others' CPU parts; in parallel the tasks stack across the CPUs. trace.json itself opens in
Perfetto's UI (ui.perfetto.dev) or chrome://tracing."""
EPILOG_REPORT = """examples:
  cvp report results/ci-runner/ -o report.html
  cvp report results/laptop results/workstation -o machines.html --title "Two machines"
  cvp report cvpbench-runs/*/ -o all.html --detail 4
The page is self-contained (charts embedded) and opens from disk with no network. With two
runs or more, a table lists every run with its headline speedups, under the runs chart; the
first --detail runs (default 8) get their verdicts, machine, results and chart columns."""

EPILOG_COMPARE = """examples:
  cvp compare results/before/ results/after/
  cvp compare old/summary.json new/summary.json --json comparison.json --margin 3%
For each benchmark: B/A of the time per unit of work (per timed execution; per request, or
other unit of work, for io benchmarks, so runs with different request counts still compare, and
say so; kinds and units as the files declare them), the
Hodges-Lehmann estimate with its exact distribution-free interval (nominal 1 - 2 alpha) and
exact one-sided Mann-Whitney p-values, corrected across the benchmarks (Benjamini-Hochberg).
Verdicts: slower/faster (corrected p <= alpha, estimate beyond the margin), no change (whole
interval within the margin), inconclusive, or untestable (too few repetitions: n vs m samples
cannot give p below 1/C(n+m,n)). The footer says what the verdicts can mean at each sample
size, and tests the whole run at once (repetitions reassigned between A and B). Runs from different
machines are compared by throughput and speedups, with both machines named. The geometric mean
of the ratios is printed last, as a secondary figure."""

EPILOG_GATE = """examples:
  cvp gate --baseline-json base/r1.json base/r2.json base/r3.json \\
           --candidate-json cand/r1.json cand/r2.json cand/r3.json
  cvp gate --baseline-bin base/cvpbench --candidate-bin build/release/benchmarks/cvpbench \\
           --markdown gate.md -- --filter '^matmul/n:512/mode:(serial|concurrent)/backend:threads/' \\
           --precision 0 --repetitions 20 --min-time 0.05
  cvp gate --calibrate --baseline-bin build/release/benchmarks/cvpbench --gates 40 \\
           --slowdowns 3,5,10 --json calibration.json -- ARGUMENTS AS ABOVE
exit codes: 0 pass, 1 confirmed regression, 2 bad input (also: a round count with which no
benchmark could ever be flagged, e.g. --test wilcoxon with 2^-rounds x benchmarks > alpha; the
message says how many rounds are needed), 3 inconclusive (noisy machine, too few rounds for the
noise so that no benchmark could flag its threshold, a regression flagged but not
re-measured, or re-measured too noisily to tell), 130 stopped (Ctrl-C, SIGTERM, SIGHUP: the
running binary's process group is stopped and the temporary folder removed). Arguments
after -- go to both binaries.
Binary mode: each run starts in a process group of its own, in a new empty folder, stderr to
a file; when it exits, times out (--timeout-s; default 1800 s until a run has finished, then
10 x the longest run, at least 60 s) or the gate is stopped, its process group (and, on Linux,
every orphan it left, even in a session of its own) gets SIGTERM and, 2 s later, SIGKILL. Only
what the run wrote into its own new --out folder is read. Every run gets --seed ROUND.
Duet (--duet auto, with 2 CPUs or more): in each round the one-core points (mode serial or
concurrent) run with both binaries started together, pinned to CPUs A and B (--cpus, swapped
every round), the same --filter and --seed; the other points run interleaved, the order within
each round drawn at random from --seed. With 1 CPU every point runs interleaved (said in the
Markdown). --calibrate runs --baseline-bin as both sides, A/A and with --inject-slowdown
PCT:REGEX planted in the candidate, --gates gates per condition, and prints how many were
detected, missed, inconclusive or false alarms; exit 0 when it finished, 2 on bad input."""

EPILOG_EXPORT = """examples:
  cvp export results/ci-runner/ --format gab-smaller -o times.json
  cvp export results/ci-runner/ --format gab-bigger -o speedups.json
  cvp export results/ci-runner/ --format bmf -o bencher.json
One entry per benchmark and metric, medians with their intervals.
gab-smaller: github-action-benchmark tool customSmallerIsBetter (cpu and memory workloads:
wall time per execution; io: time per request and p50/p95/p99 response times); gab-bigger:
customBiggerIsBetter (speedups, throughputs in each workload's rate unit: GFLOP/s, GB/s,
requests/s, ...); bmf: Bencher Metric Format (bencher run --adapter json).
Hand dashboards these files, not benchmark.json: there every repetition shares one name and
the aggregates (_mean, _median, _stddev, _cv) are series of their own."""


EPILOG_DB = """examples:
  cvp db import out/run1 out/run2            (into the default SQLite file)
  cvp db import --db team.sqlite --machine ci-runner-3 out/*/
  cvp db import --db postgresql://bench@db.example/cvp out/run1
  cvp db list --limit 20
  cvp db show 3f2a9c
  cvp db machines
A run is identified by the SHA-256 of its summary; importing it twice adds nothing. The SQLite
file uses a WAL journal and waits up to $CVP_DB_TIMEOUT seconds (default 30) for another writer.
A locked, corrupt or newer-schema database is refused with exit 2 and left as it is."""

EPILOG_HISTORY = """examples:
  cvp history 'matmul/n:512/mode:parallel/backend:tbb'
  cvp history --metric speedup --machine ci-runner-3
  cvp history --regressions --markdown changes.md     (CI: exit 1 on a new regression)
A change point splits a series where its level moved (E-Divisive means on the logs of the
values, each split kept when a seeded permutation test gives p <= --p-value). Its size is the
ratio of the medians of the levels after and before it, with a 95% bootstrap CI, and it began
at the first run of the new level (its commit is named). exit codes: 0, 1 (--regressions: the
latest import made a new regression appear), 2 bad input."""

EPILOG_DASHBOARD = """examples:
  cvp dashboard results.sqlite -o site/
  cvp dashboard postgresql://bench@db.example/cvp -o site/ --metric speedup
index.html: the machine matrix (speedup of each workload and mode on each machine, throughput
per core) and the list of benchmarks; a page per benchmark with interactive trend charts
(plotly, written once as plotly.min.js next to the pages) with the change points marked; a page
per run. Every table is plain HTML and reads with JavaScript off."""

# Not bad input (2) and not a bug (70): the environment lacks a package (sysexits' EX_UNAVAILABLE).
EXIT_MISSING_DEPENDENCY = 69
_DEBIAN_PACKAGES = {"numpy": "python3-numpy", "scipy": "python3-scipy",
                    "matplotlib": "python3-matplotlib", "jsonschema": "python3-jsonschema"}
_OTHER_INTERPRETERS = ("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3")


def _interpreter_with(module):
    """Another Python 3 on this machine that can import `module` and numpy, scipy, matplotlib."""
    import subprocess
    here = os.path.realpath(sys.executable or "")
    for candidate in [os.environ.get("CVP_PYTHON", "")] + list(_OTHER_INTERPRETERS):
        if not candidate or not os.path.exists(candidate) or os.path.realpath(candidate) == here:
            continue
        try:
            ok = subprocess.run([candidate, "-c", f"import {module}, numpy, scipy, matplotlib"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return candidate
    return None


def missing_dependency_message(error):
    """One sentence: which package is missing for which interpreter, and how to fix it."""
    module = (getattr(error, "name", None) or "").split(".")[0]
    if not module:
        return f"a Python package is missing ({' '.join(str(error).split())})"
    text = f"this command needs the Python package '{module}', which {sys.executable} cannot import"
    other = _interpreter_with(module)
    if other:
        return f"{text}; {other} has it: run '{other} scripts/cvp ...'"
    package = _DEBIAN_PACKAGES.get(module, f"python3-{module}")
    return (f"{text}; install it (Debian/Ubuntu: apt-get install {package}; elsewhere: "
            f"pip install -r scripts/requirements.txt) or set CVP_PYTHON to a Python that has it")


class StdoutError(Exception):
    """Standard output could not be written (closed, or the disk behind it is full)."""


class _CheckedStdout:
    """Stands in for sys.stdout so that a failed write is reported as such (exit 2), not as an
    internal error; a closed stdout (sys.stdout is None) fails at the first write."""

    def __init__(self, stream):
        self._stream = stream

    def _call(self, method, *args):
        if self._stream is None:
            raise StdoutError("standard output is closed")
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as e:
            raise StdoutError(f"cannot write to standard output "
                              f"({getattr(e, 'strerror', None) or e})") from None

    def write(self, text):
        return self._call("write", text)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _discard_stdout():
    """After a failed write, point fd 1 at /dev/null so that the interpreter's own flush at exit
    does not print a second error for the same failure."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other cvp error."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _fraction(text):
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1) such as 0.05 or 5%: "
                                         f"{text!r}")
    return value


def _probability(text):
    value = _fraction(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _slowdowns(text):
    """'5,10' (or '5%,10%'): distinct percentages above 0 and at most 1000, ascending."""
    import math
    values = []
    for part in text.split(","):
        part = part.strip().rstrip("%")
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of percentages such as 5,10: "
                                             f"{text!r}") from None
        if not math.isfinite(value) or not 0 < value <= 1000:
            raise argparse.ArgumentTypeError(f"each slowdown must be a percentage above 0 and "
                                             f"at most 1000: {text!r}")
        if value in values:
            raise argparse.ArgumentTypeError(f"slowdown {value:g} given twice: {text!r}")
        values.append(value)
    return tuple(sorted(values))


def _at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {text!r}")
        return value
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _say(line):
    print(line, file=sys.stderr, flush=True)


def _emit_text(text, dest, force):
    """Write to stdout ('-') or to a new file, atomically."""
    if dest in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        cvpio.write_outputs({dest: text.encode("utf-8")}, force)


# --- commands -----------------------------------------------------------------------------------

def _summaries(paths):
    """The summaries, loaded one at a time (a generator: plot and report keep a digest of each
    and only a few whole documents), with load_runs' checks: summaries only, one schema version."""
    first = None
    for path in paths:
        run = cvpio.load_runs([path], formats=(cvpio.SUMMARY,))[0]
        if first is None:
            first = run
        elif run.schema_version != first.schema_version:
            raise CvpError(f"{run.path}: schema_version {run.schema_version} mixed with "
                           f"schema_version {first.schema_version} in {first.path}")
        yield run


# plots.DEFAULT_DETAIL and plots.MAX_DETAIL, spelled out so that parsing imports no matplotlib
_DEFAULT_DETAIL, _MAX_DETAIL = 8, 16


def _detail(text):
    value = _at_least(1)(text)
    if value > _MAX_DETAIL:
        raise argparse.ArgumentTypeError(f"must be at most {_MAX_DETAIL}: {text!r}")
    return value


def _say_selection(command, sel, names):
    """One line on stderr when the detailed charts or sections leave runs out."""
    if sel.total <= sel.detail:
        return
    drawn = [n for n in names if n != "runs"]
    charts = f"; the {', '.join(drawn)} chart(s) draw {sel.detail} each" if drawn else ""
    whole = ("every run is in the runs chart" if "runs" in names
             else "the runs chart, not asked for, would show every run")
    _say(f"cvp {command}: {sel.total:,} runs{charts} (--detail {sel.detail}); {whole}")


def cmd_plot(args):
    from . import plots
    if args.chart:  # refuse an existing output before reading thousands of files
        cvpio.check_writable([os.path.join(args.out, f"{n}.{fmt}") for n in args.chart
                              for fmt in args.format], args.force)
    sel = plots.gather(_summaries(args.inputs), args.detail)
    names = list(dict.fromkeys(args.chart)) if args.chart else plots.available(sel)
    if not names:
        raise CvpError(f"{plots._names(sel.paths)}: nothing to draw "
                       f"(no result other than serial)")
    targets = [os.path.join(args.out, f"{n}.{fmt}") for n in names for fmt in args.format]
    cvpio.check_writable(targets, args.force)
    files = plots.render_charts(sel, names, args.format)
    cvpio.make_folder(args.out)
    outputs = {os.path.join(args.out, name): data for name, data in files.items()}
    cvpio.write_outputs(outputs, args.force)
    _say_selection("plot", sel, names)
    for path in outputs:
        print(path)
    return 0


def cmd_report(args):
    cvpio.check_writable([args.out], args.force)
    from . import plots, report
    sel = report.gather(_summaries(args.inputs), args.detail)
    if not any(d.results for d in sel.digests):
        raise CvpError(f"{plots._names(sel.paths)}: nothing to report (no results)")
    cvpio.check_writable([args.out], args.force)
    page = report.build_report(sel, args.title)
    cvpio.write_outputs({args.out: page.encode("utf-8")}, args.force)
    _say_selection("report", sel, plots.available(sel))
    print(args.out)
    return 0


def cmd_timeline(args):
    out = args.out or "timeline.png"
    fmt = os.path.splitext(out)[1].lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise CvpError(f"{out}: give a file name ending in .png or .svg")
    cvpio.check_writable([out], args.force)
    from . import timeline
    chosen = timeline.panels(args.run, args.point or (), args.max_workers)
    data = timeline.draw(chosen, fmt)
    cvpio.write_outputs({out: data}, args.force)
    print(out)
    return 0


def _compare_alpha(text):
    """alpha of a one-sided test whose two-sided interval is 1 - 2 alpha: in (0, 0.5)."""
    value = _probability(text)
    if value >= 0.5:
        raise argparse.ArgumentTypeError(f"must be below 0.5 (the interval is 1 - 2 alpha): "
                                         f"{text!r}")
    return value


def _finite_compare_alpha(text):
    _finite(text)
    return _compare_alpha(text)


def _resamples(text):
    value = _at_least(100)(text)
    if value > 1_000_000:  # stats.MAX_RESAMPLES, spelled out so that parsing imports no numpy
        raise argparse.ArgumentTypeError(f"must be at most 1000000: {text!r}")
    return value


def cmd_compare(args):
    run_a, run_b = cvpio.load_runs([args.a, args.b], same_format=True)
    if args.json not in (None, "-"):
        cvpio.check_writable([args.json], args.force)
    from . import compare
    result = compare.compare_runs(run_a, run_b, alpha=args.alpha, margin=args.margin,
                                  correction=args.correction, resamples=args.resamples,
                                  seed=args.seed)
    if args.json == "-":
        _emit_text(json.dumps(result, indent=2, allow_nan=False) + "\n", "-", args.force)
        return 0
    if args.json:
        _emit_text(json.dumps(result, indent=2, allow_nan=False) + "\n", args.json, args.force)
    sys.stdout.write(compare.format_table(result))
    return 0


def _gate_context(args, plan=None):
    from .gate import md_code, plan_text
    if args.baseline_bin:
        return (f"Binaries: baseline {md_code(args.baseline_bin)}, candidate "
                f"{md_code(args.candidate_bin)}, {plan_text(plan, args.rounds)}")
    return (f"Files: {len(args.baseline_json)} baseline and {len(args.candidate_json)} "
            f"candidate rounds, paired in order.")


def _finite(text):
    """A float that is a number: NaN and infinities are refused (they compare false with every
    bound, so a range check alone lets them through)."""
    import math
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _finite_fraction(text):
    _finite(text)
    return _fraction(text)


def _finite_probability(text):
    _finite(text)
    return _probability(text)


def _finite_positive(text):
    if text.endswith("%"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    _finite(text)
    return _positive_float(text)


_CALIBRATE_ONLY = ("slowdowns", "gates", "inject", "pool")


def _gate_usage(args, parser):
    """The usage errors of `gate` (exit 2, one line), before anything is read or run."""
    json_mode = bool(args.baseline_json or args.candidate_json)
    bin_mode = bool(args.baseline_bin or args.candidate_bin)
    if args.calibrate:
        if json_mode or args.confirm_json or args.confirm_baseline_json:
            parser.error("--calibrate runs a binary: give --baseline-bin, not JSON files")
        if args.candidate_bin:
            parser.error("--calibrate runs --baseline-bin as both baseline and candidate; "
                         "drop --candidate-bin")
        if not args.baseline_bin:
            parser.error("--calibrate needs --baseline-bin PROGRAM")
        return False
    given = [f"--{name}" for name in _CALIBRATE_ONLY if getattr(args, name) is not None]
    if given:
        parser.error(f"{', '.join(given)}: for --calibrate only")
    if json_mode == bin_mode:
        parser.error("give either --baseline-json/--candidate-json or "
                     "--baseline-bin/--candidate-bin")
    if json_mode and not (args.baseline_json and args.candidate_json):
        parser.error("--baseline-json and --candidate-json go together")
    if bin_mode and not (args.baseline_bin and args.candidate_bin):
        parser.error("--baseline-bin and --candidate-bin go together")
    if bin_mode and (args.confirm_json or args.confirm_baseline_json):
        parser.error("--confirm-json is for JSON mode; binary mode re-runs flagged benchmarks")
    if args.confirm_baseline_json and not args.confirm_json:
        parser.error("--confirm-baseline-json needs --confirm-json")
    if json_mode and (args.duet is not None or args.seed is not None):
        parser.error("--duet and --seed are for binary mode (--baseline-bin/--candidate-bin)")
    if args.extra and not bin_mode:
        parser.error("arguments after -- are passed to the binaries (binary mode only)")
    return json_mode


def _check_extra(extra):
    """CvpError for binaries' arguments the gate sets itself."""
    for a in extra:
        if a == "--seed" or a.startswith("--seed="):
            raise CvpError("the gate gives every run --seed ROUND itself (both binaries in the "
                           "same order); remove --seed from the arguments after --")


def _supervised(args, work):
    """Run work(sup) under a Supervisor: (its result, None), or (None, 130) when stopped."""
    from . import gate
    if args.work_dir:
        cvpio.make_folder(args.work_dir)
    sup = gate.Supervisor(parent=args.work_dir, keep=bool(args.work_dir),
                          timeout=args.timeout_s, log=_say, sweep=gate.become_subreaper())
    stopped = result = None
    try:
        sup.install()
        result = work(sup)
    except gate.Stopped as e:
        stopped = e
    finally:
        sup.close()
    if stopped is None and sup.pending is not None:
        stopped = gate.Stopped(sup.pending)
    if stopped is not None:
        kept = (f"the outputs so far are in {cvpio.display_path(sup.root)}" if sup.keep
                else "its temporary folder was removed")
        _say(f"cvp gate: stopped by {stopped.name}; the running binary and its process "
             f"group were stopped and {kept}")
        return None, 130
    if sup.keep:
        _say(f"cvp gate: the binaries' outputs are in {cvpio.display_path(sup.root)}")
    return result, None


def _gate_options(args):
    from . import gate
    return gate.GateOptions(threshold_cpu=args.threshold_cpu, threshold_io=args.threshold_io,
                            threshold_memory=args.threshold_memory,
                            alpha=args.alpha, test=args.test,
                            canary=args.canary or None,
                            canary_required=args.canary is not None,
                            canary_cv_max=args.canary_cv_max).validate()


def cmd_gate(args, parser):
    json_mode = _gate_usage(args, parser)
    outputs = [p for p in (args.markdown, args.json) if p not in (None, "-")]
    cvpio.check_writable(outputs, args.force)
    if args.calibrate:
        return cmd_gate_calibrate(args)

    if json_mode:  # bad files are reported before the statistics stack is imported
        if len(args.baseline_json) != len(args.candidate_json):
            raise CvpError(f"{len(args.baseline_json)} --baseline-json files but "
                           f"{len(args.candidate_json)} --candidate-json files; rounds pair "
                           f"in order")
        runs = cvpio.load_runs(args.baseline_json + args.candidate_json, same_format=True)
    from . import gate
    opts = _gate_options(args)
    confirm = plan = None
    if json_mode:
        n = len(args.baseline_json)
        if args.confirm_json:  # can the confirmation flag even one benchmark? Say so up front.
            base_files = args.confirm_baseline_json or args.baseline_json
            if len(base_files) != len(args.confirm_json):
                raise CvpError(f"{len(args.confirm_json)} --confirm-json files but "
                               f"{len(base_files)} baseline files to pair them with")
            gate.check_power(len(args.confirm_json), 1, opts, "the confirmation")
        first = gate.evaluate(gate.rounds_from_runs(runs[:n]), gate.rounds_from_runs(runs[n:]),
                              opts)
        if first["flagged"] and args.confirm_json:
            more = cvpio.load_runs(base_files + args.confirm_json, same_format=True)
            if more[0].format != runs[0].format:
                raise CvpError(f"{more[-1].path}: confirmation files must be the same format "
                               f"as the rounds")
            k = len(base_files)
            confirm = gate.evaluate(gate.rounds_from_runs(more[:k]),
                                    gate.rounds_from_runs(more[k:]), opts,
                                    only=set(first["flagged"]))
    else:
        gate.check_program(args.baseline_bin)
        gate.check_program(args.candidate_bin)
        gate.check_power(args.rounds, 1, opts)
        _check_extra(args.extra)

        def work(sup):
            plan = gate.make_plan(sup, (args.baseline_bin, args.candidate_bin), args.extra,
                                  duet=args.duet or "auto",
                                  seed=gate.DEFAULT_SEED if args.seed is None else args.seed,
                                  count=opts.test == "wilcoxon")
            if plan.count:  # how many benchmarks Holm will divide alpha among
                gate.check_power(args.rounds, plan.count, opts)
            return plan, gate.run_gate(sup, args.baseline_bin, args.candidate_bin, args.rounds,
                                       args.extra, opts, plan)
        result, code = _supervised(args, work)
        if code is not None:
            return code
        plan, (first, confirm) = result
    code, headline, notes = gate.decide(first, confirm)
    text = gate.markdown(first, confirm, code, headline, notes, opts, _gate_context(args, plan))
    if args.json:
        doc = {"exit_code": code, "headline": headline, "notes": notes, "first": first,
               "confirm": confirm}
        if plan is not None:
            doc["plan"] = plan.describe()
        _emit_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", args.json, args.force)
    if args.markdown and args.markdown != "-":
        _emit_text(text, args.markdown, args.force)
    if args.json != "-":
        sys.stdout.write(text)
    return code


def cmd_gate_calibrate(args):
    """`cvp gate --calibrate`: exit 0 when it finished (whatever it found), 2 on bad input."""
    import re
    from . import gate
    rounds = args.rounds
    gates = 40 if args.gates is None else args.gates
    slowdowns = gate.DEFAULT_SLOWDOWNS if args.slowdowns is None else args.slowdowns
    inject = gate.DEFAULT_INJECT if args.inject is None else args.inject
    pool = 4 * rounds if args.pool is None else args.pool
    if pool and pool < 2 * rounds:
        raise CvpError(f"--pool {pool}: a pool needs at least 2 x --rounds = {2 * rounds} "
                       f"rounds (a gate draws {rounds} and {rounds} more for its confirmation); "
                       f"--pool 0 runs every gate's own rounds")
    if not inject or "\n" in inject:
        raise CvpError(f"--inject {inject!r}: give a regular expression over benchmark names")
    try:
        re.compile(inject)
    except re.error as e:
        raise CvpError(f"--inject {inject!r}: not a valid regular expression ({e})") from None
    opts = _gate_options(args)
    gate.check_program(args.baseline_bin)
    gate.check_power(rounds, 1, opts)
    _check_extra(args.extra)

    def work(sup):
        plan = gate.make_plan(sup, (args.baseline_bin, args.baseline_bin), args.extra,
                              duet=args.duet or "auto",
                              seed=gate.DEFAULT_SEED if args.seed is None else args.seed,
                              count=True)
        if plan.count and opts.test == "wilcoxon":
            gate.check_power(rounds, plan.count, opts)
        return gate.calibrate(sup, args.baseline_bin, args.extra, opts, rounds, gates,
                              slowdowns, inject, pool, plan, log=_say)
    cal, code = _supervised(args, work)
    if code is not None:
        return code
    text = gate.calibration_markdown(cal)
    if args.json:
        _emit_text(json.dumps(cal, indent=2, allow_nan=False) + "\n", args.json, args.force)
    if args.markdown and args.markdown != "-":
        _emit_text(text, args.markdown, args.force)
    if args.json != "-":
        sys.stdout.write(text)
    return 0


def cmd_export(args):
    runs = cvpio.load_runs(args.inputs, formats=(cvpio.SUMMARY,))
    if args.out not in (None, "-"):
        cvpio.check_writable([args.out], args.force)
    from . import export
    doc = export.export(runs, args.format)
    text = json.dumps(doc, indent=2, allow_nan=False)  # export.export refused non-finite values
    _emit_text(text + "\n", args.out, args.force)
    return 0


# --- results database ---------------------------------------------------------------------------

def _open_db(args, create=False):
    from . import db
    return db.open_database(args.db, create=create)


def _json_out(doc, dest, force):
    _emit_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", dest, force)


def _table(rows, header):
    rows = [[cvpio.printable(x) for x in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    return "\n".join(lines) + "\n"


def _run_folders(paths):
    """The runs named: a run folder or summary.json stands for itself; a folder that holds
    neither but has run folders in it stands for those (in name order), so that a folder of
    runs is imported with one argument, however many runs it holds."""
    out = []
    for path in paths:
        if (os.path.isdir(path) and not os.path.exists(os.path.join(path, cvpio.SUMMARY_FILE))
                and not os.path.exists(os.path.join(path, cvpio.GBENCH_FILE))):
            try:
                names = sorted(os.listdir(path))
            except OSError as e:
                raise CvpError(f"{path}: cannot read folder ({e.strerror})") from None
            inner = [os.path.join(path, n) for n in names
                     if os.path.isfile(os.path.join(path, n, cvpio.SUMMARY_FILE))]
            if inner:
                out.extend(inner)
                continue
        out.append(path)
    return out


def cmd_db_import(args):
    import time
    from . import db
    start = time.perf_counter()
    runs = _run_folders(args.runs)
    for path in runs:   # before a database is created or opened: a typo creates nothing
        if not os.path.exists(cvpio.resolve_input(path)):
            raise CvpError(f"{path}: no such file or folder")
    with _open_db(args, create=True) as database:
        done = database.import_runs(runs, machine_name=args.machine, report=args.report_url)
        counts = database.counts()
    added = sum(1 for _, _, new in done if new)
    for path, digest, new in done:
        if args.verbose or len(done) <= 20:
            print(f"{'added  ' if new else 'present'} {digest[:12]}  {cvpio.printable(path)}")
    print(f"{added} run(s) added, {len(done) - added} already present, in "
          f"{time.perf_counter() - start:.1f} s; {db.display_location(database.location)} holds "
          f"{counts['runs']} runs of {counts['benchmarks']} benchmarks on "
          f"{counts['machines']} machine(s)")
    return 0


def cmd_db_list(args):
    with _open_db(args) as database:
        machine = database.machine(args.machine)["id"] if args.machine else None
        runs = database.runs(machine_id=machine, limit=args.limit)
    if args.json:
        _json_out({"runs": runs}, args.json, args.force)
        if args.json == "-":
            return 0
    rows = [[r["digest"][:12], r["date"], (r["commit"] or "?")[:12], r["machine"],
             r["results"], "yes" if r["noisy"] else "", r["source"] or ""] for r in runs]
    sys.stdout.write(_table(rows, ["run", "date", "commit", "machine", "benchmarks", "noisy",
                                   "imported from"]))
    return 0


def cmd_db_show(args):
    with _open_db(args) as database:
        run = database.run(args.run)
        if args.summary:
            data = database.document(run["id"])
            _emit_text(data.decode("utf-8") + "\n", args.summary, args.force)
            return 0
    if args.json:
        _json_out(run, args.json, args.force)
        if args.json == "-":
            return 0
    p = cvpio.printable
    print(f"run {run['digest']}\n  machine  {p(run['machine'])}\n  date     {p(run['date'])}\n"
          f"  commit   {p(run['commit'] or '?')}\n  version  {p(run['version'] or '?')}\n"
          f"  imported {run['imported_at']} from {p(run['source'] or '?')}"
          + (f"\n  report   {p(run['report'])}" if run["report"] else ""))
    rows = []
    from .history import format_number as num
    for r in run["results"]:
        ci = (f"{num(r['time_lo'])} to {num(r['time_hi'])}" if r["time_lo"] is not None else "")
        sp = f"x{num(r['speedup'])}" if r["speedup"] is not None else ""
        tp = (f"{num(r['throughput'])} {r['throughput_unit'] or ''}".strip()
              if r["throughput"] is not None else "")
        rows.append([r["benchmark"], num(r["time"]), ci, r["work_unit"] or "", tp, sp])
    sys.stdout.write(_table(rows, ["benchmark", "s/unit", "95% CI", "unit", "throughput",
                                   "speedup"]))
    return 0


def cmd_db_machines(args):
    with _open_db(args) as database:
        machines = database.machines()
    if args.json:
        _json_out({"machines": machines}, args.json, args.force)
        if args.json == "-":
            return 0
    rows = [[m["id"], m["fingerprint"][:12], m["label"], m["allowed_cores"] or "?", m["runs"],
             m["first"] or "", m["last"] or ""] for m in machines]
    sys.stdout.write(_table(rows, ["id", "fingerprint", "label", "CPUs", "runs", "first run",
                                   "last run"]))
    return 0


def cmd_history(args):
    from . import history
    opt = history.Options(metric=args.metric, p_value=args.p_value, min_size=args.min_size,
                          min_change=args.min_change)
    with _open_db(args) as database:
        machine = database.machine(args.machine)["id"] if args.machine else None
        if args.regressions or args.since is not None:
            latest = database.latest_import()
            if args.since is not None and (latest is None or args.since > latest):
                raise CvpError(f"--since {args.since}: the latest import that added runs is "
                               f"{latest or 'none yet'}")
            opt.since_import = args.since if args.since is not None else latest
        for dest in (args.json, args.markdown):
            if dest not in (None, "-"):
                cvpio.check_writable([dest], args.force)
                if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
                    raise CvpError(f"{dest}: its folder does not exist")
        # Series come one at a time; the listing is printed as they come, and only the JSON
        # of a listing keeps every run's value (--regressions keeps the change points only).
        printing = args.json != "-" and args.markdown != "-"
        keep = bool(args.json) and not args.regressions
        if printing and not args.regressions:
            series = list(_printed_series(database, args, machine, opt, keep))
        else:
            series = list(history.analyse(database, args.benchmark, machine, opt,
                                          keep_points=keep))
    if args.json:
        _json_out(history.to_json(series, opt), args.json, args.force)
    if args.markdown:
        _emit_text(history.markdown(series, opt), args.markdown, args.force)
    if printing and args.regressions:
        print(history.regressions_text(series, opt))
    elif printing and not series:
        print(f"no series: the benchmarks found have no run with a {args.metric} value")
    if args.regressions and any(c.new and c.regression for s in series for c in s.changes):
        return 1
    return 0


def _printed_series(database, args, machine, opt, keep):
    """history.analyse's series, each printed as it comes, its points dropped unless kept."""
    from . import history
    for i, s in enumerate(history.analyse(database, args.benchmark, machine, opt)):
        sys.stdout.write(("\n" if i else "") + history.series_text(s, args.last) + "\n")
        if not keep:
            s.points = []
        yield s


def cmd_dashboard(args):
    from . import dashboard
    from . import db as cvpdb
    if not cvpdb.is_postgres(args.database) and args.database.strip():
        inside = os.path.realpath(args.database)
        out = os.path.realpath(args.out) if args.out.strip() else ""
        if out and (inside + os.sep).startswith(out + os.sep):
            raise CvpError(f"{args.database}: lies inside the output folder {args.out}, which "
                           f"is published as the site; keep the database out of it")
    with _open_db(argparse.Namespace(db=args.database)) as database:
        written = dashboard.build(database, args.out, force=args.force,
                                  options=dashboard.Options(metric=args.metric,
                                                            max_points=args.max_points))
    print(f"dashboard: {written} in {args.out} (open {os.path.join(args.out, 'index.html')})")
    return 0


# --- parser -------------------------------------------------------------------------------------

def build_parser():
    parser = _Parser(prog="cvp", description="Charts, reports, comparisons, CI gates and exports "
                                             "for cvpbench results.")
    parser.add_argument("--version", action="version", version=f"cvp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter
    inputs_help = "summary.json files, or result folders that hold one"

    p = sub.add_parser("plot", help="draw charts (PNG and SVG)", epilog=EPILOG_PLOT,
                       formatter_class=fmt, description="Draw charts from one or more summaries.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=inputs_help)
    p.add_argument("-o", "--out", default="charts", metavar="FOLDER",
                   help="folder for the charts (created if needed; default: charts)")
    p.add_argument("--chart", action="append",
                   choices=("speedup", "scaling", "io", "crossover", "roofline", "runs"),
                   help="draw only this chart (repeatable; default: every chart with data)")
    p.add_argument("--format", nargs="+", choices=("png", "svg"), default=["png", "svg"],
                   help="file formats (default: png svg)")
    p.add_argument("--detail", type=_detail, default=_DEFAULT_DETAIL, metavar="N",
                   help="at most N runs side by side in the detailed charts, the first N with "
                        "data for each (default 8, at most 16); the runs chart shows every run")
    p.add_argument("--force", action="store_true", help="overwrite existing chart files")
    p.set_defaults(handler=cmd_plot)

    p = sub.add_parser("timeline", help="draw who ran when, from a run made with --trace",
                       epilog=EPILOG_TIMELINE, formatter_class=fmt,
                       description="Draw the trace of a run (cvpbench --trace): one panel per "
                                   "point, one lane per worker, a bar per task or request CPU "
                                   "part coloured by its CPU, and the requests waiting.")
    p.add_argument("run", metavar="RUN", help="the run folder (or its summary.json)")
    p.add_argument("--point", action="append", metavar="REGEX",
                   help="draw the traced points whose names match (repeatable; default: the "
                        "serial, most concurrent and most parallel points of the first computing "
                        "group and of the first request group, on one backend)")
    p.add_argument("-o", "--out", metavar="FILE", help="PNG or SVG file (default: timeline.png)")
    p.add_argument("--max-workers", type=_at_least(1), default=16, metavar="N",
                   help="lanes per panel at most (default 16); the rest are counted in the title")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_timeline)

    p = sub.add_parser("report", help="write a self-contained HTML report", epilog=EPILOG_REPORT,
                       formatter_class=fmt, description="Write one HTML page: machine context, "
                       "verdicts, charts and results.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=inputs_help)
    p.add_argument("-o", "--out", default="report.html", metavar="FILE",
                   help="HTML file to write (default: report.html)")
    p.add_argument("--title", default="cvpbench report", help="page title")
    p.add_argument("--detail", type=_detail, default=_DEFAULT_DETAIL, metavar="N",
                   help="give the first N runs a section of their own and a column in the "
                        "detailed charts (default 8, at most 16); every run is in the table "
                        "of runs and the runs chart")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("compare", help="compare two runs benchmark by benchmark",
                       epilog=EPILOG_COMPARE, formatter_class=fmt,
                       description="Compare run B against run A (summaries or Google Benchmark "
                                   "JSON, both the same kind).")
    p.add_argument("a", metavar="A", help="the reference run (file or folder)")
    p.add_argument("b", metavar="B", help="the run compared with it (file or folder)")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON ('-': "
                                                  "JSON on stdout instead of the table)")
    p.add_argument("--alpha", type=_finite_compare_alpha, default=0.05,
                   help="significance level of each one-sided test; the interval is the "
                        "matching 1 - 2 alpha one (default 0.05: 90%%)")
    p.add_argument("--margin", type=_finite_fraction, default=0.05,
                   help="equivalence margin: 'no change' needs the whole interval within "
                        "+-margin, 'slower'/'faster' an estimate beyond it (default 0.05 = 5%%)")
    p.add_argument("--correction", choices=("bh", "none"), default="bh",
                   help="correction for comparing many benchmarks at once: bh (default: "
                        "Benjamini-Hochberg per direction, so an A/A pair flags nothing with "
                        "probability >= 1 - alpha) or none (per-row p: about 2 alpha of an A/A "
                        "pair's rows read changed by chance)")
    p.add_argument("--resamples", type=_resamples, default=20000,
                   help="random assignments of repetitions for the whole-run test when there are "
                        "more than 20000 possible (default 20000, at most 1000000); the "
                        "per-benchmark intervals are exact and use none")
    p.add_argument("--seed", type=_at_least(0), default=20240601,
                   help="seed of those assignments (and of the choice of 50 repetitions a side "
                        "for the whole-run test when there are more)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("gate", help="CI gate: fail on a confirmed regression",
                       epilog=EPILOG_GATE, formatter_class=fmt,
                       description="Paired rounds, one-sided test per benchmark, Holm correction, "
                                   "a slowdown threshold, confirmation by re-run and a noise "
                                   "canary.")
    p.add_argument("--baseline-json", nargs="+", metavar="FILE", help="baseline rounds "
                   "(Google Benchmark JSON or summaries, one file or folder per round)")
    p.add_argument("--candidate-json", nargs="+", metavar="FILE", help="candidate rounds, "
                   "paired in order with the baseline rounds")
    p.add_argument("--confirm-json", nargs="+", metavar="FILE", help="candidate re-runs used to "
                   "confirm flagged benchmarks (paired with --confirm-baseline-json, else with "
                   "the baseline rounds)")
    p.add_argument("--confirm-baseline-json", nargs="+", metavar="FILE",
                   help="baseline re-runs to pair with --confirm-json")
    p.add_argument("--baseline-bin", metavar="PROGRAM", help="baseline cvpbench binary")
    p.add_argument("--candidate-bin", metavar="PROGRAM", help="candidate cvpbench binary")
    p.add_argument("--rounds", type=_at_least(2), default=30,
                   help="rounds in binary mode, and per gate with --calibrate (default 30: what "
                        "finds a 5%% slowdown at the 3%% threshold on a 2-core virtual machine; "
                        "see results/gate-calibration/)")
    p.add_argument("--duet", choices=("auto", "on", "off"), default=None,
                   help="binary mode: run the one-core points (mode serial or concurrent) as "
                        "duets, both binaries started together each round, each pinned to a "
                        "CPU of its own (--cpus A / --cpus B, swapped every round), the same "
                        "--filter and --seed; the other points interleaved. auto (default): "
                        "duet when the gate may use 2 CPUs or more, else interleaved, said in "
                        "the Markdown; on: refuse (exit 2) where no duet is possible; off: "
                        "every point interleaved")
    p.add_argument("--seed", type=_at_least(0), default=None,
                   help="binary mode: seed of the order (baseline or candidate first) of the "
                        "interleaved runs in each round, and of --calibrate's draws from its "
                        "pool (default 1); the binaries get --seed ROUND")
    p.add_argument("--timeout-s", type=_finite_positive, default=None,
                   help="limit for one binary run, in seconds (default: 1800 s until a run "
                        "has finished, then 10 x the longest run so far, at least 60 s, for a "
                        "duet run as soon as its partner has finished; --list: 60 s); a run "
                        "past it is stopped with its whole process group")
    p.add_argument("--work-dir", metavar="FOLDER", help="keep the binaries' outputs in a new "
                   "folder cvp-gate-XXXXXXXX made inside FOLDER, one empty folder per run "
                   "(default: a temporary folder, removed afterwards)")
    p.add_argument("--threshold-cpu", type=_finite_fraction, default=0.03,
                   help="smallest slowdown that counts for kind cpu (default 0.03 = 3%%: "
                        "below the 5%% a gate should find, so that a 5%% slowdown is not "
                        "measured half the time just under its threshold)")
    p.add_argument("--threshold-io", type=_finite_fraction, default=0.10,
                   help="smallest slowdown that counts for kind io (default 0.10 = 10%%)")
    p.add_argument("--threshold-memory", type=_finite_fraction, default=0.10,
                   help="smallest slowdown that counts for kind memory (default 0.10 = 10%%); "
                        "a benchmark's kind is the one its file declares")
    p.add_argument("--alpha", type=_finite_probability, default=0.05,
                   help="family-wise significance level (default 0.05)")
    p.add_argument("--test", choices=("auto", "t", "wilcoxon"), default="auto",
                   help="paired test on log ratios. wilcoxon: signed-rank test, the ratio its "
                        "Hodges-Lehmann estimate, robust to a run slowed on one side of its "
                        "pair; its smallest p is 2^-rounds, so it needs at least "
                        "log2(benchmarks / alpha) rounds, and the gate refuses fewer. t: paired "
                        "t-test, the ratio the geometric mean. auto (default): wilcoxon where the "
                        "rounds allow it, else t")
    p.add_argument("--canary", metavar="NAME_OR_GLOB", help="benchmark whose paired rounds "
                   "measure the noise the gate cannot judge through (default: the serial points "
                   "of the first workload of kind cpu that the baseline's files list, "
                   "WORKLOAD/*mode:serial*; matmul/*mode:serial* for files that list none)")
    p.add_argument("--canary-cv-max", type=_finite_fraction, default=0.10,
                   help="largest spread of the canary's per-round log ratio candidate / baseline "
                        "(its standard deviation, about the ratio's coefficient of variation; "
                        "default 0.10); beyond it the verdict is inconclusive. The canary is "
                        "judged as the test judges every benchmark, on the pairs (a duet's two "
                        "runs): drift between rounds that both sides see is not noise here, a "
                        "difference between the two sides of a round is")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    p.add_argument("--json", metavar="FILE", help="also write the full evaluation (with "
                   "--calibrate: the table) as JSON ('-': on stdout instead of the Markdown)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    c = p.add_argument_group("calibration (--calibrate)")
    c.add_argument("--calibrate", action="store_true",
                   help="measure the gate itself: run --baseline-bin as both baseline and "
                        "candidate, A/A and with each planted slowdown, and print per condition "
                        "how many gates detected, missed, were inconclusive or cried wolf")
    c.add_argument("--slowdowns", type=_slowdowns, default=None, metavar="PCT,PCT",
                   help="planted slowdowns in percent (default 5,10), each above 0 and at most "
                        "1000, planted with the candidate's --inject-slowdown PCT:REGEX")
    c.add_argument("--gates", type=_at_least(1), default=None, metavar="N",
                   help="gates per condition (default 40)")
    c.add_argument("--inject", metavar="REGEX", default=None,
                   help="the benchmarks that get the planted slowdowns (default "
                        "'^matmul/n:[0-9]+/mode:serial/', the default canary's points)")
    c.add_argument("--pool", type=_at_least(0), default=None, metavar="ROUNDS",
                   help="rounds run once per condition, from which every gate draws its "
                        "rounds and its confirmation's at random without replacement (default "
                        "4 x --rounds, at least 2 x --rounds; 0: every gate runs its own "
                        "rounds, like a real gate)")
    p.set_defaults(handler=cmd_gate)

    p = sub.add_parser("export", help="export for github-action-benchmark or Bencher",
                       epilog=EPILOG_EXPORT, formatter_class=fmt,
                       description="Export summaries for benchmark dashboards: one series per "
                                   "benchmark and metric.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=inputs_help)
    p.add_argument("--format", required=True, choices=("gab-smaller", "gab-bigger", "bmf"))
    p.add_argument("-o", "--out", default="-", metavar="FILE",
                   help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_export)

    db_help = ("the database: a SQLite file, or a postgresql:// URL for a shared server "
               "(default: $CVP_DB, else $XDG_DATA_HOME/cvpbench/results.sqlite, else "
               "~/.local/share/cvpbench/results.sqlite)")
    p = sub.add_parser("db", help="keep runs in a results database (SQLite or PostgreSQL)",
                       epilog=EPILOG_DB, formatter_class=fmt,
                       description="Import runs into a results database and look at them.")
    dbsub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True,
                             parser_class=_Parser)
    q = dbsub.add_parser("import", help="import run folders (a run already there is skipped)",
                         description="Import run folders or summary.json files. A run is "
                                     "identified by its content: importing it again adds "
                                     "nothing. Each run is imported whole or not at all.")
    q.add_argument("runs", nargs="+", metavar="RUN", help="run folders or summary.json files")
    q.add_argument("--machine", metavar="NAME",
                   help="name the machine (runs of identical hardware under different names "
                        "are different machines; default: its CPU, CPU count and a fingerprint)")
    q.add_argument("--report-url", metavar="URL",
                   help="where these runs' reports are published; the dashboard links to it")
    q.add_argument("-v", "--verbose", action="store_true", help="a line per run, however many")
    q.set_defaults(handler=cmd_db_import)
    q = dbsub.add_parser("list", help="list runs, newest first")
    q.add_argument("--machine", metavar="MACHINE", help="only this machine (id, fingerprint "
                                                        "prefix or label)")
    q.add_argument("--limit", type=_count_limit, metavar="N", help="at most N runs")
    _json_option(q)
    q.set_defaults(handler=cmd_db_list)
    q = dbsub.add_parser("show", help="one run and its results")
    q.add_argument("run", metavar="RUN", help="run id or digest prefix (6 hex digits or more)")
    q.add_argument("--summary", metavar="FILE",
                   help="write the run's summary.json as imported ('-': to stdout) and nothing "
                        "else")
    _json_option(q)
    q.set_defaults(handler=cmd_db_show)
    q = dbsub.add_parser("machines", help="the machines and their runs")
    _json_option(q)
    q.set_defaults(handler=cmd_db_machines)
    q = dbsub.add_parser("history", help="same as cvp history",
                         description="Same as cvp history (see cvp history --help).")
    _history_arguments(q, db_help)
    for q in dbsub.choices.values():
        if not any(a.dest == "db" for a in q._actions):
            q.add_argument("--db", metavar="PATH_OR_URL", help=db_help)

    p = sub.add_parser("history", help="trends and change points of benchmarks over runs",
                       epilog=EPILOG_HISTORY, formatter_class=fmt,
                       description="The series of each benchmark on each machine over its runs, "
                                   "and its change points (E-Divisive means, permutation test).")
    _history_arguments(p, db_help)

    p = sub.add_parser("dashboard", help="write a static dashboard site from a results database",
                       epilog=EPILOG_DASHBOARD, formatter_class=fmt,
                       description="Write a static site (opens from disk, no network): trends "
                                   "with change points, the machine matrix, a page per run.")
    p.add_argument("database", metavar="DB", help="SQLite file or postgresql:// URL")
    p.add_argument("-o", "--out", required=True, metavar="FOLDER",
                   help="folder to write (created if needed; an existing one must be empty "
                        "or hold a dashboard written before, whose files --force replaces, "
                        "keeping every other file there)")
    p.add_argument("--metric", choices=("time", "throughput", "speedup"), default="time",
                   help="the trend charts' metric (default: time per unit of work)")
    p.add_argument("--max-points", type=_at_least(10), default=2000, metavar="N",
                   help="draw at most the last N runs of a series (default 2000); change "
                        "points are found on the whole series")
    p.add_argument("--force", action="store_true",
                   help="replace the files an earlier dashboard wrote in FOLDER (listed in its "
                        ".cvp-dashboard); other files there (.git/, CNAME) are kept")
    p.set_defaults(handler=cmd_dashboard)
    return parser, sub


def _change_p_value(text):
    value = _finite(text)
    if not 0.001 <= value <= 0.2:
        raise argparse.ArgumentTypeError(f"must lie between 0.001 and 0.2: {text!r}")
    return value


def _count_limit(text):
    value = _at_least(1)(text)
    if value > 10**9:
        raise argparse.ArgumentTypeError(f"must be at most 1000000000: {text!r}")
    return value


def _json_option(q):
    q.add_argument("--json", metavar="FILE", help="also write JSON ('-': JSON on stdout only)")
    q.add_argument("--force", action="store_true", help="overwrite an existing file")


def _history_arguments(p, db_help):
    p.add_argument("benchmark", nargs="?", metavar="BENCHMARK",
                   help="a regular expression; the benchmarks whose names it finds (default: "
                        "all)")
    p.add_argument("--db", metavar="PATH_OR_URL", help=db_help)
    p.add_argument("--machine", metavar="MACHINE", help="only this machine (id, fingerprint "
                                                        "prefix or label)")
    p.add_argument("--metric", choices=("time", "throughput", "speedup"), default="time",
                   help="time per unit of work (default; lower is better), throughput or "
                        "speedup (higher is better)")
    p.add_argument("--regressions", action="store_true",
                   help="list the regressions only; exit 1 when the latest import (or --since) "
                        "made a new one appear")
    p.add_argument("--since", type=_count_limit, metavar="IMPORT",
                   help="runs of this import number and later are the new ones (default with "
                        "--regressions: the latest import)")
    p.add_argument("--p-value", type=_change_p_value, default=0.01, metavar="P",
                   help="significance of a change point (permutation test; 0.001 to 0.2, "
                        "default 0.01)")
    p.add_argument("--min-size", type=_at_least(2), default=3, metavar="N",
                   help="runs a level must last to be one (default 3)")
    p.add_argument("--min-change", type=_fraction, default=0.0, metavar="FRACTION",
                   help="ignore change points smaller than this (e.g. 2%%; default 0)")
    p.add_argument("--last", type=_at_least(1), default=30, metavar="N",
                   help="runs printed per series (default 30; change points are always listed)")
    p.add_argument("--json", metavar="FILE", help="also write JSON ('-': JSON on stdout only)")
    p.add_argument("--markdown", metavar="FILE",
                   help="also write the change points as a Markdown table (for a pull-request "
                        "comment; '-': to stdout only)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=cmd_history)


def _split_passthrough(argv):
    """For `gate`, arguments after the first `--` belong to the binaries."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command == "gate" and "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _stop_on_sigterm():
    """SIGTERM (and SIGHUP) stop the command as Ctrl-C does: its cleanup runs (a database
    transaction rolled back, worker processes ended, a half-built site removed), then exit 130."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


_STOPPABLE = (cmd_db_import, cmd_db_list, cmd_db_show, cmd_db_machines, cmd_history,
              cmd_dashboard)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, extra = _split_passthrough(argv)
    parser, sub = build_parser()
    args = parser.parse_args(argv)
    args.extra = extra
    real_stdout = sys.stdout
    sys.stdout = _CheckedStdout(real_stdout)
    if args.handler in _STOPPABLE:
        _stop_on_sigterm()
    finished = False
    try:
        if args.handler is cmd_gate:
            code = cmd_gate(args, sub.choices["gate"])
        else:
            code = args.handler(args)
        sys.stdout.flush()
        finished = True
        return code
    except CvpError as e:
        print(f"cvp: error: {visible(str(e))}", file=sys.stderr)
        return 2
    except StdoutError as e:
        print(f"cvp: error: {visible(str(e))}", file=sys.stderr)
        _discard_stdout()
        return 2
    except ImportError as e:
        print(f"cvp: error: {missing_dependency_message(e)}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except KeyboardInterrupt:
        print("cvp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug, not bad input: say so in one line unless debugging
        if os.environ.get("CVP_DEBUG"):
            raise
        text = visible(" ".join(str(e).split())[:200])
        print(f"cvp: internal error: {type(e).__name__}: {text} (set CVP_DEBUG=1 for a "
              f"traceback)", file=sys.stderr)
        return 70
    finally:
        sys.stdout = real_stdout
        if not finished:  # a failed command leaves no empty output folder it made
            cvpio.remove_made_folders()

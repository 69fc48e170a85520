"""`cvp gate`: the CI gate over JSON rounds or two binaries."""

import json
import sys

from .. import CvpError
from .. import runio
from .common import (FORMATTER, at_least, emit_text, finite_fraction, finite_probability,
                     finite_seconds, say)

EPILOG_GATE = """examples:
  cvp gate --baseline-json base/r1.json base/r2.json base/r3.json \\
           --candidate-json cand/r1.json cand/r2.json cand/r3.json
  cvp gate --baseline-bin base/cvpbench --candidate-bin build/release/benchmarks/cvpbench \\
           --markdown gate.md -- --filter '^matmul/n:512/mode:(serial|concurrent)/backend:threads/' \\
           --precision 0 --repetitions 20 --min-time 0.05
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
Markdown).
Calibration (how often the gate cries wolf on this machine, which planted slowdown it finds):
python3 tools/calibrate_gate.py --baseline-bin PROGRAM (see results/gate-calibration/)."""


def _gate_context(args, plan=None):
    from ..gate import md_code, plan_text
    if args.baseline_bin:
        return (f"Binaries: baseline {md_code(args.baseline_bin)}, candidate "
                f"{md_code(args.candidate_bin)}, {plan_text(plan, args.rounds)}")
    return (f"Files: {len(args.baseline_json)} baseline and {len(args.candidate_json)} "
            f"candidate rounds, paired in order.")


def _gate_usage(args, parser):
    """The usage errors of `gate` (exit 2, one line), before anything is read or run."""
    json_mode = bool(args.baseline_json or args.candidate_json)
    bin_mode = bool(args.baseline_bin or args.candidate_bin)
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


def check_extra(extra):
    """CvpError for binaries' arguments the gate sets itself."""
    for a in extra:
        if a == "--seed" or a.startswith("--seed="):
            raise CvpError("the gate gives every run --seed ROUND itself (both binaries in the "
                           "same order); remove --seed from the arguments after --")


def supervised(args, work):
    """Run work(sup) under a Supervisor: (its result, None), or (None, 130) when stopped."""
    from .. import gate
    if args.work_dir:
        runio.make_folder(args.work_dir)
    sup = gate.Supervisor(parent=args.work_dir, keep=bool(args.work_dir),
                          timeout=args.timeout_s, log=say, sweep=gate.become_subreaper())
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
        kept = (f"the outputs so far are in {runio.display_path(sup.root)}" if sup.keep
                else "its temporary folder was removed")
        say(f"cvp gate: stopped by {stopped.name}; the running binary and its process "
             f"group were stopped and {kept}")
        return None, 130
    if sup.keep:
        say(f"cvp gate: the binaries' outputs are in {runio.display_path(sup.root)}")
    return result, None


def gate_options(args):
    from .. import gate
    return gate.GateOptions(threshold_cpu=args.threshold_cpu, threshold_io=args.threshold_io,
                            threshold_memory=args.threshold_memory,
                            alpha=args.alpha, test=args.test,
                            canary=args.canary or None,
                            canary_required=args.canary is not None,
                            canary_cv_max=args.canary_cv_max).validate()


def run(args):
    json_mode = _gate_usage(args, args.parser)
    outputs = [p for p in (args.markdown, args.json) if p not in (None, "-")]
    runio.check_writable(outputs, args.force)

    if json_mode:  # bad files are reported before the statistics stack is imported
        if len(args.baseline_json) != len(args.candidate_json):
            raise CvpError(f"{len(args.baseline_json)} --baseline-json files but "
                           f"{len(args.candidate_json)} --candidate-json files; rounds pair "
                           f"in order")
        runs = runio.load_runs(args.baseline_json + args.candidate_json, same_format=True)
    from .. import gate
    opts = gate_options(args)
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
            more = runio.load_runs(base_files + args.confirm_json, same_format=True)
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
        check_extra(args.extra)

        def work(sup):
            plan = gate.make_plan(sup, (args.baseline_bin, args.candidate_bin), args.extra,
                                  duet=args.duet or "auto",
                                  seed=gate.DEFAULT_SEED if args.seed is None else args.seed,
                                  count=opts.test == "wilcoxon")
            if plan.count:  # how many benchmarks Holm will divide alpha among
                gate.check_power(args.rounds, plan.count, opts)
            return plan, gate.run_gate(sup, args.baseline_bin, args.candidate_bin, args.rounds,
                                       args.extra, opts, plan)
        result, code = supervised(args, work)
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
        emit_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", args.json, args.force)
    if args.markdown and args.markdown != "-":
        emit_text(text, args.markdown, args.force)
    if args.json != "-":
        sys.stdout.write(text)
    return code


def add_parser(sub):
    p = sub.add_parser("gate", help="CI gate: fail on a confirmed regression",
                       epilog=EPILOG_GATE, formatter_class=FORMATTER,
                       description="Paired rounds, one-sided test per benchmark, Holm correction, "
                                   "a slowdown threshold, confirmation by re-run and a noise "
                                   "canary.")
    _add_inputs(p)
    _add_binary_mode(p)
    add_judgement_options(p)
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    p.add_argument("--json", metavar="FILE", help="also write the full evaluation as JSON "
                   "('-': on stdout instead of the Markdown)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(handler=run, parser=p)


def _add_inputs(p):
    """The rounds: JSON files, or the two binaries."""
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


def _add_binary_mode(p):
    """How binary mode runs the binaries."""
    p.add_argument("--rounds", type=at_least(2), default=30,
                   help="rounds in binary mode (default 30: what "
                        "finds a 5%% slowdown at the 3%% threshold on a 2-core virtual machine; "
                        "see results/gate-calibration/)")
    add_running_options(p)


def add_running_options(p):
    """How the binaries run (also tools/calibrate_gate.py's)."""
    p.add_argument("--duet", choices=("auto", "on", "off"), default=None,
                   help="binary mode: run the one-core points (mode serial or concurrent) as "
                        "duets, both binaries started together each round, each pinned to a "
                        "CPU of its own (--cpus A / --cpus B, swapped every round), the same "
                        "--filter and --seed; the other points interleaved. auto (default): "
                        "duet when the gate may use 2 CPUs or more, else interleaved, said in "
                        "the Markdown; on: refuse (exit 2) where no duet is possible; off: "
                        "every point interleaved")
    p.add_argument("--seed", type=at_least(0), default=None,
                   help="binary mode: seed of the order (baseline or candidate first) of the "
                        "interleaved runs in each round (default 1); the binaries get --seed "
                        "ROUND")
    p.add_argument("--timeout-s", type=finite_seconds, default=None,
                   help="limit for one binary run, in seconds (default: 1800 s until a run "
                        "has finished, then 10 x the longest run so far, at least 60 s, for a "
                        "duet run as soon as its partner has finished; --list: 60 s); a run "
                        "past it is stopped with its whole process group")
    p.add_argument("--work-dir", metavar="FOLDER", help="keep the binaries' outputs in a new "
                   "folder cvp-gate-XXXXXXXX made inside FOLDER, one empty folder per run "
                   "(default: a temporary folder, removed afterwards)")


def add_judgement_options(p):
    """Thresholds, test and canary: what counts as a regression."""
    p.add_argument("--threshold-cpu", type=finite_fraction, default=0.03,
                   help="smallest slowdown that counts for kind cpu (default 0.03 = 3%%: "
                        "below the 5%% a gate should find, so that a 5%% slowdown is not "
                        "measured half the time just under its threshold)")
    p.add_argument("--threshold-io", type=finite_fraction, default=0.10,
                   help="smallest slowdown that counts for kind io (default 0.10 = 10%%)")
    p.add_argument("--threshold-memory", type=finite_fraction, default=0.10,
                   help="smallest slowdown that counts for kind memory (default 0.10 = 10%%); "
                        "a benchmark's kind is the one its file declares")
    p.add_argument("--alpha", type=finite_probability, default=0.05,
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
    p.add_argument("--canary-cv-max", type=finite_fraction, default=0.10,
                   help="largest spread of the canary's per-round log ratio candidate / baseline "
                        "(its standard deviation, about the ratio's coefficient of variation; "
                        "default 0.10); beyond it the verdict is inconclusive. The canary is "
                        "judged as the test judges every benchmark, on the pairs (a duet's two "
                        "runs): drift between rounds that both sides see is not noise here, a "
                        "difference between the two sides of a round is")

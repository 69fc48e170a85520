#!/usr/bin/env python3
"""How often does `cvp gate` cry wolf, and which planted slowdown does it catch?

The gate's calibration (scripts/README.md, "gate"; results/gate-calibration/): the same
`cvpbench` binary as baseline and candidate, A/A (the candidate unchanged) and with planted
slowdowns (the candidate gets `--inject-slowdown PCT:REGEX`), many gates per condition, each
evaluated exactly like a real `cvp gate` (duets for the one-core points, interleaved rounds in a
seeded random order for the others, confirmation included), from a pool of rounds per
condition or each with rounds of its own.

    python3 tools/calibrate_gate.py --baseline-bin PROGRAM [--slowdowns 5,10] [--gates 40]
        [--rounds R] [--inject REGEX] [--pool ROUNDS] [--json FILE] [--markdown FILE]
        [gate options: --duet, --seed, thresholds, --test, --canary ...] [-- ARGS FOR THE BINARY]

prints the Markdown table (and writes it, and the JSON, where asked). With `--out FOLDER` it
runs one calibration per round count of `--rounds` (e.g. 5,10,30) and writes
FOLDER/calibration-R-rounds-aa-SLOWDOWNS.json and .md for each; without ARGS it then runs SUBSET,
the arguments of the example workflow's gate step (the serial and concurrent matmul points, all
duets, 20 blocks a run), with a pool of 4 x R rounds (at least 2 x R; --pool 0: none).

Exit 0 when it finished (whatever it found), 2 on bad input, 130 when stopped.
"""

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # cvptools

import numpy as np  # noqa: E402

from cvptools import CvpError  # noqa: E402
from cvptools import gate  # noqa: E402  (gate.NAME at call time, so a test can stand in a step)
from cvptools.commands import gate as gate_command  # noqa: E402
from cvptools.commands.common import (FORMATTER, Parser, at_least, emit_text,  # noqa: E402
                                      say)
from cvptools.gate.evaluate import INCONCLUSIVE, PASS  # noqa: E402
from cvptools.results import KIND_ORDER  # noqa: E402
from cvptools.text import md_code  # noqa: E402

SUBSET = ["--filter", "^matmul/n:512/mode:(serial|concurrent)/backend:threads/",
          "--precision", "0", "--repetitions", "20", "--min-time", "0.05"]

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




def _listed_planted(plan, slowdowns, pattern, inject):
    """The planted benchmarks among those the binary lists (None when it lists none)."""
    if slowdowns and plan.listed is not None:
        planted_seen = sorted(n for n in plan.listed if pattern.search(n))
        if not planted_seen:
            raise CvpError(f"--inject {inject!r} matches none of the benchmarks the binary "
                           f"lists; planted slowdowns could never be detected")
        return planted_seen
    return None


class _Tally:
    """What the gates of one condition found."""

    def __init__(self):
        self.outcomes, self.codes, self.seconds, self.ratios = [], [], [], []
        self.started = time.monotonic()

    def add(self, job, pct, first, confirm, spent, t0):
        code = gate.decide(first, confirm)[0]
        self.ratios += _planted_ratios(first, job.pattern)
        self.seconds.append(spent + time.monotonic() - t0)
        self.codes.append(code)
        self.outcomes.append(_outcome(code, first, confirm, bool(pct), job.pattern))

    def row(self, name, pct, gates):
        outcomes, ratios, seconds = self.outcomes, self.ratios, self.seconds
        counts = {o: outcomes.count(o) for o in OUTCOMES}
        return {
            "condition": name, "slowdown_pct": pct, "gates": gates,
            "detected": counts["detected"] if pct else None,
            "missed": counts["missed"] if pct else None,
            "inconclusive": counts["inconclusive"], "false_alarm": counts["false alarm"],
            "passed": None if pct else counts["passed"],
            "exit_codes": self.codes,
            "planted_ratio_median": float(np.median(ratios)) if ratios else None,
            "seconds_per_gate": {"mean": sum(seconds) / len(seconds), "max": max(seconds)},
            "wall_seconds": time.monotonic() - self.started}


def _pooled_gates(job, name, pct, tag, cand_extra, tally):
    """A pool of rounds for the condition, then every gate drawn from it."""
    rounds, pool, opts = job.rounds, job.pool, job.opts
    job.log(f"cvp gate: calibration {name}: {pool} rounds for the pool")
    base, cand = gate.run_rounds(job.sup, job.program, job.program, pool, job.extra,
                                 label=f"{tag}-pool-", plan=job.plan, candidate_extra=cand_extra)
    if job.planted is None:
        job.planted = _planted_names(base, job.pattern)
        _check_planted(job.planted, job.slowdowns, job.inject)
    rng = random.Random(f"cvp-gate-calibrate/{job.plan.seed}/{tag}")
    for _ in range(job.gates):
        t0 = time.monotonic()
        drawn = rng.sample(range(pool), 2 * rounds)
        first_i, confirm_i = drawn[:rounds], drawn[rounds:]
        first = gate.evaluate([base[i] for i in first_i], [cand[i] for i in first_i], opts)
        job.tests.append(first["test"])
        spent = sum(base[i].seconds for i in first_i)
        confirm = None
        if gate.wants_confirmation(first):
            confirm = gate.evaluate([base[i] for i in confirm_i],
                                    [cand[i] for i in confirm_i], opts,
                                    only=set(first["flagged"]))
            spent += sum(base[i].seconds for i in confirm_i)
        tally.add(job, pct, first, confirm, spent, t0)


def _own_gates(job, name, pct, tag, cand_extra, tally):
    """Every gate with rounds, and a confirmation, of its own, like a real gate."""
    for g in range(job.gates):
        job.log(f"cvp gate: calibration {name}: gate {g + 1}/{job.gates}")
        t0 = time.monotonic()
        first, confirm = gate.run_gate(job.sup, job.program, job.program, job.rounds, job.extra,
                                       job.opts, job.plan, label=f"{tag}-gate{g + 1}-",
                                       candidate_extra=cand_extra)
        job.tests.append(first["test"])
        if job.planted is None:
            job.planted = sorted({n for r in first["benchmarks"]
                                  for n in r.get("names", [r["name"]])
                                  if job.pattern.search(n)})
            _check_planted(job.planted, job.slowdowns, job.inject)
        tally.add(job, pct, first, confirm, 0.0, t0)


def _smallest_detected(results):
    smallest = {}
    for level in CALIBRATION_LEVELS:
        found = [r["slowdown_pct"] for r in results
                 if r["slowdown_pct"] and 100 * r["detected"] >= round(100 * level) * r["gates"]]
        smallest[f"{round(100 * level)}"] = min(found) if found else None
    return smallest


def calibrate(sup, program, extra, opts, rounds, gates, slowdowns, inject, pool, plan, log=None):
    """Run `program` as both baseline and candidate: A/A, then each planted slowdown (the
    candidate gets `--inject-slowdown PCT:inject`); `gates` gates of `rounds` rounds each per
    condition, evaluated like a real gate (confirmation included). With `pool` (rounds per
    condition, at least 2 x rounds) the rounds run once per condition and every gate draws its
    rounds, and as many again for its confirmation, at random without replacement from the
    pool, whole rounds at a time (so a duet pair stays a pair); with pool 0 every gate runs its
    own rounds. A JSON-ready dict (see calibration_markdown)."""
    pattern = re.compile(inject)
    job = SimpleNamespace(sup=sup, program=program, extra=extra, opts=opts, rounds=rounds,
                          gates=gates, slowdowns=slowdowns, inject=inject, pool=pool, plan=plan,
                          log=log or (lambda line: None), pattern=pattern,
                          tests=[],  # the test each gate's first evaluation ran (auto chooses)
                          planted=_listed_planted(plan, slowdowns, pattern, inject))
    conditions = [("A/A", 0.0)] + [(_pct_text(p), p) for p in slowdowns]
    results = []
    for name, pct in conditions:
        tag = "aa" if not pct else f"slow{pct:g}".replace(".", "_")
        cand_extra = list(extra) + (["--inject-slowdown", f"{pct:g}:{inject}"] if pct else [])
        tally = _Tally()
        (_pooled_gates if pool else _own_gates)(job, name, pct, tag, cand_extra, tally)
        results.append(tally.row(name, pct, gates))
    tests = job.tests
    return {"program": program, "arguments": list(extra), "rounds": rounds, "gates": gates,
            "pool_rounds": pool or None, "pooled": bool(pool), "inject": inject,
            "planted_benchmarks": job.planted or [], "seed": plan.seed,
            "plan": plan.describe(), "alpha": opts.alpha,
            "test": tests[0] if len(set(tests)) == 1 else "/".join(sorted(set(tests))),
            "test_option": opts.test, "canary_limit": opts.canary_cv_max,
            "canary": opts.canary,
            "thresholds": {k: opts.threshold(k) for k in KIND_ORDER},
            "conditions": results, "smallest_detected": _smallest_detected(results)}


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


# --- the command line ---------------------------------------------------------------------------

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


def _round_counts(text):
    """'30' or '5,10,30': round counts of at least 2."""
    check = at_least(2)
    return [check(part.strip()) for part in text.split(",")]


def build_parser():
    p = Parser(prog="calibrate_gate.py", formatter_class=FORMATTER,
               description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--baseline-bin", metavar="PROGRAM", required=True,
                   help="the cvpbench binary, run as both baseline and candidate")
    p.add_argument("--rounds", type=_round_counts, default=[gate.DEFAULT_ROUNDS],
                   metavar="R[,R...]",
                   help="rounds per gate (default 30, the gate's default); several, with --out")
    gate_command.add_running_options(p)
    gate_command.add_judgement_options(p)
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown table here")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON ('-': on "
                   "stdout instead of the Markdown)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--out", metavar="FOLDER", help="one calibration per round count of "
                   "--rounds, each written to FOLDER/calibration-R-rounds-aa-SLOWDOWNS.json and "
                   ".md (replacing those files); without arguments after --, the subset of the "
                   "example workflow's gate step")
    p.add_argument("--slowdowns", type=_slowdowns, default=DEFAULT_SLOWDOWNS, metavar="PCT,PCT",
                   help="planted slowdowns in percent (default 5,10), each above 0 and at most "
                        "1000, planted with the candidate's --inject-slowdown PCT:REGEX")
    p.add_argument("--gates", type=at_least(1), default=40, metavar="N",
                   help="gates per condition (default 40)")
    p.add_argument("--inject", metavar="REGEX", default=DEFAULT_INJECT,
                   help="the benchmarks that get the planted slowdowns (default "
                        "'^matmul/n:[0-9]+/mode:serial/', the default canary's points)")
    p.add_argument("--pool", type=at_least(0), default=None, metavar="ROUNDS",
                   help="rounds run once per condition, from which every gate draws its "
                        "rounds and its confirmation's at random without replacement (default "
                        "4 x --rounds, at least 2 x --rounds; 0: every gate runs its own "
                        "rounds, like a real gate)")
    return p


def _check(args, rounds, pool):
    """CvpError for bad input, before anything runs."""
    if pool and pool < 2 * rounds:
        raise CvpError(f"--pool {pool}: a pool needs at least 2 x --rounds = {2 * rounds} "
                       f"rounds (a gate draws {rounds} and {rounds} more for its confirmation); "
                       f"--pool 0 runs every gate's own rounds")
    inject = args.inject
    if not inject or "\n" in inject:
        raise CvpError(f"--inject {inject!r}: give a regular expression over benchmark names")
    try:
        re.compile(inject)
    except re.error as e:
        raise CvpError(f"--inject {inject!r}: not a valid regular expression ({e})") from None


def _calibrate(args, rounds, pool, extra, json_path, markdown_path, force):
    """One calibration at `rounds` rounds per gate: exit 0 when it finished, 130 when stopped."""
    _check(args, rounds, pool)
    opts = gate_command.gate_options(args)
    gate.check_program(args.baseline_bin)
    gate.check_power(rounds, 1, opts)
    gate_command.check_extra(extra)

    def work(sup):
        plan = gate.make_plan(sup, (args.baseline_bin, args.baseline_bin), extra,
                              duet=args.duet or "auto",
                              seed=gate.DEFAULT_SEED if args.seed is None else args.seed,
                              count=True)
        if plan.count and opts.test == "wilcoxon":
            gate.check_power(rounds, plan.count, opts)
        return calibrate(sup, args.baseline_bin, extra, opts, rounds, args.gates,
                         args.slowdowns, args.inject, pool, plan, log=say)
    cal, code = gate_command.supervised(args, work)
    if code is not None:
        return code
    text = calibration_markdown(cal)
    if json_path:
        emit_text(json.dumps(cal, indent=2, allow_nan=False) + "\n", json_path, force)
    if markdown_path and markdown_path != "-":
        emit_text(text, markdown_path, force)
    if json_path != "-":
        sys.stdout.write(text)
    return 0


def run(args):
    from cvptools import runio
    if args.out is None:
        if len(args.rounds) != 1:
            args.parser.error("several round counts need --out FOLDER")
        outputs = [p for p in (args.markdown, args.json) if p not in (None, "-")]
        runio.check_writable(outputs, args.force)
        rounds = args.rounds[0]
        pool = 4 * rounds if args.pool is None else args.pool
        return _calibrate(args, rounds, pool, args.extra, args.json, args.markdown, args.force)
    if args.json or args.markdown:
        args.parser.error("--out names the files itself: drop --json and --markdown")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    code = 0
    for rounds in args.rounds:
        stem = out / ("calibration-{rounds}-rounds-aa-".format(rounds=rounds)
                      + "-".join(f"{s:g}" for s in args.slowdowns))
        pool = 4 * rounds if args.pool is None else max(args.pool, 2 * rounds) if args.pool else 0
        say(f"calibrate_gate.py: {rounds} rounds per gate, pool {pool}: {stem}.json")
        code = _calibrate(args, rounds, pool, args.extra or SUBSET, f"{stem}.json",
                          f"{stem}.md", True) or code
        if code == 130:
            break
    return code


def main(argv=None):
    from cvptools import cli
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.extra, args.parser, args.handler = extra, parser, run
    return cli.run_handler(args)


if __name__ == "__main__":
    sys.exit(main())

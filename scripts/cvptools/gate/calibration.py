"""Calibration: the same binary as baseline and candidate, A/A and with planted slowdowns,
many gates per condition."""

import random
import re
import time

import numpy as np

from .. import CvpError
from ..results import KIND_ORDER
from ..text import md_code
from .evaluate import INCONCLUSIVE, PASS


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
    from .. import gate  # the package's names, so that a test can stand in for a step
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
            base, cand = gate.run_rounds(sup, program, program, pool, extra, label=f"{tag}-pool-",
                                    plan=plan, candidate_extra=cand_extra)
            if planted_seen is None:
                planted_seen = _planted_names(base, pattern)
                _check_planted(planted_seen, slowdowns, inject)
            rng = random.Random(f"cvp-gate-calibrate/{plan.seed}/{tag}")
            for _ in range(gates):
                t0 = time.monotonic()
                drawn = rng.sample(range(pool), 2 * rounds)
                first_i, confirm_i = drawn[:rounds], drawn[rounds:]
                first = gate.evaluate([base[i] for i in first_i], [cand[i] for i in first_i], opts)
                tests.append(first["test"])
                spent = sum(base[i].seconds for i in first_i)
                confirm = None
                if gate.wants_confirmation(first):
                    confirm = gate.evaluate([base[i] for i in confirm_i],
                                       [cand[i] for i in confirm_i], opts,
                                       only=set(first["flagged"]))
                    spent += sum(base[i].seconds for i in confirm_i)
                code = gate.decide(first, confirm)[0]
                ratios += _planted_ratios(first, pattern)
                seconds.append(spent + time.monotonic() - t0)
                codes.append(code)
                outcomes.append(_outcome(code, first, confirm, bool(pct), pattern))
        else:
            for g in range(gates):
                log(f"cvp gate: calibration {name}: gate {g + 1}/{gates}")
                t0 = time.monotonic()
                first, confirm = gate.run_gate(sup, program, program, rounds, extra, opts, plan,
                                          label=f"{tag}-gate{g + 1}-",
                                          candidate_extra=cand_extra)
                tests.append(first["test"])
                if planted_seen is None:
                    planted_seen = sorted({n for r in first["benchmarks"]
                                           for n in r.get("names", [r["name"]])
                                           if pattern.search(n)})
                    _check_planted(planted_seen, slowdowns, inject)
                code = gate.decide(first, confirm)[0]
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

"""Running the rounds of a gate in binary mode, and the gate itself (first rounds, then the
confirmation re-run of what they flagged)."""

import os
import time

from .. import CvpError
from ..compare import measured
from .evaluate import Round, canary_pattern, evaluate, flagged_names
from .plan import (Plan, filter_regex, interleave_orders, is_one_core, without_filter,
                   without_option)
from .supervisor import _tail, read_output


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

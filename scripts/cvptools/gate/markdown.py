"""The gate's Markdown: the verdict, the table of benchmarks, and how the rounds were run."""

from ..results import KIND_ORDER, kind_rank
from ..text import md_code
from .evaluate import _flaggable, _unresolved_on_rerun


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

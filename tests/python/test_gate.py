"""cvp gate: planted regressions are caught, A/A pairs pass, noisy machines are inconclusive."""

import copy
import json
import os
import sys

import pytest

from cvp_testing import (GOLDEN, assert_clean_error, fake_cvpbench, run_cvp, synthetic_rounds,
                         write_json)
from cvptools import CvpError, gate, runio

SLOW = "matmul/n:256/mode:parallel/backend:tbb/threads:2"
SLOW_IO = "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1"


def _evaluate(base, cand, **options):
    rounds = lambda files: gate.rounds_from_runs([runio.load_run(f) for f in files])  # noqa: E731
    return gate.evaluate(rounds(base), rounds(cand), gate.GateOptions(**options))


def test_planted_20_percent_slowdown_is_flagged(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=11)
    first = _evaluate(base, cand)
    assert first["flagged"] == [SLOW]
    row = next(r for r in first["benchmarks"] if r["name"] == SLOW)
    assert 1.15 < row["ratio"] < 1.25 and row["ci95"][0] <= 1.2 <= row["ci95"][1]
    assert row["p_holm"] < 0.05


def test_aa_pair_passes(tmp_path):
    for seed in (1, 2, 3):
        base, cand = synthetic_rounds(tmp_path, seed=seed, prefix=f"s{seed}")
        first = _evaluate(base, cand)
        assert first["flagged"] == []
        assert gate.decide(first)[0] == gate.PASS


def test_slowdown_below_threshold_is_not_a_regression(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.02}, seed=5, drift=0.02, noise=0.003)
    first = _evaluate(base, cand)  # the default cpu threshold: 3%
    row = next(r for r in first["benchmarks"] if r["name"] == SLOW)
    assert row["significant"] and not row["flagged"]


def test_io_threshold_is_separate(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW_IO: 1.07}, seed=6, noise=0.003)
    assert _evaluate(base, cand)["flagged"] == []
    assert _evaluate(base, cand, threshold_io=0.05)["flagged"] == [SLOW_IO]


def test_cli_flags_and_confirms_with_json_files(tmp_path):
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=11)
    args = ["gate", "--baseline-json", *base, "--candidate-json", *cand]
    proc = run_cvp(*args, "--markdown", tmp_path / "gate.md")
    assert proc.returncode == 3, proc.stderr  # flagged but not re-measured
    assert "unconfirmed" in proc.stdout
    assert (tmp_path / "gate.md").read_text() == proc.stdout

    rbase, rcand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=12, prefix="re")
    proc = run_cvp(*args, "--confirm-json", *rcand, "--confirm-baseline-json", *rbase)
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSION" in proc.stdout and "regression (confirmed)" in proc.stdout
    assert f"`{SLOW}`" in proc.stdout

    gone_base, gone_cand = synthetic_rounds(tmp_path, seed=13, prefix="gone")
    proc = run_cvp(*args, "--confirm-json", *gone_cand, "--confirm-baseline-json", *gone_base,
                   "--json", tmp_path / "gate.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "gate.json").read_text())
    assert doc["first"]["flagged"] == [SLOW] and doc["confirm"]["flagged"] == []


def test_a_rerun_too_noisy_to_tell_clears_nothing(tmp_path):
    """A slowdown flagged in the first pass and not seen again on a re-run that could not have
    flagged the threshold at its own noise is inconclusive, not a pass; a quiet re-run that does
    not see it again clears it."""
    base, cand = synthetic_rounds(tmp_path, slowdown={SLOW: 1.20}, seed=11)
    args = ["gate", "--baseline-json", *base, "--candidate-json", *cand]
    noisy_base, noisy_cand = synthetic_rounds(tmp_path, rounds=3, seed=14, noise=0.25,
                                              prefix="noisy")
    proc = run_cvp(*args, "--confirm-json", *noisy_cand, "--confirm-baseline-json", *noisy_base,
                   "--json", tmp_path / "noisy.json")
    assert proc.returncode == 3, proc.stdout
    assert "INCONCLUSIVE: regression flagged, re-run too noisy to tell" in proc.stdout
    assert "slower once; re-run too noisy to tell" in proc.stdout
    doc = json.loads((tmp_path / "noisy.json").read_text())
    assert doc["confirm"]["flagged"] == [] and not doc["confirm"]["benchmarks"][0][
        "resolves_threshold"]
    quiet_base, quiet_cand = synthetic_rounds(tmp_path, seed=15, noise=0.003, prefix="quiet")
    proc = run_cvp(*args, "--confirm-json", *quiet_cand, "--confirm-baseline-json", *quiet_base)
    assert proc.returncode == 0 and "did not reproduce on re-run" in proc.stdout


def test_cli_aa_passes(tmp_path):
    base, cand = synthetic_rounds(tmp_path, seed=21)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## cvpbench gate: PASS")
    assert "Canary `matmul/n:256/mode:serial/backend:tbb/threads:1`" in proc.stdout


def test_noisy_canary_is_inconclusive(tmp_path):
    base, cand = synthetic_rounds(tmp_path, seed=31, canary_noise=0.25)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 3, proc.stderr
    assert "too noisy" in proc.stdout


CANARY = "matmul/n:256/mode:serial/backend:tbb/threads:1"


def test_common_drift_leaves_the_canary_quiet():
    """The canary is judged on its paired log ratios: a drift that moves both sides of every
    round by the same factor (up to 20% here) leaves them alone, whatever it does to the times."""
    drift = [1.0, 1.2, 0.85, 1.1, 0.9]
    base = [0.05 * f for f in drift]
    judged = gate.judge_canary(base, [t * 1.04 for t in base], 0.10)
    assert judged["spread"] < 1e-12 and not judged["noisy"]
    assert judged["cv_baseline"] > 0.10 and judged["cv_candidate"] > 0.10  # CV: too noisy
    noisy = gate.judge_canary(base, [t * g for t, g in zip(base, [1.0, 0.8, 1.2, 0.9, 1.15])],
                              0.10)
    assert noisy["spread"] > 0.10 and noisy["noisy"]
    assert gate.judge_canary([1.0, 0.0], [1.0, 1.0], 0.1) == dict(
        spread=None, limit=0.1, cv_baseline=pytest.approx(1.414, abs=1e-3), cv_candidate=0.0,
        noisy=False)


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_drift_both_sides_see_does_not_make_the_gate_inconclusive(tmp_path, seed):
    """A machine whose speed drifts by 15% between rounds, hitting baseline and candidate of a
    round alike (what a duet sees): the canary's time varies by more than 10% across rounds, its
    ratio does not, and an A/A gate passes rather than ending inconclusive."""
    base, cand = synthetic_rounds(tmp_path, rounds=8, seed=seed, drift=0.15, noise=0.005)
    first = _evaluate(base, cand)
    canary = first["canary"]
    assert canary["name"] == CANARY and max(canary["cv_baseline"], canary["cv_candidate"]) > 0.10
    assert canary["spread"] < 0.02 and not canary["noisy"]
    code, headline, _ = gate.decide(first)
    assert code == gate.PASS, headline
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 0, proc.stdout
    assert f"Canary `{CANARY}`: its candidate / baseline ratio varies by" in proc.stdout
    assert "limit 10.0%): ok." in proc.stdout


@pytest.mark.parametrize("seed", [51, 52, 53])
@pytest.mark.parametrize("test", ["t", "wilcoxon"])
def test_noise_between_the_two_sides_still_makes_the_gate_inconclusive(tmp_path, seed, test):
    """The check can still fail: independent noise on the canary's baseline and candidate (a
    pair that disagrees, 20% each side), with no drift at all and a planted 20% regression
    elsewhere, makes the gate inconclusive, and nothing is re-measured; with either test (the
    Wilcoxon test's robust spread forgives a few outlying rounds, not noise in every round)."""
    base, cand = synthetic_rounds(tmp_path, rounds=10, seed=seed, drift=0.0, noise=0.005,
                                  canary_noise=0.20, slowdown={SLOW: 1.20})
    first = _evaluate(base, cand, test=test)
    assert first["test"] == test
    assert first["canary"]["noisy"] and first["canary"]["spread"] > 0.10
    assert first["flagged"] == [SLOW] and not gate.wants_confirmation(first)
    code, headline, notes = gate.decide(first)
    assert code == gate.INCONCLUSIVE and headline == "INCONCLUSIVE: the machine is too noisy"
    assert "across the paired rounds" in notes[0] and "limit 10.0%" in notes[0]
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand, "--test", test)
    assert proc.returncode == 3 and "too noisy" in proc.stdout


def test_auto_runs_wilcoxon_where_the_rounds_allow_it_else_t(tmp_path):
    opts = gate.GateOptions()
    assert opts.test == "auto"
    assert gate.chosen_test(opts, 30, 2) == "wilcoxon"
    assert gate.chosen_test(opts, 7, 4) == "wilcoxon"  # 4 x 2^-7 = 0.031 <= 0.05
    assert gate.chosen_test(opts, 6, 4) == "t"         # 4 x 2^-6 = 0.0625: out of reach
    assert gate.chosen_test(gate.GateOptions(test="t"), 30, 2) == "t"
    assert gate.chosen_test(gate.GateOptions(test="wilcoxon"), 3, 48) == "wilcoxon"
    gate.check_power(3, 48, opts)  # auto never refuses: it runs t there
    with pytest.raises(CvpError, match="use at least 10 rounds"):
        gate.check_power(3, 48, gate.GateOptions(test="wilcoxon"))
    base, cand = synthetic_rounds(tmp_path, rounds=5, seed=3)
    few = _evaluate(base, cand)
    assert few["test"] == "t" and few["test_option"] == "auto"
    base, cand = synthetic_rounds(tmp_path, rounds=10, seed=3, prefix="many")
    many = _evaluate(base, cand)
    assert many["test"] == "wilcoxon" and many["canary"]["spread"] is not None
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 0, proc.stdout
    assert "one-sided Wilcoxon signed-rank test" in proc.stdout and "Hodges-Lehmann" in proc.stdout
    assert "(--test auto: Wilcoxon where the rounds let it reach Holm's first step" in proc.stdout


def _rounds_with_one_sided_runs(tmp_path, factor, slowed, prefix, n=30):
    """n rounds of the synthetic suite, SLOW `factor` slower in the candidate; in round i of
    `slowed` (a dict: round -> 'baseline' or 'candidate') that side's run of SLOW took 1.6 x as
    long (another process on its CPU for the whole run)."""
    from cvp_testing import SYNTHETIC, gbench_doc
    import random as _random
    rng = _random.Random(prefix)
    base, cand = [], []
    for i in range(n):
        drift = 1.0 + 0.03 * rng.random()
        b = {k: SYNTHETIC[k] * drift for k in (CANARY, SLOW)}
        c = dict(b, **{SLOW: b[SLOW] * factor})
        side = slowed.get(i)
        if side:
            (b if side == "baseline" else c)[SLOW] *= 1.6
        base.append(write_json(tmp_path / f"{prefix}b{i}.json", gbench_doc(b, rng=rng, noise=0.01)))
        cand.append(write_json(tmp_path / f"{prefix}c{i}.json", gbench_doc(c, rng=rng, noise=0.01)))
    return base, cand


def test_a_few_runs_slowed_on_one_side_do_not_hide_a_5_percent_slowdown(tmp_path):
    """30 rounds of two benchmarks, 8 of them with one side's run of one benchmark slowed by 60%
    (4 baselines, 4 candidates, as a busy shared machine does): their spread hides a planted 5%
    slowdown from the t-test; the Wilcoxon test and the Hodges-Lehmann ratio (what --test auto
    runs at 30 rounds) find it, and flag nothing when nothing was planted."""
    slowed = {3: "baseline", 7: "candidate", 11: "candidate", 14: "baseline", 18: "baseline",
              21: "candidate", 25: "baseline", 28: "candidate"}
    base, cand = _rounds_with_one_sided_runs(tmp_path, 1.05, slowed, "slow")
    t = _evaluate(base, cand, test="t")
    row = next(r for r in t["benchmarks"] if r["name"] == SLOW)
    assert SLOW not in t["flagged"] and not row["significant"]
    auto = _evaluate(base, cand)
    row = next(r for r in auto["benchmarks"] if r["name"] == SLOW)
    assert auto["test"] == "wilcoxon" and 1.04 < row["ratio"] < 1.06
    assert row["ci95"][0] < row["ratio"] < row["ci95"][1]
    assert auto["flagged"] == [SLOW]
    # the same disturbances with nothing planted, half on each side: nothing flagged
    aa_slowed = {i: ("baseline" if k % 2 else "candidate") for k, i in enumerate(slowed)}
    base, cand = _rounds_with_one_sided_runs(tmp_path, 1.0, aa_slowed, "aa")
    assert _evaluate(base, cand)["flagged"] == []


def test_hodges_lehmann_ratio_and_its_interval():
    import numpy as np
    from scipy import stats as sps
    from cvptools import stats
    rng = np.random.default_rng(5)
    for n in (6, 12, 25):
        d = rng.normal(0.02, 0.05, n)
        walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
        ratio, (lo, hi) = stats.paired_hl_ci(d)
        assert ratio == pytest.approx(np.exp(np.median(walsh)))
        assert lo <= ratio <= hi
        w = sps.wilcoxon(d, alternative="greater").statistic  # the exact null distribution
        assert 1 - stats._signed_rank_cdf(n)[int(w) - 1] == pytest.approx(
            sps.wilcoxon(d, alternative="greater").pvalue)
    ratio, (lo, hi) = stats.paired_hl_ci(np.log([1.1, 1.2, 1.3]))  # too few rounds for 95%
    assert (lo, hi) == (pytest.approx(1.1), pytest.approx(1.3))
    covered = sum(lo <= 1.0 <= hi for lo, hi in
                  (stats.paired_hl_ci(rng.standard_t(3, 15))[1] for _ in range(400)))
    assert 0.92 <= covered / 400 <= 0.99
    assert stats.robust_spread([0.0, 0.01, -0.01, 0.02, 0.9]) == pytest.approx(0.014826)


def test_the_cli_defaults_are_the_gate_defaults():
    from cvptools import cli
    _, sub = cli.build_parser()
    args = sub.choices["gate"].parse_args(["--baseline-bin", "x", "--candidate-bin", "y"])
    opts = gate.GateOptions()
    assert (args.threshold_cpu, args.threshold_io, args.threshold_memory, args.alpha,
            args.test, args.canary_cv_max) == (opts.threshold_cpu, opts.threshold_io,
                                               opts.threshold_memory, opts.alpha, opts.test,
                                               opts.canary_cv_max)
    assert args.rounds == gate.DEFAULT_ROUNDS == 30 and opts.threshold_cpu == 0.03


def _fake_binary(folder, name, slow):
    """A stand-in for cvpbench that writes Google Benchmark JSON with a planted slowdown and
    cannot --list (so the gate runs no duet)."""
    return fake_cvpbench(folder, name, mode="unlisted", slow=slow)


def test_binary_mode_interleaves_and_confirms_with_filter(tmp_path):
    base = _fake_binary(tmp_path, "base", {})
    cand = _fake_binary(tmp_path, "cand", {SLOW: 1.25})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", cand, "--rounds", "3",
                   "--", "--extra-flag")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert "regression (confirmed)" in proc.stdout
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 12  # 3 rounds x 2 binaries, then the same again for confirmation
    assert all(c.startswith("--quick --out ") and c.endswith("--extra-flag") for c in calls)
    # This fake cannot --list: no duet, every round interleaved in the order the seed draws.
    for label, first in (("", calls[:6]), ("confirm-", calls[6:])):
        for i, baseline_first in enumerate(gate.interleave_orders(gate.DEFAULT_SEED, label, 3)):
            order = ["baseline", "candidate"] if baseline_first else ["candidate", "baseline"]
            assert [f"{label}round{i + 1}-{side}-" in c
                    for c, side in zip(first[2 * i:2 * i + 2], order)] == [True, True]
            assert all(f"--seed {i + 1} " in c for c in first[2 * i:2 * i + 2])
    assert all("--filter" in c for c in calls[6:]) and not any("--filter" in c for c in calls[:6])
    assert "No duet" in proc.stdout or "Duet off" in proc.stdout


def test_the_interleaved_order_is_random_but_reproducible_from_the_seed():
    """Randomized multiple interleaved trials: which binary goes first in each round is drawn
    from the seed (and the label: the confirmation draws its own), never strict alternation."""
    orders = gate.interleave_orders(gate.DEFAULT_SEED, "", 12)
    assert orders == gate.interleave_orders(gate.DEFAULT_SEED, "", 12)
    assert orders[:5] == gate.interleave_orders(gate.DEFAULT_SEED, "", 5)
    alternating = [i % 2 == 0 for i in range(12)]
    assert orders not in (alternating, [not x for x in alternating])
    assert True in orders and False in orders
    draws = {tuple(gate.interleave_orders(seed, "", 12)) for seed in range(20)}
    assert len(draws) == 20
    assert gate.interleave_orders(5, "confirm-", 12) != gate.interleave_orders(5, "", 12)


def test_binary_mode_runs_in_the_order_of_its_seed(tmp_path):
    base = _fake_binary(tmp_path, "base", {})

    def order(seed):
        calls = tmp_path / "calls"
        if calls.exists():
            calls.unlink()
        proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "6",
                       "--seed", str(seed), "--duet", "off")
        assert proc.returncode in (0, 3), proc.stderr
        folders = [os.path.basename(os.path.dirname(c.split()[2]))
                   for c in calls.read_text().splitlines()]
        return [f.split("-")[1] == "baseline" for f in folders[::2]]  # round<i>-<side>-XXXX
    assert order(3) == order(3) == gate.interleave_orders(3, "", 6)
    assert order(4) == gate.interleave_orders(4, "", 6) != gate.interleave_orders(3, "", 6)


def test_binary_mode_aa_passes(tmp_path):
    base = _fake_binary(tmp_path, "base", {})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "3")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert len((tmp_path / "calls").read_text().splitlines()) == 6


def test_binary_that_fails_is_reported(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('boom: no such workload\\n')"
                   f"\nsys.exit(4)\n")
    bad.chmod(0o755)
    proc = run_cvp("gate", "--baseline-bin", bad, "--candidate-bin", bad, "--rounds", "2")
    assert proc.returncode == 2
    assert "exited with status 4" in proc.stderr and "boom" in proc.stderr
    assert os.path.exists(bad)


def test_filter_regex_matches_exactly_the_names():
    import re
    names = ["requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1",
             "matmul/n:512/mode:parallel/backend:tbb/threads:2"]
    rx = re.compile(gate.filter_regex(names))
    assert rx.search(names[0]) and rx.search(names[1] + "/real_time")
    assert not rx.search(names[0] + "6")  # threads:16 is another benchmark
    assert not rx.search("matmul/n:512/mode:parallel/backend:tbb/threads:4")
    assert "\\-" not in gate.filter_regex(["a-b"])  # undefined in POSIX regular expressions
    assert gate.without_filter(["--filter", "x", "--size", "64", "--filter=y"]) == ["--size", "64"]


# --- what the gate can flag at its round count ----------------------------------------------

def test_wilcoxon_with_too_few_rounds_is_refused_with_the_rounds_needed(tmp_path):
    """10 benchmarks: Holm's first step needs p <= 0.005; Wilcoxon on 4 rounds cannot go below
    2^-4 = 0.0625. A PASS from that test could never have been a FAIL: refuse, say 8 rounds."""
    base, cand = synthetic_rounds(tmp_path, rounds=4, slowdown={SLOW: 1.5}, seed=3)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand,
                   "--test", "wilcoxon")
    assert_clean_error(proc, "the gate cannot flag anything: with --test wilcoxon, 4 rounds and "
                             "10 benchmark(s) the smallest p is 2^-4 = 0.0625")
    assert "use at least 8 rounds" in proc.stderr and proc.stdout == ""
    with pytest.raises(CvpError, match="use at least 8 rounds"):
        _evaluate(base, cand, test="wilcoxon")


def test_wilcoxon_with_enough_rounds_flags_and_passes(tmp_path):
    base, cand = synthetic_rounds(tmp_path, rounds=8, slowdown={SLOW: 1.20}, seed=4)
    first = _evaluate(base, cand, test="wilcoxon")
    assert first["flagged"] == [SLOW] and first["min_p"] == 2.0 ** -8
    base, cand = synthetic_rounds(tmp_path, rounds=8, seed=5, prefix="aa")
    assert _evaluate(base, cand, test="wilcoxon")["flagged"] == []


def test_confirmation_too_short_to_confirm_is_refused_up_front(tmp_path):
    base, cand = synthetic_rounds(tmp_path, rounds=8, slowdown={SLOW: 1.20}, seed=4)
    rbase, rcand = synthetic_rounds(tmp_path, rounds=3, slowdown={SLOW: 1.20}, seed=6, prefix="r")
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand, "--test",
                   "wilcoxon", "--confirm-json", *rcand, "--confirm-baseline-json", *rbase)
    assert_clean_error(proc, "the confirmation cannot flag anything")
    assert "use at least 5 rounds" in proc.stderr


def test_binary_mode_refuses_before_running_anything(tmp_path):
    base = _fake_binary(tmp_path, "base", {})
    proc = run_cvp("gate", "--baseline-bin", base, "--candidate-bin", base, "--rounds", "3",
                   "--test", "wilcoxon")
    assert_clean_error(proc, "use at least 5 rounds")
    assert not (tmp_path / "calls").exists()


LISTING = """\
#!{python}
# A stand-in for cvpbench that can --list its 10 benchmarks and logs every other call.
import os, sys
if "--list" in sys.argv:
    print("\\n".join({names!r}))
    sys.exit(0)
with open(os.path.join({state!r}, "calls"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
sys.exit(5)
"""


def test_binary_mode_counts_the_benchmarks_with_list(tmp_path):
    from cvp_testing import SYNTHETIC
    path = tmp_path / "lister"
    path.write_text(LISTING.format(python=sys.executable, names=list(SYNTHETIC),
                                   state=str(tmp_path)))
    path.chmod(0o755)
    proc = run_cvp("gate", "--baseline-bin", path, "--candidate-bin", path, "--rounds", "5",
                   "--test", "wilcoxon")
    assert_clean_error(proc, "5 rounds and 10 benchmark(s)")
    assert "use at least 8 rounds" in proc.stderr and not (tmp_path / "calls").exists()


def test_too_few_rounds_for_the_noise_is_inconclusive_not_pass(tmp_path):
    """2 rounds, t-test: any p is reachable in principle, but at this spread no benchmark could
    flag a 5% (10%) slowdown after Holm: not a pass."""
    base, cand = synthetic_rounds(tmp_path, rounds=2, seed=8)
    first = _evaluate(base, cand)
    assert first["powerless"] and first["flagged"] == []
    code, headline, notes = gate.decide(first)
    assert code == gate.INCONCLUSIVE and headline == "INCONCLUSIVE: too few rounds for this noise"
    assert "About" in notes[-1] and "rounds would let them resolve their thresholds" in notes[-1]
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert proc.returncode == 3 and "could flag" in proc.stdout


def test_every_row_says_what_it_could_flag(tmp_path):
    base, cand = synthetic_rounds(tmp_path, seed=21)
    first = _evaluate(base, cand, threshold_cpu=0.05)
    for r in first["benchmarks"]:
        assert 0 < r["resolution"] < r["threshold"] and r["resolves_threshold"]
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand)
    assert "| could flag |" in proc.stdout and ">= +" in proc.stdout
    assert "Holm's first step needs p <= 0.005 (alpha / 10)" in proc.stdout


@pytest.mark.parametrize("option,value,fragment", [
    ("--threshold-cpu", "nan", "not a finite number: 'nan'"),
    ("--threshold-io", "inf", "not a finite number: 'inf'"),
    ("--threshold-io", "-5%", "must be a fraction in [0, 1)"),
    ("--alpha", "nan", "not a finite number"),
    ("--alpha", "0", "must be above 0"),
    ("--canary-cv-max", "-0.1", "must be a fraction"),
    ("--canary-cv-max", "NaN", "not a finite number"),
    ("--timeout-s", "nan", "not a finite number"),
    ("--timeout-s", "inf", "not a finite number"),
    ("--timeout-s", "-3", "must be above 0"),
    ("--timeout-s", "5%", "not a number of seconds"),
])
def test_numeric_options_are_validated(tmp_path, option, value, fragment):
    base, cand = synthetic_rounds(tmp_path, rounds=2, seed=1)
    proc = run_cvp("gate", "--baseline-json", *base, "--candidate-json", *cand,
                   f"{option}={value}")
    assert_clean_error(proc, fragment)


def test_gate_options_validate_themselves():
    for bad in (dict(alpha=float("nan")), dict(threshold_cpu=-0.1), dict(threshold_io=1.0),
                dict(canary_cv_max=float("inf")), dict(alpha=0.0), dict(test="z"),
                dict(threshold_cpu=True)):
        with pytest.raises(CvpError, match="gate: "):
            gate.GateOptions(**bad).validate()
    assert gate.GateOptions().validate().alpha == 0.05


# --- real noise: one cvpbench run, 20 repetitions, one per round ------------------------------

REPEATED = GOLDEN / "repeated"
QUIET_IO = ("requests/c_us:50/w_us:1000/k:1/mode:serial/backend:threads/threads:1",
            "requests/c_us:50/w_us:1000/k:8/mode:parallel/backend:threads/threads:8",
            "requests/c_us:50/w_us:1000/k:8/mode:parallel/backend:eventloop/threads:2")


def _real_rounds(tmp_path, n, factor=1.0):
    """Round i: baseline = repetition 2i, candidate = repetition 2i+1 scaled by `factor`."""
    doc = json.loads((REPEATED / "summary.json").read_text())

    def one(i, f):
        d = copy.deepcopy(doc)
        for r in d["results"]:
            s = [r["wall_s"]["samples"][i] * f]
            r["wall_s"].update(samples=s, median=s[0], ci95=[s[0], s[0]])
        return d
    base = [write_json(tmp_path / f"rb{n}-{i}.json", one(2 * i, 1.0)) for i in range(n)]
    cand = [write_json(tmp_path / f"rc{n}-{i}-{factor}.json", one(2 * i + 1, factor))
            for i in range(n)]
    return base, cand


@pytest.mark.parametrize("n", [3, 5, 10])
def test_real_noise_aa_flags_nothing_and_planted_slowdowns_are_flagged(tmp_path, n):
    base, cand = _real_rounds(tmp_path, n)
    assert _evaluate(base, cand)["flagged"] == []
    base, cand = _real_rounds(tmp_path, n, 1.25)
    flagged = _evaluate(base, cand)["flagged"]
    assert set(QUIET_IO) <= set(flagged)  # the quiet request benchmarks, at every n
    base, cand = _real_rounds(tmp_path, n, 1.10)
    first = _evaluate(base, cand)
    assert len(first["flagged"]) >= {3: 1, 5: 1, 10: 4}[n]
    for r in first["benchmarks"]:  # what is not flagged says how little it could see
        if not r["flagged"]:
            assert r["p_holm"] > 0.05 or r["ratio"] < 1 + r["threshold"]
    assert all(r["resolution"] is not None for r in first["benchmarks"])


def test_request_counts_that_differ_between_rounds_pair_per_request(tmp_path):
    base, cand = _real_rounds(tmp_path, 5)
    docs = [json.loads(p.read_text()) for p in cand]
    for d in docs:  # the candidate sized its runs to twice the requests: twice the time
        for r in d["results"]:
            if r["kind"] == "io":
                r["params"]["requests"] = 240
                r["name"] = r["name"].replace("/requests:120", "/requests:240")
                r["wall_s"]["samples"] = [2 * s for s in r["wall_s"]["samples"]]
                r["wall_s"]["median"] *= 2
    cand = [write_json(p, d) for p, d in zip(cand, docs)]
    first = _evaluate(base, cand)
    rows = {r["name"]: r for r in first["benchmarks"]}
    assert set(QUIET_IO) <= set(rows) and first["skipped"] == []
    row = rows[QUIET_IO[0]]
    assert row["unit"] == "request" and 0.9 < row["ratio"] < 1.1
    assert "request counts differ between rounds (120, 240): compared per request" in row["notes"]
    assert set(row["names"]) == {
        "requests/c_us:50/w_us:1000/k:1/requests:120/mode:serial/backend:threads/threads:1",
        "requests/c_us:50/w_us:1000/k:1/requests:240/mode:serial/backend:threads/threads:1"}


def test_flagged_names_are_the_binaries_names(tmp_path):
    import re
    base, cand = _real_rounds(tmp_path, 5, 1.25)
    first = _evaluate(base, cand)
    names = gate.flagged_names(first)
    assert any("/requests:120/" in n for n in names)
    rx = re.compile(gate.filter_regex(names))
    assert all(rx.search(n + "/manual_time") for n in names)

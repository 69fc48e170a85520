"""A CI gate: is the candidate slower than the baseline, beyond noise and beyond a threshold?

Method (one verdict per benchmark):
  * rounds are paired (round i of the baseline with round i of the candidate); each round
    contributes one time per benchmark: the median of its repetitions, per unit of work (per
    request for request benchmarks, matched by name without `/requests:N`, so rounds that ran
    different request counts still pair, and the table says so);
  * the per-round log ratio log(candidate / baseline) is tested one-sided for "slower": by
    default (--test auto) with the Wilcoxon signed-rank test wherever its smallest p, 2^-rounds,
    can pass Holm's first step, the ratio being the Hodges-Lehmann estimate (the median of the
    pairwise means of the log ratios), else with the paired t-test and the geometric mean. On a
    shared machine a run is now and then slowed on one side of its pair (another process on
    its CPU for the whole run, which the program's own disturbance check does not see): ranks
    and the Hodges-Lehmann estimate hardly move, the t-test and the geometric mean move by the
    full size of it;
  * Holm's correction across benchmarks keeps the family-wise false-alarm rate at alpha;
  * a regression is flagged only when significant (Holm-adjusted p <= alpha) AND the
    ratio (Hodges-Lehmann or geometric mean, as above) reaches the threshold of the
    benchmark's kind (cpu 3%, memory 10%,
    io 10%; the kind is the one the files declare: a summary's `kind`, a raw file's
    `cvpbench_workload_kinds`, else the fallback guess from the name);
  * flagged benchmarks are re-measured once; only a regression seen again is confirmed;
  * a canary is judged as the test judges every benchmark: on its paired log ratios
    log(candidate_i / baseline_i), one per round (for a duet point, the two runs of the duet).
    When their spread as the test sees it (t: the standard deviation; Wilcoxon: 1.4826 x the
    median absolute deviation, which a few outlying rounds do not move; either about the
    coefficient of variation of the ratio) exceeds a limit (10%), the two sides of a pair
    disagree by more than the gate can
    judge: the verdict is inconclusive. A drift of the machine between rounds that both sides
    of a pair see (the duet's point: a slower round is slower for both) moves its times, not
    its ratios, so it does not make the gate inconclusive; noise that hits one side of a pair
    and not the other does. (The canary's time across rounds, the coefficient of variation of
    each side, is reported but not judged.) By default the canary is the first serial point of
    the first cpu-kind workload the baseline's first round lists (its summary's `workloads`,
    or its raw context's `cvpbench_workload_kinds`), or `matmul/*mode:serial*` for files that
    list none.

What it can flag: a Wilcoxon test on n rounds cannot give p below 2^-n, and Holm multiplies the
smallest p by the number of benchmarks m, so m * 2^-n > alpha makes every flag impossible: with
--test wilcoxon the gate refuses (bad input) and says how many rounds it needs; --test auto
runs the t-test there. The t-test can reach any p, so each
benchmark also gets the smallest slowdown its observed round-to-round spread would let it flag
(at the first Holm step); when no benchmark can flag its own threshold the verdict is
inconclusive, never a pass.

Exit codes: 0 pass, 1 confirmed regression, 3 inconclusive (noisy machine, too few rounds for
the noise, or unconfirmed regression), 2 bad input (130 when stopped: see commands/gate.py).

Defaults (GateOptions, DEFAULT_ROUNDS; commands/gate.py repeats them for --help): 30 rounds, cpu
threshold 3% (below the 5% a gate should find, so that a 5% slowdown is not measured just
under its threshold half the time), memory and io 10%, alpha 0.05, --test auto, canary limit
10%. Calibrated with tools/calibrate_gate.py on a 2-core VM: results/gate-calibration/.

Binary mode (make_plan, run_rounds): every run gets `--seed ROUND`. Where the gate may use 2
CPUs or more (--duet auto), the one-core points (mode serial or concurrent) run as duets, after
Bulej et al., "Duet Benchmarking" (ICPE 2020): in each round both binaries start at the same
moment, each pinned to a CPU of its own (`--cpus A`, `--cpus B`, swapped every round), with the
same `--filter` and `--seed`, so that whatever disturbs one disturbs the other; the other points
(mode parallel, which need every core) run interleaved, the order within each round drawn at
random from a seeded generator (randomized multiple interleaved trials, Abedi and Brecht, ICPE
2017). With fewer than 2 CPUs every point runs interleaved, and the Markdown says so. The
evaluation covers both sets the same way; the confirmation re-run splits the same way.

The gate's calibration (the same binary as baseline and candidate, A/A and with planted
slowdowns, many gates per condition) is not part of the package: tools/calibrate_gate.py runs
it through the names below.

Supervisor: each run in a new empty folder of the gate's own and a process group of its own,
stderr to a file, a time limit that follows the work, and the whole group (and every orphan it
left) stopped when the run ends, times out or the gate is stopped; a duet's two runs start
together and are stopped together. Every string from outside that reaches the Markdown goes
through md_code.

The modules, by job:
  evaluate     the statistics: rounds, paired tests, Holm, thresholds, canary, the decision
  markdown     the verdict's Markdown and the sentence on how the rounds ran
  supervisor   running the binaries: folders, process groups, time limits, stopping
  topology     which CPUs the gate may use; the pair a duet runs on
  plan         which points run as duets and which interleaved, filters, seeded orders
  rounds       the rounds of binary mode, and the gate (first rounds, confirmation)
The names below are the gate's interface; callers use them as `gate.NAME`. (`gate.evaluate` and
`gate.markdown` are the functions: each is imported after its module, over the module's name.)
"""

from ..text import md_code  # noqa: F401
from .evaluate import (BAD_INPUT, DEFAULT_CANARY, DEFAULT_ROUNDS, INCONCLUSIVE, PASS, REGRESSION,  # noqa: F401
                       TESTS, GateOptions, Round, canary_pattern, check_power, chosen_test, decide,
                       evaluate, flagged_names, judge_canary, rounds_from_runs)
from .markdown import markdown, plan_text  # noqa: F401
from .plan import (DEFAULT_SEED, DUET_CHOICES, Plan, filter_regex, interleave_orders, is_one_core,  # noqa: F401
                   make_plan, option_value, without_filter, without_option)
from .rounds import run_gate, run_rounds, wants_confirmation  # noqa: F401
from .supervisor import (FIRST_LIMIT_S, KILL_GRACE_S, LIMIT_FACTOR, LIST_LIMIT_S, MIN_LIMIT_S,  # noqa: F401
                         STOP_SIGNALS, Stopped, Supervisor, become_subreaper, check_program,
                         default_limit, list_benchmarks, read_output)
from .topology import allowed_cpus, duet_cpus, parse_cpu_list  # noqa: F401

// Measuring the plan: paired, interleaved blocks sampled until a precision target is met.
//
// The points that share a serial baseline form a group. A group's points are prepared once
// (inputs made, teams started, one untimed warm-up) and then measured in rounds: each round
// runs one block of every point still sampling, in an order drawn at random, so that a mode's
// block and its baseline's block of the same round are seconds apart at most and drift or a
// neighbour's load hits both (randomized multiple interleaved trials, after Abedi and Brecht,
// ICPE 2017). A block is a fixed number of executions, chosen once per point so that a block
// lasts about --min-time. A point's speedup comes from the paired ratios of its blocks to its
// baseline's blocks of the same round (see paired_speedups).
//
// A group samples at least `min_rounds` undisturbed blocks of every point, then keeps going
// until every point's speedup is known to `precision` (the 95% CI half-width of the median of
// its paired ratios, relative to that median), or its share of the budget is spent (after
// Kalibera and Jones, "Rigorous Benchmarking in Reasonable Time", ISMM 2013). Points that
// reach the target stop sampling; the baseline samples while any of its points does.
//
// The budget bounds the whole run, the minimum blocks included: the groups take their minimum
// in plan order, each with what is left less what the groups after it need for one round each
// (so that every point is measured, and as many as the budget allows get their whole minimum),
// and no round starts that would overrun the group's share by the time the last round took. A
// group whose turn comes when the run is already 10% past its budget is not measured. On a busy machine, where most blocks are
// disturbed, a point then ends with fewer pairs than asked for and says so (short_of_minimum,
// target_missed: the pairs it got and what disturbed its blocks), and the run says once that
// the machine was too busy, with the load it measured.
//
// A block that was disturbed (the process stopped and resumed, CPU time stolen by the
// hypervisor, our threads kept waiting for a CPU by other work, a CPU's clock changed; see
// host/disturbance.h) is kept apart, not used, and measured again in a later round.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cvp/exec/trace.h"
#include "cvp/workload.h"
#include "cli/options.h"
#include "harness/pattern.h"
#include "host/clock_watch.h"
#include "host/meters.h"

namespace cvp::bench {

// What one block measured, per execution of the point.
struct Sample {
  double wall_s = 0;                     // the block's timed wall time / its executions
  double cpu_s = 0;                      // process CPU seconds per execution
  double spin_s = -1;                    // of which the team spun while it waited, per
                                         // execution (-1: the team cannot tell)
  double cpu_per_wall = 0;
  double voluntary = 0, involuntary = 0; // context switches per execution
  std::vector<int> cpus_seen;            // where the team's tasks ran
  int threads_seen = 0;
  int pin_failures = 0;
  std::vector<double> latencies_us;      // every execution's, for request-style workloads
  std::map<std::string, double> values;  // the workload's figures, mean over the executions
  std::optional<RequestFigures> request; // a request workload's figures, mean over the executions
  int round = -1;                        // the group's round it was measured in
  long long executions = 0;              // in the block
  double run_delay_s = 0;                // our threads' wait for a CPU during the block
  double steal_s = 0;                    // CPU time the hypervisor took from our CPUs
  double block_wall_s = 0;               // the block's real wall time, start to end
  double others_cpu_s = -1;              // CPU time other processes took on the point's CPUs
                                         // during the block (-1: not visible)
  double pressure_share = -1;            // CPU pressure (PSI some) over the block, -1: unknown
  int procs_running = -1;                // runnable tasks on the machine, -1: unknown
  // The clock probe (host/clock_watch.h) on the team's CPUs before and after the block: their
  // mean in GHz, and each CPU's mean of the two; 0 and empty when not probed.
  double ghz_before = 0, ghz_after = 0;
  std::map<int, double> ghz_by_cpu;
  bool stopped = false;                  // timed across a stop of the process (SIGSTOP/SIGCONT)
  std::string disturbed;                 // why the block was set aside; "" when it counts
  BlockCounts counters;                  // perf counters per execution (host/counters.h)
  BlockEnergy energy;                    // joules per execution (host/energy.h)
};

enum class Fault { none, wrong, thrown };

// Copies of a group's serial point, one on each CPU of a team, run at once against one copy
// alone on the home CPU (harness/contention.cc): what the CPUs' shared caches, memory and power
// leave of their speed with no synchronisation at all.
struct Contention {
  std::vector<int> cpus;            // one copy on each
  int rounds = 0;                   // rounds measured (a lone window, then the copies at once)
  int disturbed_rounds = 0;         // rounds set aside: other processes, steal, a wait for a CPU
  double ceiling = 0;               // the copies' summed rate over the lone copy's, median
  double alone_s = 0;               // the lone copy's time per execution, median
  std::vector<double> together_s;   // each copy's (in `cpus` order) beside the others, median
  double home_slowdown = 0;         // the home CPU's copy: together over alone; 0: not on it
  std::string skipped;              // why it was not measured; "" when it was
};

// --trace: one more execution of the point after its blocks, untimed, recorded span by span.
struct PointTrace {
  bool recorded = false;
  std::int64_t begin_ns = 0, end_ns = 0;  // the execution, on the steady clock
  std::vector<exec::trace::Span> spans;   // sorted by begin
};

// Everything measured for one point.
struct Measurement {
  Point point;
  Workload* workload = nullptr;
  const Measurement* baseline = nullptr;  // the serial point its speedup is taken against
  Fault fault = Fault::none;
  double slowdown = 0;              // --inject-slowdown: each execution lengthened by this share
  std::vector<Sample> samples;      // the undisturbed blocks, in order
  std::vector<Sample> excluded;     // the disturbed blocks, set aside
  std::vector<double> run_delays;   // every block's run delay, for the point's usual wait
  long long executions_per_block = 0;
  bool verified = true;             // every execution's result matched the serial answer
  std::string error;                // first failure, if any
  std::size_t wrong_items = 0;      // wrong items the workload counted in failed checks
  int interrupted_runs = 0;         // > 0 when the run was interrupted before it was measured
  int rounds = 0;                   // rounds it took part in
  PointTrace trace;
  // A parallel row that fell short: the contention measure of its team's CPUs (shared by the
  // rows of its group on the same CPUs); null when not taken.
  std::shared_ptr<const Contention> contention;
  // The precision target: met, or why not ("the budget was spent", "interrupted", ...).
  bool target_met = false;
  std::string target_missed;
  // Fewer pairs (blocks, for a baseline) than --repetitions asked for: the budget ran out first.
  bool short_of_minimum = false;
  // Not one undisturbed block, for want of budget or of a quiet machine (error says which): the
  // row carries the reason, but it is not a failure of the code measured.
  bool unmeasured = false;

  std::vector<double> wall_s() const;
};

// What set a disturbed block aside, in a few words: a stop of the process, hypervisor steal, a
// CPU clock that moved, or other work that kept our threads waiting for a CPU (run delay).
// The first that applies, in that order.
const char* disturbance_kind(const Sample& s);

// The named figures of a row or a sample: the workload's own values and, for a request workload,
// its request figures under their summary.json names (c_measured_us, wait_overshoot_us).
std::map<std::string, double> named_figures(const std::map<std::string, double>& values,
                                            const std::optional<RequestFigures>& request);

// Whether the harness writes a figure of its own under `name` beside a workload's values (in
// summary.json's values, or as a benchmark.json counter or field, `unit` being the workload's
// unit of work): a workload's own value of that name would be lost or written twice.
bool harness_figure_name(const std::string& name, const std::string& unit);

// The paired ratios baseline / point of time per unit of work, one per round in which both
// have an undisturbed block: the point's speedup samples. Empty without a baseline.
std::vector<double> paired_speedups(const Measurement& m);

// The relative 95% CI half-width of the median of `values` (order statistics), and whether the
// interval truly has 95% coverage (it needs at least 6 values).
struct Precision {
  double half_width = 0;   // (high - low) / 2 / median
  bool enough = false;
};
Precision relative_precision(const std::vector<double>& values);

// How a run samples.
struct Sampling {
  int min_rounds = 6;           // undisturbed blocks of every point, at least
  double precision = 0.02;      // target CI half-width of speedups; 0: exactly min_rounds
  // Seconds for the whole run, counted from `started` (the program's start, so that what ran
  // before the session counts too): the minimum blocks and the precision target alike. Each
  // group gets its share; a point that cannot collect its blocks in it is reported with what it
  // got and why.
  double budget_s = 600;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // One core's measured FP64 rate and memory bandwidth (0: unknown), to weigh each group's
  // share of the budget by what its minimum will cost (a point's FLOP and bytes per execution).
  double flops_per_s = 0;
  double bytes_per_s = 0;
  double block_s = 0.1;         // timed seconds of one block
  std::uint64_t seed = 1;       // the order of the blocks in each round
  int max_rounds = 1000;
  // Rounds past `max_rounds` while the group has spent less than this in its phase (still
  // within its share of the budget), up to 10 x `max_rounds`: a group of short blocks runs
  // its rounds in a fraction of a second, which one burst of disturbance (the hypervisor's
  // steal, a neighbour's compile step) can cover whole and leave its points short.
  double min_redo_s = 1.0;
  bool trace = false;           // record one extra execution of every point (PointTrace)
  // Counters and energy read around each block (host/meters.h); null: none read.
  std::shared_ptr<BlockMeters> meters;
  // Probe the clock of each block's CPUs before and after it (host/clock_watch.h); a clock
  // that moved more than the probe's spread (`clock_noise`, relative) allows disturbs it.
  bool clock_probe = true;
  double clock_noise = 0;
  // Rounds of the contention measure for each parallel team that falls short of its CPUs'
  // speeds after its group's minimum of blocks (harness/contention.cc); 0: not taken.
  int contention_rounds = 0;
  // Whether its windows are judged as blocks are (steal, run delay, other processes); off only
  // for workloads that report their own nominal times (tests).
  bool contention_judged = true;
};

// What the per-block clock probes cost: their time against the blocks' (timed and untimed).
// Blocks too short for a pair of probes within kProbeShareMax of their time are probed one in
// every few, so that the probes never cost more than that share of the blocks.
inline constexpr double kProbeShareMax = 0.005;
struct ProbeCost {
  double probe_s = 0;
  double blocks_s = 0;
  std::size_t probes = 0;
  std::size_t blocks = 0;          // every block measured, probed or not
  std::size_t probed_blocks = 0;
};

// The message of a benchmark skipped because the run was interrupted (not a failure).
inline constexpr const char* kInterruptedMessage = "interrupted";

class Session {
 public:
  Session(std::vector<Point> points, const std::vector<Workload*>& workloads, Sampling sampling,
          const std::vector<FaultInjection>& faults = {},
          const std::vector<SlowdownOption>& slowdowns = {});

  std::vector<Measurement>& measurements() { return measurements_; }
  const std::vector<Measurement>& measurements() const { return measurements_; }
  const Sampling& sampling() const { return sampling_; }
  const ProbeCost& probe_cost() const { return probe_cost_; }

  // Measures every point (progress on stderr). Stops early, keeping what was measured, when
  // the run is interrupted.
  void run();

  // When the machine was too busy for the sampling asked for (many blocks disturbed, or others
  // using a tenth of our CPUs): one paragraph with the load measured and what would help; "" when
  // it was not. Said once on stderr after the minimum blocks, and by the program at the end.
  std::string busy_report() const;
  // Points short of their minimum on a machine that was not busy: one sentence that the budget
  // was too small for the plan, and what would help; "" otherwise.
  std::string budget_report() const;

  // Google Benchmark's rows for the raw file: one per undisturbed block (its repetitions), the
  // aggregates Google Benchmark computes (mean, median, stddev, cv), or one error row.
  std::vector<benchmark::BenchmarkReporter::Run> raw_runs() const;

 private:
  // The blocks and points of the run so far, for busy_report and budget_report.
  struct Tally {
    std::size_t blocks = 0, disturbed = 0, short_points = 0;
    double others = 0, capacity = 0;  // others' CPU seconds on our CPUs, and those CPUs' seconds
    // A quarter of the blocks disturbed, or others taking a tenth of the CPUs we measured on.
    bool busy() const { return blocks > 0 && (4 * disturbed >= blocks || (capacity > 0 && others >= 0.10 * capacity)); }
  };
  Tally tally() const;
  struct Group {
    std::vector<Measurement*> members;  // the baseline first
    int next_round = 0;
  };
  // The groups and the seconds each was given: for its minimum of blocks, and towards the
  // precision target.
  struct Schedule {
    std::vector<Group> groups;
    std::vector<double> minimum_share;
    std::vector<double> allowance;
  };
  // A group short of the precision target: how many of its points are, and about how long
  // sampling them to the target takes.
  struct Need {
    std::size_t group;
    std::size_t short_points = 0;
    double cost_s = 0;
  };
  // Each baseline with the points measured against it, in plan order, baseline first.
  std::vector<Group> make_groups();
  // Every group's minimum of blocks, group after group, within the budget.
  void sample_minimum(Schedule& schedule);
  // Marks a group's points as not measured: the budget was spent before their turn.
  void give_up_on(Group& group);
  // Stops trusting the machine's rates when a group's kernel has beaten them.
  void forget_beaten_rates(const Group& group);
  // Says once on stderr that the machine was too busy, when it was.
  void say_busy();
  // The groups still short of the precision target, the cheapest per short point first.
  std::vector<Need> needs_to_target(const std::vector<Group>& groups) const;
  // Samples the groups in `needs` towards the precision target with what is left of the budget.
  void sample_to_target(Schedule& schedule, const std::vector<Need>& needs);
  // Each point's outcome against its minimum and its target, and why it missed it.
  void record_targets(const Schedule& schedule);
  // Whether `m` needs more blocks: its minimum, and with `to_target` its precision target.
  bool needs_more(const Measurement& m, bool to_target) const;
  // About how long a group's first round takes (preparing and warming up included), from its
  // points' FLOP and bytes at one core's measured rates, or the block time where unknown.
  double first_round_cost(const Group& group) const;
  // Seconds left of the budget (negative once it is spent).
  double seconds_left() const;
  // Why `m` has fewer pairs than the minimum: what it got in its share and what disturbed it.
  std::string shortfall(const Measurement& m, double share_s, int rounds) const;
  // Samples a group's points in rounds until none needs more or (to the target) `allowance`
  // seconds are spent; returns the seconds spent.
  double sample_group(Group& group, bool to_target, double allowance);
  void progress(const std::string& what, bool force);
  // The contention measure (harness/contention.cc): after a group's minimum of blocks, once for
  // each team of CPUs whose rows fell short, within the budget.
  bool contention_wanted(const Measurement& m) const;
  // The sorted CPU sets of a group's rows that want the measure, each with its rows.
  std::map<std::vector<int>, std::vector<Measurement*>> short_teams(const Group& group) const;
  double contention_window_s(const Measurement& row) const;
  // About how long measuring contention for a group's rows short so far takes.
  double contention_cost_s(const Group& group) const;
  void measure_contention(const Group& group);
  Contention measure_copies(const Measurement& row, const std::vector<int>& cpus);
  std::mt19937_64 rng_;
  std::vector<Measurement> measurements_;
  Sampling sampling_;
  double started_ = 0;
  double last_progress_ = -1;
  std::size_t points_done_ = 0;
  bool tty_ = false;
  std::unique_ptr<ClockWatch> clock_;  // null when the clock is not probed
  ProbeCost probe_cost_;
};

}  // namespace cvp::bench

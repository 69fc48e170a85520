// The workload interface: what a workload tells cvpbench, and what cvpbench asks of it.
//
// A workload declares its command-line options and its points, prepares its inputs outside the
// timed region, runs one execution of a point in the point's mode on the point's backend,
// verifies the result against the serial answer, names its unit of work and its bound, and
// words its verdict. The harness (plan, sampling session, statistics, raw file) and the
// reporters (console table, verdicts, summary JSON, raw JSON) know no workload by name: they
// read these declarations and the typed rows they produce.
//
// The built-in workloads (workloads/matmul, workloads/requests, workloads/triad) implement this
// interface exactly as a user's own workload does; see examples/ and include/cvp/cvpbench.h.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"
#include "cvp/exec/topology.h"

namespace cvp {

using exec::Backend;
using exec::Mode;

using exec::StopToken;

// What limits a workload: computing (cpu), waiting (io) or memory bandwidth (memory).
enum class Kind { cpu, io, memory };
inline constexpr std::array<std::string_view, 3> kKindNames{"cpu", "io", "memory"};
std::string_view to_string(Kind kind);

// Which problems the parallel and distributed points solve: the serial point's (strong scaling,
// Amdahl's view), one grown with their workers (weak scaling, Gustafson's), or both sets.
enum class Scaling { strong, weak, both };
inline constexpr std::array<std::string_view, 3> kScalingNames{"strong", "weak", "both"};
std::string_view to_string(Scaling scaling);

// How a point's workers share cores beyond what its mode means: not at all (written ""), on
// SMT siblings ("smt"), or more workers than logical CPUs ("oversubscribed").
enum class Placement { own_cores, smt, oversubscribed };
inline constexpr std::array<std::string_view, 3> kPlacementNames{"", "smt", "oversubscribed"};
std::string_view to_string(Placement placement);

// The unit of work a workload counts, and how its rate is shown: a FLOP shown in GFLOP/s
// (scale 1e9), a byte in GB/s (1e9), a request in requests/s (1).
struct WorkUnit {
  std::string name;       // "FLOP", "bytes", "requests"
  std::string rate_unit;  // "GFLOP/s", "GB/s", "requests/s"
  double rate_scale = 1;  // units of work per unit of rate
};

// A request the program cannot honour; what() is one sentence for the user (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Point;

// A workload's own parameters of a point, typed: the workload reads them back with
// Point::params_as<T>(), and summary.json's "params" is made from them (to_json) and from
// nothing else. A workload derives its own.
class PointParams {
 public:
  virtual ~PointParams() = default;
  // The parameters as summary.json writes them; `point` is the point they belong to.
  virtual nlohmann::json to_json(const Point& point) const = 0;
};

// One benchmark: a workload's parameters in one mode, on one backend, with one team.
struct Point {
  std::string workload;     // the workload's name()
  // The points that share a serial baseline, starting with the workload's name, e.g.
  // "matmul/n:512" or "requests/c_us:50/w_us:1000". Speedups are taken against the serial
  // point of the same group (of the same backend where there is one).
  std::string group;
  // Name segments between the group and the mode, for parameters that change within a group,
  // e.g. "/k:64/requests:6000". Everything that changes the work must be in the name.
  std::string variant;
  // Every parameter, typed (shared by the points made from one base); nullptr: none.
  std::shared_ptr<const PointParams> params;
  Mode mode = Mode::serial;
  Backend backend = Backend::threads;
  int threads = 1;          // workers in the team (event loops for the eventloop backend)
  int in_flight = 1;        // tasks or requests in flight at once
  int cores = 1;            // distinct physical cores the workers are placed on
  // Ranks of a distributed point (Mode::distributed), each with a team of `threads` workers on
  // `cores` cores of its host; 1 otherwise. threads, cores and cpus are rank 0's team.
  int ranks = 1;
  // A distributed point's teams on rank 0's host: every local rank's workers' CPUs (rank 0's
  // first); empty otherwise. With the number of hosts, the capacity of the whole run.
  std::vector<int> host_cpus;
  int hosts = 1;
  // The communication a distributed point's algorithm must do in one execution, the least for
  // any rank: bytes it receives, and messages (or collective steps) one after another. The
  // default bound adds their time at the network's measured bandwidth and latency.
  double comm_bytes = 0;
  double comm_messages = 0;
  // A point rank 0 serves alone while every other rank takes part as its backend (the requests'
  // wait:mpi points, whose waits are round trips over MPI, cvp/dist.h): prepared and run on
  // every rank as a distributed point is, its team on rank 0's share of its host's cores.
  bool with_ranks = false;
  // Weak scaling: the factor its problem was grown by with its workers (P, its workers over every
  // rank); 1: the group's own problem (strong scaling). Named in the variant ("/weak:2").
  double weak = 1;
  Placement placement = Placement::own_cores;
  // The kinds of core its workers run on, fastest first ("P", "P+E"); "" on a machine with
  // one kind of core.
  std::string kinds;
  std::vector<int> cpus;    // worker w runs on cpus[w]
  // Worker w's measured speed relative to the home CPU alone, with the team's cores busy (a
  // core's capacity shared by the workers on it); empty when the machine was not measured. A
  // workload that splits its work reads it to split to fit (balanced_tasks).
  std::vector<double> speeds;
  double work = 0;          // units of work (WorkUnit) in one execution
  // For the roofline and the diagnosis: FP64 operations and bytes to or from memory in one
  // execution, the least the algorithm needs (each input read once, each output written once);
  // 0 when the workload does not say.
  double flop = 0;
  double bytes = 0;
  // False for points of a sweep the workload words separately (the request crossover sweep):
  // they stay out of the headline verdict of their group.
  bool headline = true;
  // The option that made the point this large, for messages ("--threads 64").
  std::string origin;
  // 0: the point itself. k > 0: the k-th independent copy of a serial point, on its own CPU
  // (cpus), that the contention measure runs beside other copies at once: prepare must give it
  // inputs and outputs of its own (Workload::independent_copies).
  int copy = 0;

  // group + variant + "/mode:M/backend:B/threads:T"
  std::string name() const;
  // Whether every rank takes part in its runs (a distributed point, or one with_ranks).
  bool all_ranks() const { return mode == Mode::distributed || with_ranks; }
  // The params as summary.json writes them; an empty object when there are none.
  nlohmann::json params_json() const;
  // The params as the workload's own type; throws std::logic_error when they are not a T.
  template <typename T>
  const T& params_as() const {
    const auto* typed = dynamic_cast<const T*>(params.get());
    if (typed == nullptr) throw std::logic_error(name() + ": its params are of another type");
    return *typed;
  }
};

// What a run of requests measured besides its time, per request (RequestWorkload): typed, so
// that the bound and the diagnosis read them without knowing a key.
struct RequestFigures {
  double c_measured_us = 0;      // c': the handler's thread CPU time per request
  double wait_overshoot_us = 0;  // the mean of (actual wait - requested wait): the engine's waits
  double wait_us = 0;            // the mean measured wait per request (exec::RequestRun::wait_us)
  double wait_p50_us = 0;        // its median and 90th percentile
  double wait_p90_us = 0;
  bool own_wait = false;         // the handler's own waits (exec::WaitOwner blocking or async)
  // The mean number of requests in flight over the run (Little's law: the sum of the requests'
  // latencies over the run's wall time). Below K where slots sat idle: at the start, and at the
  // end while the run's slowest requests finished (the run's tail). 0: not known.
  double in_flight_mean = 0;
  // The engine's worker threads' CPU time per request (exec::RequestRun::team_cpu_us_per_request):
  // c' and what the workers spent around it. 0: not known.
  double team_cpu_us = 0;
};

// How many equal tasks to split one execution into so that workers of `speeds` (relative; one
// per worker), taking the next task from a shared counter as each finishes, end together: the
// smallest count from per_worker x workers to 8 x that whose finish is within 3% of a perfect
// split of the work by speed, else the best of those. Equal or unknown (empty) speeds:
// per_worker x workers. On a slow core and a fast one (0.5 and 1) two tasks per worker end at
// x1.33 of one fast core; three tasks end at x1.5, the sum of the speeds.
std::size_t balanced_tasks(const std::vector<double>& speeds, int workers, int per_worker);

// How one execution of a point is split: `tasks` equal tasks, each taken by whichever worker is
// free next (exec::Schedule::dynamic, from a shared counter) or task i by worker i mod T
// (exec::Schedule::fixed).
struct TaskSplit {
  std::size_t tasks = 0;
  exec::Schedule schedule = exec::Schedule::dynamic;
};

// The speedup over one worker of speed 1 that `split` allows workers of `speeds` (relative; one
// per worker): the work over the time its last task ends. The sum of the speeds where the
// workers end together; T x the slowest speed for an equal split (one task per worker). 0 when
// the speeds or the split cannot be used (no tasks, a speed that is not positive).
double split_speedup(const std::vector<double>& speeds, const TaskSplit& split);

// What one execution of a point measured beyond its time.
struct Execution {
  // The execution's own wall time for workloads whose timing is Timing::manual (the time
  // counted excludes starting and joining the team); ignored otherwise.
  double wall_s = 0;
  std::vector<double> latencies_us;      // per request, for request-style workloads
  std::map<std::string, double> values;  // the workload's own named per-execution figures
  std::optional<RequestFigures> request; // for request workloads
  bool stopped = false;                  // cut short by an interruption: not a measurement
};

// One point, prepared: its inputs made, its team started. Created outside the timed region by
// Workload::prepare(); the harness runs it block after block and checks it.
class PreparedPoint {
 public:
  virtual ~PreparedPoint() = default;
  // One untimed execution before the first timed one: threads started and pinned, caches
  // filled. The default runs execute() once.
  virtual void warm_up() { execute(); }
  // One timed execution of the point.
  virtual Execution execute() = 0;
  // nullopt when the last execution's result equals the serial answer, else why not. Called
  // outside the timed region: after every execution for Timing::manual, after the timed loop
  // otherwise.
  virtual std::optional<std::string> verify() = 0;
  // Spoils the last execution's result so that verify() must fail (--inject-fault wrong).
  virtual void corrupt() = 0;
  // How many items of the last execution's result were wrong, for workloads that count them
  // (wrong, missing or duplicated responses); 0 otherwise.
  virtual std::size_t wrong_items() const { return 0; }
  // Called after each block of executions, outside the timed region, while other points of
  // its group take their turn: give back what teams share (a run on an exec::Executor calls
  // its idle()). Default: nothing.
  virtual void idle() {}
  // Called after each block's timed executions, before the block's CPU time is read, outside
  // the timed region: stop whatever spins while it waits for the next execution, so that the
  // process's CPU time is current (a run on an exec::Executor calls its settle()). Default:
  // nothing.
  virtual void settle() {}
  // The seconds its team has spun in all while waiting (exec::Executor::spun_s), read around
  // each block after settle(): the harness counts them as idle, not as work. nullopt (the
  // default) where the point cannot tell.
  virtual std::optional<double> spun_s() const { return std::nullopt; }
  // Called before each block and before any untimed execution that follows idle(), outside the
  // timed region: take back what idle() gave (a distributed point's other ranks wait busily for
  // its executions again). Default: nothing.
  virtual void resume() {}
};

// How the harness times an execution.
enum class Timing {
  real,    // the wall time of execute() calls, many per repetition when they are short
  manual,  // the Execution's own wall_s (a run that starts and joins its own team)
};

// The flags of the program's command line a workload adds. Each reads a comma-separated list
// (or one value); `check` returns nullopt for a good value or the end of a sentence naming the
// problem ("a matrix size must be at least 1."), which the command line prefixes with the
// flag and the value.
class Flags {
 public:
  using IntegerCheck = std::function<std::optional<std::string>(long long)>;
  using RealCheck = std::function<std::optional<std::string>(double)>;

  virtual ~Flags() = default;
  virtual void integers(const std::string& flag, std::vector<long long>* into,
                        const std::string& help, IntegerCheck check = {}) = 0;
  virtual void reals(const std::string& flag, std::vector<double>* into, const std::string& help,
                     RealCheck check = {}) = 0;
  // One value: `into` keeps its default when the flag is not given.
  virtual void integer(const std::string& flag, long long* into, const std::string& help,
                       IntegerCheck check = {}) = 0;
  virtual void real(const std::string& flag, double* into, const std::string& help,
                    RealCheck check = {}) = 0;
  virtual void choice(const std::string& flag, std::string* into,
                      const std::vector<std::string>& choices, const std::string& help) = 0;
  virtual void toggle(const std::string& flag, bool* into, const std::string& help) = 0;
  // One text value (a folder, a host name): `into` keeps its default when the flag is not given.
  using TextCheck = std::function<std::optional<std::string>(const std::string&)>;
  virtual void text(const std::string& flag, std::string* into, const std::string& help,
                    TextCheck check = {}) = 0;
};

// What a workload's plan() may use: the machine, the run-wide options, and the standard sweep.
class PlanContext {
 public:
  PlanContext(const exec::Topology& topology, bool quick, std::vector<int> threads,
              std::vector<Backend> backends, std::optional<std::size_t> memory_bytes);

  const exec::Topology& topology() const { return topology_; }
  bool quick() const { return quick_; }
  // --threads, de-duplicated, or empty for the default sweeps.
  const std::vector<int>& threads() const { return threads_; }
  // --scaling: a workload that can grow its problem adds, for weak (or both), a copy of each
  // parallel and distributed point grown with its workers (weak_copies), and for weak alone
  // drops the strong ones.
  Scaling scaling() const { return scaling_; }
  void set_scaling(Scaling scaling) { scaling_ = scaling; }
  // The points of `sweep` as --scaling asks: the strong points, and for each parallel or
  // distributed point a copy grown by `grow(point, P)`, named "/weak:P" in its variant, with
  // `weak` = P. P is `workers(point)` where given, else its workers over every rank (threads x
  // ranks); a point of P = 1 gets no copy. `grow` sets the copy's params, work, flop and bytes
  // (and name segments of its own, if it wants: its variant already ends "/weak:P"). Serial and
  // concurrent points stay. A request workload's P is its cores (RequestWorkload::add_sweep):
  // its threads are one per request in flight.
  std::vector<Point> scaled(std::vector<Point> sweep, const std::function<void(Point&, int)>& grow,
                            const std::function<int(const Point&)>& workers = {}) const;
  // Whether --backend selects `backend` (every backend when --backend was not given).
  bool wants(Backend backend) const;
  // Bytes of memory a new allocation may use now; nullopt when unknown.
  std::optional<std::size_t> memory_bytes() const { return memory_bytes_; }
  int home_cpu() const { return topology_.home_cpu(); }
  int cores() const { return topology_.allowed_cores(); }

  // The serial point of `base` on the home CPU, a concurrent point of `k` workers all on the
  // home CPU, and a parallel point of `t` workers on distinct cores (then SMT siblings), with
  // cores and placement filled in. in_flight is the team size; the caller may change it.
  Point serial(Point base) const;
  Point concurrent(Point base, int k) const;
  Point parallel(Point base, int t) const;
  // A distributed point of a run of several ranks (cvp/dist.h): `t` workers on each rank, on
  // the rank's share of its host's allowed cores (the host's cores split evenly among the ranks
  // on it, in the order of their CPU numbers, the same on every rank), named ".../ranks:R".
  Point distributed(Point base, int t) const;
  // `p` (a serial, concurrent or parallel point) served by rank 0 while every other rank is its
  // backend (Point::with_ranks): its workers moved onto rank 0's share of its host's cores, the
  // others' shares being the backends'. nullopt for a distributed point, for a parallel one
  // when the share has one core, and when another rank on rank 0's host shares its cores (more
  // ranks than cores: a backend, which polls busily, would take the CPU rank 0 measures on).
  std::optional<Point> served_with_ranks(Point p) const;
  // The distributed points of `base`: with --threads those counts per rank, else 1 worker per
  // rank and one per core of the rank's share; none when the run has one rank.
  std::vector<Point> distributed_sweep(const Point& base) const;

  // The standard sweep of a task-split workload: for each backend of `backends` that --backend
  // selects, the serial point, the concurrent K sweep and the parallel thread sweep (from
  // --threads, or 2, 4 ... 2 x cores concurrent and 1, 2, 4 ... cores, SMT, 2 x logical
  // parallel; fewer with --quick). On a machine with more than one kind of core the parallel
  // sweep also has the cores of the fastest kind alone (P cores only).
  std::vector<Point> task_sweep(const Point& base, const std::vector<Backend>& backends) const;

 private:
  const exec::Topology& topology_;
  bool quick_;
  std::vector<int> threads_;
  std::vector<Backend> backends_;
  std::optional<std::size_t> memory_bytes_;
  Scaling scaling_ = Scaling::strong;
};

// One summarised point, as the reporters and a workload's verdict see it.
struct Row {
  const Point* point = nullptr;
  bool ok = false;                 // measured and verified
  double median_s = 0;             // per execution
  double speedup = 0, speedup_low = 0, speedup_high = 0;
  // Whether [speedup_low, speedup_high] is a 95% interval: false with fewer pairs than one
  // needs (6), when it is only the range of the pairs there are; print it as n/a.
  bool ci_known = false;
  std::size_t pairs = 0;           // paired ratios the speedup comes from
  bool precise = true;             // false: the run's precision target was missed
  // The attainable bound: Workload::bound() of this row, from the machine as measured (the
  // team's capacity below); efficiency is read against it.
  double bound = 1;
  // The ideal bound: the same model with every core counted as the home CPU alone
  // (min(threads, cores) for a task team).
  double ideal = 1;
  double efficiency = 0;
  // What the point's team can do, measured at the start of the run: the sum, over the distinct
  // physical cores its workers are pinned to, of each core's FP64 rate (with every core busy)
  // relative to the home CPU alone, so boost clocks and cores of different kinds are in it.
  // Serial and concurrent points (the home CPU) read 1. Without a measured machine model it is
  // the number of cores (parallel) or 1, and the bound is the ideal one.
  double capacity = 1;
  // Bytes/s of memory one core, and all the team's cores together, can stream (STREAM triad,
  // measured at the start); 0 when not measured. The default bound of memory-bound work uses
  // them.
  double bandwidth_one_core = 0, bandwidth_all_cores = 0;
  // A distributed row's network between the ranks (latency one way, bandwidth), measured at the
  // start; 0 when not measured.
  double network_latency_s = 0, network_bandwidth = 0;
  double throughput = 0;           // in the workload's rate unit
  std::map<std::string, double> values;  // medians of the Execution values
  std::optional<RequestFigures> request; // medians of the Execution request figures
  // Per execution, medians over the blocks: process CPU seconds, CPU time / wall time, and
  // voluntary and involuntary context switches.
  double cpu_s = 0, cpu_per_wall = 0, voluntary = 0, involuntary = 0;
  // Of cpu_s, the seconds the team spun while it waited for tasks or for its other workers
  // (median over the blocks), where the team counts them (spin_counted: the std::thread team);
  // cpu_s - spin_s is the CPU time that worked.
  double spin_s = 0;
  bool spin_counted = false;
  // Per-request latencies of every execution (request workloads), in microseconds.
  bool has_latency = false;
  double p50 = 0, p95 = 0, p99 = 0;
  // The row of the serial point the speedup is taken against (itself for a serial point);
  // nullptr when it was not measured. A bound may use its time and values: they come from the
  // same run.
  const Row* baseline = nullptr;
};

// A workload's view of its rows when it words its verdicts.
struct VerdictContext {
  std::vector<const Row*> rows;    // this workload's rows, in plan order
  int allowed_cores = 1;
  // The measured row of `group` in `mode` on `backend` with the most in flight, optionally
  // with exactly `in_flight` tasks or `threads` workers (nullopt: any); nullptr when none.
  const Row* pick(const std::string& group, Mode mode, Backend backend,
                  std::optional<int> in_flight = std::nullopt,
                  std::optional<int> threads = std::nullopt) const;
};

// The causes a diagnosis names for a row that misses its bound (summary.json's
// diagnosis.cause); not_identified when no measurement accounts for the gap.
enum class Cause {
  other_processes, run_queue, steal, compute_peak, memory_bandwidth, idle_workers,
  timer_overshoot, extra_cpu, queueing, clock, imbalance, ipc_fell, cache_misses, run_tail,
  communication, contention, not_identified
};
inline constexpr std::array<std::string_view, 17> kCauseNames{
    "other_processes", "run_queue", "steal", "compute_peak", "memory_bandwidth", "idle_workers",
    "timer_overshoot", "extra_cpu", "queueing", "clock", "imbalance", "ipc_fell", "cache_misses",
    "run_tail", "communication", "contention", "not_identified"};
std::string_view to_string(Cause cause);

// What the machine showed at the start of the run, for a workload's own diagnosis: each
// figure nullopt when it was not measured (--limits off).
struct DiagnosisContext {
  std::optional<double> timer_overshoot_us;  // a timer's wake-up past its time, idle machine
  std::optional<double> context_switch_us;   // one context switch
};

// A cause that alone keeps a row's speedup below its bound: the speedup it allows (ceiling),
// one sentence with the measured numbers, and those numbers for summary.json. A symptom (work
// that queued, say) is named only when no other cause is found.
struct Finding {
  Cause cause = Cause::not_identified;
  double ceiling = 0;
  std::string line;
  nlohmann::json figures = nlohmann::json::object();
  bool symptom = false;
};

class Workload {
 public:
  virtual ~Workload() = default;

  virtual std::string name() const = 0;   // "matmul": the first segment of every point's name
  virtual Kind kind() const = 0;
  virtual WorkUnit unit() const = 0;
  virtual std::string description() const { return ""; }
  // The backends it runs on (for --backend's check and its message).
  virtual std::vector<Backend> backends() const {
    return {Backend::threads, Backend::openmp, Backend::tbb};
  }
  virtual Timing timing() const { return Timing::real; }

  // Adds its options to the command line; their values are read in plan().
  virtual void add_options(Flags& /*flags*/) {}
  // Every point it would run with the options given. Throws UsageError for options it cannot
  // honour (memory, limits).
  virtual std::vector<Point> plan(const PlanContext& context) = 0;
  // Checks the points of it that will run (after --filter), throwing UsageError for one it
  // cannot run (fewer requests than are in flight, say). Default: nothing to check.
  virtual void check(const std::vector<const Point*>& /*selected*/) const {}
  // Called once before its first point runs, with the calling thread pinned to the home CPU
  // (calibration of CPU work, for instance).
  virtual void set_up() {}
  // Prepares `point`: inputs and the serial answer made, a team ready. `sightings` records
  // where the team's tasks ran (workers call sightings.note(worker)); it has point.threads
  // slots. Throws on failure (reported as the point's error).
  // `stop` asks a long execution to end early (reporting Execution::stopped).
  virtual std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                                 StopToken stop) = 0;
  // Whether prepare() gives a point with Point::copy > 0 data no other prepared point writes,
  // so that copies of its serial point can run at once on the team's CPUs: the contention
  // measure (what the CPUs' shared caches, memory and power cost the work, without the team's
  // synchronisation). Default: false, and its rows go without that measure.
  virtual bool independent_copies() const { return false; }

  // The bound on `row`'s speedup over its serial baseline, from quantities measured in the same
  // run, and the model it comes from in words. Default (task-split computing work): the cores
  // in parallel mode, min(threads, cores); 1 otherwise.
  // The default: 1 serially and concurrently (one core); in parallel the team's capacity
  // (min(threads, cores) on identical cores), and for Kind::memory work whose serial point
  // already streamed from memory, no more than all-core bandwidth over what serial moved.
  // The library calls it twice per row: with the measured capacity (the attainable bound) and
  // with capacity = cores (the ideal one); read capacity rather than counting cores.
  virtual double bound(const Row& row) const;
  virtual std::string bound_model() const {
    return "1 serially and concurrently; in parallel the team's capacity (the sum of its cores' "
           "measured speed relative to the home CPU: min(threads, cores) on identical cores), "
           "and for memory-bound work at most all-core bandwidth over what serial moved; "
           "distributed, the ranks' teams' capacity, with the communication the algorithm must "
           "do added at the network's measured bandwidth and latency";
  }
  // Its verdict lines. The default words a task-split workload's: concurrency on 1 core with
  // the most tasks in flight, parallelism on all allowed cores, the serial time, per group.
  virtual std::vector<std::string> verdicts(const VerdictContext& context) const;
  // A text for each group's head in the verdict ("matmul n=512"). Default: the group name.
  virtual std::string group_title(const Point& point) const { return point.group; }
  // The code path its kernel runs on this CPU ("avx2-fma"), chosen when the program starts from
  // the CPU's features or CVPBENCH_KERNEL (cvp/isa.h); the summary records it under
  // machine.kernels.<name> and the console's header says it. Default: none to say.
  virtual std::optional<std::string> kernel() const { return std::nullopt; }
  // The causes of its own kind of work that may keep `row` (a row that misses its bound) below
  // it, measured in this run; the library weighs them with the causes it measures itself (other
  // processes, run queue, steal, compute and bandwidth ceilings, idle workers, extra CPU).
  // Default: none.
  virtual std::vector<Finding> diagnose(const Row& /*row*/,
                                        const DiagnosisContext& /*context*/) const {
    return {};
  }
  // How `point`'s executions are split into tasks, for the diagnosis of a team whose workers
  // differ in speed: the imbalance its split leaves (split_speedup). Default: not known, which
  // the diagnosis reads as an equal split (each worker 1/T of the work).
  virtual std::optional<TaskSplit> split(const Point& /*point*/) const { return std::nullopt; }
};

// Helpers for verdict wording.
std::string speedup_text(double speedup);   // "x1.97", "x19.5"
// The row's speedup with its 95% CI, "x1.61 [1.01, 1.90]", or "x32.6 (CI n/a: 2 pairs)" where
// there were too few pairs for one; ", noisy" follows when the precision target was missed.
std::string speedup_ci_text(const Row& row);
std::string fixed(double value, int digits);  // fixed(3.14159, 2) == "3.14"

}  // namespace cvp

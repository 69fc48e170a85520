// cvpbench as a library: measure your own kernel or request handler the way cvpbench measures
// its built-in workloads — serially, concurrently on one pinned core and in parallel across the
// allowed cores, with evidence, bounds, confidence intervals, the console table, summary.json
// and benchmark.json — by writing one small source file:
//
//   #include <cvp/cvpbench.h>
//   int main(int argc, char** argv) {
//     std::vector<std::unique_ptr<cvp::Workload>> workloads;
//     workloads.push_back(std::make_unique<cvp::TaskWorkload>(spec));  // or RequestWorkload, or
//                                                                      // your own Workload
//     return cvp::run_program(argc, argv, std::move(workloads));
//   }
//
// Build it against the installed package: find_package(cvpbench) and link cvpbench::cvpbench.
// examples/ holds a CPU-bound and an I/O-bound example.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cvp/exec/requests.h"
#include "cvp/workload.h"

namespace cvp {

// The whole program over `workloads`: cvpbench's command line (--help lists it), the plan,
// the measurement, the console table and verdicts, and the run folder with summary.json and
// benchmark.json. Returns the exit code: 0, 1 (a benchmark failed), 2 (bad command line),
// 130 (interrupted). Unless OMP_WAIT_POLICY is set, it first restarts the program once, with
// its own command line and OMP_WAIT_POLICY=PASSIVE (OpenMP reads the policy only when it loads):
// what main() does before run_program() then runs twice, so keep it to making the workloads.
int run_program(int argc, char** argv, std::vector<std::unique_ptr<Workload>> workloads);

// ---------------------------------------------------------------------------------------------
// A kernel split into tasks: the shortest way to measure your own computing code.

// The named integer values of one point of a TaskWorkload, in the order its parameters were
// given: args["n"], args[0]. A workload of one parameter may read its Args as that one number:
// the conversion to long long lets a callback written as [](long long n) { ... } take an Args.
class Args {
 public:
  Args() = default;
  // Throws std::invalid_argument when `names` and `values` differ in length.
  Args(std::vector<std::string> names, std::vector<long long> values);

  // The value of the parameter `name`; throws std::out_of_range (one sentence naming it and the
  // names there are) when there is none.
  long long operator[](std::string_view name) const;
  // args["n"] and args[std::string("n")] (without this, "n" would be ambiguous with the
  // built-in subscript through the conversion below).
  template <typename Name>
    requires(std::is_convertible_v<const Name&, std::string_view> && !std::is_arithmetic_v<Name>)
  long long operator[](const Name& name) const {
    return (*this)[std::string_view(name)];
  }
  // The i-th value; throws std::out_of_range past the last.
  long long operator[](std::size_t i) const;
  std::size_t size() const { return values_.size(); }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<long long>& values() const { return values_; }
  // The only value; throws std::logic_error (one sentence) unless there is exactly one.
  operator long long() const;

 private:
  std::vector<std::string> names_;
  std::vector<long long> values_;
};

// One problem of one size, made outside every timed region. An execution runs every task once
// on the point's team; tasks of one execution may run at the same time, so task i must touch
// only its own part of the output.
class TaskKernel {
 public:
  virtual ~TaskKernel() = default;
  // Task `task` of `tasks` of one execution.
  virtual void run(std::size_t task, std::size_t tasks) = 0;
  // Before the first execution, each worker runs touch() for the tasks it is given, with the
  // split run() will get: the place to write memory first, so that its pages land near the
  // core that uses them (first touch). Default: nothing.
  virtual void touch(std::size_t /*task*/, std::size_t /*tasks*/) {}
  // A number that summarises the result of the last execution; it must equal the serial
  // execution's (of the serial point's split: tasks_per_worker tasks on one thread) bit for
  // bit, however the work was split, unless the Spec allows a tolerance or an equal() of its own
  // (a floating-point sum of per-task partial sums changes with the split).
  virtual double checksum() const = 0;
  // Spoils the last result so that the check must fail (--inject-fault wrong). Default:
  // nothing, and the check treats the checksum as spoiled.
  virtual void corrupt() {}
  // Figures of the last execution of its own ("cells" updated, "iterations" taken), read after
  // every execution inside the timed region: return what the kernel kept, compute nothing.
  // Each becomes Execution::values[name], averaged per block into summary.json's `values`,
  // the console's notes and benchmark.json's counters. A name must be new to the harness (not
  // "cpu_s", "threads" ...). Default: none.
  virtual std::map<std::string, double> counters() const { return {}; }
};

// The most combinations of its parameters one task workload plans (each is a group of points).
inline constexpr long long kMaxCombinations = 1024;

class TaskWorkload : public Workload {
 public:
  struct Spec {
    std::string name;                 // first segment of every benchmark name
    Kind kind = Kind::cpu;
    WorkUnit unit{"items", "items/s", 1};  // name your unit of work: {"pixels", "Mpixel/s", 1e6}
    std::string description;
    // One parameter, the size: its name (names read NAME/n:SIZE/...), its flag (default
    // "--NAME-n"), its values (each at least 1) and those of --quick (default: the first).
    // Used when `params` is empty.
    std::string param = "n";
    std::string flag;
    std::vector<long long> sizes;
    std::vector<long long> quick_sizes;
    // Several parameters, as Google Benchmark's ArgsProduct and Args: each with a name (letters,
    // digits, '_', '-'), its values (each at least 0) and, optionally, its values with --quick.
    // The points are the combinations of `args` when given (each one value per parameter, in
    // the order of `params`), else every combination of the values, the first parameter
    // outermost. With --quick: `quick_args` when given; else, when a parameter has quick_values,
    // the product of the quick_values (the first default value where a parameter has none);
    // else the first combination. Names read NAME/n:512/sweeps:10/...; each parameter has a
    // flag --NAME-PARAM taking a list, and when any is given the points are the product over
    // the parameters of the flag's values (or that parameter's values in the combinations it
    // replaces).
    struct Param {
      std::string name;
      std::vector<long long> values;
      std::vector<long long> quick_values;
    };
    std::vector<Param> params;
    std::vector<std::vector<long long>> args;
    std::vector<std::vector<long long>> quick_args;
    // Every callback takes the point's Args; one written for a number, [](long long n), reads
    // the one parameter, and throws one sentence (std::logic_error) where there are several.
    // Units of work in one execution (FLOP, bytes ...).
    std::function<double(const Args& args)> work;
    // FP64 operations and bytes to or from memory of one execution, the least the algorithm
    // needs (Point::flop, Point::bytes; for the roofline). Optional.
    std::function<double(const Args& args)> flop;
    std::function<double(const Args& args)> bytes;
    // The problem of these args, inputs made (never timed); called once per combination for
    // the serial reference and once per prepared point. Each kernel it makes owns what it
    // writes: copies of a serial point run at once (the contention measure).
    std::function<std::unique_ptr<TaskKernel>(const Args& args)> make;
    // nullopt when the args can run with `memory_bytes` available (nullopt: unknown), else the
    // end of a sentence saying why not ("four 8192 x 8192 matrices need 2 GiB, more than ...").
    // Optional.
    std::function<std::optional<std::string>(const Args& args,
                                             std::optional<std::size_t> memory_bytes)>
        fits;
    int tasks_per_worker = 2;         // tasks per execution = this x the team's workers (>= 1)
    // Give task i to worker i mod T in every execution (and in touch()), so that each worker
    // uses the memory it touched first; otherwise workers take tasks as they free up.
    bool fixed_schedule = false;
    // How a checksum is compared with the serial one: equal(got, want) when given; else within
    // `tolerance` relative to the serial one (0: bit for bit). For kernels whose checksum
    // depends on the split (per-task floating-point partial sums). Optional.
    double tolerance = 0;
    std::function<bool(double got, double want)> equal;
  };

  explicit TaskWorkload(Spec spec);

  std::string name() const override { return spec_.name; }
  Kind kind() const override { return spec_.kind; }
  WorkUnit unit() const override { return spec_.unit; }
  std::string description() const override { return spec_.description; }
  void add_options(Flags& flags) override;
  std::vector<Point> plan(const PlanContext& context) override;
  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                         StopToken stop) override;
  // Every prepared point has a kernel of its own (make_kernel), so copies of a serial point
  // can run at once for the contention measure.
  bool independent_copies() const override { return true; }
  std::string group_title(const Point& point) const override;
  // tasks_per_worker x threads dealt in turn (fixed_schedule), else balanced_tasks over the
  // workers' speeds taken from a shared counter.
  std::optional<TaskSplit> split(const Point& point) const override;

 protected:
  const Spec& spec() const { return spec_; }
  // The first value a point was planned with (its size, for one parameter).
  long long size_of(const Point& point) const;
  // Every value a point was planned with.
  const Args& args_of(const Point& point) const;

 private:
  double serial_checksum(const Args& args);
  std::unique_ptr<TaskKernel> make_kernel(const Args& args) const;
  // Throws std::invalid_argument, one sentence naming the Spec field, for a spec that cannot
  // run: no name, make() or work(), no sizes, a size < 1, a parameter without a usable name or
  // values, a combination of the wrong length, tasks_per_worker < 1, a unit without a name,
  // rate unit or positive scale, a tolerance that is negative or not a number.
  void check_spec();
  // The combinations of the plan: the command line's, else the quick or default ones. Throws
  // UsageError when the flags make more than kMaxCombinations.
  std::vector<std::vector<long long>> combinations(bool quick) const;
  // The serial point's tasks per execution (its split, which the reference also runs).
  std::size_t serial_tasks() const;

  Spec spec_;
  std::vector<std::string> names_;   // the parameters' names, in order
  std::vector<std::string> flags_;   // and their flags
  std::vector<std::vector<long long>> defaults_, quick_;  // the combinations without flags
  std::vector<std::vector<long long>> given_;  // each parameter's flag values (empty: not given)
  // Serial answers, per combination.
  std::vector<std::pair<std::vector<long long>, double>> checksums_;
};

// ---------------------------------------------------------------------------------------------
// A request handler: the shortest way to measure your own I/O-bound code.
//
// A handler (cvp::exec::RequestHandler, cvp/exec/requests.h) is a request's CPU work split around
// a wait: before_wait(id) (parse, compute), then after_wait(id) (respond) returning a
// fingerprint of the response. A RequestWorkload runs it exactly as the built-in `requests`
// workload runs its own: serially (one request at a time); with K requests in flight on one
// pinned core; with K in flight spread over min(K, cores) cores; each on blocking threads (one
// per request in flight) and on event loops (one Asio loop per core, requests as coroutines,
// waits as timers). Every run is checked, outside its clock, against the fingerprints of the
// serial handling of the same requests, and each speedup is shown beside its bound
// min(K, P (c' + w) / c'), c' being the point's own measured CPU per request.
//
//   auto spec = cvp::RequestWorkload::Spec{};
//   spec.name = "lookup";
//   spec.make = [](std::size_t requests) { return std::make_unique<MyHandler>(requests); };
//   workloads.push_back(std::make_unique<cvp::RequestWorkload>(spec));
//
// Benchmarks are named NAME/w_us:W/k:K/requests:N/mode:M/backend:B/threads:T (a handler's own
// waits: NAME/wait:WAITS_ON/k:K/...), and the flags are --NAME-in-flight, --NAME-requests and,
// for the engine's waits, --NAME-w-us and --NAME-wait (see Spec::flag_prefix).
//
// A handler that waits on real I/O itself (Spec::wait) overrides wait(id) or
// async_wait(id, io, done) (cvp/exec/requests.h); examples/journal and examples/echo are two.

class RequestWorkload : public Workload {
 public:
  // The params of its points: the wait and its distribution; summary.json also shows the point's
  // K (in flight) and request count (its work). A workload with a plan of its own derives from
  // it to add its own.
  struct Params : PointParams {
    Params(double wait_us, exec::WaitDistribution wait_distribution)
        : w_us(wait_us), distribution(wait_distribution) {}
    // A handler's own wait (exec::WaitOwner blocking or async) on `on` ("fdatasync").
    Params(exec::WaitOwner owner, std::string on) : wait(owner), waits_on(std::move(on)) {}
    nlohmann::json to_json(const Point& point) const override;
    double w_us = 0;  // the engine's wait (0 for a handler's own)
    exec::WaitDistribution distribution = exec::WaitDistribution::fixed;
    exec::WaitOwner wait = exec::WaitOwner::engine;
    std::string waits_on;
    // A handler's own waits: whether what they wait on is shared by the requests in flight (a
    // disk, a server that queues), so that waits that grow with K are the machine's limit and
    // each point's bound takes its own measured wait. False when it serves every request at
    // once (the built-in wait:mpi backend): each bound then takes the serial point's measured
    // wait, and a wait that grew is the requests' queueing for the CPU after it.
    bool shared_wait = true;
  };

  struct Spec {
    std::string name;                     // first segment of every benchmark name
    std::string description;
    WorkUnit unit{"requests", "requests/s", 1};
    // Who waits between before_wait and after_wait: the engine (a sleep or timer of wait_us), or
    // the handler itself, on real I/O: blocking in its wait(id) (threads only: the event-loop
    // points are left out, and --backend eventloop alone is refused), or asynchronously in
    // async_wait(id, io, done) (threads and event loops). A handler's waits are measured, and
    // the bound uses the measured wait of each point.
    exec::WaitOwner wait = exec::WaitOwner::engine;
    // What a handler's own wait is on, a word or two ("fdatasync", "echo-server"): it names the
    // group NAME/wait:WAITS_ON (engine waits: NAME/w_us:W). Required when `wait` is not engine.
    std::string waits_on;
    // w, the engine's wait per request (the mean if exponential); for a handler's own waits, an
    // estimate used only to size runs.
    double wait_us = 1000;
    bool exponential = false;             // exponential waits with mean wait_us, else fixed
    std::vector<long long> in_flight{8, 64};  // the K swept (the serial baseline is K = 1)
    std::vector<long long> quick_in_flight;   // with --quick (default: in_flight)
    // Requests per run; nullopt sizes each point's run to about 0.15 s (0.04 s with --quick)
    // from the wait, K, its cores and cpu_us. Runs of different sizes are different
    // benchmarks: the count is part of the name.
    std::optional<long long> requests;
    // An estimate of the CPU per request in microseconds, used only to size runs (the bound
    // uses the measured c'); nullopt: small against the wait.
    std::optional<double> cpu_us;
    // The flags' prefix; default "--NAME-" (--NAME-in-flight, --NAME-w-us ...).
    std::string flag_prefix;
    // A handler for the requests 0 .. requests-1, its inputs made (never timed). Called once per
    // prepared point, and once per request count for the serial reference.
    std::function<std::unique_ptr<exec::RequestHandler>(std::size_t requests)> make;
  };

  // Throws std::invalid_argument for a spec without a name or make(), or with a wait, a K or a
  // request count out of range.
  explicit RequestWorkload(Spec spec);

  std::string name() const override { return spec_.name; }
  Kind kind() const override { return Kind::io; }
  WorkUnit unit() const override { return spec_.unit; }
  std::string description() const override { return spec_.description; }
  std::vector<Backend> backends() const override { return {Backend::threads, Backend::eventloop}; }
  Timing timing() const override { return Timing::manual; }
  void add_options(Flags& flags) override;
  std::vector<Point> plan(const PlanContext& context) override;
  // A run needs at least one request per request in flight.
  void check(const std::vector<const Point*>& selected) const override;
  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                         StopToken stop) override;
  // min(K, P (c' + w) / c'), P the point's cores in parallel mode and 1 concurrent; 1 serial.
  double bound(const Row& row) const override;
  std::string bound_model() const override;
  std::vector<std::string> verdicts(const VerdictContext& context) const override;
  // Late wake-ups (timer_overshoot), process CPU beyond the handler's (extra_cpu) and requests
  // that queued for the CPU (queueing, a symptom), each from this run's measured figures.
  std::vector<Finding> diagnose(const Row& row, const DiagnosisContext& context) const override;
  // "NAME w=1ms"
  std::string group_title(const Point& point) const override;
  // A weak-scaling point's (K P in flight, N P requests on P cores) scaled speedup over
  // `one_core`, the concurrent point of its K on one core: weak.speedup / one_core.speedup, both
  // against the same serial baseline, so its throughput over one core's. 0 when either is not
  // measured. Gustafson's serial fraction of a weak request point is (P - this) / (P - 1).
  static double scaled_over_one_core(const Row& weak, const Row& one_core);

 protected:
  // For request workloads with a plan of their own (the built-in `requests` sweeps its CPU
  // work too): they reuse the runs, checks, bounds and verdict wording below.
  const Spec& spec() const { return spec_; }

  // The handler a point's runs use, for `requests` requests. Default: spec().make(requests).
  virtual std::unique_ptr<exec::RequestHandler> make_handler(const Point& point,
                                                           std::size_t requests);
  // The handler of the serial reference, once per group and request count: what a run's
  // responses must equal. Default: make_handler(). A handler whose waits are round trips to
  // other ranks (Point::with_ranks) gives one that computes the backend's answers itself.
  virtual std::unique_ptr<exec::RequestHandler> make_reference_handler(const Point& point,
                                                                     std::size_t requests);

  // Adds the points of `base`'s group to `points`, skipping names already there: the serial
  // baseline, and for each K >= 2 of `in_flight` and each backend the context wants, K
  // requests in flight on the home core (K threads, or one event loop) and, with more than one
  // core, on min(K, cores) cores (K threads spread over them, or one loop on each). `base`
  // carries the group, the params (a Params) and headline; origin(K) names the option that
  // asked for K. A run is `requests` requests, or, when nullopt, as many as last about 0.15 s
  // (0.04 s quick) with `cpu_us` of CPU per request (at least 2 K); k and requests join the
  // name, and the count is the work.
  static void add_sweep(const PlanContext& context, Point base, const std::vector<int>& in_flight,
                        const std::function<std::string(int k)>& origin,
                        std::optional<std::size_t> requests, double cpu_us,
                        std::vector<Point>& points);
  // Refuses (UsageError) `requests` requests of `bytes_per_request` each when they need more
  // than 80% of `memory` bytes (nullopt: unknown); `flag` starts the message ("--requests N").
  static void check_memory(const std::string& flag, long long requests, double bytes_per_request,
                           std::optional<std::size_t> memory);
  // The headline verdict of each group: "TITLE K=64: concurrency xA on 1 core (bound xB);
  // parallelism xC on N cores (bound xD) [B backend]", TITLE being group_title().
  std::vector<std::string> headline_verdicts(const VerdictContext& context) const;

  // Flag checks (the end of a sentence naming the problem, or nullopt).
  static std::optional<std::string> check_wait_us(double us);
  static std::optional<std::string> check_in_flight(long long k);
  static std::optional<std::string> check_requests(long long n);
  // 50 -> "50", 12.5 -> "12.5" (names); 50 -> "50us", 1000 -> "1ms" (verdicts).
  static std::string micros(double us);
  static std::string micros_text(double us);

 private:
  Spec spec_;
  double w_us_;
  std::vector<long long> in_flight_;  // from the command line
  long long requests_;
  std::string wait_;
  // Serial fingerprints, per group and request count.
  std::map<std::pair<std::string, std::size_t>, std::vector<std::uint64_t>> references_;
};

}  // namespace cvp

// The program's command line: what the user asked for, parsed and checked against this machine
// before anything runs or is written. The run-wide options are here; each workload adds its
// own through the Flags of include/cvp/workload.h and reads their values in its plan().
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "cvp/exec/topology.h"
#include "cvp/workload.h"
#include "exec/slow_cpu.h"

namespace cvp::bench {

using cvp::UsageError;

// A fault planted on purpose, to test the suite's own error handling: a wrong result
// ("wrong") or an exception ("throw") in every benchmark whose name matches `pattern`.
enum class FaultKind { wrong, thrown };
inline constexpr std::array<std::string_view, 2> kFaultKindNames{"wrong", "throw"};
inline std::string_view to_string(FaultKind kind) { return exec::name_of(kind, kFaultKindNames); }

struct FaultInjection {
  FaultKind kind = FaultKind::wrong;
  std::string pattern;
};

// --limits: the machine's limits read from the cache (measured once per machine), measured
// again, or not used.
enum class Limits { cached, measure, off };
inline constexpr std::array<std::string_view, 3> kLimitsNames{"cached", "measure", "off"};
inline std::string_view to_string(Limits limits) { return exec::name_of(limits, kLimitsNames); }

// A slowdown planted on purpose, to measure what a comparison can detect: every timed
// execution of the benchmarks whose name matches `pattern` lengthened by `fraction` of its time.
struct SlowdownOption {
  double fraction = 0;
  std::string pattern;
};

struct Options {
  bool quick = false;
  bool list_only = false;          // --list: print the benchmark names and exit
  std::string filter;              // regex over benchmark names; empty runs all
  std::vector<int> threads;        // thread counts for both sweeps; empty: the default sweeps
  int repetitions = 6;             // undisturbed blocks of every point, at least
  double min_time_s = 0.1;         // timed seconds of one block
  double precision = 0.02;         // target 95% CI half-width of every speedup; 0: off
  double budget_s = 480;           // seconds of sampling for the whole run
  long long seed = 1;              // the order of the blocks in each round
  Scaling scaling = Scaling::strong;  // --scaling: the parallel and distributed points' problems
  double rank_timeout_s = 300;     // --rank-timeout: the deadline on every wait for another rank
  std::vector<SlowdownOption> slowdowns;  // --inject-slowdown PCT:REGEX
  std::vector<exec::SlowCpu> slow_cpus;   // --inject-slow-cpu CPU:PCT, ascending by CPU
  bool trace = false;              // --trace: record one more execution of every point (trace.json)
  // Copies of the serial point on a short team's CPUs at once, after the sampling
  // (harness/contention.cc); --no-contention: not taken.
  bool contention = true;
  bool clock_probe = true;         // probe the team's clock around each block (host/clock_watch.h)
  bool verbose = false;            // --verbose: a "why not more" line for every row, not per cause
  Limits limits = Limits::cached;  // --limits
  std::optional<std::string> out;  // the run's folder; empty: a new folder under ./cvpbench-runs
  std::vector<int> cpus;           // CPUs to use (subset of the allowed set); empty: all allowed
  std::vector<Backend> backends;   // empty: all
  std::vector<FaultInjection> faults;  // --inject-fault KIND:REGEX (for testing)
  // The workloads' own options as given on the command line (flag: values), for the summary.
  nlohmann::json workload_options = nlohmann::json::object();
};

// Result of parsing: options to run with, or an exit code with text to print (for --help).
struct ParsedCommandLine {
  std::optional<Options> options;
  int exit_code = 0;
  std::string text;  // help or version text for stdout
};

// Parses and validates argv against `topology` (allowed CPUs); the workloads' options are
// stored in the workloads. Throws UsageError naming the problem.
ParsedCommandLine parse_command_line(int argc, const char* const* argv,
                                     const exec::Topology& topology,
                                     const std::vector<Workload*>& workloads);

// The limits the command line enforces.
inline constexpr int kMaxThreads = 4096;
inline constexpr int kMaxRepetitions = 1000;

}  // namespace cvp::bench

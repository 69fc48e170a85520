// The program's command line: what the user asked for, parsed and checked against this machine
// before anything runs or is written. The run-wide options are here; each workload adds its
// own through the Flags of include/cvp/workload.h and reads their values in its plan().
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cvp/exec/topology.h"
#include "cvp/workload.h"

namespace cvp::bench {

using cvp::UsageError;

// `text` made safe for one line of a terminal: control characters (a newline or an escape
// sequence inside an argument echoed back) are shown as \n, \t or \xNN.
std::string printable(const std::string& text);

// A fault planted on purpose, to test the suite's own error handling: a wrong result
// ("wrong") or an exception ("throw") in every benchmark whose name matches `pattern`.
struct FaultInjection {
  std::string kind;
  std::string pattern;
};

struct Options {
  bool quick = false;
  bool list_only = false;          // --list: print the benchmark names and exit
  std::string filter;              // regex over benchmark names; empty runs all
  std::vector<int> threads;        // thread counts for both sweeps; empty: the default sweeps
  int repetitions = 5;
  double min_time_s = 0.2;         // per repetition, for workloads timed by the harness
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

// The command line of cvpbench: what the user asked for, checked against this machine before
// anything runs or is written.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "requests/request_runner.h"
#include "cvp/exec/topology.h"

namespace cvp::bench {

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
  std::vector<std::size_t> sizes;  // matmul n; empty: the default sizes
  int repetitions = 5;
  double min_time_s = 0.2;         // per repetition, matmul
  std::optional<std::string> out;  // the run's folder; empty: a new folder under ./cvpbench-runs
  std::vector<int> cpus;           // CPUs to use (subset of the allowed set); empty: all allowed
  std::vector<std::string> backends;  // empty: all
  // I/O-bound workload
  std::vector<double> c_us;        // CPU per request; empty: the default
  double w_us = 1000;              // wait per request
  std::vector<int> in_flight;      // K sweep; empty: the default
  std::size_t requests = 0;        // per run; 0: sized automatically
  io::WaitDistribution wait = io::WaitDistribution::fixed;
  bool crossover = true;
  int crossover_k = 64;
  std::vector<FaultInjection> faults;  // --inject-fault KIND:REGEX (for testing)
};

// A request the program cannot honour; what() is one sentence for the user. Exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Result of parsing: options to run with, or an exit code with text to print (for --help).
struct ParsedCommandLine {
  std::optional<Options> options;
  int exit_code = 0;
  std::string text;  // help or version text for stdout
};

// Parses and validates argv against `topology` (allowed CPUs) and available memory.
// Throws UsageError naming the problem.
ParsedCommandLine parse_command_line(int argc, const char* const* argv,
                                     const exec::Topology& topology);

// The limits the command line enforces.
inline constexpr int kMaxThreads = 4096;
inline constexpr int kMaxInFlight = 100000;
inline constexpr int kMaxRepetitions = 1000;
inline constexpr double kMaxMicros = 10'000'000;  // 10 s per request step

// How many threads this process may create, from RLIMIT_NPROC, kernel.threads-max and
// vm.max_map_count (two mappings per thread stack); 0 when none can be read.
std::size_t thread_limit();

// Bytes of memory available to a new allocation now (MemAvailable), or 0 when unknown.
std::size_t available_memory_bytes();

}  // namespace cvp::bench

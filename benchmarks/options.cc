#include "options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"

namespace cvp::bench {
namespace {

const char* const kDescription =
    "cvpbench measures what concurrency and what parallelism each buy on this machine.\n"
    "Every workload runs serially, concurrently on one pinned core (tasks interleave) and in\n"
    "parallel across the allowed cores (tasks run at once); speedups come with 95% confidence\n"
    "intervals, bounds and evidence that pinning happened.";

long long parse_integer(const std::string& flag, const std::string& text) {
  long long value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec == std::errc::result_out_of_range) {
    throw UsageError(flag + " " + text + ": the number is too large.");
  }
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw UsageError(flag + " " + text + ": not a whole number.");
  }
  return value;
}

double parse_real(const std::string& flag, const std::string& text) {
  std::istringstream in(text);
  double value = 0;
  in >> value;
  if (text.empty() || in.fail() || !in.eof() || !std::isfinite(value)) {
    throw UsageError(flag + " " + text + ": not a number.");
  }
  return value;
}

std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::size_t pos = 0;
    while (pos <= item.size()) {
      const std::size_t comma = std::min(item.find(',', pos), item.size());
      out.push_back(item.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  return out;
}

std::string join(const std::vector<int>& v) { return exec::format_cpu_list(v); }

}  // namespace

std::size_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::size_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

ParsedCommandLine parse_command_line(int argc, const char* const* argv,
                                     const exec::Topology& topology) {
  Options o;
  std::vector<std::string> threads_raw, sizes_raw, backends_raw, c_raw, k_raw;
  std::string cpus_raw, w_raw, requests_raw, reps_raw, min_time_raw, wait_raw = "fixed";
  std::string crossover_k_raw;
  bool no_crossover = false;

  CLI::App app{kDescription, "cvpbench"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", std::string("cvpbench ") + CVP_VERSION);
  app.add_flag("--quick", o.quick, "Run the whole suite small and fast (about a minute on 2 cores)");
  app.add_flag("--list", o.list_only, "Print the names of the benchmarks that would run, and exit");
  app.add_option("--filter", o.filter,
                 "Run only benchmarks whose name matches this regular expression "
                 "(names look like matmul/n:512/mode:parallel/backend:tbb/threads:2)");
  app.add_option("--threads", threads_raw,
                 "Thread counts for the concurrent and parallel sweeps, e.g. 1,2,4 "
                 "(default: powers of two up to the cores, the cores, all logical CPUs, 2 x cores)")
      ->expected(1, 1 << 20);
  app.add_option("--size", sizes_raw, "Matrix sizes n for matmul, e.g. 512,1024")
      ->expected(1, 1 << 20);
  app.add_option("--repetitions", reps_raw, "Repetitions of every benchmark (default 5, quick 3)");
  app.add_option("--min-time", min_time_raw,
                 "Minimum seconds per repetition of a matmul benchmark (default 0.2, quick 0.05)");
  app.add_option("--out", o.out,
                 "Folder for this run's files (must not already hold results); default: a new "
                 "folder cvpbench-runs/HOST-DATE");
  app.add_option("--cpus", cpus_raw,
                 "Use only these CPUs, e.g. 0-3,8 (must be allowed to this process; default: all "
                 "allowed CPUs)");
  app.add_option("--backend", backends_raw, "Backends to run: threads,openmp,tbb,eventloop")
      ->expected(1, 16);
  app.add_option("--c-us", c_raw, "I/O workload: CPU microseconds per request (default 50)")
      ->expected(1, 1 << 20);
  app.add_option("--w-us", w_raw, "I/O workload: wait microseconds per request (default 1000)");
  app.add_option("--in-flight", k_raw,
                 "I/O workload: requests in flight K, e.g. 1,8,64,512 (default 1,8,64,512)")
      ->expected(1, 1 << 20);
  app.add_option("--requests", requests_raw,
                 "I/O workload: requests per run (default: sized to about 0.2 s per run)");
  app.add_option("--wait", wait_raw, "I/O workload: wait distribution, fixed or exponential");
  app.add_option("--crossover-k", crossover_k_raw,
                 "I/O workload: requests in flight for the crossover sweep (default 64)");
  app.add_flag("--no-crossover", no_crossover, "Skip the I/O crossover sweep over c");

  ParsedCommandLine result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.text = app.help();
    return result;
  } catch (const CLI::CallForVersion&) {
    result.text = std::string("cvpbench ") + CVP_VERSION + "\n";
    return result;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (!what.empty() && what.back() != '.') what += '.';
    throw UsageError(what);
  }

  o.crossover = !no_crossover;
  if (o.quick) {
    o.repetitions = 3;
    o.min_time_s = 0.05;
  }
  if (!reps_raw.empty()) {
    const long long r = parse_integer("--repetitions", reps_raw);
    if (r < 1 || r > kMaxRepetitions) {
      throw UsageError("--repetitions " + reps_raw + ": must be between 1 and " +
                       std::to_string(kMaxRepetitions) + ".");
    }
    o.repetitions = static_cast<int>(r);
  }
  if (!min_time_raw.empty()) {
    const double t = parse_real("--min-time", min_time_raw);
    if (t <= 0 || t > 3600) throw UsageError("--min-time " + min_time_raw + ": must be > 0 and <= 3600 seconds.");
    o.min_time_s = t;
  }

  // CPUs: a subset of what the process may use.
  if (!cpus_raw.empty()) {
    const auto cpus = exec::parse_cpu_list(cpus_raw.c_str());
    if (!cpus || cpus->empty()) {
      throw UsageError("--cpus " + cpus_raw + ": not a CPU list such as 0-3,8.");
    }
    std::vector<int> not_allowed;
    for (int cpu : *cpus) {
      if (!std::binary_search(topology.allowed.begin(), topology.allowed.end(), cpu)) {
        not_allowed.push_back(cpu);
      }
    }
    if (!not_allowed.empty()) {
      throw UsageError("--cpus " + cpus_raw + ": CPU " + join(not_allowed) +
                       " is not allowed to this process (allowed: " + join(topology.allowed) +
                       ").");
    }
    o.cpus = *cpus;
  }

  for (const auto& t : split_list(threads_raw)) {
    const long long v = parse_integer("--threads", t);
    if (v < 1) throw UsageError("--threads " + t + ": a thread count must be at least 1.");
    if (v > kMaxThreads) {
      throw UsageError("--threads " + t + ": at most " + std::to_string(kMaxThreads) +
                       " threads are supported.");
    }
    o.threads.push_back(static_cast<int>(v));
  }

  const std::size_t memory = available_memory_bytes();
  for (const auto& s : split_list(sizes_raw)) {
    const long long n = parse_integer("--size", s);
    if (n < 1) throw UsageError("--size " + s + ": a matrix size must be at least 1.");
    // Three n x n matrices of doubles, plus the serial reference answer.
    const long double bytes = 4.0L * 8.0L * static_cast<long double>(n) * static_cast<long double>(n);
    if (n > 65536 || (memory > 0 && bytes > 0.8L * static_cast<long double>(memory))) {
      std::ostringstream msg;
      msg << "--size " << s << ": four " << n << " x " << n << " matrices need "
          << static_cast<double>(bytes / (1 << 30)) << " GiB, more than the "
          << static_cast<double>(memory) / (1 << 30) << " GiB of memory available.";
      throw UsageError(msg.str());
    }
    o.sizes.push_back(static_cast<std::size_t>(n));
  }

  const std::set<std::string> known_backends{"threads", "openmp", "tbb", "eventloop"};
  for (const auto& b : split_list(backends_raw)) {
    if (!known_backends.count(b)) {
      throw UsageError("--backend " + b + ": unknown backend (choose from threads, openmp, tbb, eventloop).");
    }
    o.backends.push_back(b);
  }

  for (const auto& c : split_list(c_raw)) {
    const double v = parse_real("--c-us", c);
    if (v <= 0 || v > kMaxMicros) {
      throw UsageError("--c-us " + c + ": CPU per request must be > 0 and at most 10 s (10000000 us).");
    }
    o.c_us.push_back(v);
  }
  if (!w_raw.empty()) {
    const double v = parse_real("--w-us", w_raw);
    if (v < 0 || v > kMaxMicros) {
      throw UsageError("--w-us " + w_raw + ": the wait must be >= 0 and at most 10 s (10000000 us).");
    }
    o.w_us = v;
  }
  for (const auto& k : split_list(k_raw)) {
    const long long v = parse_integer("--in-flight", k);
    if (v < 1) throw UsageError("--in-flight " + k + ": requests in flight must be at least 1.");
    if (v > kMaxInFlight) {
      throw UsageError("--in-flight " + k + ": at most " + std::to_string(kMaxInFlight) +
                       " requests in flight are supported.");
    }
    o.in_flight.push_back(static_cast<int>(v));
  }
  if (!crossover_k_raw.empty()) {
    const long long v = parse_integer("--crossover-k", crossover_k_raw);
    if (v < 1 || v > kMaxInFlight) {
      throw UsageError("--crossover-k " + crossover_k_raw + ": must be between 1 and " +
                       std::to_string(kMaxInFlight) + ".");
    }
    o.crossover_k = static_cast<int>(v);
  }
  if (!requests_raw.empty()) {
    const long long v = parse_integer("--requests", requests_raw);
    if (v < 1) throw UsageError("--requests " + requests_raw + ": at least one request is needed.");
    if (v > 100'000'000) throw UsageError("--requests " + requests_raw + ": at most 100000000 requests per run.");
    o.requests = static_cast<std::size_t>(v);
    int max_k = o.crossover ? o.crossover_k : 1;
    for (int k : o.in_flight) max_k = std::max(max_k, k);
    if (o.in_flight.empty()) max_k = std::max(max_k, 512);
    if (o.requests < static_cast<std::size_t>(max_k)) {
      throw UsageError("--requests " + requests_raw + ": fewer requests than the " +
                       std::to_string(max_k) + " in flight; give at least " +
                       std::to_string(max_k) + ".");
    }
  }
  if (wait_raw == "exponential") {
    o.wait = io::WaitDistribution::exponential;
  } else if (wait_raw != "fixed") {
    throw UsageError("--wait " + wait_raw + ": choose fixed or exponential.");
  }
  if (!o.filter.empty()) {
    try {
      const std::regex check(o.filter);
    } catch (const std::regex_error&) {
      throw UsageError("--filter " + o.filter + ": not a valid regular expression.");
    }
  }
  result.options = o;
  return result;
}

}  // namespace cvp::bench

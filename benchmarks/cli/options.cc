#include "options.h"

#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"
#include "pattern.h"
#if CVP_HAVE_IO
#include "requests/requests.h"
#endif

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

// The items of a comma-separated list option (given once or several times), each once, in
// the order first given: a repeat would make two benchmarks of one name. An empty item
// ("1,,2", "4,") is refused.
std::vector<std::string> split_list(const std::string& flag, const std::vector<std::string>& items) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& item : items) {
    std::size_t pos = 0;
    while (pos <= item.size()) {
      const std::size_t comma = std::min(item.find(',', pos), item.size());
      std::string value = item.substr(pos, comma - pos);
      if (value.empty()) throw UsageError(flag + " " + item + ": an empty item in the list.");
      if (seen.insert(value).second) out.push_back(std::move(value));
      pos = comma + 1;
    }
  }
  return out;
}

// Numbers that parse to the same value ("4" and "04", "50" and "50.0") are one item too.
template <typename T>
void keep_first(std::vector<T>& values) {
  std::vector<T> kept;
  for (const T& v : values) {
    if (std::find(kept.begin(), kept.end(), v) == kept.end()) kept.push_back(v);
  }
  values = std::move(kept);
}

std::string join(const std::vector<int>& v) { return exec::format_cpu_list(v); }

}  // namespace

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      static const char digits[] = "0123456789abcdef";
      out += "\\x";
      out += digits[byte >> 4];
      out += digits[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::size_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  return end != text.c_str() ? static_cast<std::size_t>(v) : 0;
}

// Memory the process's own memory cgroup still allows (limit - usage), or 0 when unlimited or
// unknown. The cgroup's path may be absent under a namespaced mount: then its root is ours.
std::size_t cgroup_memory_left() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::size_t left = 0;
  auto consider = [&](const std::string& folder, const char* limit_file, const char* usage_file) {
    const std::size_t limit = read_number(folder + "/" + limit_file);
    if (limit == 0 || limit >= (std::size_t{1} << 60)) return false;  // no limit
    const std::size_t usage = read_number(folder + "/" + usage_file);
    const std::size_t free = limit > usage ? limit - usage : 1;
    if (left == 0 || free < left) left = free;
    return true;
  };
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    const bool v2 = line.compare(0, first, "0") == 0 && controllers.empty();
    const bool v1 = ("," + controllers + ",").find(",memory,") != std::string::npos;
    if (!v1 && !v2) continue;
    const std::string mount = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    for (const std::string& folder : {mount + (path == "/" ? "" : path), mount}) {
      if (v2 ? consider(folder, "memory.max", "memory.current")
             : consider(folder, "memory.limit_in_bytes", "memory.usage_in_bytes")) {
        break;
      }
    }
  }
  return left;
}

}  // namespace

std::size_t available_memory_bytes() {
  std::size_t available = 0;
  auto lower = [&](std::size_t v) {
    if (v > 0 && (available == 0 || v < available)) available = v;
  };
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::size_t value = 0;
    std::string unit;
    while (in >> key >> value >> unit) {
      if (key == "MemAvailable:") {
        lower(value * 1024);
        break;
      }
    }
  }
  lower(cgroup_memory_left());
  for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    rlimit r{};
    if (getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
      lower(static_cast<std::size_t>(r.rlim_cur));
    }
  }
  return available;
}

std::size_t thread_limit() {
  std::size_t limit = 0;
  auto lower = [&](std::size_t v) {
    if (v > 0 && (limit == 0 || v < limit)) limit = v;
  };
  rlimit r{};
  if (getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
    lower(static_cast<std::size_t>(r.rlim_cur));
  }
  std::size_t v = 0;
  if (std::ifstream in("/proc/sys/kernel/threads-max"); in >> v) lower(v);
  if (std::ifstream in("/proc/sys/vm/max_map_count"); in >> v) lower(v / 2);
  return limit;
}

ParsedCommandLine parse_command_line(int argc, const char* const* argv,
                                     const exec::Topology& topology) {
  Options o;
  std::vector<std::string> threads_raw, sizes_raw, backends_raw, c_raw, k_raw;
  std::string cpus_raw, w_raw, requests_raw, reps_raw, min_time_raw, wait_raw = "fixed";
  std::string crossover_k_raw;
  std::vector<std::string> faults_raw;
  bool no_crossover = false;

  CLI::App app{kDescription, "cvpbench"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", std::string("cvpbench ") + CVP_VERSION);
  app.add_flag("--quick", o.quick, "Run the whole suite small and fast (under a minute on 2 cores)");
  app.add_flag("--list", o.list_only, "Print the names of the benchmarks that would run, and exit");
  app.add_option("--filter", o.filter,
                 "Run only benchmarks whose name matches this regular expression "
                 "(names look like matmul/n:512/mode:parallel/backend:tbb/threads:2); the serial "
                 "baselines their speedups need run too")
      ->type_name("REGEX");
  app.add_option("--threads", threads_raw,
                 "Thread counts for the concurrent and parallel sweeps, e.g. 1,2,4 "
                 "(default: concurrent 2, 4 ... up to 2 x cores; parallel 1, 2, 4 ... up to the "
                 "cores, the cores, all logical CPUs where SMT exists, 2 x logical CPUs)")
      ->type_name("LIST")
      ->expected(1, 1 << 20);
  app.add_option("--size", sizes_raw, "Matrix sizes n for matmul (default 512,1024; quick 512)")
      ->type_name("LIST")
      ->expected(1, 1 << 20);
  app.add_option("--repetitions", reps_raw, "Repetitions of every benchmark (default 5, quick 3)")
      ->type_name("N");
  app.add_option("--min-time", min_time_raw,
                 "Minimum seconds per repetition of a matmul benchmark (default 0.2, quick 0.05)")
      ->type_name("SECONDS");
  app.add_option("--out", o.out,
                 "Folder for this run's files (must not already hold results); default: a new "
                 "folder cvpbench-runs/HOST-DATE")
      ->type_name("DIR");
  app.add_option("--cpus", cpus_raw,
                 "Use only these CPUs, e.g. 0-3,8 (must be allowed to this process; default: all "
                 "allowed CPUs)")
      ->type_name("LIST");
  app.add_option("--backend", backends_raw,
                 "Backends to run, of threads,openmp,tbb (matmul) and threads,eventloop "
                 "(requests); default: all")
      ->type_name("LIST")
      ->expected(1, 16);
  app.add_option("--c-us", c_raw, "I/O workload: CPU microseconds per request (default 50)")
      ->type_name("LIST")
      ->expected(1, 1 << 20);
  app.add_option("--w-us", w_raw, "I/O workload: wait microseconds per request (default 1000)")
      ->type_name("US");
  app.add_option("--in-flight", k_raw,
                 "I/O workload: requests in flight K (default 8,64,512; the serial baseline is "
                 "K = 1)")
      ->type_name("LIST")
      ->expected(1, 1 << 20);
  app.add_option("--requests", requests_raw,
                 "I/O workload: requests per run (default: sized to about 0.3 s per run, 0.08 s "
                 "quick)")
      ->type_name("N");
  app.add_option("--wait", wait_raw,
                 "I/O workload: wait distribution, fixed or exponential (mean w); default fixed")
      ->type_name("KIND");
  app.add_option("--crossover-k", crossover_k_raw,
                 "I/O workload: requests in flight for the crossover sweep (default 64)")
      ->type_name("K");
  app.add_flag("--no-crossover", no_crossover, "Skip the I/O crossover sweep over c");
  app.add_option("--inject-fault", faults_raw,
                 "For testing the suite's own error handling only: plant a wrong result "
                 "(wrong:REGEX) or an exception (throw:REGEX) in the benchmarks whose name "
                 "matches REGEX; they are reported as failed and the exit code is 1")
      ->type_name("KIND:REGEX")
      ->expected(1, 64);

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
  // An option given with an empty value ('--repetitions ""') is a mistake, not "use the
  // default": refuse it for every option that takes a value.
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || option->get_items_expected_min() == 0) continue;
    for (const auto& value : option->results()) {
      if (value.empty()) throw UsageError(option->get_name() + ": the value is empty.");
    }
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

  for (const auto& t : split_list("--threads", threads_raw)) {
    const long long v = parse_integer("--threads", t);
    if (v < 1) throw UsageError("--threads " + t + ": a thread count must be at least 1.");
    if (v > kMaxThreads) {
      throw UsageError("--threads " + t + ": at most " + std::to_string(kMaxThreads) +
                       " threads are supported.");
    }
    o.threads.push_back(static_cast<int>(v));
  }

  const std::size_t memory = available_memory_bytes();
  for (const auto& s : split_list("--size", sizes_raw)) {
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
  for (const auto& b : split_list("--backend", backends_raw)) {
    if (!known_backends.count(b)) {
      throw UsageError("--backend " + b + ": unknown backend (choose from threads, openmp, tbb, eventloop).");
    }
    o.backends.push_back(b);
  }

  for (const auto& c : split_list("--c-us", c_raw)) {
    const double v = parse_real("--c-us", c);
    if (v <= 0 || v > kMaxMicros) {
      throw UsageError("--c-us " + c + ": CPU per request must be > 0 and at most 10 s (10000000 us).");
    }
    o.c_us.push_back(v);
  }
  keep_first(o.threads);
  keep_first(o.sizes);
  keep_first(o.c_us);
  if (!w_raw.empty()) {
    const double v = parse_real("--w-us", w_raw);
    if (v < 0 || v > kMaxMicros) {
      throw UsageError("--w-us " + w_raw + ": the wait must be >= 0 and at most 10 s (10000000 us).");
    }
    o.w_us = v;
  }
  for (const auto& k : split_list("--in-flight", k_raw)) {
    const long long v = parse_integer("--in-flight", k);
    if (v < 1) throw UsageError("--in-flight " + k + ": requests in flight must be at least 1.");
    if (v > kMaxInFlight) {
      throw UsageError("--in-flight " + k + ": at most " + std::to_string(kMaxInFlight) +
                       " requests in flight are supported.");
    }
    o.in_flight.push_back(static_cast<int>(v));
  }
  keep_first(o.in_flight);
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
#if CVP_HAVE_IO
    // Per request: its text, its response's fingerprint, the serial reference's, and its
    // latency (kept per run and for the summary).
    const long double per_request =
        48.0L + static_cast<long double>(requests::make_request(0, 1).size()) + 4 * 8.0L;
    const long double bytes = per_request * static_cast<long double>(o.requests);
    if (memory > 0 && bytes > 0.8L * static_cast<long double>(memory)) {
      std::ostringstream msg;
      msg << "--requests " << requests_raw << ": " << o.requests << " requests need "
          << static_cast<double>(bytes / (1 << 30)) << " GiB, more than the "
          << static_cast<double>(memory) / (1 << 30) << " GiB of memory available.";
      throw UsageError(msg.str());
    }
#endif
  }
  if (wait_raw == "exponential") {
    o.wait = io::WaitDistribution::exponential;
  } else if (wait_raw != "fixed") {
    throw UsageError("--wait " + wait_raw + ": choose fixed or exponential.");
  }
  for (const auto& f : faults_raw) {
    const auto colon = f.find(':');
    const std::string kind = f.substr(0, colon);
    if (colon == std::string::npos || (kind != "wrong" && kind != "throw")) {
      throw UsageError("--inject-fault " + f + ": give wrong:REGEX or throw:REGEX.");
    }
    const std::string pattern = f.substr(colon + 1);
    if (pattern.empty()) {
      throw UsageError("--inject-fault " + f + ": the regular expression after the colon is empty.");
    }
    const Pattern check("--inject-fault", pattern);
    o.faults.push_back({kind, pattern});
  }

  if (!o.filter.empty()) {
    const Pattern check("--filter", o.filter);
  }
  result.options = o;
  return result;
}

}  // namespace cvp::bench

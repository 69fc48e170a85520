#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <filesystem>
#include <functional>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"
#include "harness/pattern.h"

namespace cvp::bench {
namespace {

const char* const kDescription =
    "Measures what concurrency and what parallelism each buy on this machine.\n"
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

}  // namespace


namespace {

// The workloads' flags on CLI11: each keeps its raw text until the whole command line has been
// parsed, then converts, checks and stores it (finish()).
class CliFlags final : public Flags {
 public:
  CliFlags(CLI::App& app, nlohmann::json& given) : app_(app), given_(given) {}

  void integers(const std::string& flag, std::vector<long long>* into, const std::string& help,
                IntegerCheck check) override {
    many(flag, into, help, std::move(check), parse_integer);
  }

  void reals(const std::string& flag, std::vector<double>* into, const std::string& help,
             RealCheck check) override {
    many(flag, into, help, std::move(check), parse_real);
  }

  void integer(const std::string& flag, long long* into, const std::string& help,
               IntegerCheck check) override {
    single(flag, into, help, "N", std::move(check), parse_integer);
  }

  void real(const std::string& flag, double* into, const std::string& help,
            RealCheck check) override {
    single(flag, into, help, "X", std::move(check), parse_real);
  }

  void choice(const std::string& flag, std::string* into, const std::vector<std::string>& choices,
              const std::string& help) override {
    auto& raw = one(flag, help, "KIND");
    finishers_.push_back([this, flag, into, &raw, choices] {
      if (raw.empty()) return;
      if (std::find(choices.begin(), choices.end(), raw) == choices.end()) {
        std::string names;
        for (std::size_t i = 0; i < choices.size(); ++i) {
          names += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
        }
        throw UsageError(flag + " " + raw + ": choose " + names + ".");
      }
      *into = raw;
      given_[flag] = raw;
    });
  }

  void text(const std::string& flag, std::string* into, const std::string& help,
            TextCheck check) override {
    auto& raw = one(flag, help, "TEXT");
    finishers_.push_back([this, flag, into, &raw, check = std::move(check)] {
      if (raw.empty()) return;
      if (check) {
        if (const auto why = check(raw)) throw UsageError(flag + " " + raw + ": " + *why);
      }
      *into = raw;
      given_[flag] = raw;
    });
  }

  void toggle(const std::string& flag, bool* into, const std::string& help) override {
    app_.add_flag(flag, *into, help);
    finishers_.push_back([this, flag, into] {
      if (app_.count(flag) > 0) given_[flag] = *into;
    });
  }

  void finish() {
    for (auto& f : finishers_) f();
  }

 private:
  // A comma-separated list of numbers: each parsed, checked and kept (repeats dropped).
  template <class T, class Check, class Parse>
  void many(const std::string& flag, std::vector<T>* into, const std::string& help, Check check,
            Parse parse) {
    auto& raw = list(flag, help);
    finishers_.push_back([this, flag, into, &raw, check, parse] {
      if (raw.empty()) return;
      into->clear();
      for (const auto& item : split_list(flag, raw)) {
        const T v = parse(flag, item);
        checked(flag, item, check ? check(v) : std::nullopt);
        into->push_back(v);
      }
      keep_first(*into);
      given_[flag] = *into;
    });
  }

  // One number: parsed and checked.
  template <class T, class Check, class Parse>
  void single(const std::string& flag, T* into, const std::string& help, const char* type,
              Check check, Parse parse) {
    auto& raw = one(flag, help, type);
    finishers_.push_back([this, flag, into, &raw, check, parse] {
      if (raw.empty()) return;
      const T v = parse(flag, raw);
      checked(flag, raw, check ? check(v) : std::nullopt);
      *into = v;
      given_[flag] = v;
    });
  }

  static void checked(const std::string& flag, const std::string& item,
                      const std::optional<std::string>& problem) {
    if (problem) throw UsageError(flag + " " + item + ": " + *problem);
  }
  std::vector<std::string>& list(const std::string& flag, const std::string& help) {
    lists_.emplace_back();
    app_.add_option(flag, lists_.back(), help)->type_name("LIST")->expected(1, 1 << 20);
    return lists_.back();
  }
  std::string& one(const std::string& flag, const std::string& help, const char* type) {
    singles_.emplace_back();
    app_.add_option(flag, singles_.back(), help)->type_name(type);
    return singles_.back();
  }

  CLI::App& app_;
  nlohmann::json& given_;
  std::deque<std::vector<std::string>> lists_;
  std::deque<std::string> singles_;
  std::vector<std::function<void()>> finishers_;
};

}  // namespace

namespace {

// One parse of the command line: the options as they are filled in, the raw text of the
// run-wide options checked once the whole line is parsed, and the backends the workloads offer.
struct CommandLine {
  Options o;
  std::vector<std::string> threads_raw, backends_raw;
  std::string cpus_raw, reps_raw, min_time_raw, precision_raw, budget_raw, seed_raw, limits_raw,
      rank_timeout_raw, scaling_raw = "strong";
  std::vector<std::string> faults_raw, slowdowns_raw, slow_cpus_raw;
  bool no_contention = false;
  std::vector<Backend> known_backends;
  std::string backend_names;

  void find_backends(const std::vector<Workload*>& workloads) {
    for (Backend b : exec::every_backend()) {
      for (const Workload* w : workloads) {
        const auto wb = w->backends();
        if (std::find(wb.begin(), wb.end(), b) != wb.end() &&
            std::find(known_backends.begin(), known_backends.end(), b) == known_backends.end()) {
          known_backends.push_back(b);
        }
      }
    }
    for (Backend b : known_backends) {
      backend_names += (backend_names.empty() ? "" : ", ") + std::string(exec::to_string(b));
    }
  }

  void add_run_options(CLI::App& app) {
    app.add_flag("--quick", o.quick, "Run every workload of this program small and fast (smaller sizes, a 40 s budget)");
    app.add_flag("--list", o.list_only, "Print the names of the benchmarks that would run, and exit");
    app.add_option("--filter", o.filter,
                   "Run only benchmarks whose name matches this regular expression (names look "
                   "like WORKLOAD/PARAMS/mode:parallel/backend:tbb/threads:2); the serial "
                   "baselines their speedups need run too")
        ->type_name("REGEX");
    app.add_option("--threads", threads_raw,
                   "Thread counts for the concurrent and parallel sweeps, e.g. 1,2,4 "
                   "(default: concurrent 2, 4 ... up to 2 x cores; parallel 1, 2, 4 ... up to the "
                   "cores, the cores, all logical CPUs where SMT exists, 2 x logical CPUs)")
        ->type_name("LIST")
        ->expected(1, 1 << 20);
    app.add_option("--repetitions", reps_raw,
                   "Undisturbed blocks (repetitions) of every benchmark, at least (default 6)")
        ->type_name("N");
    app.add_option("--min-time", min_time_raw,
                   "Timed seconds of one block of executions (default 0.1, quick 0.05)")
        ->type_name("SECONDS");
    app.add_option("--precision", precision_raw,
                   "Keep sampling each benchmark until the 95% CI half-width of its speedup is at "
                   "most this share of it, e.g. 0.02 or 2% (default 2%, quick 5%; 0: exactly "
                   "--repetitions blocks)")
        ->type_name("P");
    app.add_option("--budget", budget_raw,
                   "Seconds for the whole run from its start, shared among the benchmarks "
                   "(default 480, quick 40); it bounds the --repetitions blocks too: a benchmark "
                   "that cannot get them in its share (a busy machine) reports what it got and why")
        ->type_name("SECONDS");
    app.add_option("--rank-timeout", rank_timeout_raw,
                   "Distributed runs (mpirun -np R): seconds any rank waits for the others before "
                   "the run ends, naming the rank that waited (default 300)")
        ->type_name("SECONDS");
    app.add_option("--seed", seed_raw,
                   "Seed of the order of the blocks in each round (default 1: two runs with the "
                   "same seed measure in the same order)")
        ->type_name("N");
    app.add_flag("--trace", o.trace,
                 "Record one more execution of every benchmark, after its timed blocks and not "
                 "timed, task by task and request by request: trace.json in the run folder (open it "
                 "in Perfetto's UI or chrome://tracing; cvp timeline draws it)");
    app.add_flag("--no-contention", no_contention,
                 "Do not measure contention: by default, for each parallel team of a computing "
                 "workload that falls 3% short of its CPUs' speeds, copies of its serial point run "
                 "at once on the team's CPUs after its group's minimum of blocks (about a second each), to tell what "
                 "the CPUs' shared caches, memory and power cost from what the team's "
                 "synchronisation costs");
    app.add_flag("--verbose", o.verbose,
                 "Under \"why not more\", give every row below its bound a line of its own (by "
                 "default the rows are grouped by cause and those not identified counted)");
    app.add_option("--scaling", scaling_raw,
                   "Strong scaling (the default: every point solves the same problem), weak (the "
                   "parallel and distributed points' problems grow with their workers P: matmul's n "
                   "x P^(1/3), a task workload's first parameter x P, a request workload's requests in "
                   "flight and requests per run x its cores P; the speedup per unit of work is the "
                   "scaled speedup) or both")
        ->type_name("MODE")
        ->check(CLI::IsMember({"strong", "weak", "both"}));
    limits_raw = to_string(o.limits);
    app.add_option("--limits", limits_raw,
                   "The machine's own limits (peak FLOP/s, memory bandwidth, wake-up latency, "
                   "context switch), measured in a couple of seconds at the start: cached (measured "
                   "once per machine and kept, the default), measure (measure again, and keep), off")
        ->type_name("MODE")
        ->check(CLI::IsMember({"cached", "measure", "off"}));
    app.add_option("--out", o.out,
                   "Folder for this run's files (must not already hold results); default: a new "
                   "folder cvpbench-runs/HOST-DATE")
        ->type_name("DIR");
    app.add_option("--cpus", cpus_raw,
                   "Use only these CPUs, e.g. 0-3,8 (must be allowed to this process; default: all "
                   "allowed CPUs)")
        ->type_name("LIST");
    app.add_option("--backend", backends_raw, "Backends to run, of " + backend_names + "; default: all")
        ->type_name("LIST")
        ->expected(1, 16);
  }

  void add_plant_options(CLI::App& app) {
    app.add_option("--inject-fault", faults_raw,
                   "For testing the program's own error handling only: plant a wrong result "
                   "(wrong:REGEX) or an exception (throw:REGEX) in the benchmarks whose name "
                   "matches REGEX; they are reported as failed and the exit code is 1")
        ->type_name("KIND:REGEX")
        ->expected(1, 64);
    app.add_option("--inject-slowdown", slowdowns_raw,
                   "For measuring what a comparison can detect: lengthen every timed execution of "
                   "the benchmarks whose name matches REGEX by PCT percent of its own time (busy "
                   "work in the timed region), e.g. 5:^matmul/n:512/mode:serial/")
        ->type_name("PCT:REGEX")
        ->expected(1, 64);
    app.add_option("--inject-slow-cpu", slow_cpus_raw,
                   "For testing the machine model on a machine whose cores are alike: make CPU "
                   "slower, every timed piece of work on it (a task, a request's CPU part, the "
                   "capacity measurement) lengthened by PCT percent of its own time, e.g. 1:100 "
                   "(CPU 1 at half speed); a comma-separated list or repeated")
        ->type_name("CPU:PCT")
        ->expected(1, 64);
  }

  // --inject-slow-cpu: each CPU one of those the run may use (after --cpus), once, with a
  // percentage in (0, 1000].
  void apply_slow_cpus(const exec::Topology& topology) {
    const std::vector<int>& allowed = o.cpus.empty() ? topology.allowed : o.cpus;
    for (const auto& item : split_list("--inject-slow-cpu", slow_cpus_raw)) {
      const auto colon = item.find(':');
      long long cpu = -1;
      double pct = -1;
      try {
        if (colon != std::string::npos) {
          cpu = parse_integer("--inject-slow-cpu", item.substr(0, colon));
          pct = parse_real("--inject-slow-cpu", item.substr(colon + 1));
        }
      } catch (const UsageError&) {
        cpu = -1;
      }
      if (cpu < 0 || !(pct > 0 && pct <= 1000)) {
        throw UsageError("--inject-slow-cpu " + item +
                         ": give CPU:PCT with CPU a CPU number and PCT a percentage above 0 and "
                         "at most 1000, e.g. 1:100.");
      }
      if (!std::binary_search(allowed.begin(), allowed.end(), static_cast<int>(cpu))) {
        throw UsageError("--inject-slow-cpu " + item + ": CPU " + std::to_string(cpu) +
                         " is not one this run may use (" + exec::format_cpu_list(allowed) + ").");
      }
      for (const exec::SlowCpu& s : o.slow_cpus) {
        if (s.cpu == cpu) {
          throw UsageError("--inject-slow-cpu " + item + ": CPU " + std::to_string(cpu) +
                           " is given more than once.");
        }
      }
      o.slow_cpus.push_back({static_cast<int>(cpu), pct});
    }
    std::sort(o.slow_cpus.begin(), o.slow_cpus.end(),
              [](const exec::SlowCpu& a, const exec::SlowCpu& b) { return a.cpu < b.cpu; });
  }

  void apply_numbers() {
    o.contention = !no_contention;
    if (o.quick) {
      o.min_time_s = 0.05;
      o.precision = 0.05;
      o.budget_s = 40;
    }
    if (!precision_raw.empty()) {
      std::string text = precision_raw;
      double scale = 1;
      if (text.back() == '%') {
        text.pop_back();
        scale = 0.01;
      }
      const double v = text.empty() ? -1 : parse_real("--precision", text) * scale;
      if (!(v >= 0 && v < 1)) {
        throw UsageError("--precision " + precision_raw +
                         ": give a share of the speedup from 0 (off) to below 1, e.g. 0.02 or 2%.");
      }
      o.precision = v;
    }
    if (!budget_raw.empty()) {
      const double t = parse_real("--budget", budget_raw);
      if (!(t > 0 && t <= 7 * 24 * 3600)) {
        throw UsageError("--budget " + budget_raw + ": must be > 0 and at most a week of seconds.");
      }
      o.budget_s = t;
    }
    if (!rank_timeout_raw.empty()) {
      const double t = parse_real("--rank-timeout", rank_timeout_raw);
      if (!(t >= 1 && t <= 7 * 24 * 3600)) {
        throw UsageError("--rank-timeout " + rank_timeout_raw +
                         ": must be at least 1 and at most a week of seconds.");
      }
      o.rank_timeout_s = t;
    }
    if (!seed_raw.empty()) {
      const long long v = parse_integer("--seed", seed_raw);
      if (v < 0) throw UsageError("--seed " + seed_raw + ": must be 0 or more.");
      o.seed = v;
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
  }

  void apply_cpus(const exec::Topology& topology) {
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
        throw UsageError("--cpus " + cpus_raw + ": CPU " + exec::format_cpu_list(not_allowed) +
                         " is not allowed to this process (allowed: " + exec::format_cpu_list(topology.allowed) +
                         ").");
      }
      o.cpus = *cpus;
    }
  }

  void apply_threads_and_backends() {
    for (const auto& t : split_list("--threads", threads_raw)) {
      const long long v = parse_integer("--threads", t);
      if (v < 1) throw UsageError("--threads " + t + ": a thread count must be at least 1.");
      if (v > kMaxThreads) {
        throw UsageError("--threads " + t + ": at most " + std::to_string(kMaxThreads) +
                         " threads are supported.");
      }
      o.threads.push_back(static_cast<int>(v));
    }
    keep_first(o.threads);

    for (const auto& b : split_list("--backend", backends_raw)) {
      const auto backend = exec::parse_backend(b);
      if (!backend || std::find(known_backends.begin(), known_backends.end(), *backend) ==
                          known_backends.end()) {
        throw UsageError("--backend " + b + ": unknown backend (choose from " + backend_names + ").");
      }
      o.backends.push_back(*backend);
    }
  }

  void apply_plants() {
    for (const auto& f : faults_raw) {
      const auto colon = f.find(':');
      const auto kind = exec::value_named<FaultKind>(f.substr(0, colon), kFaultKindNames);
      if (colon == std::string::npos || !kind) {
        throw UsageError("--inject-fault " + f + ": give wrong:REGEX or throw:REGEX.");
      }
      const std::string pattern = f.substr(colon + 1);
      if (pattern.empty()) {
        throw UsageError("--inject-fault " + f + ": the regular expression after the colon is empty.");
      }
      const Pattern check("--inject-fault", pattern);
      o.faults.push_back({*kind, pattern});
    }

    for (const auto& f : slowdowns_raw) {
      const auto colon = f.find(':');
      const std::string pct = f.substr(0, colon);
      double v = -1;
      if (colon != std::string::npos && !pct.empty()) {
        try {
          v = parse_real("--inject-slowdown", pct);
        } catch (const UsageError&) {
          v = -1;
        }
      }
      if (!(v > 0 && v <= 1000)) {
        throw UsageError("--inject-slowdown " + f +
                         ": give PCT:REGEX with PCT a percentage above 0 and at most 1000, e.g. "
                         "5:^matmul/.");
      }
      const std::string pattern = f.substr(colon + 1);
      if (pattern.empty()) {
        throw UsageError("--inject-slowdown " + f + ": the regular expression after the colon is empty.");
      }
      const Pattern check("--inject-slowdown", pattern);
      o.slowdowns.push_back({v / 100.0, pattern});
    }

    if (!o.filter.empty()) {
      const Pattern check("--filter", o.filter);
    }
  }
};

std::string workload_names_of(const std::vector<Workload*>& workloads) {
  std::string workload_names;
  for (const Workload* w : workloads) {
    workload_names += (workload_names.empty() ? "" : ", ") + w->name();
  }

  return workload_names;
}

// Parses; false when the line asked for the help or the version, whose text is then in `result`.
bool parse_or_answer(CLI::App& app, int argc, const char* const* argv, ParsedCommandLine& result) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.text = app.help();
    return false;
  } catch (const CLI::CallForVersion&) {
    result.text = std::string("cvpbench ") + CVP_VERSION + "\n";
    return false;
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 words a repeated option as a count of values ("At Most 1 required but received
    // 2"): say which option came twice, in our words.
    std::string what = e.what();
    const std::string name = what.substr(0, what.find(':'));
    int given = 0;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      given += arg == name || arg.rfind(name + "=", 0) == 0 ? 1 : 0;
    }
    if (name.rfind("--", 0) == 0 && given > 1) {
      throw UsageError(name + " was given " + std::to_string(given) +
                       " times: give it once (which one was meant is not for cvpbench to guess).");
    }
    if (!what.empty() && what.back() != '.') what += '.';
    throw UsageError(what);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (!what.empty() && what.back() != '.') what += '.';
    throw UsageError(what);
  }
  return true;
}

void refuse_empty_values(const CLI::App& app) {
  // An option given with an empty value ('--repetitions ""') is a mistake, not "use the
  // default": refuse it for every option that takes a value.
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || option->get_items_expected_min() == 0) continue;
    for (const auto& value : option->results()) {
      if (value.empty()) throw UsageError(option->get_name() + ": the value is empty.");
    }
  }
}

}  // namespace

ParsedCommandLine parse_command_line(int argc, const char* const* argv,
                                     const exec::Topology& topology,
                                     const std::vector<Workload*>& workloads) {
  CommandLine line;
  Options& o = line.o;
  line.find_backends(workloads);
  const std::string workload_names = workload_names_of(workloads);

  const std::string program = argc > 0 && argv[0] ? std::filesystem::path(argv[0]).filename().string()
                                                  : std::string("cvpbench");
  CLI::App app{std::string(kDescription) + "\nWorkloads: " + workload_names + ".", program};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", std::string("cvpbench ") + CVP_VERSION);
  line.add_run_options(app);
  CliFlags flags(app, o.workload_options);
  for (Workload* w : workloads) {
    try {
      w->add_options(flags);
    } catch (const CLI::ConstructionError& e) {
      throw std::invalid_argument("workload " + w->name() + ": cannot add its options: " + e.what());
    }
  }
  line.add_plant_options(app);

  ParsedCommandLine result;
  if (!parse_or_answer(app, argc, argv, result)) return result;
  refuse_empty_values(app);
  line.apply_numbers();
  line.apply_cpus(topology);
  line.apply_slow_cpus(topology);
  line.apply_threads_and_backends();
  flags.finish();
  o.limits = exec::value_named<Limits>(line.limits_raw, kLimitsNames).value_or(Limits::cached);
  o.scaling = exec::value_named<Scaling>(line.scaling_raw, kScalingNames).value_or(Scaling::strong);
  line.apply_plants();
  result.options = o;
  return result;
}

}  // namespace cvp::bench

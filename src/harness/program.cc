// The program: command line, plan, measurement, reports and files, for any set of workloads
// (cvp::run_program of include/cvp/cvpbench.h). The cvpbench program is this with the built-in
// workloads.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <exception>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <vector>

#include "cvp/cvpbench.h"
#include "cvp/measure.h"
#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "cvp/exec/topology.h"
#include "cvp/isa.h"
#include "host/disturbance.h"
#include "harness/distributed.h"
#include "harness/interrupt.h"
#include "cvp/dist.h"
#include "dist/network.h"
#include "dist/runtime.h"
#include "host/resources.h"
#include "host/machine.h"
#include "host/machine_limits.h"
#include "host/cpu_model.h"
#include "exec/slow_cpu.h"
#include "host/meters.h"
#include "host/noise.h"
#include "host/openmp.h"
#include "cli/options.h"
#include "report/output.h"
#include "harness/pattern.h"
#include "harness/plan.h"
#include "harness/session.h"
#include "report/strict_json_reporter.h"
#include "report/summary.h"
#include "report/timeline.h"
#include "report/diagnosis.h"
#include "util/text.h"

namespace {

using namespace cvp;

// What the steps of one run share: what was asked, where it runs, the run folder's files, the
// machine's limits and how quiet it was before the run.
struct RunState {
  const std::vector<Workload*>& workloads;
  const bench::Options& options;
  // Where it runs: ranked fastest first by the machine model once the limits are known.
  exec::Topology& topology;
  std::chrono::steady_clock::time_point program_started;
  std::string folder{};
  std::string raw_staged{};
  std::string raw_for_writer{};
  std::optional<bench::MachineLimits> limits{};
  bench::MachineModel model{};  // each allowed CPU's kind and speed; the home CPU and why
  std::string limits_note{};  // what the check of the limits against this run found
  bench::NoiseSnapshot noise_before{};
  std::optional<double> busy_before{};
  std::shared_ptr<bench::BlockMeters> meters{};  // counters and energy per block
  dist::NetworkLimits network{};  // between the ranks of a distributed run
  // Google Benchmark keeps a pointer to the program's name until the raw file is written.
  std::vector<std::string> gb_args{};
};

// Each rank's share of its host's CPUs (rank 0's record of a distributed run).
std::vector<std::string> g_rank_cpus;

// Blocks set aside during the run, by why: a stop of the process, or another disturbance.
struct SetAside {
  std::size_t stopped_samples = 0;
  std::size_t disturbed_samples = 0;
};

int list_points(const std::vector<Point>& points) {
  for (const auto& p : points) std::cout << p.name() << "\n";
  std::cout.flush();
  if (!std::cout) throw std::runtime_error("cannot write the list to standard output");
  return 0;
}

void refuse_plants_that_match_nothing(const std::vector<Point>& points, const bench::Options& options) {
  // A planted fault or slowdown that reaches no benchmark would test nothing.
  const auto must_match = [&](const std::string& flag, const std::string& what,
                              const std::string& regex) {
    const bench::Pattern pattern(flag, regex);
    if (std::none_of(points.begin(), points.end(),
                     [&](const Point& p) { return pattern.found_in(p.name()); })) {
      throw bench::UsageError(flag + " " + what +
                              ": matches no benchmark that will run (see --list for the names).");
    }
  };
  for (const auto& f : options.faults) must_match("--inject-fault", std::string(to_string(f.kind)) + ":" + f.pattern, f.pattern);
  for (const auto& s : options.slowdowns) must_match("--inject-slowdown", s.pattern, s.pattern);
}

void prepare_run_folder(RunState& state, bench::RunFolder& run_folder) {
  state.folder = run_folder.path();
  const std::string& folder = state.folder;
  state.raw_staged = run_folder.staged_path("benchmark.json");
  const std::string& raw_staged = state.raw_staged;
  // Google Benchmark opens its output by name: give it a name that can only reach the file
  // this run created.
  state.raw_for_writer = run_folder.create_for_writer("benchmark.json");
  // A second Ctrl-C removes the staged files, and the folder if this run made it.
  bench::remove_on_second_interrupt(
      {raw_staged, run_folder.staged_path("summary.json"), run_folder.staged_path("trace.json")},
      {run_folder.staging_path(), run_folder.created_folder() ? folder : std::string()});
}

void print_limits(const bench::MachineLimits& limits) {
  std::fprintf(stderr,
               "machine limits (%s): %.1f GFLOP/s on one core, %.1f on %d; %.1f GB/s on one core, "
               "%.1f on all; wake-up %.0f us (timer), %.0f us (futex); context switch %.1f us\n",
               limits.cached ? "cached, --limits measure to measure again" : "measured",
               limits.flops_one_core / 1e9, limits.flops_all_cores / 1e9, limits.cores,
               limits.bandwidth_one_core / 1e9, limits.bandwidth_all_cores / 1e9,
               limits.timer_wakeup_us.median, limits.futex_wakeup_us.median,
               limits.context_switch_us);
}

void measure_limits(RunState& state) {
  const bench::Options& options = state.options;
  const exec::Topology& topology = state.topology;
  std::optional<bench::MachineLimits>& limits = state.limits;
  // The machine's own limits, against which the diagnosis reads each row (cached per machine).
  if (options.limits != bench::Limits::off) {
    std::string note;
    if (!options.slow_cpus.empty()) {
      // A slowed CPU is not this machine as it is: measured for this run only, never cached.
      limits = bench::measure_limits(topology);
      note = "--inject-slow-cpu: the machine limits and CPU speeds were measured for this run "
             "and not cached.";
    } else {
      limits = bench::machine_limits(topology, options.limits == bench::Limits::measure, &note);
    }
    if (!note.empty()) std::fprintf(stderr, "note: %s\n", bench::printable(note).c_str());
    print_limits(*limits);
  }
  // The model of each CPU, and the topology ranked by it: the home CPU first, then the fastest
  // cores, which the plan's placements use.
  state.model = bench::build_model(topology, limits ? &limits->cpu_speeds : nullptr,
                                   bench::read_sysfs_capacity(topology.allowed));
  state.model.cached = limits && limits->cached;
  state.topology = bench::rank_topology(topology, state.model);
  if (dist::ranks() > 1 && options.limits != bench::Limits::off) {
    dist::post({dist::Op::network, {}});
    state.network = dist::measure_network();
    const dist::NetworkLimits& n = state.network;
    std::fprintf(stderr, "network (%s, %s): %.2f us one way, %.2f GB/s, allreduce over %d ranks %.2f us\n",
                 bench::printable(n.between).c_str(), bench::printable(n.transport).c_str(),
                 n.latency_us, n.bandwidth_bytes_s / 1e9, n.ranks, n.allreduce_us);
  }
}

void take_quiet_before(RunState& state) {
  // A short quiet wait shows whether others are using our CPUs right now (load averages would
  // also count an earlier run of ours).
  const bench::NoiseSnapshot settle = bench::take_noise_snapshot();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  state.noise_before = bench::take_noise_snapshot();
  state.busy_before = bench::busy_cpus(settle, state.noise_before, state.topology.allowed);
}

// The home CPU and why, the kinds of core, and each CPU's measured capacity (up to 16 CPUs).
void announce_model(const RunState& state) {
  const bench::MachineModel& model = state.model;
  std::fprintf(stderr, "home CPU: %s\n", bench::printable(model.home_reason).c_str());
  for (const exec::CpuKind& kind : state.topology.kinds) {
    std::fprintf(stderr, "kind %s: CPUs %s%s\n", kind.name.c_str(),
                 exec::format_cpu_list(kind.cpus).c_str(),
                 kind.frequency_max_mhz > 0
                     ? (", up to " + cvp::fixed(kind.frequency_max_mhz, 0) + " MHz").c_str() : "");
  }
  if (!model.measured || model.cpus.size() > 16) return;
  std::string line;
  for (const bench::CpuInfo& c : model.cpus) {
    line += (line.empty() ? "" : ", ") + std::string("CPU ") + std::to_string(c.cpu) + " " +
            cvp::fixed(c.capacity_alone, 2) + " (" + cvp::fixed(c.capacity_all_busy, 2) +
            " all busy, " + cvp::fixed(c.ghz_alone, 2) + " GHz)";
  }
  std::fprintf(stderr, "capacity against the home CPU alone%s: %s\n",
               model.cached ? " (cached)" : "", line.c_str());
  if (!model.speeds_note.empty()) {
    std::fprintf(stderr, "note: %s\n", bench::printable(model.speeds_note).c_str());
  }
}

// Each workload's kernel path on this CPU (Workload::kernel), by workload name.
nlohmann::json kernels_of(const std::vector<Workload*>& workloads) {
  nlohmann::json kernels = nlohmann::json::object();
  for (const Workload* w : workloads) {
    if (const std::optional<std::string> path = w->kernel()) kernels[w->name()] = *path;
  }
  return kernels;
}

// "kernels: matmul avx2-fma, triad avx2 (...)", or nothing when no workload names its kernel.
void announce_kernels(const std::vector<Workload*>& workloads) {
  std::string line;
  const nlohmann::json kernels = kernels_of(workloads);
  for (const auto& [name, path] : kernels.items()) {
    line += (line.empty() ? "" : ", ") + name + " " + path.get<std::string>();
  }
  if (line.empty()) return;
  const char* forced = std::getenv(cvp::kKernelEnv);
  const std::string why = forced != nullptr && *forced != '\0'
                              ? std::string("forced by ") + cvp::kKernelEnv + "=" + forced
                              : std::string("the widest this CPU supports; ") + cvp::kKernelEnv +
                                    "=generic|avx2|avx512 forces one";
  std::fprintf(stderr, "kernels: %s (%s)\n", bench::printable(line).c_str(),
               bench::printable(why).c_str());
}

// The ranks of a distributed run: how many, on which hosts, with which MPI; or why there are
// none beside this one.
void announce_ranks(const exec::Topology& topology) {
  if (dist::ranks() < 2) return;
  const dist::Layout& l = dist::layout();
  std::map<std::string, int> per_host;
  for (const std::string& h : l.hosts) ++per_host[h];
  std::string hosts;
  for (const auto& [h, n] : per_host) hosts += (hosts.empty() ? "" : ", ") + h + " x" + std::to_string(n);
  std::fprintf(stderr,
               "distributed: %d ranks on %zu host%s (%s), %s; each rank's team on its share of its "
               "host's allowed cores (rank 0: CPUs %s of %s)\n",
               dist::ranks(), per_host.size(), per_host.size() == 1 ? "" : "s",
               bench::printable(hosts).c_str(), bench::printable(l.library).c_str(),
               exec::format_cpu_list(dist::share_of_host(topology, l.local_rank, l.local_size)).c_str(),
               exec::format_cpu_list(topology.allowed).c_str());
  if (l.local_size > 1 && topology.allowed_logical() < l.local_size) {
    std::fprintf(stderr,
                 "warning: this rank may use %d CPU%s for %d ranks on its host: the launcher bound "
                 "each rank to its own CPUs, so serial, concurrent and parallel points have only "
                 "those (mpirun --bind-to none lets rank 0 use the host)\n",
                 topology.allowed_logical(), topology.allowed_logical() == 1 ? "" : "s", l.local_size);
  }
}

void announce(const RunState& state, std::size_t point_count) {
  const bench::Options& options = state.options;
  const exec::Topology& topology = state.topology;
  std::fprintf(stderr, "cvpbench %s: %zu benchmarks x %d or more blocks on %s\n", CVP_VERSION,
               point_count, options.repetitions, topology.cpu_model.c_str());
  if (options.precision > 0) {
    std::fprintf(stderr, "sampling each speedup to +-%.1f%% (95%% CI) within %.0f s\n",
                 100 * options.precision, options.budget_s);
  }
  if (!options.slowdowns.empty()) {
    std::fprintf(stderr, "slowdowns are injected on purpose (--inject-slowdown)\n");
  }
  if (!options.slow_cpus.empty()) {
    std::fprintf(stderr, "CPUs are slowed on purpose (--inject-slow-cpu)\n");
  }
  std::fprintf(stderr, "allowed CPUs %s: %d core%s, %d logical%s; serial and concurrent run on CPU %d\n",
               exec::format_cpu_list(topology.allowed).c_str(), topology.allowed_cores(),
               topology.allowed_cores() == 1 ? "" : "s", topology.allowed_logical(),
               topology.smt ? " (SMT)" : "", topology.home_cpu());
  announce_model(state);
  announce_ranks(topology);
  if (topology.allowed_cores() == 1) {
    std::fprintf(stderr, "only 1 core is allowed: parallel mode has 1 core and equals serial\n");
  }
  if (!exec::affinity_supported()) {
    std::fprintf(stderr, "this build cannot pin threads: every result is labelled pinned: false\n");
  }
  if (const auto quota = bench::cgroup_cpu_quota();
      quota && *quota < static_cast<double>(topology.allowed_logical())) {
    std::fprintf(stderr,
                 "warning: the cgroup CPU quota allows %.2f CPUs of the %d allowed: parallel "
                 "numbers are throttled\n",
                 *quota, topology.allowed_logical());
  }
  if (const auto policy = bench::invalid_omp_wait_policy()) {
    std::fprintf(stderr,
                 "warning: OMP_WAIT_POLICY=%s is not a valid policy (ACTIVE or PASSIVE): the "
                 "OpenMP runtime ignores it and uses its default, which spins\n",
                 policy->c_str());
  }
  if (!options.faults.empty()) {
    std::fprintf(stderr, "faults are injected on purpose (--inject-fault): the run will fail\n");
  }
  announce_kernels(state.workloads);
}

// The counters and energy read per block, opened before any team exists so that every team's
// threads are counted (host/counters.h); what cannot be read is said here, once.
void open_meters(RunState& state) {
  state.meters = bench::BlockMeters::open_for_this_process();
  for (const auto& line : state.meters->header_lines()) {
    std::fprintf(stderr, "%s\n", bench::printable(line).c_str());
  }
}

void set_up_workloads(const RunState& state, const std::vector<Point>& points) {
  const exec::Topology& topology = state.topology;
  // Each workload's one-time set-up (calibration), on the CPU its serial points use.
  for (Workload* w : state.workloads) {
    if (std::none_of(points.begin(), points.end(),
                     [&](const Point& p) { return p.workload == w->name(); })) {
      continue;
    }
    const exec::ScopedAffinityRestore restore;
    exec::pin_to_cpu(topology.home_cpu());
    w->set_up();
  }
}

void start_raw_file(RunState& state, char* program_name) {
  const std::vector<Workload*>& workloads = state.workloads;
  const exec::Topology& topology = state.topology;
  // Google Benchmark's context block and reporter write the raw file; the sampling is ours.
  std::vector<std::string>& gb_args = state.gb_args;
  gb_args = {program_name};
  std::vector<char*> gb_argv;
  for (auto& a : gb_args) gb_argv.push_back(a.data());
  int gb_argc = static_cast<int>(gb_argv.size());
  benchmark::Initialize(&gb_argc, gb_argv.data());
  benchmark::AddCustomContext("cvpbench_version", CVP_VERSION);
  benchmark::AddCustomContext("cvpbench_git_commit", bench::git_commit());
  benchmark::AddCustomContext("cvpbench_allowed_cpus", exec::format_cpu_list(topology.allowed));
  benchmark::AddCustomContext("cvpbench_flags", CVP_BUILD_FLAGS);
  // Which kind and unit of work each workload's rows are, for readers of the raw file alone.
  std::string kinds, units;
  for (const Workload* w : workloads) {
    kinds += (kinds.empty() ? "" : ",") + w->name() + ":" + std::string(to_string(w->kind()));
    units += (units.empty() ? "" : ",") + w->name() + ":" + w->unit().name;
  }
  benchmark::AddCustomContext("cvpbench_workload_kinds", kinds);
  benchmark::AddCustomContext("cvpbench_work_units", units);
}

bench::Sampling sampling_for(const RunState& state) {
  const bench::Options& options = state.options;
  const std::optional<bench::MachineLimits>& limits = state.limits;
  bench::Sampling sampling;
  sampling.min_rounds = options.repetitions;
  sampling.precision = options.precision;
  sampling.budget_s = options.budget_s;
  sampling.started = state.program_started;
  if (limits) {
    sampling.flops_per_s = limits->flops_one_core;
    sampling.bytes_per_s = limits->bandwidth_one_core;
  }
  sampling.block_s = options.min_time_s;
  sampling.seed = static_cast<std::uint64_t>(options.seed);
  sampling.max_rounds = std::max(options.precision > 0 ? 1000 : 0, 3 * options.repetitions + 10);
  sampling.trace = options.trace;
  sampling.clock_probe = options.clock_probe;
  sampling.contention_rounds = !options.contention ? 0 : options.quick ? 3 : 5;
  sampling.clock_noise = state.model.probe_noise;
  sampling.meters = state.meters;
  return sampling;
}

void write_raw_file(const RunState& state, const bench::Session& session) {
  const std::string& raw_for_writer = state.raw_for_writer;
  const std::string& raw_staged = state.raw_staged;
  {
    std::ofstream raw_out(raw_for_writer, std::ios::out | std::ios::trunc);
    bench::StrictJsonReporter file_reporter;
    file_reporter.SetOutputStream(&raw_out);
    file_reporter.SetErrorStream(&std::cerr);
    file_reporter.ReportContext(benchmark::BenchmarkReporter::Context());
    file_reporter.ReportRuns(session.raw_runs());
    file_reporter.Finalize();
    raw_out.flush();
  }
  benchmark::Shutdown();
  // A stream's failures are not reported by the reporter: a full disk or a file-size limit
  // would leave a torn file. Check it is whole before anything is published.
  const auto raw = bench::read_file_nofollow(raw_staged);
  if (!raw || !nlohmann::json::accept(*raw)) {
    throw std::runtime_error(
        "the raw results (benchmark.json) could not be written whole (is the disk full, or a "
        "file-size limit set?); nothing was published");
  }
}

// Counts the blocks set aside, and marks a point that has none left as unmeasured.
SetAside count_set_aside(bench::Session& session) {
  std::size_t stopped_samples = 0, disturbed_samples = 0;
  for (auto& m : session.measurements()) {
    for (const auto& s : m.excluded) {
      stopped_samples += s.stopped ? 1 : 0;
      disturbed_samples += s.stopped ? 0 : 1;
    }
    if (m.samples.empty() && !m.excluded.empty() && m.error.empty()) {
      // Each cause as it was measured, with its count: a stop, steal, a clock, other work.
      std::map<std::string, int> set_aside;
      for (const auto& s : m.excluded) ++set_aside[bench::disturbance_kind(s)];
      std::string causes;
      for (const auto& [kind, count] : set_aside) {
        causes += (causes.empty() ? "" : "; ") + kind + " (" + std::to_string(count) + ")";
      }
      m.unmeasured = true;
      m.error = "no undisturbed block: all " + std::to_string(m.excluded.size()) +
                " block(s) it ran were set aside (" + causes +
                "); run it again on a quieter machine, or with a larger --budget";
    }
  }
  return {stopped_samples, disturbed_samples};
}

void check_limits(RunState& state, const std::vector<bench::ResultRow>& rows) {
  const exec::Topology& topology = state.topology;
  std::optional<bench::MachineLimits>& limits = state.limits;
  std::string& limits_note = state.limits_note;
  // Check what was read: a kernel faster than the machine's limits means they are wrong. A
  // cache is measured again (and rewritten); limits measured by this run are left out of the
  // diagnosis rather than trusted.
  if (limits) {
    std::vector<bench::RateSeen> seen;
    for (const auto& r : rows) {
      if (!r.ok || r.median_s <= 0) continue;
      const Point& p = *r.point;
      seen.push_back({p.name(), p.flop / r.median_s, p.bytes / r.median_s,
                      p.mode == exec::Mode::parallel ? std::max(1, std::min(p.threads, p.cores)) : 1});
    }
    if (const auto wrong = bench::contradicted_by(*limits, seen)) {
      if (limits->cached) {
        std::string note;
        limits = bench::machine_limits(topology, true, &note);
        std::fprintf(stderr,
                     "note: the cached machine limits cannot be right (%s): measured them again: "
                     "%.1f GFLOP/s on one core, %.1f on %d; %.1f GB/s on one core, %.1f on all\n",
                     bench::printable(*wrong).c_str(), limits->flops_one_core / 1e9,
                     limits->flops_all_cores / 1e9, limits->cores, limits->bandwidth_one_core / 1e9,
                     limits->bandwidth_all_cores / 1e9);
        limits_note = "the cached limits were wrong (" + *wrong + ") and were measured again";
      }
      if (const auto still = bench::contradicted_by(*limits, seen)) {
        std::fprintf(stderr, "note: the machine limits are below what this run reached (%s): the "
                             "diagnosis does not use them\n", bench::printable(*still).c_str());
        limits_note = "the limits were below what this run reached (" + *still + "): not used";
        limits.reset();
      }
    }
  }
}

void diagnose(const RunState& state, std::vector<bench::ResultRow>& rows,
              const bench::DisturbanceReading& signals, const bench::NoiseReport& noise) {
  const std::optional<bench::MachineLimits>& limits = state.limits;
  {
    bench::DiagnosisContext context;
    context.run_delay_visible = signals.run_delay_known;
    context.steal_visible = signals.steal_known;
    // The clock probe around each block reads the clock without cpufreq.
    context.frequency_visible = !signals.khz.empty() || state.options.clock_probe;
    context.model = &state.model;
    context.network_latency_us = state.network.latency_us;
    context.network_bandwidth_bytes_s = state.network.bandwidth_bytes_s;
    context.load_visible = signals.busy_known;
    for (std::size_t i = 0; i < noise.busy.size() && i < 3; ++i) {
      if (noise.busy[i].cpu_percent < 5) break;  // sorted: the rest are idle too
      context.busiest += (i == 0 ? "" : ", ") + bench::printable(noise.busy[i].name) + " " +
                         cvp::fixed(noise.busy[i].cpu_percent, 0) + "% of a CPU";
    }
    context.counters_unavailable =
        state.meters ? bench::hardware_unavailable(state.meters->counters()) : "counters were not read";
    if (limits) {
      context.limits_known = true;
      context.flops_one_core = limits->flops_one_core;
      context.flops_all_cores = limits->flops_all_cores;
      context.limit_cores = limits->cores;
      context.bandwidth_one_core = limits->bandwidth_one_core;
      context.bandwidth_all_cores = limits->bandwidth_all_cores;
      context.timer_overshoot_us = limits->timer_wakeup_us.median;
      context.futex_wakeup_us = limits->futex_wakeup_us.median;
      context.context_switch_us = limits->context_switch_us;
    }
    bench::diagnose_rows(rows, context);
  }
}

// The noise the run saw, with what the session saw of the machine added.
bench::NoiseReport noise_seen_in(const bench::NoiseReport& noise, const SetAside& set_aside,
                                 const bench::Session& session) {
  const std::size_t stopped_samples = set_aside.stopped_samples;
  bench::NoiseReport noise_seen = noise;
  if (stopped_samples > 0) {
    noise_seen.noisy = true;
    noise_seen.reasons.push_back(
        "the process was stopped and resumed during " + std::to_string(stopped_samples) +
        " timed block(s); they are excluded from the medians and were measured again "
        "(excluded_samples)");
  }
  if (const std::string busy = session.busy_report(); !busy.empty()) {
    noise_seen.noisy = true;
    noise_seen.reasons.push_back(busy);
  }
  return noise_seen;
}

// What the clock probes around the blocks cost, against the blocks' own time.
nlohmann::json probe_cost_json(const bench::ProbeCost& cost) {
  if (cost.probes == 0) return nullptr;
  return {{"probes", cost.probes},
          {"blocks", cost.blocks},
          {"probed_blocks", cost.probed_blocks},
          {"seconds", cost.probe_s},
          {"share_of_blocks", cost.blocks_s > 0 ? cost.probe_s / cost.blocks_s : 0.0}};
}

// What the rows' bounds read of the machine as measured at the start.
bench::MachineView machine_view(const RunState& state) {
  bench::MachineView view;
  view.model = &state.model;
  if (state.network.measured) {
    view.network_latency_s = state.network.latency_us * 1e-6;
    view.network_bandwidth = state.network.bandwidth_bytes_s;
  }
  if (state.limits) {
    view.bandwidth_one_core = state.limits->bandwidth_one_core;
    view.bandwidth_all_cores = state.limits->bandwidth_all_cores;
    view.bandwidth_by_kind = state.limits->bandwidth_by_kind;
  }
  return view;
}

// Everything the summary says, from the session's measurements and what the run saw.
bench::RunReport build_report(RunState& state, bench::Session& session, std::vector<bench::ResultRow>& rows) {
  const exec::Topology& topology = state.topology;
  const std::optional<bench::MachineLimits>& limits = state.limits;
  const std::string& limits_note = state.limits_note;
  const bool was_interrupted = bench::interrupted();
  const bench::NoiseReport noise =
      bench::assess_noise(state.noise_before, bench::take_noise_snapshot(), topology.allowed,
                          ::sysconf(_SC_CLK_TCK), state.busy_before);
  const SetAside set_aside = count_set_aside(session);
  rows = bench::summarise(session.measurements(), machine_view(state));
  check_limits(state, rows);
  // What this machine lets the per-block disturbance checks, and so the diagnosis, see.
  const bench::DisturbanceReading signals = bench::read_disturbance(topology.allowed);
  diagnose(state, rows, signals, noise);
  const auto lines = bench::verdicts(rows, topology.allowed_cores());
  nlohmann::json machine = bench::machine_context(topology);
  machine["limits"] = limits ? bench::to_json(*limits) : nlohmann::json(nullptr);
  const nlohmann::json cpus = bench::cpus_to_json(state.model);
  for (const auto& [key, value] : cpus.items()) machine[key] = value;
  machine["kernels"] = kernels_of(state.workloads);
  if (dist::ranks() > 1) {
    const dist::Layout& l = dist::layout();
    machine["cluster"] = {{"ranks", dist::ranks()}, {"hosts", l.hosts}, {"library", l.library},
                          {"mpi_standard", l.standard}, {"rank_cpus", g_rank_cpus}};
    if (machine["limits"].is_object()) machine["limits"]["network"] = dist::to_json(state.network);
  }
  if (!limits_note.empty()) machine["limits_note"] = limits_note;
  if (state.meters) {
    machine["counters"] = state.meters->counters_summary();
    machine["energy"] = state.meters->energy_summary();
  }
  bench::RunReport report{.rows = rows, .machine = machine, .verdicts = lines};
  report.interrupted = was_interrupted;
  report.clock_probe = probe_cost_json(session.probe_cost());
  report.disturbance_signals = {
      {"run_delay", signals.run_delay_known},
      {"steal", signals.steal_known},
      {"other_processes", signals.busy_known},
      {"cpu_pressure", signals.pressure_known},
      {"cpu_frequency", !signals.khz.empty()},
      {"process_stop", true}};
  report.noise = noise_seen_in(noise, set_aside, session);
  report.budget_note = session.budget_report();
  // Set aside and measured again: the medians are clean, so the run is not called noisy for it.
  report.disturbed_blocks = set_aside.disturbed_samples;
  report.traced = state.options.trace;
  return report;
}

void publish(bench::RunFolder& run_folder, const nlohmann::json& summary, const bench::Session& session,
             const bench::Options& options) {
  std::vector<std::string> published = {"benchmark.json", "summary.json"};
  if (options.trace) {
    run_folder.stage("trace.json", bench::chrome_trace(session.measurements())
                                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    published.push_back("trace.json");
  }
  run_folder.stage("summary.json",
                   summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  run_folder.publish(published);
}

void print_precision(const std::vector<bench::ResultRow>& rows, const bench::Options& options) {
  if (options.precision > 0) {
    std::size_t speedups = 0, met = 0;
    for (const auto& r : rows) {
      if (!r.ok || r.m->baseline == r.m || r.m->baseline == nullptr) continue;
      ++speedups;
      met += r.m->target_met ? 1 : 0;
    }
    std::cout << "\nprecision: " << met << " of " << speedups << " speedups within +-"
              << cvp::fixed(100 * options.precision, 1) << "% (95% CI)";
    if (met < speedups) std::cout << "; the others say why in their notes (summary: precision.missed)";
    std::cout << "\n";
  }
}

// The table, the verdicts and the notes on standard output; false when it could not be written.
bool print_results(const bench::RunReport& report, const bench::Options& options,
                   const std::string& shown_folder) {
  const std::vector<bench::ResultRow>& rows = report.rows;
  const bench::NoiseReport& noise_seen = *report.noise;
  std::cout << bench::console_table(rows) << "\n";
  for (const auto& line : report.verdicts) std::cout << line << "\n";
  print_precision(rows, options);
  if (!report.budget_note.empty()) std::cout << "note: " << report.budget_note << "\n";
  const std::vector<std::string> why = bench::why_not_more_lines(rows, options.verbose);
  if (!why.empty()) {
    std::cout << "\nwhy not more (rows below their bound beyond their CI, grouped by cause; "
                 "rows within 3% of their attainable bound left out):\n";
    for (const auto& line : why) std::cout << "  " << line << "\n";
  }
  for (const auto& r : rows) {
    if (!r.anomaly.empty()) std::cout << "anomaly: " << r.point->name() << ": " << r.anomaly << "\n";
  }
  if (noise_seen.noisy) {
    std::cout << "\nwarning: the machine was busy during this run, so the numbers may be noisy:\n";
    for (const auto& reason : noise_seen.reasons) std::cout << "  - " << reason << "\n";
  }
  std::cout << "\nresults: " << shown_folder << "/summary.json and " << shown_folder
            << "/benchmark.json\n";
  std::cout.flush();
  if (!std::cout) {
    std::fprintf(stderr, "cvpbench: error: cannot write the table to standard output (%s); the "
                 "results are in %s\n", std::strerror(errno), shown_folder.c_str());
    return false;
  }
  return true;
}

// The points not measured and those that failed, on stderr; the program's exit code.
int report_outcome(const bench::RunReport& report, const nlohmann::json& summary,
                   const std::string& shown_folder) {
  const std::vector<bench::ResultRow>& rows = report.rows;
  const bool was_interrupted = report.interrupted;
  // A point the budget or a busy machine left without one undisturbed block is said, but it is
  // not a failure of the code it measures.
  std::size_t unmeasured = 0;
  for (const auto& r : rows) unmeasured += r.m->unmeasured ? 1 : 0;
  if (unmeasured > 0) {
    std::fprintf(stderr, "cvpbench: %zu benchmark%s not measured (no undisturbed block within the "
                         "budget; each says why in its row):\n", unmeasured, unmeasured == 1 ? "" : "s");
    for (const auto& r : rows) {
      if (r.m->unmeasured) std::fprintf(stderr, "  %s\n", r.point->name().c_str());
    }
  }
  int failed = 0;
  for (const auto& r : rows) failed += r.ok || bench::never_measured(*r.m) || r.m->unmeasured ? 0 : 1;
  if (failed > 0) {
    std::fprintf(stderr, "cvpbench: %d benchmark%s failed:\n", failed, failed == 1 ? "" : "s");
    for (const auto& r : rows) {
      if (!r.ok && !bench::never_measured(*r.m) && !r.m->unmeasured) {
        std::fprintf(stderr, "  %s: %s\n", r.point->name().c_str(),
                     bench::row_error(r).empty() ? "no measurement" : bench::row_error(r).c_str());
      }
    }
  }
  if (was_interrupted) {
    std::fprintf(stderr,
                 "cvpbench: interrupted: the results measured so far are in %s (%zu benchmark%s "
                 "not measured)\n",
                 shown_folder.c_str(), summary["not_measured"].size(),
                 summary["not_measured"].size() == 1 ? "" : "s");
    return bench::kInterruptedExit;
  }
  if (failed > 0) return 1;
  return 0;
}

// One measurement, shared by the program and measure(): the limits and the machine model, the
// plan again on the ranked topology (the same points, placed on the fastest CPUs, whose workers
// split their work to fit the speeds of the cores they are pinned to), the header, the meters,
// the session and the rows. `raw_file`: the program's Google Benchmark file is started before
// the session and written after it (measure() writes none). `finish` gets the report, whose
// rows point into the session, while both live.
template <class Finish>
auto measure_plan(RunState& state, char* raw_file_program_name, Finish&& finish) {
  const bench::Options& options = state.options;
  measure_limits(state);
  std::vector<Point> points = bench::make_plan(state.workloads, options, state.topology);
  bench::assign_speeds(points, state.model);
  take_quiet_before(state);
  announce(state, points.size());
  open_meters(state);
  set_up_workloads(state, points);
  if (raw_file_program_name != nullptr) start_raw_file(state, raw_file_program_name);
  bench::Session session(std::move(points), state.workloads, sampling_for(state), options.faults,
                         options.slowdowns);
  session.run();
  if (raw_file_program_name != nullptr) write_raw_file(state, session);
  std::vector<bench::ResultRow> rows;
  const bench::RunReport report = build_report(state, session, rows);
  return finish(report, session);
}

// Measures the plan's points and publishes and prints what they gave.
int measure_and_report(RunState& state, bench::RunFolder& run_folder, char* program_name) {
  return measure_plan(state, program_name, [&](const bench::RunReport& report, const bench::Session& session) {
    const nlohmann::json summary = bench::summary_json(report, state.options);
    publish(run_folder, summary, session, state.options);
    const std::string shown_folder = bench::printable(state.folder);
    if (!print_results(report, state.options, shown_folder)) return 1;
    return report_outcome(report, summary, shown_folder);
  });
}

// This machine, or the one the hwloc XML file `xml` describes (CVPBENCH_TOPOLOGY_XML: for
// planning another machine with --list, and for tests).
exec::Topology topology_for_run(const char* xml) {
  if (xml == nullptr || *xml == '\0') return exec::detect_topology();
  try {
    return exec::topology_from_xml(xml);
  } catch (const std::runtime_error& e) {
    throw bench::UsageError(std::string("CVPBENCH_TOPOLOGY_XML: ") + e.what() + ".");
  }
}

// What the program and measure() do before anything is measured: refuse what cannot run (the
// OpenMP binding, a kernel path the CPU lacks, which would die on an illegal instruction),
// parse the command line, set the slowed CPUs, and plan on the machine's order (for --list and
// for the plants' check; measure_plan plans again on the ranked topology).
struct Setup {
  bench::ParsedCommandLine parsed;  // without options: text to print (--help, --version)
  exec::Topology topology{};
  std::vector<Point> points{};
};

Setup set_up(std::vector<char*> argv, const exec::Topology& machine_topology,
             const std::vector<cvp::Workload*>& workloads) {
  if (const auto refusal = bench::openmp_binding_refusal()) throw bench::UsageError(*refusal);
  if (const cvp::IsaChoice kernel = cvp::isa_choice(); kernel.refusal) {
    throw bench::UsageError(*kernel.refusal);
  }
  Setup setup{bench::parse_command_line(static_cast<int>(argv.size()), argv.data(), machine_topology,
                                        workloads)};
  if (!setup.parsed.options) return setup;
  const bench::Options& options = *setup.parsed.options;
  exec::set_slow_cpus(options.slow_cpus);
  setup.topology = bench::restrict_topology(machine_topology, options.cpus);
  setup.points = bench::make_plan(workloads, options, setup.topology);
  if (!options.list_only) refuse_plants_that_match_nothing(setup.points, options);
  return setup;
}

// A hash of the command line after the program's name (FNV-1a), to compare across the ranks.
std::uint64_t command_line_hash(int argc, char** argv) {
  std::uint64_t h = 1469598103934665603ULL;
  for (int i = 1; i < argc; ++i) {
    for (const char* c = argv[i]; *c != '\0'; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 1099511628211ULL;
    h = (h ^ 0xFFU) * 1099511628211ULL;
  }
  return h;
}

// Every rank reads the same command line and plans on its own machine; a rank that cannot is
// named on rank 0, and then every rank ends. Every rank but 0 then follows rank 0's commands.
// Returns the exit code for a rank that is done, nullopt for rank 0 to go on.
std::optional<int> agree_on_set_up(int argc, char** argv, const std::vector<cvp::Workload*>& workloads,
                                   Setup& setup, const char* xml) {
  if (dist::ranks() < 2) {
    setup = set_up(std::vector<char*>(argv, argv + argc), topology_for_run(xml), workloads);
    return std::nullopt;
  }
  if (!dist::same_everywhere(command_line_hash(argc, argv))) {
    if (dist::rank() != 0) return bench::follow_rank_zero(workloads, {});
    throw bench::UsageError("the ranks were started with different options: mpirun must start "
                            "the same command line on every rank.");
  }
  std::optional<std::string> mine;
  try {
    setup = set_up(std::vector<char*>(argv, argv + argc), topology_for_run(xml), workloads);
  } catch (const std::exception& e) {
    mine = e.what();
  }
  // Where each rank's teams run: its share of its host's allowed CPUs, for the summary.
  std::string share;
  if (!mine && setup.parsed.options) {
    const dist::Layout& l = dist::layout();
    const std::vector<int> cpus = dist::share_of_host(setup.topology, l.local_rank, l.local_size);
    share = exec::format_cpu_list(cpus);
    // Every other rank's main thread waits (busily while a point runs, and as a wait:mpi
    // backend) on its own share, off rank 0's CPUs.
    if (dist::rank() != 0) exec::set_thread_affinity(cpus);
  }
  g_rank_cpus = dist::gather_text(share);
  // The other ranks on rank 0's host are this run's processes, not other work beside it.
  const std::vector<std::string> pids = dist::gather_text(std::to_string(::getpid()));
  std::vector<int> ours;
  for (std::size_t r = 1; r < pids.size(); ++r) {
    if (dist::layout().hosts[r] == dist::layout().hosts[0]) ours.push_back(std::stoi(pids[r]));
  }
  bench::count_as_ours(std::move(ours));
  const std::optional<std::string> first = dist::agree(mine);
  if (dist::rank() != 0) {
    const bool runs = !mine && setup.parsed.options && !setup.parsed.options->list_only;
    if (runs) dist::set_timeout(setup.parsed.options->rank_timeout_s);
    return bench::follow_rank_zero(workloads, runs ? setup.points : std::vector<Point>{});
  }
  if (first) throw bench::UsageError(*first);
  return std::nullopt;
}

int run(int argc, char** argv, const std::vector<cvp::Workload*>& workloads) {
  // --budget bounds the whole run from here: the limits, the set-up and the blocks alike.
  const auto program_started = std::chrono::steady_clock::now();
  const char* xml = std::getenv("CVPBENCH_TOPOLOGY_XML");
  Setup setup;
  if (const auto done = agree_on_set_up(argc, argv, workloads, setup, xml)) return *done;
  if (!setup.parsed.options) {
    std::cout << setup.parsed.text;
    return setup.parsed.exit_code;
  }
  const bench::Options& options = *setup.parsed.options;
  dist::set_timeout(options.rank_timeout_s);
  if (xml != nullptr && *xml != '\0' && !options.list_only) {
    throw bench::UsageError("CVPBENCH_TOPOLOGY_XML describes another machine: only --list can "
                            "use it (unset it to measure this one).");
  }
  if (options.list_only) return list_points(setup.points);
  bench::install_interrupt_handlers();
  dist::watch_interruptions(&bench::interrupt_flag());
  bench::RunFolder run_folder(options.out);
  RunState state{.workloads = workloads, .options = options, .topology = setup.topology,
                 .program_started = program_started};
  prepare_run_folder(state, run_folder);
  return measure_and_report(state, run_folder, argv[0]);
}

// One row as measure() returns it.
cvp::Result result_of(const bench::ResultRow& r) {
  const Point& p = *r.point;
  cvp::Result out;
  out.name = p.name();
  out.workload = p.workload;
  out.group = p.group;
  out.mode = p.mode;
  out.backend = p.backend;
  out.threads = p.threads;
  out.in_flight = p.in_flight;
  out.ok = r.ok;
  out.error = bench::row_error(r);
  out.seconds = r.median_s;
  out.speedup = r.speedup;
  out.speedup_low = r.speedup_low;
  out.speedup_high = r.speedup_high;
  out.ci_known = r.ci_known;
  out.bound = r.bound;
  out.ideal = r.ideal;
  out.efficiency = r.efficiency;
  out.throughput = r.throughput;
  out.rate_unit = r.m->workload->unit().rate_unit;
  if (r.diagnosis) out.diagnosis = r.diagnosis->line;
  out.anomaly = !r.anomaly.empty();
  out.values = bench::named_figures(r.values, r.request);
  return out;
}

// measure(): the program's steps (set_up, measure_plan) without the run folder, the raw file
// and the results table.
cvp::Results measure_rows(const std::vector<Workload*>& workloads, const std::vector<std::string>& args) {
  const auto program_started = std::chrono::steady_clock::now();
  std::vector<std::string> words{"measure"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  Setup setup = set_up(argv, exec::detect_topology(), workloads);
  if (!setup.parsed.options) throw bench::UsageError("measure(): --help and --version print text, and return no rows");
  const bench::Options& options = *setup.parsed.options;
  if (options.list_only) throw bench::UsageError("measure(): --list prints names, and returns no rows");
  if (options.out) throw bench::UsageError("measure(): --out names a run folder, and measure() writes none");
  RunState state{.workloads = workloads, .options = options, .topology = setup.topology,
                 .program_started = program_started};
  return measure_plan(state, nullptr, [&](const bench::RunReport& report, const bench::Session&) {
    cvp::Results results;
    results.summary = bench::summary_json(report, options);
    for (const auto& r : report.rows) {
      if (!bench::never_measured(*r.m)) results.rows.push_back(result_of(r));
    }
    return results;
  });
}

// A closed standard descriptor would be reused by the first file opened (the run folder, the
// raw results), and progress lines would then be written into it.
void open_closed_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (null >= 0 && null != fd) {
        ::dup2(null, fd);
        ::close(null);
      }
    }
  }
}

// The program's workloads, refused with one message when they cannot be told apart: none, a
// null one, an empty or unusable name (it is the first segment of every benchmark name), or two
// of one name (their benchmarks would be run by the wrong code).
std::vector<cvp::Workload*> checked_workloads(
    const std::vector<std::unique_ptr<cvp::Workload>>& workloads) {
  if (workloads.empty()) throw std::invalid_argument("the program has no workload to run");
  std::vector<cvp::Workload*> list;
  std::set<std::string> names;
  for (const auto& w : workloads) {
    if (!w) throw std::invalid_argument("the program's list of workloads holds a null workload");
    const std::string name = w->name();
    const bool usable = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (!usable) {
      throw std::invalid_argument("workload name '" + name +
                                  "': use letters, digits, '_', '-' or '.' (it begins every "
                                  "benchmark name and its flags)");
    }
    if (!names.insert(name).second) {
      throw std::invalid_argument("two workloads are named '" + name +
                                  "': every workload needs a name of its own");
    }
    list.push_back(w.get());
  }
  return list;
}

int run_checked(int argc, char** argv, const std::vector<std::unique_ptr<cvp::Workload>>& workloads) {
  // Past a file-size limit, a write fails with EFBIG and the run says so (SIGXFSZ would kill
  // it without a word).
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<Workload*> list;
  try {
    list = checked_workloads(workloads);
    return run(argc, argv, list);
  } catch (const cvp::bench::UsageError& e) {
    std::fprintf(stderr, "cvpbench: error: %s\n", cvp::bench::printable(e.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "cvpbench: failed: not enough memory (an allocation failed outside any "
                         "one benchmark: the plan, a workload's set-up or the reports); choose "
                         "smaller sizes or fewer points\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cvpbench: failed: %s\n", cvp::bench::printable(e.what()).c_str());
    return 1;
  }
}

}  // namespace

namespace cvp {

int run_program(int argc, char** argv, std::vector<std::unique_ptr<Workload>> workloads) {
  open_closed_standard_descriptors();
  bench::choose_openmp_wait_policy(argv);
  if (const auto note = dist::start(&argc, &argv)) std::fprintf(stderr, "cvpbench: %s\n", note->c_str());
  // A run that ends every rank at once leaves no staging folder behind.
  dist::set_on_abort([] { bench::RunFolder::clean_up_at_exit(); });
  const int code = run_checked(argc, argv, workloads);
  // The other ranks wait for rank 0's last word, whatever ended its run.
  if (dist::rank() == 0) dist::post({dist::Op::finish, {}});
  dist::finish();
  return code;
}

Results measure(std::vector<std::unique_ptr<Workload>> workloads, const std::vector<std::string>& args) {
  return measure_rows(checked_workloads(workloads), args);
}

const Result& Results::at(std::string_view part) const {
  for (const Result& r : rows) {
    if (r.name.find(part) != std::string::npos) return r;
  }
  throw std::out_of_range("no measured row's name contains '" + std::string(part) + "'");
}

}  // namespace cvp

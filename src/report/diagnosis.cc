#include "report/diagnosis.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <set>

#include "api/split.h"
#include "cvp/exec/affinity.h"
#include "harness/stats.h"
#include "host/counters.h"
#include "util/text.h"

namespace cvp::bench {
namespace {

// One cause with the highest speedup it alone allows (its ceiling).
using Candidate = Finding;

std::string gb(double bytes_per_s) { return fixed(bytes_per_s / 1e9, 1) + " GB/s"; }
std::string gflops(double flops) { return fixed(flops / 1e9, 1) + " GFLOP/s"; }
std::string pct(double share) { return fixed(100 * share, 0) + "%"; }
std::string us(double micros) { return fixed(micros, micros < 10 ? 1 : 0) + " us"; }

// Median over the row's blocks of `part(sample)` / the block's wall time.
template <typename F>
double median_share(const Measurement& m, F part) {
  std::vector<double> shares;
  for (const Sample& s : m.samples) {
    const double block = s.wall_s * static_cast<double>(std::max(1LL, s.executions));
    if (block > 0) shares.push_back(part(s) / block);
  }
  return shares.empty() ? 0 : stats::median(shares);
}

// Time our threads could not run, as a share of their time: the speedup is at most the bound
// less that share. Below 2% it is not named.
std::optional<Candidate> lost_time(const ResultRow& r, Cause cause, double share,
                                   const std::string& line) {
  if (share < 0.02) return std::nullopt;
  return Candidate{cause, r.bound * (1 - share), line,
                   {{std::string(to_string(cause)) + "_share", share}}};
}

std::optional<Candidate> run_queue(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  // Concurrent teams and oversubscribed ones wait for a CPU by design; the bound counts that.
  if (!c.run_delay_visible || p.mode != Mode::parallel || p.threads > p.cores) return std::nullopt;
  const double share = median_share(*r.m, [&](const Sample& s) { return s.run_delay_s; }) /
                       std::max(1, p.threads);
  return lost_time(r, Cause::run_queue, share,
                   "a run queue longer than the cores: our threads waited for a CPU " + pct(share) +
                       " of their time (run delay, /proc schedstat), so other work shared these cores");
}

std::optional<Candidate> steal(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  if (!c.steal_visible) return std::nullopt;
  const double share = median_share(*r.m, [&](const Sample& s) { return s.steal_s; }) /
                       std::max(1, p.mode == Mode::parallel ? p.cores : 1);
  return lost_time(r, Cause::steal, share,
                   "stolen time: the hypervisor ran something else on our CPUs for " + pct(share) +
                       " of the run");
}

// The share of a row's CPUs other processes must take to be named beside any cause.
constexpr double kOthersNamed = 0.10;

// Other processes on the row's CPUs: they took a larger share of its CPUs while it ran than of
// its baseline's CPU while the baseline ran, so the team had less CPU than the bound assumes:
// at most bound x (1 - share) / (1 - baseline's share).
std::optional<Candidate> other_processes(const ResultRow& r, const DiagnosisContext& c) {
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  if (!c.load_visible || base == nullptr || r.others_share < 0) return std::nullopt;
  const double base_share = std::clamp(base->others_share, 0.0, 0.95);
  if (r.others_share < 0.02 || r.others_share < base_share + 0.02) return std::nullopt;
  const double ceiling = r.bound * (1 - r.others_share) / (1 - base_share);
  Candidate k{Cause::other_processes, ceiling, "",
              {{"others_share", r.others_share}, {"baseline_others_share", base_share},
               {"ceiling", ceiling}}};
  if (r.pressure >= 0) k.figures["cpu_pressure"] = r.pressure;
  if (r.procs_running >= 0) k.figures["procs_running"] = r.procs_running;
  const Point& p = *r.point;
  k.line = "other processes: they took " + pct(r.others_share) + " of CPU" +
           (p.cpus.size() == 1 ? " " : "s ") + exec::format_cpu_list(p.cpus) +
           " while this point ran, against " + pct(base_share) +
           " while its serial baseline ran, which alone allows x" + fixed(ceiling, 2);
  std::vector<std::string> load;
  if (r.pressure >= 0) load.push_back("CPU pressure " + pct(r.pressure));
  if (r.procs_running >= 0) load.push_back(fixed(r.procs_running, 0) + " runnable tasks");
  if (!c.busiest.empty()) load.push_back("busiest: " + c.busiest);
  for (std::size_t i = 0; i < load.size(); ++i) k.line += (i == 0 ? " (" : "; ") + load[i];
  if (!load.empty()) k.line += ")";
  return k;
}

std::optional<Candidate> compute_peak(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  if (!c.limits_known || p.flop <= 0 || p.mode != Mode::parallel || p.cores < 2 ||
      p.cores != c.limit_cores || c.flops_one_core <= 0) {
    return std::nullopt;
  }
  const double ceiling = c.flops_all_cores / c.flops_one_core;
  Candidate k{Cause::compute_peak, ceiling, "",
              {{"flops_one_core", c.flops_one_core}, {"flops_all_cores", c.flops_all_cores},
               {"ceiling", ceiling}}};
  k.line = "compute peak: the " + std::to_string(p.cores) + " cores together reach only x" +
           fixed(ceiling, 2) + " of one core's FMA peak (" + gflops(c.flops_all_cores) + " against " +
           gflops(c.flops_one_core) + ", measured at the start): they share execution units (SMT "
           "siblings, which a virtual machine may not show) or run a lower clock together";
  return k;
}

// The distinct physical cores among `cpus` (by the machine model, else each CPU one core).
int distinct_cores(const std::vector<int>& cpus, const MachineModel* model) {
  std::set<int> cores;
  for (const int cpu : cpus) {
    const CpuInfo* info = model != nullptr ? model->find(cpu) : nullptr;
    cores.insert(info != nullptr ? info->core : cpu);
  }
  return static_cast<int>(cores.size());
}

// The all-core bandwidth a row's team could draw and how to say it; 0 when the row's team does
// not take every core the limits measured (a part of the cores draws less, unmeasured). A
// parallel team of one kind of core draws its kind's; a distributed row's ranks every host's
// (r.bandwidth_all_cores: rank 0's host's x the hosts, each rank's memory its own host's).
std::pair<double, std::string> team_bandwidth_of(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  if (p.mode == Mode::distributed) {
    if (distinct_cores(p.host_cpus, c.model) != c.limit_cores || r.bandwidth_all_cores <= 0) return {0, ""};
    return {r.bandwidth_all_cores, p.hosts == 1 ? "all cores of the ranks' host"
                                                : "all cores of a host x " + std::to_string(p.hosts) +
                                                      " hosts (each rank streams from its own host's memory)"};
  }
  const bool kind_team = r.bandwidth_all_cores > 0 && r.bandwidth_all_cores != c.bandwidth_all_cores;
  if (p.mode != Mode::parallel || (p.cores != c.limit_cores && !kind_team)) return {0, ""};
  return {kind_team ? r.bandwidth_all_cores : c.bandwidth_all_cores,
          kind_team ? "all the cores of its kind" : "all cores"};
}

// The memory's ceiling on the speedup per unit of work: the team's bandwidth over what serial
// moved a second, times serial's bytes per unit of work over this point's (1 where they move the
// same bytes per unit, as the triad's weak points do; above 1 for a grown matmul, whose FLOP grow
// faster than its bytes).
// The share of the measured bandwidth a row must move to be called held by the memory.
constexpr double kSaturated = 0.9;

std::optional<Candidate> memory_bandwidth(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const Row* base = r.Row::baseline;
  const auto [bandwidth, whose] = team_bandwidth_of(r, c);
  if (!c.limits_known || p.bytes <= 0 || p.work <= 0 || bandwidth <= 0 || base == nullptr ||
      base->median_s <= 0 || base->point == nullptr || base->point->bytes <= 0 ||
      base->point->work <= 0 || r.median_s <= 0) {
    return std::nullopt;
  }
  const double serial = base->point->bytes / base->median_s;
  const double achieved = p.bytes / r.median_s;
  const double per_unit = (base->point->bytes / base->point->work) / (p.bytes / p.work);
  const double ceiling = bandwidth / serial * per_unit;
  Candidate k{Cause::memory_bandwidth, ceiling, "",
              {{"bytes_per_s", achieved}, {"serial_bytes_per_s", serial},
               {"bandwidth_all_cores", bandwidth}, {"ceiling", ceiling}}};
  if (std::abs(per_unit - 1) > 1e-9) k.figures["serial_bytes_per_unit_ratio"] = per_unit;
  if (p.mode == Mode::distributed) k.figures["hosts"] = p.hosts;
  k.line = "memory bandwidth: the " + std::string(p.mode == Mode::distributed ? "ranks" : "team") +
           " moved " + gb(achieved) + ", " + pct(achieved / bandwidth) + " of the " + gb(bandwidth) +
           " measured for " + whose + "; serial already moved " + gb(serial);
  if (std::abs(per_unit - 1) > 1e-9) {
    k.line += ", and this point moves x" + fixed(1 / per_unit, 2) + " its bytes per unit of work";
  }
  k.line += ", so at most x" + fixed(ceiling, 2);
  // Memory-bound work's bound is this ceiling already (Workload::bound): a row that moved at
  // least kSaturated of the measured bandwidth is held by the memory, its gap to the bound the
  // spread between its pass and the limits' measurement; named, not "not identified".
  if (achieved >= kSaturated * bandwidth && ceiling >= r.bound * 0.98) {
    k.figures["saturated"] = true;
    k.line += ", the bound itself: the memory is saturated, and the rest is the spread between "
              "this pass and the bandwidth measured at the start";
  }
  return k;
}

// The CPU time per execution that did work: the process's, less what the team counted as
// spinning while it waited (Row::spin_s; nothing where it cannot tell).
double working_cpu_s(const Row& r) { return r.cpu_s - (r.spin_counted ? r.spin_s : 0.0); }

// Without a trace, the working CPU time per execution against the team's CPUs over its wall
// time shows how much of the time they sat idle (a lower bound where a runtime's workers spin
// out of sight while they wait, as oneTBB's do: that counts as busy). Where the team's cores differ in speed, the likeliest
// reason is a split that ends unevenly; --trace tells when.
std::string speeds_text(const Point& p);

std::optional<Candidate> idle_by_cpu_time(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  if (r.cpu_s <= 0 || r.median_s <= 0 || p.threads < 2) return std::nullopt;
  // Time our threads were ready but off their CPUs (run delay, steal) is not idle: other work
  // had the CPUs, which other causes name. A row whose CPUs others used is not read for idle
  // time at all: a worker that waits for a peer others took off its CPU idles for them too.
  if (r.others_share >= kOthersNamed) return std::nullopt;
  const double waiting =
      (c.run_delay_visible ? median_share(*r.m, [](const Sample& s) { return s.run_delay_s; }) : 0) +
      (c.steal_visible ? median_share(*r.m, [](const Sample& s) { return s.steal_s; }) : 0);
  const double working = working_cpu_s(r);
  const double busy = working / (r.median_s * p.threads) + waiting / p.threads;
  if (!(busy < 0.97) || busy <= 0) return std::nullopt;
  // A symptom, as extra CPU is: it says how much was lost, not why.
  Candidate k{Cause::idle_workers, r.bound * busy, "",
              {{"busy_mean", busy}, {"from", "cpu_time"}, {"cpu_s", r.cpu_s}}, /*symptom=*/true};
  const bool spun = r.spin_counted && r.spin_s > 0;
  if (spun) k.figures["spin_s"] = r.spin_s;
  k.line = "idle workers: the team's " + std::to_string(p.threads) + " CPUs were busy " + pct(busy) +
           " of each execution (the process's CPU time, " + human_time(r.cpu_s) +
           (spun ? " less " + human_time(r.spin_s) + " its workers spun while they waited" : "") +
           ", per " + human_time(r.median_s) + "), which alone allows x" + fixed(k.ceiling, 2);
  const auto [slow, fast] = std::minmax_element(p.speeds.begin(), p.speeds.end());
  if (p.speeds.size() >= 2 && *slow < 0.97 * *fast) {
    k.line += "; with cores of different speed (" + speeds_text(p) +
              ") the likeliest is a split that ends unevenly: --trace shows when they idled";
  } else {
    k.line += "; --trace shows when (an uneven split, or a late start)";
  }
  return k;
}

std::optional<Candidate> idle_workers(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const TimelineFigures& t = r.timeline;
  // Requests' workers are idle while their requests wait: that is the work, not a loss.
  if (r.m->workload->kind() == Kind::io || p.mode != Mode::parallel || p.threads > p.cores) {
    return std::nullopt;
  }
  if (!t.traced) return idle_by_cpu_time(r, c);
  if (t.busy_mean >= 0.97) return std::nullopt;
  const double idle = 1 - t.busy_mean;
  Candidate k{Cause::idle_workers, r.bound * t.busy_mean, "",
              {{"busy_mean", t.busy_mean}, {"tail_idle", t.tail_idle}, {"imbalance", t.imbalance},
               {"start_delay_us", t.start_delay_us}, {"task_spread", t.task_spread}}};
  const double start_share = t.start_delay_us * 1e-6 / std::max(t.window_s, 1e-12);
  std::string why;
  if (t.tail_idle >= start_share) {
    why = "load imbalance: the first worker ran out of work " + pct(t.tail_idle) +
          " of the execution before the end";
    if (t.task_spread >= 0.05) {
      why += ", as tasks on CPU " + std::to_string(t.slow_cpu) + " took " + pct(t.task_spread) +
             " longer than on CPU " + std::to_string(t.fast_cpu) + " (a slower core, or a neighbour on it)";
    }
  } else {
    why = "wake-up latency: workers started their first task " + us(t.start_delay_us) +
          " after the execution began";
    if (c.futex_wakeup_us > 0) why += " (a futex wake-up takes " + us(c.futex_wakeup_us) + " here)";
  }
  k.line = "idle workers: in the traced execution the workers were idle " + pct(idle) +
           " of the time; " + why;
  return k;
}

// A CPU's speed per cycle relative to the home CPU's (its capacity alone over its clock alone,
// against the home CPU's), so that a clock reading becomes a speed; 1 when not measured.
double per_cycle(const MachineModel* model, int cpu) {
  const CpuInfo* info = model != nullptr && model->measured ? model->find(cpu) : nullptr;
  const CpuInfo* home = model != nullptr && model->measured ? model->find(model->home_cpu) : nullptr;
  if (info == nullptr || home == nullptr || info->ghz_alone <= 0 || home->ghz_alone <= 0) return 1;
  return info->capacity_alone * home->ghz_alone / info->ghz_alone;
}

// The clock the team ran at against its serial baseline's, measured by the probes around the
// blocks: each core's clock over serial's (by its speed per cycle) summed is at most the
// speedup; named when that is below the bound (the clock fell more than the model measured
// at the start, as a laptop that heats does).
std::optional<Candidate> clock(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  if (p.mode != Mode::parallel || base == nullptr || base->ghz <= 0 || r.ghz_by_cpu.empty()) {
    return std::nullopt;
  }
  double ceiling = 0;
  std::set<int> cores;
  std::string each;
  for (const int cpu : p.cpus) {
    const auto it = r.ghz_by_cpu.find(cpu);
    const CpuInfo* info = c.model != nullptr ? c.model->find(cpu) : nullptr;
    if (it == r.ghz_by_cpu.end() || !cores.insert(info != nullptr ? info->core : cpu).second) continue;
    ceiling += per_cycle(c.model, cpu) * it->second / base->ghz;
    each += (each.empty() ? "" : ", ") + fixed(it->second, 2);
  }
  if (!(ceiling > 0)) return std::nullopt;
  Candidate k{Cause::clock, ceiling, "",
              {{"ghz", r.ghz}, {"serial_ghz", base->ghz}, {"ceiling", ceiling}}};
  k.line = "clock: the " + std::to_string(cores.size()) + " busy cores ran at " + each +
           " GHz against " + fixed(base->ghz, 2) + " GHz for serial (a probe around each block): at most x" +
           fixed(ceiling, 2);
  return k;
}

// "CPU 0 1.00, CPU 1 0.50": each worker's CPU and measured speed.
std::string speeds_text(const Point& p) {
  std::string text;
  for (std::size_t w = 0; w < p.speeds.size() && w < p.cpus.size(); ++w) {
    text += (w == 0 ? "" : ", ") + std::string("CPU ") + std::to_string(p.cpus[w]) + " " + fixed(p.speeds[w], 2);
  }
  return text;
}

// Workers of different speeds (cores of different kinds, or one slowed): the work's split
// ends when its last task does. The workload says how it splits (Workload::split: so many tasks
// from a shared counter, or dealt in turn); split_speedup gives the speedup that split allows
// over the measured speeds. A split not said is read as an equal one, which ends when the
// slowest worker's share does: T x its speed. Named with the ceiling the measured speedup fits.
std::optional<Candidate> imbalance(const ResultRow& r, const DiagnosisContext&) {
  const Point& p = *r.point;
  if (p.mode != Mode::parallel || p.speeds.size() < 2 || r.m->workload->kind() == Kind::io) {
    return std::nullopt;
  }
  const auto [slow, fast] = std::minmax_element(p.speeds.begin(), p.speeds.end());
  if (*slow <= 0 || *slow >= 0.97 * *fast) return std::nullopt;
  const double sum = std::accumulate(p.speeds.begin(), p.speeds.end(), 0.0);
  const double equal = static_cast<double>(p.speeds.size()) * *slow;
  const std::string speeds = speeds_text(p);
  const std::optional<TaskSplit> split = r.m->workload->split(p);
  const double split_ceiling = split ? split_speedup(p.speeds, *split) : 0;
  if (split && split_ceiling > 0) {
    const bool dealt = split->schedule == exec::Schedule::fixed;
    Candidate k{Cause::imbalance, split_ceiling, "",
                {{"speeds", p.speeds}, {"speed_sum", sum}, {"tasks", split->tasks},
                 {"schedule", dealt ? "fixed" : "dynamic"}, {"equal_split_ceiling", equal},
                 {"split_ceiling", split_ceiling}, {"ceiling", split_ceiling}}};
    k.line = "imbalance between cores of different speed (" + speeds + ", relative to the home CPU): its " +
             std::to_string(split->tasks) + (split->tasks == 1 ? " task" : " tasks") +
             (dealt ? ", task i to worker i mod " + std::to_string(p.speeds.size()) + "," : ", each taken by the next free worker,") +
             " end when the last does, at most x" + fixed(split_ceiling, 2) + " against the x" + fixed(sum, 2) +
             " the speeds add up to";
    return k;
  }
  Candidate k{Cause::imbalance, equal, "",
              {{"speeds", p.speeds}, {"speed_sum", sum}, {"equal_split_ceiling", equal}, {"ceiling", equal}}};
  k.line = "imbalance between cores of different speed (" + speeds +
           ", relative to the home CPU): an equal split of the work ends when the slowest worker's share does, "
           "at most x" + fixed(equal, 2) + " against the x" + fixed(sum, 2) + " the speeds add up to";
  return k;
}

// A distributed point's communication: the share of rank 0's execution spent inside the MPI
// operations (transfers, and waiting there for the other ranks), which no rank's team computes
// through. At most the bound less that share; below 2% it is not named.
std::optional<Candidate> communication(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const auto it = r.values.find("communication_s");
  if (p.mode != Mode::distributed || it == r.values.end() || r.median_s <= 0) return std::nullopt;
  const double share = std::min(1.0, it->second / r.median_s);
  if (share < 0.02) return std::nullopt;
  // The bound already counts what the algorithm must communicate at the network's rates: the
  // ceiling adds the time spent beyond that to the serial time split over the teams.
  const double required = r.network_bandwidth > 0
                              ? p.comm_bytes / r.network_bandwidth + p.comm_messages * r.network_latency_s
                              : 0;
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  const double beyond = std::max(0.0, it->second - required);
  const double ceiling = base != nullptr && base->median_s > 0
                             ? base->median_s / (base->median_s / r.bound + beyond)
                             : r.bound * (1 - share);
  std::string line = "communication: rank 0 spent " + human_time(it->second) + " of its " +
                     human_time(r.median_s) + " per execution (" + fixed(100 * share, 1) +
                     "%) in MPI transfers and waiting there for the other " +
                     std::to_string(p.ranks - 1) + " rank" + (p.ranks == 2 ? "" : "s");
  if (c.network_latency_us > 0) {
    line += " (network: " + fixed(c.network_latency_us, 2) + " us one way, " +
            fixed(c.network_bandwidth_bytes_s / 1e9, 2) + " GB/s)";
  }
  line += ", which alone allows x" + fixed(ceiling, 2);
  return Candidate{Cause::communication, ceiling, line,
                   {{"communication_share", share}, {"communication_s", it->second},
                    {"required_s", required}, {"ceiling", ceiling}}};
}

// The CPU time a parallel team needs for the work, as a multiple of its serial run's: each
// worker's share of the work (its tasks of the workload's split, Workload::split; by its
// measured speed where the split is not said, as a split that fits the speeds gives it) over
// the work it does per second of its CPU (its speed, times the workers that take turns on that
// CPU: waiting for it is not CPU time). A worker on a slower core spends more CPU on the same
// work, which the attainable bound already counts; 1 when the speeds are unknown or alike.
double cpu_needed(const ResultRow& r) {
  const Point& p = *r.point;
  if (p.mode != Mode::parallel || p.speeds.size() < 2 || p.speeds.size() != p.cpus.size()) return 1;
  const double sum = std::accumulate(p.speeds.begin(), p.speeds.end(), 0.0);
  if (!(sum > 0) || !std::isfinite(sum)) return 1;
  std::vector<double> share(p.speeds.size());
  for (std::size_t w = 0; w < share.size(); ++w) share[w] = p.speeds[w] / sum;
  if (const std::optional<TaskSplit> split = r.m->workload->split(p)) {
    const std::vector<std::size_t> tasks = tasks_by_worker(p.speeds, *split);
    for (std::size_t w = 0; w < tasks.size() && tasks.size() == share.size(); ++w) {
      share[w] = static_cast<double>(tasks[w]) / static_cast<double>(split->tasks);
    }
  }
  std::map<int, int> on_cpu;
  for (const int cpu : p.cpus) ++on_cpu[cpu];
  double needed = 0;
  for (std::size_t w = 0; w < p.speeds.size(); ++w) {
    const double rate = p.speeds[w] * on_cpu[p.cpus[w]];
    if (!(rate > 0) || !std::isfinite(rate)) return 1;
    needed += share[w] / rate;
  }
  return needed;
}

// CPU time beyond the work's own: the team used more CPU than the serial run for the same work
// (than the serial run's CPU times what its cores' measured speeds need, where they differ).
// It limits the speedup when the cores were busy. A symptom (of a bandwidth or compute
// ceiling, or of workers that slow each other down on what they share); request workloads
// weigh their own CPU against their handler's (Workload::diagnose).
std::optional<Candidate> extra_cpu(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  if (base == nullptr || r.cpu_s <= 0 || p.work <= 0 || r.m->workload->kind() == Kind::io) {
    return std::nullopt;
  }
  const double switches = r.voluntary + r.involuntary;
  nlohmann::json figures = {{"cpu_s", r.cpu_s}, {"context_switches", switches}};
  // What the team spun while it waited is idle time (idle_workers), not slower work.
  const double working = working_cpu_s(r);
  if (r.spin_counted) figures["spin_s"] = r.spin_s;
  // Speeds that differ by less than 1% leave the serial run's CPU as the measure.
  const double factor = cpu_needed(r);
  const bool by_speed = std::abs(factor - 1) >= 0.01;
  const double base_cpu = working_cpu_s(*base);
  const double needed = base_cpu * (by_speed ? factor : 1.0);
  if (base_cpu <= 0 || working < 1.05 * needed) return std::nullopt;
  const double more = working / needed;
  const double ceiling = r.bound / more;
  figures["serial_cpu_s"] = base->cpu_s;
  const std::string spent = human_time(working) +
      (r.spin_counted && r.spin_s > 0 ? " after the " + human_time(r.spin_s) + " it spun waiting" : "");
  std::string line;
  if (by_speed) {
    figures["needed_cpu_s"] = needed;
    line = "slower workers: the team spent x" + fixed(more, 2) +
           " the CPU time the work needs at its cores' measured speeds (" + spent +
           " against " + human_time(needed) + ": the serial run's " + human_time(base_cpu) +
           " x" + fixed(factor, 2) + " for " + speeds_text(p) + "), which alone allows x" + fixed(ceiling, 2);
  } else {
    line = "slower workers: the team spent x" + fixed(more, 2) +
           " the serial run's CPU time on the same work (" + spent + " against " +
           human_time(base_cpu) + ")";
  }
  const auto& copies = r.m->contention;
  if (copies && copies->skipped.empty() && copies->ceiling >= 0.98 * r.bound) {
    // The contention measure rules out what the CPUs share.
    line += "; copies of the serial run on the same CPUs at once were not slower (x" +
            fixed(copies->ceiling, 2) + " together): the extra CPU is the team's own (its waits, "
            "spins and hand-offs), not what its CPUs share";
    figures["copies_rate"] = copies->ceiling;
  } else if (copies && copies->skipped.empty() && r.bound > r.speedup) {
    const double share = std::clamp((r.bound - copies->ceiling) / (r.bound - r.speedup), 0.0, 1.0);
    line += "; copies of the serial run on the same CPUs at once reached x" + fixed(copies->ceiling, 2) +
            ": what its CPUs share accounts for " + pct(share) + " of the shortfall, the rest is the "
            "team's own (its waits, spins and hand-offs)";
    figures["copies_rate"] = copies->ceiling;
  } else if (!c.counters_unavailable.empty()) {
    line += "; why each worker ran slower needs hardware counters, not available here";
  }
  if (!(std::isfinite(ceiling) && ceiling > 0)) return std::nullopt;
  figures["ceiling"] = ceiling;
  return Candidate{Cause::extra_cpu, ceiling, line, figures, /*symptom=*/true};
}

// The serial row a row's counters compare with, when both rows' counters can be trusted
// (report/meter_figures.h); nullptr otherwise.
const ResultRow* counted_baseline(const ResultRow& r) {
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  if (base == nullptr || base->m == r.m || !r.counters.trusted() || !base->counters.trusted()) return nullptr;
  return base;
}

// The team's instructions per cycle fell against serial's: each instruction took more cycles
// (waiting on a cache or memory the workers share). With the same instructions at the same
// clock, the team's cycles per unit of work grow by serial IPC / team IPC, so the speedup is at
// most the bound times team IPC / serial IPC.
std::optional<Candidate> ipc_fell(const ResultRow& r, const DiagnosisContext&) {
  const ResultRow* base = counted_baseline(r);
  if (base == nullptr) return std::nullopt;
  const auto ipc = r.counters.ipc(), serial = base->counters.ipc();
  if (!ipc || !serial || *serial <= 0 || *ipc >= 0.95 * *serial) return std::nullopt;
  const double ceiling = r.bound * *ipc / *serial;
  Candidate k{Cause::ipc_fell, ceiling, "",
              {{"ipc", *ipc}, {"serial_ipc", *serial}, {"ceiling", ceiling}}};
  k.line = "IPC fell: the team's threads retired " + fixed(*ipc, 2) + " instructions per cycle "
           "against " + fixed(*serial, 2) + " for serial (hardware counters), so the same work took x" +
           fixed(*serial / *ipc, 2) + " the cycles: a cache or memory the workers share, which "
           "alone allows x" + fixed(ceiling, 2);
  const double work = r.point->work, base_work = base->point->work;
  const auto misses = r.counters.per_unit(Event::llc_misses, work);
  const auto serial_misses = base->counters.per_unit(Event::llc_misses, base_work);
  if (misses && serial_misses && *serial_misses > 0) {
    k.figures["llc_misses_ratio"] = *misses / *serial_misses;
    k.line += " (last-level cache misses per unit of work x" + fixed(*misses / *serial_misses, 2) + " serial's)";
  }
  return k;
}

// Last-level cache misses per unit of work grew against serial's: the team's data no longer
// fits the cache it shares, or the workers evict each other's lines. Were each unit's time set
// by its misses, the speedup would be at most the bound times serial's misses / the team's;
// where cycles are counted, the misses cannot have cost more than the cycles the team added
// per unit of work, so the ceiling is never below bound x serial cycles / team cycles.
std::optional<Candidate> cache_misses(const ResultRow& r, const DiagnosisContext&) {
  const ResultRow* base = counted_baseline(r);
  if (base == nullptr) return std::nullopt;
  const double work = r.point->work, base_work = base->point->work;
  const auto misses = r.counters.per_unit(Event::llc_misses, work);
  const auto serial = base->counters.per_unit(Event::llc_misses, base_work);
  if (!misses || !serial || *serial <= 0 || *misses < 1.1 * *serial) return std::nullopt;
  double share = *serial / *misses;
  const auto cycles = r.counters.per_unit(Event::cycles, work);
  const auto serial_cycles = base->counters.per_unit(Event::cycles, base_work);
  if (cycles && serial_cycles && *cycles > 0) share = std::max(share, *serial_cycles / *cycles);
  const double ceiling = r.bound * share;
  Candidate k{Cause::cache_misses, ceiling, "",
              {{"llc_misses_per_unit", *misses}, {"serial_llc_misses_per_unit", *serial},
               {"ceiling", ceiling}}};
  k.line = "cache misses: the team missed the last-level cache " + fixed(*misses / *serial, 2) +
           " times as often per unit of work as serial (" + fixed(*misses, 3) + " against " +
           fixed(*serial, 3) + " per " + r.m->workload->unit().name + ", hardware counters), which "
           "alone allows x" + fixed(ceiling, 2);
  return k;
}

// Contention: copies of the serial point, one on each of the team's CPUs at once, summed a rate
// below the bound with no synchronisation between them (harness/contention.cc): what the CPUs
// share (caches, memory bandwidth, the power budget) slows each, whatever the team does.
std::optional<Candidate> contention(const ResultRow& r, const DiagnosisContext&) {
  const auto& k = r.m->contention;
  if (!k || !k->skipped.empty() || !(k->ceiling > 0) || !(k->alone_s > 0) || k->together_s.empty()) {
    return std::nullopt;
  }
  const auto [low, high] = std::minmax_element(k->together_s.begin(), k->together_s.end());
  const double slow_low = *low / k->alone_s, slow_high = *high / k->alone_s;
  nlohmann::json figures = {{"copies", k->cpus.size()}, {"cpus", k->cpus}, {"rounds", k->rounds},
                            {"copies_rate", k->ceiling}, {"alone_s", k->alone_s},
                            {"together_s", k->together_s}};
  if (k->home_slowdown > 0) figures["home_slowdown"] = k->home_slowdown;
  const std::string each = fixed(slow_low, 2) == fixed(slow_high, 2)
                               ? "x" + fixed(slow_high, 2)
                               : "x" + fixed(slow_low, 2) + " to x" + fixed(slow_high, 2);
  std::string line = "contention: copies of the serial run, one on each of the team's " +
                     std::to_string(k->cpus.size()) + " CPUs at once with nothing shared between them " +
                     "but the machine, each took " + each + " the time of one alone (" +
                     human_time(k->alone_s) + "; median of " + std::to_string(k->rounds) +
                     " rounds): what the CPUs share (caches, memory bandwidth, power) allows x" +
                     fixed(k->ceiling, 2) + " without any synchronisation";
  // Where it accounts for less than half of the shortfall, the team's own costs are the larger
  // part: it is then weighed as a symptom, so that extra CPU or idle workers are named before it.
  const double shortfall = r.bound - r.speedup;
  const bool small = shortfall > 0 && (r.bound - k->ceiling) < 0.5 * shortfall;
  return Candidate{Cause::contention, k->ceiling, line, figures, small};
}

}  // namespace

bool misses_bound(const ResultRow& r) {
  return r.ok && r.ci_known && r.Row::baseline != nullptr && r.m->baseline != r.m && r.bound > 0 &&
         r.speedup_high < r.bound * (1 - 1e-9);
}

namespace {

// What this run could not see, each with why.
std::vector<std::string> hidden_signals(const ResultRow& r, const DiagnosisContext& c) {
  std::vector<std::string> not_seen;
  if (!c.counters_unavailable.empty()) not_seen.push_back("hardware counters (" + c.counters_unavailable + ")");
  if (!c.frequency_visible) not_seen.push_back("CPU frequency (no cpufreq)");
  if (!c.steal_visible) not_seen.push_back("stolen time");
  if (!c.run_delay_visible) not_seen.push_back("run delay");
  if (!c.load_visible) not_seen.push_back("other processes (no per-CPU times in /proc/stat)");
  if (!r.timeline.traced && !r.spin_counted) {
    not_seen.push_back("idle time that spinning workers hide from the CPU time (run with --trace)");
  }
  if (!c.limits_known) not_seen.push_back("the machine's limits (--limits off)");
  return not_seen;
}

// Every cause that alone keeps the speedup below its bound, and that the speedup measured does
// not contradict (a traced execution unlike the timed ones, say).
std::vector<Candidate> candidates(const ResultRow& r, const DiagnosisContext& c,
                                  const cvp::DiagnosisContext& workload_context) {
  std::vector<Candidate> found;
  const auto consider = [&](std::optional<Candidate> k) {
    // A saturated memory is named even where the bound is its ceiling (memory-bound work).
    const bool saturated = k && k->figures.value("saturated", false);
    if (k && (k->ceiling < r.bound * 0.98 || saturated) && k->ceiling >= r.speedup_low * 0.95) {
      found.push_back(std::move(*k));
    }
  };
  for (auto probe : {other_processes, run_queue, steal, compute_peak, memory_bandwidth, idle_workers,
                     clock, imbalance, extra_cpu, ipc_fell, cache_misses, communication, contention}) {
    consider(probe(r, c));
  }
  // The causes of the workload's own kind of work (late wake-ups, queueing, ...).
  for (Candidate& k : r.m->workload->diagnose(r, workload_context)) consider(std::move(k));
  // An uneven split leaves workers idle: the idle time the CPU time shows is that imbalance.
  if (std::any_of(found.begin(), found.end(), [](const Candidate& k) { return k.cause == Cause::imbalance; })) {
    std::erase_if(found, [](const Candidate& k) {
      return k.cause == Cause::idle_workers && k.figures.value("from", "") == "cpu_time";
    });
  }
  return found;
}

// The cause named among those found, the others listed as "also".
void name_cause(const std::vector<Candidate>& found, const ResultRow& r, Diagnosis& d) {
  const double shortfall = r.bound - r.speedup;
  // A symptom is named only when no cause is found: workers that used more CPU than serial
  // (the symptom of a bandwidth or compute ceiling), requests that queued (the symptom of a
  // CPU busy with work outside the handler).
  const auto symptom = [](const Candidate& k) { return k.symptom; };
  const bool any_cause = std::any_of(found.begin(), found.end(), [&](const Candidate& k) { return !symptom(k); });
  // Other processes measured on our CPUs are the cause of which our threads' run delay is
  // the symptom: named first when both are found.
  const bool others = std::any_of(found.begin(), found.end(),
                                  [](const Candidate& k) { return k.cause == Cause::other_processes; });
  const auto best = std::min_element(found.begin(), found.end(), [&](const Candidate& a, const Candidate& b) {
    if (others && (a.cause == Cause::other_processes) != (b.cause == Cause::other_processes)) {
      return a.cause == Cause::other_processes;
    }
    if (any_cause && symptom(a) != symptom(b)) return !symptom(a);
    return a.ceiling < b.ceiling;
  });
  d.cause = best->cause;
  d.figures = best->figures;
  d.figures["ceiling"] = best->ceiling;
  d.figures["explained"] = shortfall > 0 ? std::min(1.0, (r.bound - best->ceiling) / shortfall) : 1.0;
  d.line = best->line;
  for (const auto& other : found) {
    if (&other != &*best) d.figures["also"].push_back(to_string(other.cause));
  }
}

// No cause found: the line says what was looked for and what could not be seen.
void name_no_cause(const ResultRow& r, Diagnosis& d) {
  d.cause = Cause::not_identified;
  d.line = "not identified: x" + fixed(r.speedup, 2) + " against a bound of x" + fixed(r.bound, 2) +
           "; no other processes, run delay, steal, compute or bandwidth ceiling, extra CPU";
  if (r.counters.ipc()) d.line += ", IPC fall, cache misses";
  if (r.m->contention && r.m->contention->skipped.empty()) d.line += ", contention";
  if (r.m->workload->kind() == Kind::io) d.line += ", late wake-up, queueing or run tail";
  if (r.m->workload->kind() != Kind::io) d.line += " or idle workers";
  d.line += " measured in this run accounts for it";
  // The names of what was not visible; why each was not is in not_seen.
  std::string hidden;
  for (const auto& what : d.not_seen) {
    hidden += (hidden.empty() ? "" : ", ") + what.substr(0, what.find(" ("));
  }
  if (!hidden.empty()) d.line += "; not visible here: " + hidden;
}

// Late wake-ups, queueing, a run queue, slower workers or no cause found, on CPUs other
// processes were using: they are what woke late or queued, so they are named with their
// share even where the ceiling above is another's (a serial baseline that shared its CPU too
// leaves them no ceiling of their own).
void name_other_processes(const ResultRow& r, const DiagnosisContext& c, Diagnosis& d) {
  if (!c.load_visible || r.others_share < kOthersNamed || d.cause == Cause::other_processes) return;
  const Point& p = *r.point;
  d.line += "; meanwhile other processes took " + pct(r.others_share) + " of CPU" +
            (p.cpus.size() == 1 ? " " : "s ") + exec::format_cpu_list(p.cpus) +
            (c.busiest.empty() ? std::string() : " (busiest: " + c.busiest + ")");
  d.figures["others_share"] = r.others_share;
}

}  // namespace

void diagnose_rows(std::vector<ResultRow>& rows, const DiagnosisContext& c) {
  // What a workload's own diagnosis may read of the machine.
  cvp::DiagnosisContext workload_context;
  if (c.timer_overshoot_us > 0) workload_context.timer_overshoot_us = c.timer_overshoot_us;
  if (c.context_switch_us > 0) workload_context.context_switch_us = c.context_switch_us;
  for (ResultRow& r : rows) {
    if (!misses_bound(r)) continue;
    Diagnosis d;
    d.not_seen = hidden_signals(r, c);
    const std::vector<Candidate> found = candidates(r, c, workload_context);
    if (!found.empty()) {
      name_cause(found, r, d);
    } else {
      name_no_cause(r, d);
    }
    name_other_processes(r, c, d);
    d.figures["speedup"] = r.speedup;
    d.figures["bound"] = r.bound;
    r.diagnosis = std::move(d);
  }
}

}  // namespace cvp::bench

namespace cvp::bench {
namespace {

// The bound a row's efficiency is read against: the attainable one (the ideal until rows carry
// their own).
double attainable_bound(const ResultRow& r) { return r.bound; }

bool close_to_bound(const ResultRow& r) {
  const double bound = attainable_bound(r);
  return bound > 0 && r.speedup >= kCloseToBound * bound;
}

// "triad n:4096 parallel threads/openmp/tbb; matmul n:512 parallel tbb threads:2/4": the rows of
// one cause, one phrase per name up to its mode (group and variant) and mode, with their
// backends and (where they differ) their thread counts.
std::string compact_names(const std::vector<const ResultRow*>& rows) {
  struct Phrase {
    std::string head;
    std::vector<std::string> backends;
    std::vector<int> threads;
  };
  std::vector<Phrase> phrases;
  for (const ResultRow* r : rows) {
    const Point& p = *r->point;
    std::string head = p.group + p.variant;
    std::replace(head.begin(), head.end(), '/', ' ');
    head += " " + std::string(exec::to_string(p.mode));
    auto it = std::find_if(phrases.begin(), phrases.end(), [&](const Phrase& x) { return x.head == head; });
    if (it == phrases.end()) it = phrases.insert(phrases.end(), Phrase{head, {}, {}});
    const std::string backend(exec::to_string(p.backend));
    if (std::find(it->backends.begin(), it->backends.end(), backend) == it->backends.end()) {
      it->backends.push_back(backend);
    }
    if (std::find(it->threads.begin(), it->threads.end(), p.threads) == it->threads.end()) {
      it->threads.push_back(p.threads);
    }
  }
  std::vector<std::string> out;
  for (Phrase& x : phrases) {
    std::string text = x.head + " " + join(x.backends, "/");
    if (x.threads.size() > 1) {
      std::sort(x.threads.begin(), x.threads.end());
      std::vector<std::string> counts;
      for (int t : x.threads) counts.push_back(std::to_string(t));
      text += " threads:" + join(counts, "/");
    }
    out.push_back(std::move(text));
  }
  return join(out, "; ");
}

std::string rows_count(std::size_t n) { return std::to_string(n) + (n == 1 ? " row" : " rows"); }

}  // namespace

std::vector<std::string> why_not_more_lines(const std::vector<ResultRow>& rows, bool verbose) {
  // The causes in the order they first appear, each with its rows in plan order.
  std::vector<std::pair<Cause, std::vector<const ResultRow*>>> by_cause;
  for (const ResultRow& r : rows) {
    if (!r.diagnosis || close_to_bound(r)) continue;
    auto it = std::find_if(by_cause.begin(), by_cause.end(),
                           [&](const auto& entry) { return entry.first == r.diagnosis->cause; });
    if (it == by_cause.end()) it = by_cause.insert(by_cause.end(), {r.diagnosis->cause, {}});
    it->second.push_back(&r);
  }
  // Named causes first, not identified last.
  std::stable_partition(by_cause.begin(), by_cause.end(),
                        [](const auto& entry) { return entry.first != Cause::not_identified; });
  std::vector<std::string> lines;
  for (const auto& [cause, members] : by_cause) {
    const std::string name(to_string(cause));
    if (cause == Cause::not_identified && !verbose) {
      lines.push_back(name + ": " + rows_count(members.size()) +
                      " below their bound with no cause this run measured (--verbose lists each)");
      continue;
    }
    lines.push_back(name + ": " + compact_names(members) + " (" + rows_count(members.size()) + ")");
    if (!verbose) continue;
    for (const ResultRow* r : members) lines.push_back("  " + r->point->name() + ": " + r->diagnosis->line);
  }
  return lines;
}

}  // namespace cvp::bench

#include "report/diagnosis.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cvp/exec/affinity.h"
#include "harness/stats.h"
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

std::optional<Candidate> memory_bandwidth(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const Row* base = r.Row::baseline;
  if (!c.limits_known || p.bytes <= 0 || p.mode != Mode::parallel || p.cores != c.limit_cores ||
      base == nullptr || base->median_s <= 0 || base->point == nullptr || c.bandwidth_all_cores <= 0) {
    return std::nullopt;
  }
  const double serial = base->point->bytes / base->median_s;
  const double achieved = p.bytes / r.median_s;
  const double ceiling = c.bandwidth_all_cores / serial;
  Candidate k{Cause::memory_bandwidth, ceiling, "",
              {{"bytes_per_s", achieved}, {"serial_bytes_per_s", serial},
               {"bandwidth_all_cores", c.bandwidth_all_cores}, {"ceiling", ceiling}}};
  k.line = "memory bandwidth: the team moved " + gb(achieved) + ", " +
           pct(achieved / c.bandwidth_all_cores) + " of the " + gb(c.bandwidth_all_cores) +
           " measured for all cores; serial already moved " + gb(serial) + ", so at most x" +
           fixed(ceiling, 2);
  return k;
}

std::optional<Candidate> idle_workers(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const TimelineFigures& t = r.timeline;
  // Requests' workers are idle while their requests wait: that is the work, not a loss.
  if (!t.traced || r.m->workload->kind() == Kind::io || p.mode != Mode::parallel ||
      p.threads > p.cores || t.busy_mean >= 0.97) {
    return std::nullopt;
  }
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

// CPU time beyond the work's own: the team used more CPU than the serial run for the same work.
// It limits the speedup when the cores were busy. A symptom (of a bandwidth or compute
// ceiling); request workloads weigh their own CPU against their handler's (Workload::diagnose).
std::optional<Candidate> extra_cpu(const ResultRow& r, const DiagnosisContext& c) {
  const Point& p = *r.point;
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  if (base == nullptr || r.cpu_s <= 0 || p.work <= 0 || r.m->workload->kind() == Kind::io) {
    return std::nullopt;
  }
  const double switches = r.voluntary + r.involuntary;
  nlohmann::json figures = {{"cpu_s", r.cpu_s}, {"context_switches", switches}};
  if (base->cpu_s <= 0 || r.cpu_s < 1.05 * base->cpu_s) return std::nullopt;
  const double more = r.cpu_s / base->cpu_s;
  const double ceiling = r.bound / more;
  figures["serial_cpu_s"] = base->cpu_s;
  std::string line = "slower workers: the team spent x" + fixed(more, 2) +
                     " the serial run's CPU time on the same work (" + human_time(r.cpu_s) +
                     " against " + human_time(base->cpu_s) + ")";
  if (!c.counters_unavailable.empty()) line += "; why each worker ran slower needs hardware counters, not available here";
  if (!(std::isfinite(ceiling) && ceiling > 0)) return std::nullopt;
  figures["ceiling"] = ceiling;
  return Candidate{Cause::extra_cpu, ceiling, line, figures, /*symptom=*/true};
}

}  // namespace

std::string hardware_counters_unavailable() {
#if defined(__linux__)
  perf_event_attr attr{};
  attr.type = PERF_TYPE_HARDWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  const long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return "";
  }
  const int error = errno;
  std::string why = std::string("perf_event_open: ") + std::strerror(error);
  if (error == ENOENT || error == EOPNOTSUPP || error == ENODEV) why += " (no CPU counters exposed, as in many virtual machines)";
  if (error == EACCES || error == EPERM) why += " (see /proc/sys/kernel/perf_event_paranoid)";
  return why;
#else
  return "hardware counters are read on Linux only";
#endif
}

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
  if (!r.timeline.traced) not_seen.push_back("idle workers (run with --trace)");
  if (!c.limits_known) not_seen.push_back("the machine's limits (--limits off)");
  return not_seen;
}

// Every cause that alone keeps the speedup below its bound, and that the speedup measured does
// not contradict (a traced execution unlike the timed ones, say).
std::vector<Candidate> candidates(const ResultRow& r, const DiagnosisContext& c,
                                  const cvp::DiagnosisContext& workload_context) {
  std::vector<Candidate> found;
  const auto consider = [&](std::optional<Candidate> k) {
    if (k && k->ceiling < r.bound * 0.98 && k->ceiling >= r.speedup_low * 0.95) {
      found.push_back(std::move(*k));
    }
  };
  for (auto probe : {other_processes, run_queue, steal, compute_peak, memory_bandwidth, idle_workers,
                     extra_cpu}) {
    consider(probe(r, c));
  }
  // The causes of the workload's own kind of work (late wake-ups, queueing, ...).
  for (Candidate& k : r.m->workload->diagnose(r, workload_context)) consider(std::move(k));
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
  if (r.m->workload->kind() == Kind::io) d.line += ", late wake-up or queueing";
  if (r.timeline.traced && r.m->workload->kind() != Kind::io) d.line += " or idle worker";
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

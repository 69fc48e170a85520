#include "report/summary.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "harness/plan.h"
#include "harness/stats.h"
#include "host/machine.h"
#include "host/noise.h"
#include "host/openmp.h"
#include "util/text.h"

namespace cvp::bench {
namespace {

// Seconds per unit of work, so that points doing different amounts of work (requests runs of
// different lengths) compare.
std::vector<double> per_unit(const Measurement& m) {
  std::vector<double> v = m.wall_s();
  const double work = m.point.work > 0 ? m.point.work : 1.0;
  for (double& x : v) x /= work;
  return v;
}

bool m_samples_empty(const ResultRow& r) { return r.m->samples.empty(); }

// The medians of the samples' request figures; nullopt when no sample has any.
std::optional<RequestFigures> median_request_figures(const std::vector<Sample>& samples) {
  std::vector<double> c, overshoot, wait, p50, p90, in_flight, team_cpu;
  bool own_wait = false;
  for (const auto& s : samples) {
    if (!s.request) continue;
    c.push_back(s.request->c_measured_us);
    overshoot.push_back(s.request->wait_overshoot_us);
    wait.push_back(s.request->wait_us);
    p50.push_back(s.request->wait_p50_us);
    p90.push_back(s.request->wait_p90_us);
    in_flight.push_back(s.request->in_flight_mean);
    team_cpu.push_back(s.request->team_cpu_us);
    own_wait = s.request->own_wait;
  }
  if (c.empty()) return std::nullopt;
  return RequestFigures{stats::median(c),   stats::median(overshoot), stats::median(wait),
                        stats::median(p50), stats::median(p90),       own_wait,
                        stats::median(in_flight), stats::median(team_cpu)};
}

std::vector<double> each(const std::vector<Sample>& samples, double Sample::*field) {
  std::vector<double> v;
  for (const auto& s : samples) v.push_back(s.*field);
  return v;
}

}  // namespace

const std::string& row_error(const ResultRow& row) {
  return row.m->error.empty() ? row.problem : row.m->error;
}

bool never_measured(const Measurement& m) {
  return m.samples.empty() && m.error.empty() && m.verified && m.interrupted_runs > 0;
}

namespace {

// The medians of a measured point's blocks: time, CPU, switches, where it ran, its values and
// latencies.
void add_block_medians(ResultRow& r, const Measurement& m) {
  if (!m.samples.empty()) {
    const auto wall = m.wall_s();
    r.median_s = stats::median(wall);
    const auto ci = stats::median_ci(wall);
    r.ci_low = ci.low;
    r.ci_high = ci.high;
    r.ci_coverage = ci.coverage;
    r.cpu_s = stats::median(each(m.samples, &Sample::cpu_s));
    r.spin_counted = std::all_of(m.samples.begin(), m.samples.end(),
                                 [](const Sample& s) { return s.spin_s >= 0; });
    if (r.spin_counted) r.spin_s = stats::median(each(m.samples, &Sample::spin_s));
    r.cpu_per_wall = stats::median(each(m.samples, &Sample::cpu_per_wall));
    r.voluntary = stats::median(each(m.samples, &Sample::voluntary));
    r.involuntary = stats::median(each(m.samples, &Sample::involuntary));
    std::set<int> cpus;
    std::vector<double> latencies;
    std::map<std::string, std::vector<double>> values;
    for (const auto& s : m.samples) {
      cpus.insert(s.cpus_seen.begin(), s.cpus_seen.end());
      r.threads_seen = std::max(r.threads_seen, s.threads_seen);
      r.pin_failures += s.pin_failures;
      latencies.insert(latencies.end(), s.latencies_us.begin(), s.latencies_us.end());
      for (const auto& [key, value] : s.values) values[key].push_back(value);
    }
    r.cpus_seen.assign(cpus.begin(), cpus.end());
    for (const auto& [key, v] : values) r.values[key] = stats::median(v);
    if (!latencies.empty()) {
      const auto q = stats::percentiles(latencies, {50, 95, 99});
      r.has_latency = true;
      r.request = median_request_figures(m.samples);
      r.p50 = q[0];
      r.p95 = q[1];
      r.p99 = q[2];
    }
  }
}

// The clock the team ran at: the median over the blocks of the probes' mean, per CPU too.
void add_clock(ResultRow& r, const Measurement& m) {
  std::vector<double> mean;
  std::map<int, std::vector<double>> by_cpu;
  for (const auto& s : m.samples) {
    if (s.ghz_before <= 0 || s.ghz_after <= 0) continue;
    mean.push_back((s.ghz_before + s.ghz_after) / 2);
    for (const auto& [cpu, ghz] : s.ghz_by_cpu) by_cpu[cpu].push_back(ghz);
  }
  if (mean.empty()) return;
  r.ghz = stats::median(mean);
  for (const auto& [cpu, v] : by_cpu) r.ghz_by_cpu[cpu] = stats::median(v);
}

// The other work beside the point's counted blocks: their CPU share, pressure, runnable tasks.
void add_load_beside(ResultRow& r, const Measurement& m) {
  double others = 0, capacity = 0;
  std::vector<double> pressure, running;
  for (const auto& s : m.samples) {
    if (s.others_cpu_s >= 0 && s.block_wall_s > 0) {
      others += s.others_cpu_s;
      capacity += s.block_wall_s * static_cast<double>(std::max<std::size_t>(m.point.cpus.size(), 1));
    }
    if (s.pressure_share >= 0) pressure.push_back(s.pressure_share);
    if (s.procs_running >= 0) running.push_back(s.procs_running);
  }
  if (capacity > 0) r.others_share = std::min(1.0, others / capacity);
  if (!pressure.empty()) r.pressure = stats::median(pressure);
  if (!running.empty()) r.procs_running = stats::median(running);
}

// One point's row, before the speedups: its statistics and evidence.
ResultRow row_of(const Measurement& m) {
  ResultRow r;
  r.m = &m;
  r.point = &m.point;
  r.ok = m.verified && !m.samples.empty() && m.error.empty();
  add_block_medians(r, m);
  r.timeline = timeline_figures(m);
  add_load_beside(r, m);
  add_clock(r, m);
  r.counters = row_counters(m.samples);
  r.energy = row_energy(m.samples);
  r.pinned = exec::pinned_as_intended(r.cpus_seen, m.point.cpus, r.pin_failures);
  if (r.median_s > 0) r.throughput = m.point.work / r.median_s / m.workload->unit().rate_scale;
  return r;
}

// Every row's baseline row (the rows no longer move).
void link_baselines(std::vector<ResultRow>& rows) {
  for (auto& r : rows) {
    if (!r.m->baseline) continue;
    for (const auto& other : rows) {
      if (other.m == r.m->baseline) {
        r.baseline = other.point->name();
        if (other.ok) r.Row::baseline = &other;
      }
    }
  }
}

// A distributed row's capacity: its teams on rank 0's host as the machine model measured them
// (the host's ranks' cores busy together), times the hosts, which are taken to be alike.
void add_distributed_capacity(ResultRow& r, const MachineView& machine) {
  const Point& p = *r.point;
  const MachineModel* model = machine.model;
  const std::string hosts = p.hosts == 1 ? "" : " x " + std::to_string(p.hosts) + " hosts (each taken to be this one)";
  if (model == nullptr || !model->measured) {
    r.network_latency_s = machine.network_latency_s;
    r.network_bandwidth = machine.network_bandwidth;
    const std::set<int> cpus(p.host_cpus.begin(), p.host_cpus.end());
    r.capacity = static_cast<double>(p.hosts) * static_cast<double>(std::max<std::size_t>(1, cpus.size()));
    r.bandwidth_all_cores = machine.bandwidth_all_cores * p.hosts;  // each host its own memory
    r.attainable_model = "the machine was not measured (--limits off): each core of the ranks' teams counts 1" + hosts;
    return;
  }
  r.network_latency_s = machine.network_latency_s;
  r.network_bandwidth = machine.network_bandwidth;
  const double here = model->team_capacity(p.host_cpus);
  r.capacity = here * p.hosts;
  r.bound_tolerance = kCapacityTolerance;
  r.bandwidth_all_cores =
      team_bandwidth(*model, machine.bandwidth_by_kind, p.host_cpus, machine.bandwidth_all_cores) * p.hosts;
  const std::set<int> distinct(p.host_cpus.begin(), p.host_cpus.end());
  r.attainable_model = "the ranks' teams' capacity " + fixed(r.capacity, 2) + " = CPUs " +
                       exec::format_cpu_list(std::vector<int>(distinct.begin(), distinct.end())) +
                       " of rank 0's host " + fixed(here, 2) + hosts +
                       " (each core's FP64 rate with the teams' cores busy, relative to the home CPU " +
                       std::to_string(model->home_cpu) + " alone)";
}

// What the row's team can do on this machine as measured: its capacity (with the model's words
// and numbers) and the memory bandwidth the default bound of memory-bound work reads.
void add_capacity(ResultRow& r, const MachineView& machine) {
  const Point& p = *r.point;
  r.bandwidth_one_core = machine.bandwidth_one_core;
  r.bandwidth_all_cores = machine.bandwidth_all_cores;
  const MachineModel* model = machine.model;
  if (p.mode == Mode::distributed) {
    add_distributed_capacity(r, machine);
    return;
  }
  if (p.mode != Mode::parallel) {
    r.capacity = 1;
    r.attainable_model = "one core: the home CPU, as serial";
    return;
  }
  if (model == nullptr || !model->measured) {
    r.capacity = p.cores;
    r.attainable_model = "the machine was not measured (--limits off): each core counts 1";
    return;
  }
  r.capacity = model->team_capacity(p.cpus);
  r.bound_tolerance = kCapacityTolerance;
  // A team of one kind of core draws its kind's bandwidth.
  r.bandwidth_all_cores =
      team_bandwidth(*model, machine.bandwidth_by_kind, p.cpus, machine.bandwidth_all_cores);
  const bool one_core = p.cores == 1;
  std::set<int> cores;
  std::string terms;
  for (const int cpu : p.cpus) {
    const CpuInfo* info = model->find(cpu);
    if (info == nullptr || !cores.insert(info->core).second) continue;
    terms += (terms.empty() ? "" : " + ") + std::string("CPU ") + std::to_string(cpu) + " " +
             fixed(one_core ? info->capacity_alone : info->capacity_all_busy, 2);
  }
  r.attainable_model = "the team's capacity " + fixed(r.capacity, 2) + " = " + terms + " (each core's FP64 rate" +
                       (one_core ? "" : " with the team's cores busy") + ", relative to the home CPU " +
                       std::to_string(model->home_cpu) + " alone)";
}

// A row's speedup against its baseline, its precision, its bound and what follows from them.
void add_speedup_and_bound(ResultRow& r) {
  const Measurement& m = *r.m;
  const Point& p = m.point;
  const ResultRow* base = static_cast<const ResultRow*>(r.Row::baseline);
  const bool is_baseline = m.baseline == &m;
  if (r.ok && base) {
    const auto ratios = paired_speedups(m);
    if (!ratios.empty()) {
      r.paired = true;
      r.pairs = ratios.size();
      r.speedup = stats::median(ratios);
      const auto ci = stats::median_ci(ratios);
      r.speedup_low = ci.low;
      r.speedup_high = ci.high;
      r.ci_known = ci.coverage >= 0.95;
    } else {
      const auto est = stats::ratio_of_medians(per_unit(*base->m), per_unit(m));
      r.speedup = est.value;
      r.speedup_low = est.low;
      r.speedup_high = est.high;
      // A bootstrap from fewer blocks than an order-statistics interval needs is no better.
      r.ci_known = std::min(base->m->samples.size(), m.samples.size()) >= 6;
    }
    r.baseline_s = base->median_s;
  }
  if (r.ok) {
    const Precision precision =
        is_baseline || !r.paired ? relative_precision(m.wall_s()) : relative_precision(paired_speedups(m));
    r.precision = precision.half_width;
    if (is_baseline) r.ci_known = precision.enough;
    r.precise = m.target_met && r.ci_known;
  }
  // The bounds on the speedup, shown next to it, from the workload's model: with the team's
  // measured capacity (attainable) and with every core the home CPU's equal (ideal).
  Row ideal = r;
  ideal.capacity = p.mode == Mode::parallel      ? p.cores
                   : p.mode == Mode::distributed ? p.cores * p.ranks
                                                 : 1;
  ideal.bandwidth_one_core = ideal.bandwidth_all_cores = 0;
  r.ideal = m.workload->bound(ideal);
  r.bound = m.workload->bound(r);
  if (!(std::isfinite(r.ideal) && r.ideal > 0)) r.ideal = r.bound;
  if (!(std::isfinite(r.bound) && r.bound > 0)) {
    r.problem = m.workload->name() + " gave the bound " + std::to_string(r.bound) +
                ", not a finite number > 0";
    r.bound = 0;
    r.ideal = 0;
    r.ok = false;
  }
  if (r.ok && base && r.bound > 0) {
    r.efficiency = r.speedup / r.bound;
    r.efficiency_low = r.speedup_low / r.bound;
    r.efficiency_high = r.speedup_high / r.bound;
    if (std::isfinite(r.ideal) && r.ideal > 0) r.efficiency_ideal = r.speedup / r.ideal;
    // Decided below, with every row's test in hand.
    r.anomaly.clear();
    // The serial fraction of work the team splits (not of requests that wait).
    // Strong scaling (Amdahl): Karp-Flatt's serial fraction; weak scaling (Gustafson): the
    // serial fraction s of the scaled speedup S = P - s (P - 1), s = (P - S) / (P - 1).
    if (m.workload->kind() != Kind::io && p.weak == 1 && p.mode == Mode::parallel && p.cores > 1 &&
        r.speedup > 0) {
      r.karp_flatt = stats::karp_flatt(r.speedup, std::min(p.threads, p.cores));
      r.has_karp_flatt = p.threads > 1;
    }
    if (m.workload->kind() != Kind::io && p.weak > 1 && r.speedup > 0) {
      r.gustafson = (p.weak - r.speedup) / (p.weak - 1);
      r.has_gustafson = true;
    }
  }
}

// A weak io row (K P in flight, N P requests on P cores): its speedup over serial (one request
// at a time) is mostly concurrency's, so Gustafson's S is its speedup over the concurrent point of
// its own K on one core (the same group and backend; threads for a distributed row), the problem
// it grew from: the ratio of the two speedups over the same serial baseline, their throughputs'.
void add_weak_io(std::vector<ResultRow>& rows) {
  for (ResultRow& r : rows) {
    const Point& p = *r.point;
    if (r.m->workload->kind() != Kind::io || p.weak <= 1 || !r.ok || !(r.speedup > 0)) continue;
    const int k = static_cast<int>(std::lround(p.in_flight / p.weak));
    const Backend backend = p.mode == Mode::distributed ? Backend::threads : p.backend;
    for (const ResultRow& c : rows) {
      const Point& q = *c.point;
      if (c.m->workload != r.m->workload || q.group != p.group || q.mode != Mode::concurrent ||
          q.backend != backend || q.in_flight != k || !c.ok || !(c.speedup > 0)) {
        continue;
      }
      r.scaled_over_one_core = r.speedup / c.speedup;
      r.one_core_name = q.name();
      r.gustafson = (p.weak - r.scaled_over_one_core) / (p.weak - 1);
      r.has_gustafson = true;
      break;
    }
  }
}

void flag_anomalies(std::vector<ResultRow>& rows) {
  // A speedup above its bound is an anomaly when chance cannot explain it: a one-sided sign
  // test of its paired ratios against the bound, at 5% for the whole run (Bonferroni over the
  // rows tested). Rows whose true speedup is the bound (a team of one, a computing team on one
  // core) would otherwise be flagged in 2.5% of runs each by their own 95% CI.
  std::size_t tested = 0;
  for (const auto& r : rows) tested += r.ok && r.paired && r.bound > 0 ? 1 : 0;
  for (auto& r : rows) {
    const double above_at = r.bound * (1 + std::max(r.bound_tolerance, 1e-9));
    if (!(r.ok && r.paired && r.bound > 0) || !(r.speedup_low > above_at)) continue;
    const auto ratios = paired_speedups(*r.m);
    int above = 0;
    for (double x : ratios) above += x > above_at ? 1 : 0;
    const double p = stats::sign_test_p(static_cast<int>(ratios.size()), above);
    const double level = 0.05 / static_cast<double>(std::max<std::size_t>(tested, 1));
    if (p > level) continue;
    char p_text[32];
    std::snprintf(p_text, sizeof(p_text), "%.2g", p);
    r.anomaly = "the speedup's 95% CI [" + fixed(r.speedup_low, 3) + ", " + fixed(r.speedup_high, 3) +
                "] lies above its bound " + fixed(r.bound, 3) + " (" + std::to_string(above) +
                " of " + std::to_string(ratios.size()) + " paired ratios above it, sign test p = " +
                p_text + "): the bound's model (" + r.m->workload->bound_model() +
                ") leaves out something this run measured";
  }
}

}  // namespace

std::vector<ResultRow> summarise(const std::vector<Measurement>& measurements,
                                 const MachineView& machine) {
  std::vector<ResultRow> rows;
  rows.reserve(measurements.size());
  for (const auto& m : measurements) rows.push_back(row_of(m));
  for (auto& r : rows) add_capacity(r, machine);
  // Every row's baseline row (the rows no longer move), then the speedups and the bounds.
  link_baselines(rows);
  for (auto& r : rows) add_speedup_and_bound(r);
  add_weak_io(rows);
  flag_anomalies(rows);
  return rows;
}

std::vector<std::string> verdicts(const std::vector<ResultRow>& rows, int allowed_cores) {
  std::vector<const Workload*> order;
  for (const auto& r : rows) {
    if (std::find(order.begin(), order.end(), r.m->workload) == order.end()) {
      order.push_back(r.m->workload);
    }
  }
  std::vector<std::string> lines;
  for (const Workload* w : order) {
    VerdictContext context;
    context.allowed_cores = allowed_cores;
    for (const auto& r : rows) {
      if (r.m->workload == w && !never_measured(*r.m)) context.rows.push_back(&r);
    }
    if (context.rows.empty()) continue;
    for (auto& line : w->verdicts(context)) lines.push_back(std::move(line));
  }
  return lines;
}

namespace {

nlohmann::json workload_json(const Workload& w) {
  const WorkUnit unit = w.unit();
  return {{"name", w.name()},
          {"kind", to_string(w.kind())},
          {"unit", {{"work", unit.name}, {"rate", unit.rate_unit}, {"rate_scale", unit.rate_scale}}},
          {"description", w.description()},
          {"bound_model", w.bound_model()},
          {"timing", w.timing() == Timing::manual ? "manual" : "real"}};
}

// A measured row's precision: the target, what was reached and why it was missed.
nlohmann::json precision_json(const ResultRow& r, const Options& o) {
  const Measurement& m = *r.m;
  return {{"target", o.precision},
          {"reached", r.ci_known ? nlohmann::json(r.precision) : nlohmann::json(nullptr)},
          {"met", m.target_met},
          {"missed", m.target_met || (o.precision == 0 && !m.short_of_minimum)
                         ? nlohmann::json(nullptr)
                         : nlohmann::json(m.target_missed)}};
}

nlohmann::json roofline_json(const ResultRow& r) {
  const Point& p = *r.point;
  if ((p.flop <= 0 && p.bytes <= 0) || r.median_s <= 0) return nullptr;
  return {{"flop_per_execution", p.flop},
          {"bytes_per_execution", p.bytes},
          {"intensity", p.flop > 0 && p.bytes > 0 ? nlohmann::json(p.flop / p.bytes) : nlohmann::json(nullptr)},
          {"flop_per_s", p.flop / r.median_s},
          {"bytes_per_s", p.bytes / r.median_s}};
}

// The attainable bound: its value, the team's capacity it comes from, and the model in words
// with this row's numbers.
// Memory-bound work held by the memory in its bound (Workload::bound): "; the memory binds below
// that: all cores move X GB/s (...), serial moved Y GB/s, so at most xZ"; "" otherwise.
std::string memory_binds_text(const ResultRow& r) {
  const Point& p = *r.point;
  const Row* base = r.Row::baseline;
  if (r.m->workload->kind() != Kind::memory || r.bandwidth_all_cores <= 0 || base == nullptr ||
      base->point == nullptr || base->median_s <= 0 || base->point->bytes <= 0 ||
      base->point->work <= 0 || p.bytes <= 0 || p.work <= 0) {
    return "";
  }
  const double serial = base->point->bytes / base->median_s;
  const double ceiling = r.bandwidth_all_cores / serial * (base->point->bytes / base->point->work) / (p.bytes / p.work);
  if (std::abs(ceiling - r.bound) > 0.01 * r.bound) return "";
  return "; the memory binds below that: all cores " + std::string(p.hosts > 1 ? "of " + std::to_string(p.hosts) + " hosts " : "") +
         "move " + fixed(r.bandwidth_all_cores / 1e9, 1) + " GB/s (measured at the start), serial moved " +
         fixed(serial / 1e9, 1) + " GB/s, so at most x" + fixed(ceiling, 2) + " per unit of work";
}

nlohmann::json attainable_json(const ResultRow& r) {
  std::string model = r.attainable_model;
  const Point& p = *r.point;
  const double by_capacity = std::min(static_cast<double>(p.threads * p.ranks), r.capacity);
  if ((p.mode == Mode::parallel || p.mode == Mode::distributed) && r.bound < by_capacity * 0.999) {
    // A distributed bound is below the capacity by its communication too: named where the
    // memory is what binds.
    const std::string memory = memory_binds_text(r);
    if (!memory.empty()) {
      model += memory;
    } else if (p.mode == Mode::parallel) {
      model += "; the workload's model binds below that (" + r.m->workload->bound_model() + ")";
    }
  }
  return {{"value", r.bound}, {"capacity", r.capacity}, {"model", model}};
}

// The clock the row's CPUs ran at, from the probes around its blocks; null when not probed.
nlohmann::json clock_json(const ResultRow& r) {
  if (r.ghz <= 0) return nullptr;
  nlohmann::json by_cpu = nlohmann::json::object();
  for (const auto& [cpu, ghz] : r.ghz_by_cpu) by_cpu[std::to_string(cpu)] = ghz;
  return {{"ghz", r.ghz}, {"by_cpu", by_cpu},
          {"method", "a dependent-add chain on each of the team's CPUs before and after each block; "
                     "the median over the blocks"}};
}

nlohmann::json contention_json(const Measurement& m) {
  if (!m.contention) return nullptr;
  const Contention& k = *m.contention;
  if (!k.skipped.empty()) return {{"cpus", k.cpus}, {"skipped", k.skipped}, {"disturbed_rounds", k.disturbed_rounds}};
  return {{"cpus", k.cpus},
          {"rounds", k.rounds},
          {"disturbed_rounds", k.disturbed_rounds},
          {"copies_rate", k.ceiling},
          {"alone_s", k.alone_s},
          {"together_s", k.together_s},
          {"home_slowdown", k.home_slowdown > 0 ? nlohmann::json(k.home_slowdown) : nlohmann::json(nullptr)},
          {"skipped", nullptr},
          {"method", "copies of the serial point, one on each CPU of the team, run at once against "
                     "one copy alone on the home CPU; copies_rate is their summed rate over the lone "
                     "copy's, the median over rounds"}};
}

nlohmann::json diagnosis_json(const ResultRow& r) {
  if (!r.diagnosis) return nullptr;
  return {{"cause", to_string(r.diagnosis->cause)},
          {"line", r.diagnosis->line},
          {"figures", r.diagnosis->figures},
          {"not_seen", r.diagnosis->not_seen}};
}

nlohmann::json load_json(const ResultRow& r) {
  return {{"others_cpu_share", r.others_share >= 0 ? nlohmann::json(r.others_share) : nlohmann::json(nullptr)},
          {"cpu_pressure", r.pressure >= 0 ? nlohmann::json(r.pressure) : nlohmann::json(nullptr)},
          {"procs_running", r.procs_running >= 0 ? nlohmann::json(r.procs_running) : nlohmann::json(nullptr)}};
}

nlohmann::json sampling_json(const Measurement& m) {
  return {{"executions_per_block", m.executions_per_block},
          {"rounds", m.rounds},
          {"run_delay_ms", [&] {
             std::vector<double> v;
             for (const auto& s : m.samples) v.push_back(s.run_delay_s * 1e3);
             return v;
           }()}};
}

// A point's label: the kinds of core it runs on ("P+E"), then its placement ("smt").
// A weak point's numeric params that its group does not name ("n=645"; a request point's
// "k=16, requests=608"): the problem it grew to.
std::string grown_params(const Point& p) {
  std::vector<std::string> parts;
  const nlohmann::json params = p.params_json();
  for (const auto& [key, value] : params.items()) {
    if (!value.is_number()) continue;
    const double v = value.get<double>();
    const std::string text = v == std::floor(v) && std::abs(v) < 1e15 ? fixed(v, 0) : nlohmann::json(v).dump();
    if (p.group.find("/" + key + ":" + text) == std::string::npos) parts.push_back(key + "=" + text);
  }
  return join(parts, ", ");
}

std::string point_label(const Point& p) {
  std::string label = p.kinds;
  const auto add = [&](const std::string& part) {
    if (!part.empty()) label += (label.empty() ? "" : " ") + part;
  };
  add(std::string(to_string(p.placement)));
  if (p.weak > 1) add("weak x" + fixed(p.weak, 0) + " (" + grown_params(p) + ")");
  return label;
}

// The serial row a row compares its counters and energy with; nullptr for a serial row itself.
const ResultRow* compared_with(const ResultRow& r) {
  const auto* base = static_cast<const ResultRow*>(r.Row::baseline);
  return base == &r || base == nullptr || base->m == r.m ? nullptr : base;
}

// The row's counters and energy beside its serial baseline's (report/meter_figures.h).
void add_meters_json(nlohmann::json& e, const ResultRow& r) {
  const ResultRow* base = compared_with(r);
  const double work = r.point->work, base_work = base ? base->point->work : 0;
  e["counters"] = counters_json(r.counters, base ? &base->counters : nullptr, work, base_work);
  e["energy"] = energy_json(r.energy, base ? &base->energy : nullptr, work, base_work);
}

// The console's notes on the row's counters and energy.
std::vector<std::string> meter_notes_of(const ResultRow& r) {
  const ResultRow* base = compared_with(r);
  return meter_notes(r.counters, r.energy, base ? &base->counters : nullptr,
                     base ? &base->energy : nullptr, r.point->work, base ? base->point->work : 0,
                     base && r.baseline_s > 0 ? r.speedup : 0, r.m->workload->unit().name);
}

// A measured row's entry of "results", before its optional parts.
nlohmann::json result_entry(const ResultRow& r, const Options& o) {
  const Measurement& m = *r.m;
  const Point& p = m.point;
  const WorkUnit unit = m.workload->unit();
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : named_figures(r.values, r.request)) values[key] = value;
  return {
      {"name", p.name()},
      {"workload", p.workload},
      {"kind", to_string(m.workload->kind())},
      {"group", p.group},
      {"params", p.params_json()},
      {"mode", exec::to_string(p.mode)},
      {"backend", exec::to_string(p.backend)},
      {"threads", p.threads},
      {"in_flight", p.in_flight},
      {"cores", p.cores},
      {"ranks", p.ranks},
      {"weak", p.weak},
      {"label", point_label(p)},
      {"headline", p.headline},
      {"work", {{"unit", unit.name}, {"per_execution", p.work}}},
      {"wall_s",
       {{"median", r.median_s},
        {"ci95", {r.ci_low, r.ci_high}},
        {"ci_coverage", r.ci_coverage},
        {"samples", m.wall_s()}}},
      {"cpu_s", r.cpu_s},
      {"spin_s", r.spin_counted ? nlohmann::json(r.spin_s) : nlohmann::json(nullptr)},
      {"cpu_per_wall", r.cpu_per_wall},
      {"throughput", {{"value", r.throughput}, {"unit", unit.rate_unit}}},
      {"speedup",
       {{"value", r.speedup},
        {"ci95", {r.speedup_low, r.speedup_high}},
        {"baseline", r.baseline.empty() ? "unavailable" : r.baseline},
        {"baseline_wall_s", r.baseline_s},
        {"method", r.paired ? "paired" : "ratio of medians"},
        {"pairs", r.pairs},
        {"ci_known", r.ci_known}}},
      {"precision", precision_json(r, o)},
      {"efficiency", r.efficiency},
      {"efficiency_ci95", {r.efficiency_low, r.efficiency_high}},
      {"anomaly", r.anomaly.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.anomaly)},
      {"efficiency_ideal", r.efficiency_ideal},
      {"bound", r.ideal},
      {"bound_model", m.workload->bound_model()},
      {"attainable", attainable_json(r)},
      {"clock", clock_json(r)},
      {"karp_flatt", r.has_karp_flatt ? nlohmann::json(r.karp_flatt) : nlohmann::json(nullptr)},
      {"gustafson_serial_fraction", r.has_gustafson ? nlohmann::json(r.gustafson) : nlohmann::json(nullptr)},
      {"values", values},
      {"evidence",
       {{"cpus_seen", r.cpus_seen},
        {"intended_cpus", p.cpus},
        {"pinned", r.pinned},
        {"pin_failures", r.pin_failures},
        {"threads_seen", r.threads_seen},
        {"ctx_switches", {{"voluntary", r.voluntary}, {"involuntary", r.involuntary}}}}},
      {"verified", m.verified},
      {"timeline", to_json(r.timeline)},
      {"roofline", roofline_json(r)},
      {"diagnosis", diagnosis_json(r)},
      {"contention", contention_json(m)},
      {"load", load_json(r)},
      {"repetitions_done", m.samples.size()},
      {"sampling", sampling_json(m)},
  };
}

// A measured row's entry of "results", whole: the I/O figures of an io workload and the blocks
// set aside, where there are any.
nlohmann::json result_json(const ResultRow& r, const Options& o) {
  const Measurement& m = *r.m;
  const Point& p = m.point;
  nlohmann::json e = result_entry(r, o);
  add_meters_json(e, r);
  if (r.has_latency) e["latency_us"] = {{"p50", r.p50}, {"p95", r.p95}, {"p99", r.p99}};
  if (m.workload->kind() == Kind::io) {
    e["io"] = {{"c_measured_us", r.request ? r.request->c_measured_us : 0.0},
               {"wait_overshoot_us", r.request ? r.request->wait_overshoot_us : 0.0},
               {"wait_us", r.request ? nlohmann::json{{"mean", r.request->wait_us},
                                                       {"p50", r.request->wait_p50_us},
                                                       {"p90", r.request->wait_p90_us}}
                                     : nlohmann::json(nullptr)},
               {"throughput_rps", r.throughput},
               {"in_flight_mean", r.request ? nlohmann::json(r.request->in_flight_mean)
                                            : nlohmann::json(nullptr)},
               {"team_cpu_us", r.request ? nlohmann::json(r.request->team_cpu_us)
                                         : nlohmann::json(nullptr)},
               {"requests", p.work},
               {"errors", m.wrong_items}};
    // A weak row's scaled speedup over the concurrent point of its own K on one core.
    if (!r.one_core_name.empty()) {
      e["io"]["weak"] = {{"one_core", r.one_core_name}, {"scaled_speedup", r.scaled_over_one_core}};
    }
  }
  if (!m.excluded.empty()) {
    std::vector<double> wall;
    std::vector<std::string> reasons;
    for (const auto& s : m.excluded) {
      wall.push_back(s.wall_s);
      reasons.push_back(s.disturbed);
    }
    std::string reason = "disturbed blocks, set aside and measured again: ";
    std::set<std::string> seen;
    for (const auto& s : m.excluded) {
      const std::string kind = disturbance_kind(s);
      if (seen.insert(kind).second) reason += (seen.size() > 1 ? "; " : "") + kind;
    }
    e["excluded_samples"] = {{"wall_s", wall}, {"reason", reason}, {"reasons", reasons}};
  }
  if (const std::string& error = row_error(r); !error.empty()) e["error"] = error;
  return e;
}

// The summary's lists over the rows: the results and what the run lists apart from them.
struct SummaryLists {
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json errors = nlohmann::json::array();
  nlohmann::json not_measured = nlohmann::json::array();
  nlohmann::json anomalies = nlohmann::json::array();
  nlohmann::json diagnoses = nlohmann::json::array();
  nlohmann::json missed = nlohmann::json::array();
  nlohmann::json workloads = nlohmann::json::array();
  std::set<const Workload*> listed;
};

void add_row(SummaryLists& lists, const ResultRow& r, const Options& o) {
  const Measurement& m = *r.m;
  const Point& p = m.point;
  if (lists.listed.insert(m.workload).second) lists.workloads.push_back(workload_json(*m.workload));
  if (never_measured(m)) {
    lists.not_measured.push_back(p.name());
    return;
  }
  if (!r.anomaly.empty()) lists.anomalies.push_back({{"name", p.name()}, {"why", r.anomaly}});
  if (r.diagnosis) lists.diagnoses.push_back({{"name", p.name()}, {"cause", to_string(r.diagnosis->cause)}, {"line", r.diagnosis->line}});
  if ((o.precision > 0 || m.short_of_minimum) && r.ok && !m.target_met) {
    lists.missed.push_back({{"name", p.name()},
                            {"reached", r.ci_known ? nlohmann::json(r.precision) : nlohmann::json(nullptr)},
                            {"why", m.target_missed}});
  }
  if (const std::string& error = row_error(r); !error.empty()) {
    lists.errors.push_back({{"name", p.name()}, {"error", error}});
  }
  lists.results.push_back(result_json(r, o));
}

// The run's configuration: the options it ran with and how it measures.
nlohmann::json config_json(const RunReport& report, const Options& o) {
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& f : o.faults) faults.push_back(std::string(to_string(f.kind)) + ":" + f.pattern);
  nlohmann::json backends = nlohmann::json::array();
  for (Backend b : o.backends) backends.push_back(exec::to_string(b));
  nlohmann::json config = {
      {"quick", o.quick},
      {"repetitions", o.repetitions},
      {"min_time_s", o.min_time_s},
      {"random_interleaving", true},
      {"precision", o.precision},
      {"budget_s", o.budget_s},
      {"seed", o.seed},
      {"inject_slowdowns", [&] {
         nlohmann::json v = nlohmann::json::array();
         for (const auto& sd : o.slowdowns) v.push_back({{"fraction", sd.fraction}, {"pattern", sd.pattern}});
         return v;
       }()},
      {"inject_slow_cpus", [&] {
         nlohmann::json v = nlohmann::json::array();
         for (const auto& sc : o.slow_cpus) v.push_back({{"cpu", sc.cpu}, {"percent", sc.percent}});
         return v;
       }()},
      {"omp_wait_policy", omp_wait_policy_in_force()},
      {"trace", o.trace},
      {"limits", to_string(o.limits)},
      {"filter", o.filter},
      {"threads", o.threads},
      {"backends", backends},
      {"workload_options", o.workload_options},
      {"inject_faults", faults},
      {"time_measurement",
       "wall-clock (steady clock) of blocks of executions: a block is a fixed number of "
       "executions chosen per point to last about min_time_s, timed whole for workloads timed "
       "by the harness, or summed from each execution's own time for workloads that start and "
       "join their own team per execution (requests); one thread drives the mode's own team; "
       "setup, one warm-up execution and the result checks stay outside the timed region"},
      {"summary_method",
       "the points sharing a serial baseline are measured in rounds, one block of each point "
       "per round in a random order; a block whose threads waited for a CPU beyond their usual "
       "wait, whose CPUs lost time to the hypervisor, whose CPU clock moved or that spans a "
       "stop of the process is set aside and measured again; time = median of the blocks' "
       "time per execution, 95% CI of the median from order statistics; speedup = median of "
       "the paired ratios (baseline block / point block of the same round, per unit of work), "
       "95% CI of that median from order statistics; sampling goes on until each speedup's CI "
       "half-width is within the precision target or the budget is spent"}};
  if (!report.disturbance_signals.is_null()) config["disturbance_signals"] = report.disturbance_signals;
  return config;
}

}  // namespace

nlohmann::json summary_json(const RunReport& report, const Options& o) {
  SummaryLists lists;
  for (const auto& r : report.rows) add_row(lists, r, o);
  nlohmann::json summary = {
      {"schema_version", 1},
      {"tool", {{"name", "cvpbench"}, {"version", CVP_VERSION}, {"git_commit", git_commit()}}},
      {"machine", report.machine},
      {"config", config_json(report, o)},
      {"precision", {{"target", o.precision}, {"missed", lists.missed}}},
      {"anomalies", lists.anomalies},
      {"diagnoses", lists.diagnoses},
      {"trace", report.traced ? nlohmann::json("trace.json") : nlohmann::json(nullptr)},
      {"workloads", lists.workloads},
      {"verdicts", report.verdicts},
      {"interrupted", report.interrupted},
      {"errors", lists.errors},
      {"not_measured", lists.not_measured},
      {"results", lists.results},
  };
  if (report.disturbed_blocks > 0) summary["disturbed_blocks"] = report.disturbed_blocks;
  summary["clock_probe"] = report.clock_probe;
  if (report.noise) {
    summary["noisy"] = report.noise->noisy;
    summary["noise_reasons"] = report.noise->reasons;
    summary["noise"] = noise_json(*report.noise);
  }
  return summary;
}

nlohmann::json summary_json(const std::vector<ResultRow>& rows, const nlohmann::json& machine,
                            const Options& o, const std::vector<std::string>& verdict_lines) {
  return summary_json(RunReport{.rows = rows, .machine = machine, .verdicts = verdict_lines}, o);
}

std::string console_table(const std::vector<ResultRow>& rows) {
  std::ostringstream out;
  char line[512];
  // bound: the attainable bound (the machine as measured), which eff is read against; ideal:
  // min(threads, cores) or the workload's model on identical cores.
  std::snprintf(line, sizeof(line), "%-34s %-10s %-9s %4s %5s %10s %-23s %6s %5s %6s %5s %8s %-6s %s\n",
                "workload", "mode", "backend", "thr", "K", "time", "speedup [95% CI]", "+-",
                "eff", "bound", "ideal", "cpu/wall", "cpus", "notes");
  out << line;
  std::string previous_group;
  for (const auto& r : rows) {
    const Point& p = r.m->point;
    if (never_measured(*r.m)) continue;
    if (p.group != previous_group && !previous_group.empty()) out << "\n";
    previous_group = p.group;
    std::vector<std::string> notes;
    if (!point_label(p).empty()) notes.push_back(point_label(p));
    if (!r.pinned && !m_samples_empty(r)) notes.push_back("NOT PINNED");
    if (r.ok) notes.push_back(fixed(r.throughput, r.throughput >= 100 ? 0 : 2) + " " +
                              r.m->workload->unit().rate_unit);
    if (r.ok && r.has_latency) notes.push_back("p99 " + fixed(r.p99 / 1000, 2) + " ms");
    if (r.ok) {
      for (const auto& [key, value] : named_figures(r.values, r.request)) {
        // A distributed point's communication, as its share of the execution.
        if (p.mode == Mode::distributed && key == "communication_s" && r.median_s > 0) {
          notes.push_back("communication " + percent(value / r.median_s));
          continue;
        }
        notes.push_back(key + " " + fixed(value, 1));
      }
      for (auto& note : meter_notes_of(r)) notes.push_back(std::move(note));
    }
    if (!r.m->excluded.empty()) {
      notes.push_back(std::to_string(r.m->excluded.size()) + " disturbed block(s) measured again");
    }
    if (r.ok && !r.m->target_met && !r.m->target_missed.empty()) {
      notes.push_back((r.ci_known ? "precision +-" + percent(r.precision) : std::string("no 95% CI")) +
                      " (target missed: " + r.m->target_missed + ")");
    }
    if (!r.anomaly.empty()) notes.push_back("ANOMALY: speedup above its bound beyond its CI");
    if (r.ok && r.baseline_s == 0) notes.push_back("no speedup: its serial baseline was not measured");
    if (!r.ok) notes.push_back((r.m->unmeasured ? "" : "ERROR: ") + row_error(r));
    const std::string note_text = join(notes, ", ");
    const bool has_speedup = r.ok && r.baseline_s > 0;
    // Too few pairs for a 95% interval: the range of one or two ratios is not one.
    const std::string speed =
        !has_speedup ? "-"
        : r.ci_known ? speedup_text(r.speedup) + " [" + fixed(r.speedup_low, 2) + ", " +
                           fixed(r.speedup_high, 2) + "]"
                     : speedup_text(r.speedup) + " n/a (" + std::to_string(r.pairs) +
                           (r.pairs == 1 ? " pair)" : " pairs)");
    std::snprintf(line, sizeof(line), "%-34s %-10s %-9s %4d %5d %10s %-23s %6s %5s %6s %5s %8s %-6s %s\n",
                  p.group.c_str(), std::string(exec::to_string(p.mode)).c_str(),
                  std::string(exec::to_string(p.backend)).c_str(), p.threads, p.in_flight,
                  r.median_s > 0 ? human_time(r.median_s).c_str() : "-", speed.c_str(),
                  r.ok ? (r.ci_known ? percent(r.precision) : std::string("n/a")).c_str() : "-",
                  has_speedup ? fixed(r.efficiency, 2).c_str() : "-", fixed(r.bound, 2).c_str(),
                  fixed(r.ideal, 1).c_str(),
                  fixed(r.cpu_per_wall, 2).c_str(), exec::format_cpu_list(r.cpus_seen).c_str(),
                  "");
    // The notes can be long (an error message): appended whole, never cut by the buffer.
    std::string row(line);
    if (!row.empty() && row.back() == '\n') row.pop_back();
    out << row << note_text << "\n";
  }
  return out.str();
}

}  // namespace cvp::bench

#include "summary.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "matmul/matmul.h"
#include "cvp_git_commit.h"
#include "stats.h"

namespace cvp::bench {
namespace {

// Seconds per unit of work: per product for matmul, per request for I/O, so that runs of
// different sizes compare.
std::vector<double> per_unit(const Measurement& m) {
  std::vector<double> v = m.wall_s;
  if (m.point.kind == Kind::io) {
    for (double& x : v) x /= static_cast<double>(m.point.io.requests);
  }
  return v;
}

const Measurement* find_baseline(const std::vector<Measurement>& all, const Point& p) {
  const Measurement* any = nullptr;
  for (const auto& m : all) {
    if (m.point.mode != exec::Mode::serial || m.point.group() != p.group()) continue;
    if (m.point.backend == p.backend) return &m;
    if (!any || m.point.backend == "threads") any = &m;
  }
  return any;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string human_time(double s) {
  if (s >= 1) return fixed(s, 3) + " s";
  if (s >= 1e-3) return fixed(s * 1e3, 2) + " ms";
  return fixed(s * 1e6, 1) + " us";
}

std::string micros_text(double us) {
  if (us >= 1000 && std::fmod(us, 1000) == 0) return fixed(us / 1000, 0) + "ms";
  std::ostringstream out;
  out << us << "us";
  return out.str();
}

std::string speedup_text(double s) { return "x" + fixed(s, s >= 10 ? 1 : 2); }

}  // namespace

bool never_measured(const Measurement& m) {
  return m.wall_s.empty() && m.error.empty() && m.verified && m.interrupted_runs > 0;
}

const char* git_commit() { return CVP_GIT_COMMIT; }

std::optional<std::string> invalid_omp_wait_policy() {
  const char* value = std::getenv("OMP_WAIT_POLICY");
  if (value == nullptr) return std::nullopt;
  std::string upper;
  for (const char* c = value; *c; ++c) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
  // OpenMP 5.2, section 21.2.4: ACTIVE or PASSIVE, case-insensitive.
  if (upper == "ACTIVE" || upper == "PASSIVE") return std::nullopt;
  return std::string(value);
}

std::string omp_wait_policy_in_force() {
  const char* value = std::getenv("OMP_WAIT_POLICY");
  if (value == nullptr) return "default";
  if (const auto invalid = invalid_omp_wait_policy()) {
    return "default (OMP_WAIT_POLICY=" + *invalid + " is not a valid policy and was ignored)";
  }
  return value;
}

std::vector<ResultRow> summarise(const std::vector<Measurement>& measurements) {
  std::vector<ResultRow> rows;
  for (const auto& m : measurements) {
    ResultRow r;
    r.m = &m;
    const Point& p = m.point;
    r.ok = m.verified && !m.wall_s.empty() && m.error.empty();
    if (!m.wall_s.empty()) {
      r.median_s = stats::median(m.wall_s);
      const auto ci = stats::median_ci(m.wall_s);
      r.ci_low = ci.low;
      r.ci_high = ci.high;
      r.ci_coverage = ci.coverage;
    }
    if (!m.cpu_s.empty()) {
      r.cpu_s = stats::median(m.cpu_s);
      r.cpu_per_wall = stats::median(m.cpu_per_wall);
      r.voluntary = stats::median(m.voluntary);
      r.involuntary = stats::median(m.involuntary);
    }
    r.pinned = exec::pinned_as_intended(m.cpus_seen, p.cpus, m.pin_failures);
    if (p.kind == Kind::cpu) {
      r.throughput_unit = "GFLOP/s";
      if (r.median_s > 0) r.throughput = matmul::flops(p.n) / r.median_s / 1e9;
    } else {
      r.throughput_unit = "requests/s";
      if (r.median_s > 0) r.throughput = static_cast<double>(p.io.requests) / r.median_s;
      if (!m.c_measured_us.empty()) r.c_measured_us = stats::median(m.c_measured_us);
      if (!m.overshoot_us.empty()) r.overshoot_us = stats::median(m.overshoot_us);
      if (!m.latencies_us.empty()) {
        const auto q = stats::percentiles(m.latencies_us, {50, 95, 99});
        r.p50 = q[0];
        r.p95 = q[1];
        r.p99 = q[2];
      }
    }

    // The bound on the speedup, shown next to it.
    if (p.kind == Kind::cpu) {
      r.bound = p.mode == exec::Mode::parallel ? std::min(p.threads, p.cores) : 1.0;
    } else if (p.mode == exec::Mode::serial) {
      r.bound = 1.0;
    } else {
      const double c = std::max(r.c_measured_us, 1e-3);
      const double cores = p.mode == exec::Mode::parallel ? p.cores : 1;
      r.bound = std::min(static_cast<double>(p.in_flight), cores * (c + p.io.w_us) / c);
    }

    const Measurement* base = find_baseline(measurements, p);
    if (base) r.baseline = base->point.name();
    if (r.ok && base && !base->wall_s.empty() && base->verified) {
      const auto est = stats::ratio_of_medians(per_unit(*base), per_unit(m));
      r.speedup = est.value;
      r.speedup_low = est.low;
      r.speedup_high = est.high;
      r.baseline_s = stats::median(base->wall_s);
      r.efficiency = r.speedup / r.bound;
      if (p.kind == Kind::cpu && p.mode == exec::Mode::parallel && p.cores > 1 && r.speedup > 0) {
        r.karp_flatt = stats::karp_flatt(r.speedup, std::min(p.threads, p.cores));
        r.has_karp_flatt = p.threads > 1;
      }
    }
    rows.push_back(r);
  }
  return rows;
}

std::vector<std::string> verdicts(const std::vector<ResultRow>& rows, int allowed_cores) {
  std::vector<std::string> lines;
  std::vector<std::string> groups;
  for (const auto& r : rows) {
    const std::string g = r.m->point.group();
    if (!r.m->point.crossover && std::find(groups.begin(), groups.end(), g) == groups.end()) {
      groups.push_back(g);
    }
  }
  auto pick = [&](const std::string& group, exec::Mode mode, const std::string& backend,
                  int in_flight, int threads) -> const ResultRow* {
    const ResultRow* best = nullptr;
    for (const auto& r : rows) {
      const Point& p = r.m->point;
      if (!r.ok || p.group() != group || p.mode != mode || p.backend != backend) continue;
      if (in_flight > 0 && p.in_flight != in_flight) continue;
      if (threads > 0 && p.threads != threads) continue;
      if (!best || p.in_flight > best->m->point.in_flight) best = &r;
    }
    return best;
  };
  const std::string cores_text =
      std::to_string(allowed_cores) + (allowed_cores == 1 ? " core" : " cores");

  for (const auto& g : groups) {
    const ResultRow* any = nullptr;
    for (const auto& r : rows) {
      if (r.m->point.group() == g) any = &r;
    }
    const Point& gp = any->m->point;
    std::ostringstream line;
    if (gp.kind == Kind::cpu) {
      std::string backend = "threads";
      if (!pick(g, exec::Mode::serial, backend, 0, 0)) backend = gp.backend;
      const ResultRow* conc = pick(g, exec::Mode::concurrent, backend, 2 * allowed_cores, 0);
      if (!conc) conc = pick(g, exec::Mode::concurrent, backend, 0, 0);
      const ResultRow* par = pick(g, exec::Mode::parallel, backend, 0, allowed_cores);
      line << gp.workload << " n=" << gp.n << ":";
      if (conc) {
        line << " concurrency " << speedup_text(conc->speedup) << " on 1 core ("
             << conc->m->point.in_flight << " tasks in flight);";
      }
      if (allowed_cores == 1) {
        line << " parallelism: only 1 core is allowed, so parallel equals serial";
        if (par) line << " (" << speedup_text(par->speedup) << ")";
      } else if (par) {
        line << " parallelism " << speedup_text(par->speedup) << " on " << cores_text
             << " (ideal x" << allowed_cores << ")";
      }
      const ResultRow* serial = pick(g, exec::Mode::serial, backend, 0, 0);
      if (!conc && !par) line << " only the serial baseline was measured;";
      if (serial) line << " [" << backend << " backend, serial " << human_time(serial->median_s) << "]";
    } else {
      int k = 0;
      for (const auto& r : rows) {
        if (r.m->point.group() == g && r.m->point.mode != exec::Mode::serial) {
          k = (r.m->point.in_flight == 64 || k == 64) ? 64 : std::max(k, r.m->point.in_flight);
        }
      }
      std::string backend = "eventloop";
      if (!pick(g, exec::Mode::concurrent, backend, k, 0)) backend = "threads";
      const ResultRow* conc = pick(g, exec::Mode::concurrent, backend, k, 0);
      const ResultRow* par = pick(g, exec::Mode::parallel, backend, k, 0);
      line << gp.workload << " c=" << micros_text(gp.io.c_us) << " w=" << micros_text(gp.io.w_us)
           << " K=" << k << ":";
      if (conc) {
        line << " concurrency " << speedup_text(conc->speedup) << " on 1 core (bound "
             << speedup_text(conc->bound) << ");";
      }
      if (allowed_cores == 1) {
        line << " parallelism: only 1 core is allowed, so parallel equals serial";
      } else if (par) {
        line << " parallelism " << speedup_text(par->speedup) << " on " << cores_text << " (bound "
             << speedup_text(par->bound) << ")";
      }
      line << " [" << backend << " backend]";
    }
    lines.push_back(line.str());
  }

  // The crossover sweep: where one core's concurrency stops keeping up and parallelism helps.
  std::map<double, std::pair<const ResultRow*, const ResultRow*>> sweep;
  double w = 0;
  int k = 0;
  for (const auto& r : rows) {
    const Point& p = r.m->point;
    if (!r.ok || !p.crossover || p.backend != "eventloop") continue;
    w = p.io.w_us;
    k = p.in_flight;
    auto& slot = sweep[p.io.c_us];
    (p.mode == exec::Mode::concurrent ? slot.first : slot.second) = &r;
  }
  if (!sweep.empty() && allowed_cores > 1) {
    std::ostringstream line;
    line << "requests crossover w=" << micros_text(w) << " K=" << k << ":";
    double crossover_c = -1;
    for (const auto& [c, pair] : sweep) {
      if (pair.first && pair.second && pair.second->speedup > 1.2 * pair.first->speedup) {
        crossover_c = c;
        break;
      }
    }
    if (crossover_c > 0) {
      const auto& pair = sweep[crossover_c];
      line << " concurrency on 1 core keeps up until c=" << micros_text(crossover_c) << " (CPU share "
           << fixed(100 * crossover_c / (crossover_c + w), 1) << "%), where parallelism takes over ("
           << speedup_text(pair.second->speedup) << " vs " << speedup_text(pair.first->speedup)
           << ")";
    } else {
      line << " concurrency on 1 core keeps up with parallelism over the whole sweep";
    }
    lines.push_back(line.str());
  }
  return lines;
}

nlohmann::json summary_json(const std::vector<ResultRow>& rows, const nlohmann::json& machine,
                            const Options& o, const std::vector<std::string>& verdict_lines) {
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json errors = nlohmann::json::array();
  nlohmann::json not_measured = nlohmann::json::array();
  for (const auto& r : rows) {
    const Measurement& m = *r.m;
    const Point& p = m.point;
    if (never_measured(m)) {
      not_measured.push_back(p.name());
      continue;
    }
    nlohmann::json e = {
        {"name", p.name()},
        {"workload", p.workload},
        {"kind", p.kind == Kind::cpu ? "cpu" : "io"},
        {"params", p.params()},
        {"mode", exec::to_string(p.mode)},
        {"backend", p.backend},
        {"threads", p.threads},
        {"in_flight", p.in_flight},
        {"cores", p.cores},
        {"label", p.label},
        {"wall_s",
         {{"median", r.median_s},
          {"ci95", {r.ci_low, r.ci_high}},
          {"ci_coverage", r.ci_coverage},
          {"samples", m.wall_s}}},
        {"cpu_s", r.cpu_s},
        {"cpu_per_wall", r.cpu_per_wall},
        {"throughput", {{"value", r.throughput}, {"unit", r.throughput_unit}}},
        {"speedup",
         {{"value", r.speedup},
          {"ci95", {r.speedup_low, r.speedup_high}},
          {"baseline", r.baseline.empty() ? "unavailable" : r.baseline},
          {"baseline_wall_s", r.baseline_s}}},
        {"efficiency", r.efficiency},
        {"bound", r.bound},
        {"karp_flatt", r.has_karp_flatt ? nlohmann::json(r.karp_flatt) : nlohmann::json(nullptr)},
        {"evidence",
         {{"cpus_seen", m.cpus_seen},
          {"intended_cpus", p.cpus},
          {"pinned", r.pinned},
          {"pin_failures", m.pin_failures},
          {"threads_seen", m.threads_seen},
          {"ctx_switches", {{"voluntary", r.voluntary}, {"involuntary", r.involuntary}}}}},
        {"verified", m.verified},
        {"repetitions_done", m.wall_s.size()},
    };
    if (p.kind == Kind::io) {
      e["latency_us"] = {{"p50", r.p50}, {"p95", r.p95}, {"p99", r.p99}};
      e["io"] = {{"c_measured_us", r.c_measured_us},
                 {"wait_overshoot_us", r.overshoot_us},
                 {"throughput_rps", r.throughput},
                 {"requests", p.io.requests},
                 {"errors", m.io_errors}};
    }
    if (!m.stopped_wall_s.empty()) {
      e["excluded_samples"] = {
          {"wall_s", m.stopped_wall_s},
          {"reason", "the process was stopped and resumed (SIGSTOP or SIGTSTP, then SIGCONT) "
                     "while these repetitions were timed"}};
    }
    if (!m.error.empty()) {
      e["error"] = m.error;
      errors.push_back({{"name", p.name()}, {"error", m.error}});
    }
    results.push_back(e);
  }
  std::vector<int> sizes;
  for (auto s : o.sizes) sizes.push_back(static_cast<int>(s));
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& f : o.faults) faults.push_back(f.kind + ":" + f.pattern);
  return {
      {"schema_version", 1},
      {"tool", {{"name", "cvpbench"}, {"version", CVP_VERSION}, {"git_commit", CVP_GIT_COMMIT}}},
      {"machine", machine},
      {"config",
       {{"quick", o.quick},
        {"repetitions", o.repetitions},
        {"min_time_s", o.min_time_s},
        {"random_interleaving", true},
        {"omp_wait_policy", omp_wait_policy_in_force()},
        {"filter", o.filter},
        {"sizes", sizes},
        {"threads", o.threads},
        {"inject_faults", faults},
        {"time_measurement",
         "wall-clock (steady clock) per iteration through Google Benchmark's UseRealTime (matmul) "
         "or manual time of the request run (requests); one benchmark thread drives the mode's "
         "own team; setup and one warm-up execution stay outside the timed region"},
        {"summary_method",
         "median of repetitions; 95% CI of the median from order statistics; speedup = ratio of "
         "the serial baseline's median to the point's median (per unit of work), 95% CI by "
         "percentile bootstrap (2000 resamples)"}}},
      {"verdicts", verdict_lines},
      {"interrupted", false},
      {"errors", errors},
      {"not_measured", not_measured},
      {"results", results},
  };
}

std::string console_table(const std::vector<ResultRow>& rows) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-34s %-10s %-9s %4s %5s %10s %-23s %5s %6s %8s %-6s %s\n",
                "workload", "mode", "backend", "thr", "K", "time", "speedup [95% CI]", "eff",
                "bound", "cpu/wall", "cpus", "notes");
  out << line;
  std::string previous_group;
  for (const auto& r : rows) {
    const Point& p = r.m->point;
    if (never_measured(*r.m)) continue;
    if (p.group() != previous_group && !previous_group.empty()) out << "\n";
    previous_group = p.group();
    std::string notes = p.label;
    if (!r.pinned) notes += (notes.empty() ? "" : ", ") + std::string("NOT PINNED");
    if (p.kind == Kind::io && r.ok) {
      notes += (notes.empty() ? "" : ", ") + fixed(r.throughput, 0) + " req/s, p99 " +
               fixed(r.p99 / 1000, 2) + " ms, c' " + fixed(r.c_measured_us, 0) +
               " us, wait overshoot " + fixed(r.overshoot_us, 0) + " us";
    }
    if (!r.m->stopped_wall_s.empty()) {
      notes += (notes.empty() ? "" : ", ") + std::to_string(r.m->stopped_wall_s.size()) +
               " sample(s) excluded: process stopped";
    }
    if (!r.ok) notes += (notes.empty() ? "" : ", ") + std::string("ERROR: ") + r.m->error;
    const std::string speed = r.ok ? speedup_text(r.speedup) + " [" + fixed(r.speedup_low, 2) + ", " +
                                         fixed(r.speedup_high, 2) + "]"
                                   : "-";
    std::snprintf(line, sizeof(line), "%-34s %-10s %-9s %4d %5d %10s %-23s %5s %6s %8s %-6s %s\n",
                  p.group().c_str(), std::string(exec::to_string(p.mode)).c_str(),
                  p.backend.c_str(), p.threads, p.in_flight,
                  r.median_s > 0 ? human_time(r.median_s).c_str() : "-", speed.c_str(),
                  r.ok ? fixed(r.efficiency, 2).c_str() : "-", fixed(r.bound, 1).c_str(),
                  fixed(r.cpu_per_wall, 2).c_str(), exec::format_cpu_list(r.m->cpus_seen).c_str(),
                  notes.c_str());
    out << line;
  }
  return out.str();
}

}  // namespace cvp::bench

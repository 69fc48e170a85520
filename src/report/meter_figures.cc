#include "report/meter_figures.h"

#include <algorithm>
#include <cmath>

#include "cvp/workload.h"
#include "harness/stats.h"

namespace cvp::bench {
namespace {

nlohmann::json or_null(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::optional<double> median_of(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  return stats::median(std::move(v));
}

// "4.2 nJ": joules in the unit that keeps 1 to 3 digits before the point.
std::string joules_text(double j) {
  static const char* const kUnits[] = {"J", "mJ", "uJ", "nJ", "pJ"};
  int i = 0;
  while (i < 4 && std::abs(j) < 1 && j != 0) {
    j *= 1000;
    ++i;
  }
  return fixed(j, j >= 100 ? 0 : (j >= 10 ? 1 : 2)) + " " + kUnits[i];
}

}  // namespace

bool RowCounters::any() const {
  return std::any_of(per_execution.begin(), per_execution.end(),
                     [](const std::optional<double>& v) { return v.has_value(); });
}

std::optional<double> RowCounters::ipc() const {
  const auto cycles = get(Event::cycles), instructions = get(Event::instructions);
  if (!cycles || !instructions || *cycles <= 0) return std::nullopt;
  return *instructions / *cycles;
}

std::optional<double> RowCounters::per_unit(Event e, double work) const {
  const auto v = get(e);
  if (!v || work <= 0) return std::nullopt;
  return *v / work;
}

bool RowCounters::trusted() const {
  return counted_share > 0 && (!coverage || *coverage >= kCoverageTrusted);
}

RowCounters row_counters(const std::vector<Sample>& samples) {
  RowCounters r;
  std::vector<double> coverage;
  for (std::size_t i = 0; i < kEvents; ++i) {
    std::vector<double> values;
    for (const auto& s : samples) {
      if (const auto& v = s.counters.per_execution[i]) values.push_back(*v);
    }
    r.per_execution[i] = median_of(std::move(values));
  }
  for (const auto& s : samples) {
    if (s.counters.empty()) continue;
    r.counted_share = std::min(r.counted_share, s.counters.counted_share);
    const auto& task = s.counters.per_execution[static_cast<std::size_t>(Event::task_clock)];
    if (task && s.cpu_s > 0) coverage.push_back(*task / s.cpu_s);
  }
  r.coverage = median_of(std::move(coverage));
  return r;
}

RowEnergy row_energy(const std::vector<Sample>& samples) {
  std::vector<double> package, core;
  for (const auto& s : samples) {
    if (s.energy.package_j) package.push_back(*s.energy.package_j);
    if (s.energy.core_j) core.push_back(*s.energy.core_j);
  }
  return {median_of(std::move(package)), median_of(std::move(core))};
}

nlohmann::json counters_json(const RowCounters& row, const RowCounters* baseline, double work,
                             double baseline_work) {
  if (!row.any()) return nullptr;
  nlohmann::json per_execution = nlohmann::json::object();
  for (std::size_t i = 0; i < kEvents; ++i) {
    if (const auto& v = row.per_execution[i]) {
      const std::string name(to_string(static_cast<Event>(i)));
      per_execution[name == "task_clock" ? "task_clock_s" : name] = *v;
    }
  }
  const auto stalled = [&](Event e) -> std::optional<double> {
    const auto s = row.get(e), c = row.get(Event::cycles);
    return s && c && *c > 0 ? std::optional<double>(*s / *c) : std::nullopt;
  };
  nlohmann::json j = {{"per_execution", per_execution},
                      {"ipc", or_null(row.ipc())},
                      {"llc_misses_per_unit", or_null(row.per_unit(Event::llc_misses, work))},
                      {"stalled_frontend_share", or_null(stalled(Event::stalled_cycles_frontend))},
                      {"stalled_backend_share", or_null(stalled(Event::stalled_cycles_backend))},
                      {"coverage", or_null(row.coverage)},
                      {"counted_share", row.counted_share},
                      {"baseline", nullptr}};
  if (baseline != nullptr && baseline->any()) {
    j["baseline"] = {{"ipc", or_null(baseline->ipc())},
                     {"llc_misses_per_unit", or_null(baseline->per_unit(Event::llc_misses, baseline_work))}};
  }
  return j;
}

std::optional<double> energy_ratio(const RowEnergy& row, const RowEnergy& baseline, double work,
                                   double baseline_work) {
  if (!row.package_j || !baseline.package_j || work <= 0 || baseline_work <= 0 || *baseline.package_j <= 0) {
    return std::nullopt;
  }
  return (*row.package_j / work) / (*baseline.package_j / baseline_work);
}

nlohmann::json energy_json(const RowEnergy& row, const RowEnergy* baseline, double work,
                           double baseline_work) {
  if (!row.any()) return nullptr;
  const auto per_unit = [&](const std::optional<double>& j) -> std::optional<double> {
    return j && work > 0 ? std::optional<double>(*j / work) : std::nullopt;
  };
  return {{"package_j", or_null(row.package_j)},
          {"core_j", or_null(row.core_j)},
          {"package_j_per_unit", or_null(per_unit(row.package_j))},
          {"core_j_per_unit", or_null(per_unit(row.core_j))},
          {"ratio_to_baseline",
           or_null(baseline ? energy_ratio(row, *baseline, work, baseline_work) : std::nullopt)}};
}

std::vector<std::string> meter_notes(const RowCounters& counters, const RowEnergy& energy,
                                     const RowCounters* base_counters, const RowEnergy* base_energy,
                                     double work, double baseline_work, double speedup,
                                     const std::string& unit) {
  std::vector<std::string> notes;
  if (const auto ipc = counters.ipc()) {
    const auto serial = base_counters ? base_counters->ipc() : std::nullopt;
    notes.push_back("IPC " + fixed(*ipc, 2) + (serial ? " (serial " + fixed(*serial, 2) + ")" : ""));
  }
  const auto misses = counters.per_unit(Event::llc_misses, work);
  const auto base_misses = base_counters ? base_counters->per_unit(Event::llc_misses, baseline_work) : std::nullopt;
  if (misses && base_misses && *base_misses > 0 && *misses >= 1.1 * *base_misses) {
    notes.push_back("LLC misses/" + unit + " x" + fixed(*misses / *base_misses, 1) + " serial's");
  }
  const auto ratio = base_energy ? energy_ratio(energy, *base_energy, work, baseline_work) : std::nullopt;
  if (ratio && speedup > 0) {
    notes.push_back(speedup_text(speedup) + " faster for x" + fixed(*ratio, 2) + " the energy");
  } else if (energy.package_j && work > 0) {
    notes.push_back(joules_text(*energy.package_j / work) + "/" + unit);
  }
  return notes;
}

}  // namespace cvp::bench

// A row's counter and energy figures, from its blocks' (host/meters.h): medians per execution,
// instructions per cycle, misses and joules per unit of work, and how they compare with the
// row's serial baseline. The summary writes them (`counters` and `energy` of each result), the
// console shows the short ones, and the diagnosis reads them (ipc_fell, cache_misses).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "harness/session.h"
#include "host/counters.h"

namespace cvp::bench {

struct RowCounters {
  // Each event's median per execution over the blocks that counted it; nullopt: not counted.
  std::array<std::optional<double>, kEvents> per_execution{};
  // The counted task clock over the process's CPU time, median over the blocks (nullopt where
  // either is unknown). The task clock leaves out the scheduler's own time at each switch, so
  // it is a little below 1 where threads switch often (0.99 for executions of a millisecond or
  // more here, 0.55 for 40 us executions that switch a dozen times); far below, threads the
  // counters do not cover did the work.
  std::optional<double> coverage;
  double counted_share = 1;  // the lowest share of a block a counted group actually counted

  std::optional<double> get(Event e) const { return per_execution[static_cast<std::size_t>(e)]; }
  bool any() const;
  // Instructions per cycle, summed over the team's threads.
  std::optional<double> ipc() const;
  // `e` per unit of work (`work` units per execution).
  std::optional<double> per_unit(Event e, double work) const;
  // Whether the diagnosis may trust them: a counted group counted, and the counters covered at
  // least kCoverageTrusted of the process's CPU time (or that is unknown).
  bool trusted() const;
};
inline constexpr double kCoverageTrusted = 0.5;

struct RowEnergy {
  std::optional<double> package_j, core_j;  // medians per execution
  bool any() const { return package_j || core_j; }
};

RowCounters row_counters(const std::vector<Sample>& samples);
RowEnergy row_energy(const std::vector<Sample>& samples);

// The `counters` of a result: null when no block counted anything. `baseline` is the serial
// row's (nullptr for none, or for a serial row itself); `work` and `baseline_work` the units of
// work per execution of each.
nlohmann::json counters_json(const RowCounters& row, const RowCounters* baseline, double work,
                             double baseline_work);
// The `energy` of a result: null when nothing was read.
nlohmann::json energy_json(const RowEnergy& row, const RowEnergy* baseline, double work,
                           double baseline_work);

// The row's package energy per unit of work over its serial baseline's; nullopt where either
// is unknown.
std::optional<double> energy_ratio(const RowEnergy& row, const RowEnergy& baseline, double work,
                                   double baseline_work);

// The console's short notes: "IPC 1.21 (serial 2.00)", "LLC misses/unit x3.1 serial's",
// "x1.9 faster for x1.3 the energy". `speedup` is 0 for a row without one.
std::vector<std::string> meter_notes(const RowCounters& counters, const RowEnergy& energy,
                                     const RowCounters* base_counters, const RowEnergy* base_energy,
                                     double work, double baseline_work, double speedup,
                                     const std::string& unit);

}  // namespace cvp::bench

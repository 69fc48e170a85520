// One line on every row that misses its bound by more than its CI: the measured cause, with its
// number, or what was looked at and what this machine could not show. Never a guess: a cause is
// named only when a measurement of this run (or of this machine's limits) accounts for the gap.
#pragma once

#include <string>
#include <vector>

#include "report/summary.h"

namespace cvp::bench {

// What the machine showed and what it hid, for the diagnosis.
struct DiagnosisContext {
  bool limits_known = false;             // the machine's limits were measured (or cached)
  double flops_one_core = 0, flops_all_cores = 0;  // FLOP/s
  int limit_cores = 0;                   // cores the all-cores figures used
  double bandwidth_one_core = 0, bandwidth_all_cores = 0;  // bytes/s
  double timer_overshoot_us = 0;         // median, idle machine
  double futex_wakeup_us = 0;            // median
  double context_switch_us = 0;
  bool run_delay_visible = false, steal_visible = false, frequency_visible = false;
  bool load_visible = false;             // other processes' CPU time per block (/proc/stat)
  std::string busiest;                   // the busiest other processes over the run, in words
  // Why hardware counters cannot tell IPC or cache misses (host/counters.h's
  // hardware_unavailable); "" when they can.
  std::string counters_unavailable;
  const MachineModel* model = nullptr;   // each CPU's measured speed and clock; null: not measured
  // A distributed run's network between ranks 0 and 1 (dist/network.h); 0: not measured.
  double network_latency_us = 0, network_bandwidth_bytes_s = 0;
};

// Whether `row` misses its bound by more than its CI: the top of its speedup's CI is below it.
bool misses_bound(const ResultRow& row);

// Fills row.diagnosis for every row that misses its bound.
void diagnose_rows(std::vector<ResultRow>& rows, const DiagnosisContext& context);

// A row whose speedup is at least this share of its attainable bound gets no "why not more" line.
inline constexpr double kCloseToBound = 0.97;

// The "why not more" lines of the console, without the heading: rows within 3% of their
// attainable bound (kCloseToBound) get none; the others are grouped by cause, one line per cause
// naming its rows compactly ("memory_bandwidth: triad n:4096 parallel threads/openmp/tbb
// (3 rows)"), the not identified ones counted in one line. `verbose`: under each cause, every
// row's own line. Empty when no row is worth a line.
std::vector<std::string> why_not_more_lines(const std::vector<ResultRow>& rows, bool verbose);

}  // namespace cvp::bench

// From measurements to rows (statistics), and from rows to what is reported: the verdict lines,
// the summary JSON (schema/summary.schema.json) and the console table. No workload is known by
// name here: kinds, units, bounds and verdict wording come from the Workload.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cvp/workload.h"
#include "cli/options.h"
#include "harness/session.h"
#include "host/cpu_model.h"
#include "host/machine_limits.h"
#include "host/noise.h"
#include "report/meter_figures.h"
#include "report/timeline.h"

namespace cvp::bench {

// Why a row missed its bound, when it did by more than its CI (diagnosis.h).
struct Diagnosis {
  Cause cause = Cause::not_identified;
  std::string line;              // one sentence, with the measured number
  nlohmann::json figures = nlohmann::json::object();
  std::vector<std::string> not_seen;  // signals this machine or run did not expose
};

// One summarised point; mirrors a "results" entry of the summary JSON.
struct ResultRow : Row {
  const Measurement* m = nullptr;
  double ci_low = 0, ci_high = 0, ci_coverage = 0;
  std::string baseline;     // name of the serial point speedups are computed against
  double baseline_s = 0;
  double karp_flatt = 0;
  bool has_karp_flatt = false;
  // A weak-scaling row's serial fraction by Gustafson's law (Point::weak > 1): (P - S) / (P - 1)
  // with S its scaled speedup. For io work S is not the speedup over serial (K = 1, which
  // concurrency alone multiplies) but over the concurrent point of its own K on one core, the
  // problem it grew from (one_core, one_core_name); absent where that point was not measured.
  double gustafson = 0;
  bool has_gustafson = false;
  double scaled_over_one_core = 0;
  std::string one_core_name;
  std::vector<int> cpus_seen;
  int threads_seen = 0, pin_failures = 0;
  bool pinned = false;
  // Why the row is not ok though its measurement is (an unusable bound from the workload).
  std::string problem;
  // Paired estimation: the speedup is the median of the paired ratios (`pairs` of them) and its
  // CI comes from their order statistics; false when there were no pairs and the speedup is a
  // ratio of medians with a bootstrap CI.
  bool paired = false;
  // The 95% CI half-width relative to the estimate: of the speedup, or of the time for a
  // baseline row.
  double precision = 0;
  double efficiency_low = 0, efficiency_high = 0;
  double efficiency_ideal = 0;  // speedup / ideal
  // The clock the team's CPUs ran at (the probe around each block, host/clock_watch.h): the
  // median over the blocks of their mean, and of each CPU; 0 and empty when not probed.
  double ghz = 0;
  std::map<int, double> ghz_by_cpu;
  // The attainable bound's model for this row, with its numbers (the team's capacity by CPU and,
  // where it binds, the memory bandwidth).
  std::string attainable_model;
  // The anomaly test's allowance above the attainable bound for the model's own uncertainty
  // (the capacity measurement's spread); 0 when the bound is the ideal one.
  double bound_tolerance = 0;
  // A speedup whose CI lies wholly above its bound: the model does not hold; why, in words.
  std::string anomaly;
  TimelineFigures timeline;  // from the traced execution (--trace), else traced == false
  // Other processes while the row's counted blocks ran: the CPU time they took on its CPUs as a
  // share of those CPUs' time (-1: not visible), the median CPU pressure (PSI some, -1: not
  // visible) and the median number of runnable tasks on the machine (-1: unknown).
  double others_share = -1;
  double pressure = -1;
  double procs_running = -1;
  RowCounters counters;  // perf counters per execution, medians over the blocks
  RowEnergy energy;      // joules per execution, medians over the blocks
  std::optional<Diagnosis> diagnosis;  // set by diagnose_rows() for a row that missed its bound
};

// A point an interruption left without a single measured repetition (and without an error):
// left out of the results and listed under "not_measured".
bool never_measured(const Measurement& m);

// The row's failure, if any: the measurement's error, else the row's problem.
const std::string& row_error(const ResultRow& row);

// What the rows' bounds read of the machine, measured at the start: the model of its CPUs and
// the memory bandwidth of one core and of all; nullptr and 0 when not measured (--limits off),
// and the bounds are the ideal ones.
struct MachineView {
  const MachineModel* model = nullptr;
  double bandwidth_one_core = 0, bandwidth_all_cores = 0;
  std::vector<KindBandwidth> bandwidth_by_kind;  // per kind of core, where cores differ
  // Between the ranks of a distributed run: latency one way (s) and bandwidth (bytes/s); 0: none.
  double network_latency_s = 0, network_bandwidth = 0;
};

// How far above its attainable bound a measured model lets a speedup's CI go before it is an
// anomaly: the capacities are measured, with their own spread.
inline constexpr double kCapacityTolerance = 0.03;

std::vector<ResultRow> summarise(const std::vector<Measurement>& measurements,
                                 const MachineView& machine = {});

// Every workload's verdict lines, workloads in plan order.
std::vector<std::string> verdicts(const std::vector<ResultRow>& rows, int allowed_cores);

// Everything the summary of one run says, gathered before it is written: the rows, the
// machine, the verdict lines and what the run saw while it ran.
struct RunReport {
  const std::vector<ResultRow>& rows;
  nlohmann::json machine;
  std::vector<std::string> verdicts;
  bool interrupted = false;
  // What the per-block disturbance checks could see (config.disturbance_signals); null: not read.
  nlohmann::json disturbance_signals = nullptr;
  // Whether others' work made the run noisy, and why (noisy, noise_reasons, noise); none: not read.
  std::optional<NoiseReport> noise{};
  // Points short of their minimum on a quiet machine: the budget was too small (Session::budget_report).
  std::string budget_note{};
  std::size_t disturbed_blocks = 0;  // set aside and measured again (a stop of the process aside)
  bool traced = false;               // --trace: trace.json is in the run folder
  // The clock probes around the blocks: how many, their seconds and their share of the blocks'
  // time; null when the clock was not probed.
  nlohmann::json clock_probe = nullptr;
};

// The whole summary JSON of a run.
nlohmann::json summary_json(const RunReport& report, const Options& options);

// The summary of `rows` alone: nothing of what the run saw of the machine while it ran.
nlohmann::json summary_json(const std::vector<ResultRow>& rows, const nlohmann::json& machine,
                            const Options& options, const std::vector<std::string>& verdict_lines);

// The table a person reads.
std::string console_table(const std::vector<ResultRow>& rows);

}  // namespace cvp::bench

#include "report/strict_json_reporter.h"

#include <cmath>

namespace cvp::bench {

using Run = benchmark::BenchmarkReporter::Run;

std::vector<benchmark::BenchmarkReporter::Run> finite_runs(
    const std::vector<benchmark::BenchmarkReporter::Run>& runs) {
  std::vector<benchmark::BenchmarkReporter::Run> kept;
  kept.reserve(runs.size());
  for (const auto& run : runs) {
    if (run.run_type == Run::RT_Aggregate &&
        !(std::isfinite(run.real_accumulated_time) && std::isfinite(run.cpu_accumulated_time))) {
      continue;  // e.g. the coefficient of variation of a time whose mean is 0
    }
    Run copy = run;
    for (auto it = copy.counters.begin(); it != copy.counters.end();) {
      it = std::isfinite(static_cast<double>(it->second.value)) ? std::next(it)
                                                                : copy.counters.erase(it);
    }
    kept.push_back(std::move(copy));
  }
  return kept;
}

void StrictJsonReporter::ReportRuns(const std::vector<Run>& runs) {
  const auto kept = finite_runs(runs);
  if (!kept.empty()) benchmark::JSONReporter::ReportRuns(kept);
}

}  // namespace cvp::bench

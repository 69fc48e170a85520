// Google Benchmark's JSON reporter, made to write strict JSON.
//
// Google Benchmark 1.7 writes a non-finite number as a bare NaN or Infinity, which strict JSON
// readers (JavaScript's JSON.parse in github-action-benchmark, serde_json in Bencher) reject
// for the whole file. It happens for the `_cv` aggregate of a counter that is 0 in every
// repetition (0 / 0). This reporter leaves the format as it is and drops only what has no
// value: a counter whose value is not finite, and an aggregate row whose time is not finite.
#pragma once

#include <benchmark/benchmark.h>

#include <vector>

namespace cvp::bench {

class StrictJsonReporter : public benchmark::JSONReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;
};

// The runs as StrictJsonReporter writes them (exposed for tests).
std::vector<benchmark::BenchmarkReporter::Run> finite_runs(
    const std::vector<benchmark::BenchmarkReporter::Run>& runs);

}  // namespace cvp::bench

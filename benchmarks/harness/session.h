// Measuring the plan through Google Benchmark: one registration per point, each driven from one
// benchmark thread that runs the workload's own team, and a reporter that files every reported
// repetition with what the body recorded for it.
//
// One data path from a body to its row: each call of a body records a Call (its iteration
// count, CPU time, context switches, evidence, the workload's per-execution figures). Google
// Benchmark calls a body several times while it chooses the iteration count and reports only
// the last of those calls, then one call per later repetition, all with that count; so the
// reporter files, in order, the calls whose iteration count is the reported one, and drops the
// calls that only chose it.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

#include "cvp/workload.h"
#include "options.h"
#include "pattern.h"

namespace cvp::bench {

// What one reported repetition measured, per execution of the point.
struct Sample {
  double wall_s = 0;                     // from Google Benchmark's report (as benchmark.json)
  double cpu_s = 0;                      // process CPU seconds
  double cpu_per_wall = 0;
  double voluntary = 0, involuntary = 0; // context switches
  std::vector<int> cpus_seen;            // where the team's tasks ran
  int threads_seen = 0;
  int pin_failures = 0;
  std::vector<double> latencies_us;      // every execution's, for request-style workloads
  std::map<std::string, double> values;  // the workload's figures, mean over the executions
  bool stopped = false;                  // timed across a stop of the process (SIGSTOP/SIGCONT)
};

// One call of a body that completed its timed loop.
struct Call {
  benchmark::IterationCount iterations = 0;
  Sample sample;
};

enum class Fault { none, wrong, thrown };

// Everything measured for one point across its repetitions.
struct Measurement {
  Point point;
  Workload* workload = nullptr;
  Fault fault = Fault::none;
  std::vector<Call> calls;          // written by the body
  std::size_t calls_filed = 0;      // how many of `calls` the reporter has looked at
  std::vector<Sample> samples;      // the reported repetitions, in order
  // Repetitions timed across a stop of the process: their time is the stop's, so they are kept
  // apart and reported as excluded.
  std::vector<Sample> excluded;
  bool verified = true;             // every execution's result matched the serial answer
  std::string error;                // first failure, if any
  std::size_t wrong_items = 0;      // wrong items the workload counted in failed checks
  int repetitions_done = 0;         // for progress
  int interrupted_runs = 0;         // repetitions skipped because the run was interrupted

  std::vector<double> wall_s() const;
};

// The message of a benchmark skipped because the run was interrupted (not a failure).
inline constexpr const char* kInterruptedMessage = "interrupted";

// Shared state of a run: the measurements, and progress on stderr.
class Session {
 public:
  Session(std::vector<Point> points, const std::vector<Workload*>& workloads, int repetitions,
          double min_time_s, const std::vector<FaultInjection>& faults = {});

  std::vector<Measurement>& measurements() { return measurements_; }
  const std::vector<Measurement>& measurements() const { return measurements_; }

  // Registers one Google Benchmark per point, each capturing its Measurement by reference.
  // REQUIRES: called once, before running; measurements() is not resized afterwards.
  void register_all();

  // Called by the body after each call (`seconds` in all, `timed_seconds` in the timed loop):
  // progress on stderr.
  void note_call(Measurement& m, double seconds, double timed_seconds);
  // The closing progress line.
  void finish_progress(double seconds, bool interrupted = false);

 private:
  std::vector<Measurement> measurements_;
  int repetitions_;
  double min_time_s_;
  int reps_done_ = 0;
  double seconds_done_ = 0;
  bool tty_ = false;
};

// Display reporter: files each reported repetition with its Call, prints nothing to stdout.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(Session& session);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override {}

 private:
  std::map<std::string, Measurement*> by_name_;
};

}  // namespace cvp::bench

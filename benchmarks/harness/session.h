// Measuring the plan through Google Benchmark: one registration per point, driven from one
// benchmark thread that runs the mode's own team, and a reporter that keeps every repetition.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

#include "options.h"
#include "pattern.h"
#include "plan.h"

namespace cvp::bench {

// Everything measured for one point across its repetitions.
struct Measurement {
  Point point;
  std::vector<double> wall_s;      // per iteration, one entry per repetition (from the reporter)
  std::vector<double> cpu_s;       // process CPU seconds per iteration, per repetition
  std::vector<double> cpu_per_wall;
  std::vector<double> voluntary;   // context switches per iteration, per repetition
  std::vector<double> involuntary;
  std::vector<int> cpus_seen;      // union over all executions
  int threads_seen = 0;            // most distinct threads seen in one execution
  int pin_failures = 0;
  bool verified = true;            // every execution's result matched the serial answer
  std::string error;               // first failure, if any
  // I/O only.
  std::vector<double> latencies_us;
  std::vector<double> c_measured_us;
  std::vector<double> overshoot_us;
  std::size_t io_errors = 0;
  int repetitions_done = 0;        // for progress
  int interrupted_runs = 0;        // repetitions skipped because the run was interrupted
  // Repetitions timed across a stop of the process (SIGSTOP/SIGTSTP, then SIGCONT): their time
  // is the stop's, so they are kept apart from wall_s and reported as excluded.
  std::vector<double> stopped_wall_s;
};

// The counter a benchmark body sets on a repetition during which the process was stopped.
inline constexpr const char* kStoppedCounter = "stopped_during_timing";

// The message of a benchmark skipped because the run was interrupted (not a failure).
inline constexpr const char* kInterruptedMessage = "interrupted";

// Shared state of a run: the measurements, and progress on stderr.
class Session {
 public:
  Session(std::vector<Point> points, int repetitions, double min_time_s,
          const std::vector<FaultInjection>& faults = {});

  std::vector<Measurement>& measurements() { return measurements_; }
  Measurement* find(const std::string& name);

  // Registers one Google Benchmark per point. REQUIRES: called once, before running.
  void register_all();

  // Called by benchmark bodies after each call (`seconds` in all, `timed_seconds` in the timed
  // loop): progress on stderr.
  void note_call(const Point& point, double seconds, double timed_seconds);
  // The closing progress line.
  void finish_progress(double seconds, bool interrupted = false);

  double min_time_s() const { return min_time_s_; }

  // The fault planted in `name` by --inject-fault ("wrong", "throw"), or "" for none.
  std::string fault_for(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, Pattern>> faults_;
  std::vector<Measurement> measurements_;
  std::map<std::string, std::size_t> index_;
  int repetitions_;
  double min_time_s_;
  int reps_done_ = 0;
  double seconds_done_ = 0;
  bool tty_ = false;
};

// Display reporter: keeps each repetition's time in the session, prints nothing to stdout.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(Session& session) : session_(session) {}
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override {}

 private:
  Session& session_;
};

}  // namespace cvp::bench

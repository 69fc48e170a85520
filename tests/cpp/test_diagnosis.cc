// The diagnosis of a row that misses its bound, and the figures of a traced execution: each
// cause is planted in a measurement built here and must be named, with its number; a row at its
// bound gets no diagnosis, and a gap no measurement accounts for is called not identified.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "report/diagnosis.h"
#include "harness/session.h"
#include "report/summary.h"
#include "report/timeline.h"

namespace {

using namespace cvp;
using exec::trace::Span;
using exec::trace::SpanKind;

// A computing workload with the default bound: min(threads, cores) in parallel mode.
class Compute final : public Workload {
 public:
  std::string name() const override { return "compute"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"FLOP", "GFLOP/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }
};

Compute compute;

bench::Measurement measured(Mode mode, int threads, double wall_s) {
  bench::Measurement m;
  m.workload = &compute;
  m.point.workload = "compute";
  m.point.group = "compute/n:1";
  m.point.mode = mode;
  m.point.threads = threads;
  m.point.cores = mode == Mode::parallel ? threads : 1;
  m.point.cpus = mode == Mode::parallel ? std::vector<int>{0, 1} : std::vector<int>{0};
  m.point.work = 1e9;
  m.point.flop = 1e9;
  m.point.bytes = 1e8;
  for (int round = 0; round < 8; ++round) {
    bench::Sample s;
    s.wall_s = wall_s;
    s.round = round;
    s.executions = 1;
    s.cpus_seen = m.point.cpus;
    s.threads_seen = threads;
    m.samples.push_back(s);
  }
  return m;
}

// A serial baseline of 1 s and a 2-thread parallel point of `parallel_s` on 2 cores.
struct Pair {
  std::vector<bench::Measurement> ms;
  explicit Pair(double parallel_s) {
    ms.push_back(measured(Mode::serial, 1, 1.0));
    ms.push_back(measured(Mode::parallel, 2, parallel_s));
    ms[0].baseline = &ms[0];
    ms[1].baseline = &ms[0];
  }
  std::vector<bench::ResultRow> diagnosed(const bench::DiagnosisContext& context) {
    auto rows = bench::summarise(ms);
    bench::diagnose_rows(rows, context);
    return rows;
  }
};

bench::DiagnosisContext machine(double flops_ratio, double bandwidth_all) {
  bench::DiagnosisContext c;
  c.limits_known = true;
  c.flops_one_core = 50e9;
  c.flops_all_cores = 50e9 * flops_ratio;
  c.limit_cores = 2;
  c.bandwidth_one_core = 1e8;
  c.bandwidth_all_cores = bandwidth_all;
  c.run_delay_visible = true;
  c.steal_visible = true;
  c.counters_unavailable = "perf_event_open: No such file or directory";
  return c;
}

TEST(Diagnosis, ARowAtItsBoundIsNotDiagnosed) {
  Pair pair(0.5);  // x2.0 of a bound of 2
  const auto rows = pair.diagnosed(machine(1.6, 1e12));
  ASSERT_TRUE(rows[1].ok);
  EXPECT_DOUBLE_EQ(rows[1].speedup, 2.0);
  EXPECT_FALSE(rows[1].diagnosis);
  EXPECT_FALSE(rows[0].diagnosis);  // a baseline has no bound to miss
}

TEST(Diagnosis, NamesAComputePeakBelowTheBound) {
  Pair pair(1.0 / 1.6);  // x1.6
  const auto rows = pair.diagnosed(machine(1.62, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::compute_peak);
  EXPECT_NE(rows[1].diagnosis->line.find("x1.62"), std::string::npos) << rows[1].diagnosis->line;
  EXPECT_NEAR(rows[1].diagnosis->figures["explained"].get<double>(), 0.95, 0.01);
}

TEST(Diagnosis, NamesMemoryBandwidthWhenItIsTheLowerCeiling) {
  Pair pair(1.0 / 1.3);  // x1.3; serial moved 1e8 B/s, all cores 1.35e8 B/s
  const auto rows = pair.diagnosed(machine(2.0, 1.35e8));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::memory_bandwidth);
  EXPECT_NE(rows[1].diagnosis->line.find("0.1 GB/s"), std::string::npos) << rows[1].diagnosis->line;
}

// Workers that spend more CPU than serial are the symptom of a bandwidth ceiling, not a cause:
// the ceiling is named even when the extra CPU alone would allow less.
TEST(Diagnosis, PrefersTheCauseToItsSymptom) {
  Pair pair(1.0 / 1.3);
  for (auto& s : pair.ms[0].samples) s.cpu_s = 1.0;  // serial: 1 s of CPU, the team 1.6 s
  for (auto& s : pair.ms[1].samples) s.cpu_s = 1.6;
  const auto rows = pair.diagnosed(machine(2.0, 1.35e8));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::memory_bandwidth);
  ASSERT_TRUE(rows[1].diagnosis->figures.contains("also"));
  EXPECT_EQ(rows[1].diagnosis->figures["also"][0], "extra_cpu");
  // Without the limits, the symptom is all there is to say.
  auto blind = machine(2.0, 1.35e8);
  blind.limits_known = false;
  const auto without = pair.diagnosed(blind);
  ASSERT_TRUE(without[1].diagnosis);
  EXPECT_EQ(without[1].diagnosis->cause, Cause::extra_cpu);
  EXPECT_NE(without[1].diagnosis->line.find("x1.60"), std::string::npos) << without[1].diagnosis->line;
}

// Other processes that took more of the team's CPUs than of the baseline's CPU are named as the
// cause, with their share, before the run delay they caused; the same load on both (an A/A of
// load) explains nothing, and a machine that cannot show the load says so.
TEST(Diagnosis, NamesOtherProcessesWithTheirShare) {
  Pair pair(1.0 / 1.2);  // x1.2 of a bound of 2
  for (auto& s : pair.ms[0].samples) {
    s.block_wall_s = s.wall_s;
    s.others_cpu_s = 0.1 * s.wall_s;              // 10% of CPU 0 while serial ran
  }
  for (auto& s : pair.ms[1].samples) {
    s.block_wall_s = s.wall_s;
    s.others_cpu_s = 0.45 * 2 * s.wall_s;         // 45% of CPUs 0-1 while the team ran
    s.run_delay_s = 0.4 * 2 * s.wall_s;           // the symptom: our threads waited
    s.pressure_share = 0.6;
    s.procs_running = 5;
  }
  auto context = machine(2.0, 1e12);
  context.load_visible = true;
  context.busiest = "sh 98% of a CPU";
  auto rows = pair.diagnosed(context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::other_processes) << rows[1].diagnosis->line;
  const std::string& line = rows[1].diagnosis->line;
  EXPECT_NE(line.find("45% of CPUs 0-1"), std::string::npos) << line;
  EXPECT_NE(line.find("against 10%"), std::string::npos) << line;
  EXPECT_NE(line.find("busiest: sh 98% of a CPU"), std::string::npos) << line;
  EXPECT_NEAR(rows[1].diagnosis->figures["others_share"].get<double>(), 0.45, 1e-9);
  // bound 2 x (1 - 0.45) / (1 - 0.10)
  EXPECT_NEAR(rows[1].diagnosis->figures["ceiling"].get<double>(), 2 * 0.55 / 0.9, 1e-9);
  ASSERT_TRUE(rows[1].diagnosis->figures.contains("also"));
  EXPECT_EQ(rows[1].diagnosis->figures["also"][0], "run_queue");

  // The same share of the CPUs while the baseline ran: the load took as much from both sides,
  // so it sets no ceiling of its own; it is still named, with its share, beside what was found.
  for (auto& s : pair.ms[0].samples) s.others_cpu_s = 0.45 * s.wall_s;
  for (auto& s : pair.ms[1].samples) s.run_delay_s = 0;
  rows = pair.diagnosed(context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::other_processes);
  EXPECT_NE(rows[1].diagnosis->line.find("; meanwhile other processes took 45% of CPUs 0-1 (busiest: sh"),
            std::string::npos) << rows[1].diagnosis->line;
  // Below a tenth of the CPUs they are not named beside another cause.
  for (auto& s : pair.ms[0].samples) s.others_cpu_s = 0.05 * s.wall_s;
  for (auto& s : pair.ms[1].samples) s.others_cpu_s = 0.05 * 2 * s.wall_s;
  rows = pair.diagnosed(context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->line.find("other processes took"), std::string::npos)
      << rows[1].diagnosis->line;

  // Not visible here: not named, and said.
  context.load_visible = false;
  rows = pair.diagnosed(context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::not_identified);
  EXPECT_NE(rows[1].diagnosis->line.find("other processes"), std::string::npos) << rows[1].diagnosis->line;
}

// A speedup from fewer pairs than a 95% interval needs is not diagnosed: its "interval" is a
// range of one or two ratios and cannot show it below its bound.
TEST(Diagnosis, TooFewPairsForAnIntervalAreNotDiagnosed) {
  Pair pair(1.0 / 1.2);
  pair.ms[1].samples.resize(2);
  const auto rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].ok);
  EXPECT_FALSE(rows[1].ci_known);
  EXPECT_EQ(rows[1].pairs, 2u);
  EXPECT_FALSE(rows[1].diagnosis);
  Pair enough(1.0 / 1.2);
  EXPECT_TRUE(enough.diagnosed(machine(2.0, 1e12))[1].ci_known);
}

TEST(Diagnosis, NamesARunQueueFromTheRunDelay) {
  Pair pair(1.0 / 1.5);
  for (auto& s : pair.ms[1].samples) s.run_delay_s = 0.25 * 2 * s.wall_s;  // each thread waited 25%
  const auto rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::run_queue);
  EXPECT_NE(rows[1].diagnosis->line.find("25%"), std::string::npos) << rows[1].diagnosis->line;
}

TEST(Diagnosis, NamesIdleWorkersFromTheTrace) {
  Pair pair(1.0 / 1.5);
  // Worker 0 busy the whole 10 ms; worker 1 only for the first 5 ms.
  auto& t = pair.ms[1].trace;
  t.recorded = true;
  t.begin_ns = 0;
  t.end_ns = 10'000'000;
  Span a;
  a.begin_ns = 0;
  a.end_ns = 10'000'000;
  a.on_cpu_ns = 10'000'000;
  a.worker = 0;
  a.cpu = 0;
  Span b = a;
  b.end_ns = 5'000'000;
  b.on_cpu_ns = 5'000'000;
  b.worker = 1;
  b.cpu = 1;
  t.spans = {a, b};
  const auto rows = pair.diagnosed(machine(2.0, 1e12));
  const auto& f = rows[1].timeline;
  ASSERT_TRUE(f.traced);
  EXPECT_DOUBLE_EQ(f.busy_mean, 0.75);
  EXPECT_DOUBLE_EQ(f.imbalance, 0.25);
  EXPECT_DOUBLE_EQ(f.tail_idle, 0.5);
  EXPECT_DOUBLE_EQ(f.on_cpu, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::idle_workers);
  EXPECT_NE(rows[1].diagnosis->line.find("idle 25%"), std::string::npos) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("load imbalance"), std::string::npos);
  EXPECT_DOUBLE_EQ(f.task_spread, 1.0);  // 10 ms on CPU 0 against 5 ms on CPU 1
  EXPECT_EQ(f.slow_cpu, 0);
  EXPECT_NE(rows[1].diagnosis->line.find("tasks on CPU 0 took 100% longer than on CPU 1"), std::string::npos)
      << rows[1].diagnosis->line;
}

// A team that counts its spinning (the std::thread team's): the CPU time it spun waiting is
// idle, not slower work. The same CPU time without the count reads as a busy team whose workers
// were slower.
TEST(Diagnosis, TimeATeamSpunWaitingIsIdleNotSlowerWork) {
  Pair pair(1.0 / 1.6);  // x1.6 of a bound of 2
  for (auto& s : pair.ms[0].samples) {
    s.cpu_s = 1.0;
    s.spin_s = 0;
  }
  for (auto& s : pair.ms[1].samples) s.cpu_s = 2 * s.wall_s;  // both CPUs busy throughout
  auto rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::extra_cpu) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].spin_counted);
  EXPECT_NE(std::find(rows[1].diagnosis->not_seen.begin(), rows[1].diagnosis->not_seen.end(),
                      "idle time that spinning workers hide from the CPU time (run with --trace)"),
            rows[1].diagnosis->not_seen.end());

  for (auto& s : pair.ms[1].samples) s.spin_s = 0.4 * s.wall_s;  // 0.25 of 1.25 CPU-s spun: 1 s worked, as serial
  rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_TRUE(rows[1].spin_counted);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::idle_workers) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("CPUs were busy 80% of each execution"), std::string::npos)
      << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("its workers spun while they waited"), std::string::npos)
      << rows[1].diagnosis->line;
  for (const auto& hidden : rows[1].diagnosis->not_seen) {
    EXPECT_EQ(hidden.find("spinning workers"), std::string::npos) << hidden;
  }
}

// Untraced, the process's CPU time shows the team's CPUs idle: named with the share, where a
// team as busy as its CPUs (the A/A) names nothing of the kind.
TEST(Diagnosis, NamesIdleWorkersFromTheCpuTimeWithoutATrace) {
  Pair pair(1.0 / 1.6);  // x1.6 of a bound of 2
  for (auto& s : pair.ms[0].samples) s.cpu_s = 1.0;
  for (auto& s : pair.ms[1].samples) s.cpu_s = 2 * 0.8 * s.wall_s;  // busy 80% of the time
  auto rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::idle_workers) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("CPUs were busy 80% of each execution"), std::string::npos)
      << rows[1].diagnosis->line;
  EXPECT_NEAR(rows[1].diagnosis->figures["ceiling"].get<double>(), 1.6, 1e-9);
  EXPECT_EQ(rows[1].diagnosis->figures["from"], "cpu_time");
  // Cores of different speed: the uneven split is named as the likeliest reason.
  pair.ms[1].point.speeds = {1.0, 0.5};
  rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->line.find("(CPU 0 1.00, CPU 1 0.50) the likeliest is a split that ends "
                                         "unevenly"), std::string::npos) << rows[1].diagnosis->line;

  // Ready to run but off their CPUs (run delay) is not idle: the run queue is named instead.
  pair.ms[1].point.speeds.clear();
  for (auto& s : pair.ms[1].samples) s.run_delay_s = 0.2 * 2 * s.wall_s;
  rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::run_queue) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
  for (auto& s : pair.ms[1].samples) s.run_delay_s = 0;
  // Nor where other processes took a tenth of the team's CPUs: a worker waiting for a peer
  // they took off its CPU idles for them, and they are named beside what was found.
  for (auto& s : pair.ms[0].samples) s.block_wall_s = s.wall_s;
  for (auto& s : pair.ms[1].samples) {
    s.block_wall_s = s.wall_s;
    s.others_cpu_s = 0.3 * 2 * s.wall_s;
  }
  auto loaded = machine(2.0, 1e12);
  loaded.load_visible = true;
  rows = pair.diagnosed(loaded);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::idle_workers) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
  EXPECT_NE(rows[1].diagnosis->line.find("meanwhile other processes took 30% of CPUs 0-1"), std::string::npos)
      << rows[1].diagnosis->line;
  for (auto& s : pair.ms[1].samples) s.others_cpu_s = 0;

  for (auto& s : pair.ms[1].samples) s.cpu_s = 2 * 0.99 * s.wall_s;  // as busy as its CPUs
  rows = pair.diagnosed(machine(2.0, 1e12));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::idle_workers) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
}

TEST(Diagnosis, SaysNotIdentifiedAndWhatItCouldNotSee) {
  Pair pair(1.0 / 1.7);
  auto context = machine(2.0, 1e12);
  const auto rows = pair.diagnosed(context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::not_identified);
  EXPECT_NE(rows[1].diagnosis->line.find("hardware counters"), std::string::npos) << rows[1].diagnosis->line;
  const auto& seen = rows[1].diagnosis->not_seen;
  EXPECT_NE(std::find(seen.begin(), seen.end(), "idle time that spinning workers hide from the CPU time (run with --trace)"), seen.end());
}

TEST(Timeline, TimeSlicedSpansShowTheirShareOfTheCpu) {
  bench::Measurement m = measured(Mode::concurrent, 2, 1.0);
  m.trace.recorded = true;
  m.trace.begin_ns = 0;
  m.trace.end_ns = 4'000'000;
  Span a;  // two workers on CPU 0, both "running" for 4 ms, each on the CPU for 2 ms
  a.begin_ns = 0;
  a.end_ns = 4'000'000;
  a.on_cpu_ns = 2'000'000;
  a.cpu = 0;
  Span b = a;
  b.worker = 1;
  m.trace.spans = {a, b};
  const auto f = bench::timeline_figures(m);
  EXPECT_DOUBLE_EQ(f.on_cpu, 0.5);
  ASSERT_EQ(f.cpus.size(), 1u);
  EXPECT_DOUBLE_EQ(f.cpu_busy[0], 1.0);
  EXPECT_EQ(f.workers, 2);
  const auto trace = bench::chrome_trace({m});
  int complete = 0;
  for (const auto& e : trace["traceEvents"]) complete += e["ph"] == "X" && e["cat"] == "task";
  EXPECT_EQ(complete, 2);
  EXPECT_EQ(trace["otherData"]["points"][0]["spans_shown"], 2);
}

TEST(Timeline, AnUntracedPointHasNoFigures) {
  const bench::Measurement m = measured(Mode::serial, 1, 1.0);
  EXPECT_FALSE(bench::timeline_figures(m).traced);
  EXPECT_TRUE(bench::to_json(bench::timeline_figures(m)).is_null());
  EXPECT_TRUE(bench::chrome_trace({m})["traceEvents"].empty());
}

}  // namespace

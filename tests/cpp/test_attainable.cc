// The machine as measured in the bounds: the attainable bound from the team's capacity beside
// the ideal one, efficiency read against it, the split that fits workers of different speeds,
// the clock probe around each block, and the two causes the model adds to the diagnosis (clock,
// imbalance), each planted and then left out.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cvp/exec/affinity.h"
#include "harness/plan.h"
#include "harness/session.h"
#include "host/clock_watch.h"
#include "host/cpu_model.h"
#include "report/diagnosis.h"
#include "report/summary.h"

namespace attainable_test {  // named: a unity build compiles several test files as one

using namespace cvp;
using bench::CpuInfo;
using bench::MachineModel;
using bench::clock_probe_ghz;

class Compute final : public Workload {
 public:
  explicit Compute(Kind kind = Kind::cpu) : kind_(kind) {}
  std::string name() const override { return "compute"; }
  Kind kind() const override { return kind_; }
  WorkUnit unit() const override { return {"FLOP", "GFLOP/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }

 private:
  Kind kind_;
};

Compute compute;
Compute stream(Kind::memory);

// A computing workload that says how it splits its executions.
class Split final : public Workload {
 public:
  explicit Split(TaskSplit split) : split_(split) {}
  std::string name() const override { return "compute"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"FLOP", "GFLOP/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }
  std::optional<TaskSplit> split(const Point&) const override { return split_; }

 private:
  TaskSplit split_;
};

// Two CPUs on two cores: CPU 0 the home CPU at 1.0 and 3 GHz, CPU 1 at `slow` of its speed
// (and clock, as a slowed CPU reads both).
MachineModel two_cpus(double slow) {
  MachineModel model;
  model.measured = true;
  model.home_cpu = 0;
  for (int cpu = 0; cpu < 2; ++cpu) {
    CpuInfo c;
    c.cpu = cpu;
    c.core = cpu;
    const double speed = cpu == 0 ? 1.0 : slow;
    c.capacity_alone = c.capacity_all_busy = speed;
    c.ghz_alone = c.ghz_all_busy = 3.0 * speed;
    model.cpus.push_back(c);
  }
  return model;
}

bench::Measurement measured(Workload& w, Mode mode, double wall_s, double ghz = 0) {
  bench::Measurement m;
  m.workload = &w;
  m.point.workload = "compute";
  m.point.group = "compute/n:1";
  m.point.mode = mode;
  m.point.threads = mode == Mode::parallel ? 2 : 1;
  m.point.cores = m.point.threads;
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
    s.threads_seen = m.point.threads;
    if (ghz > 0) {
      s.ghz_before = s.ghz_after = ghz;
      for (int cpu : m.point.cpus) s.ghz_by_cpu[cpu] = ghz;
    }
    m.samples.push_back(s);
  }
  return m;
}

// A serial baseline of 1 s and a 2-thread parallel point of `parallel_s`.
struct Pair {
  std::vector<bench::Measurement> ms;
  Pair(double parallel_s, Workload& w = compute, double serial_ghz = 0, double parallel_ghz = 0) {
    ms.push_back(measured(w, Mode::serial, 1.0, serial_ghz));
    ms.push_back(measured(w, Mode::parallel, parallel_s, parallel_ghz));
    ms[0].baseline = &ms[0];
    ms[1].baseline = &ms[0];
  }
};

TEST(Attainable, IsTheTeamsMeasuredCapacityBesideTheIdeal) {
  const MachineModel model = two_cpus(0.5);
  Pair pair(1.0 / 1.45);
  const auto rows = bench::summarise(pair.ms, {.model = &model});
  const auto& r = rows[1];
  EXPECT_DOUBLE_EQ(r.capacity, 1.5);
  EXPECT_DOUBLE_EQ(r.bound, 1.5);
  EXPECT_DOUBLE_EQ(r.ideal, 2.0);
  EXPECT_NEAR(r.efficiency, 1.45 / 1.5, 1e-9);
  EXPECT_NEAR(r.efficiency_ideal, 1.45 / 2, 1e-9);
  EXPECT_NE(r.attainable_model.find("CPU 0 1.00 + CPU 1 0.50"), std::string::npos) << r.attainable_model;
  const auto doc = bench::summary_json(rows, nlohmann::json::object(), bench::Options{}, {});
  const auto& row = doc["results"][1];
  EXPECT_DOUBLE_EQ(row["bound"].template get<double>(), 2.0);  // the ideal keeps its name
  EXPECT_DOUBLE_EQ(row["attainable"]["value"].template get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(row["attainable"]["capacity"].template get<double>(), 1.5);
  EXPECT_NEAR(row["efficiency"].template get<double>(), 1.45 / 1.5, 1e-9);
}

TEST(Attainable, WithoutAModelIsTheIdeal) {
  Pair pair(0.5);
  const auto rows = bench::summarise(pair.ms);
  EXPECT_DOUBLE_EQ(rows[1].bound, 2.0);
  EXPECT_DOUBLE_EQ(rows[1].ideal, 2.0);
  MachineModel unmeasured = two_cpus(0.5);
  unmeasured.measured = false;
  EXPECT_DOUBLE_EQ(bench::summarise(pair.ms, {.model = &unmeasured})[1].bound, 2.0);
}

// A speedup above the attainable bound beyond chance is an anomaly; within the capacity
// measurement's allowance it is not.
TEST(Attainable, AnAnomalyIsASpeedupAboveTheAttainableBound) {
  const MachineModel model = two_cpus(0.5);
  Pair above(1.0 / 1.8);
  EXPECT_FALSE(bench::summarise(above.ms, {.model = &model})[1].anomaly.empty());
  Pair within(1.0 / 1.52);
  EXPECT_TRUE(bench::summarise(within.ms, {.model = &model})[1].anomaly.empty());
}

TEST(Attainable, MemoryBoundWorkIsHeldByAllCoreBandwidth) {
  const MachineModel model = two_cpus(1.0);
  // Serial streamed 1e8 B/s, one core's bandwidth: all cores stream 1.4e8 B/s.
  Pair streamed(1.0 / 1.3, stream);
  auto rows = bench::summarise(streamed.ms, {.model = &model, .bandwidth_one_core = 1e8, .bandwidth_all_cores = 1.4e8});
  EXPECT_NEAR(rows[1].bound, 1.4, 1e-9);
  EXPECT_DOUBLE_EQ(rows[1].ideal, 2.0);
  // Serial ran from cache at 10 x one core's memory bandwidth: the memory does not hold it.
  rows = bench::summarise(streamed.ms, {.model = &model, .bandwidth_one_core = 1e7, .bandwidth_all_cores = 1.4e7});
  EXPECT_DOUBLE_EQ(rows[1].bound, 2.0);
  // Computing work is not held by the memory.
  Pair computed(1.0 / 1.3);
  rows = bench::summarise(computed.ms, {.model = &model, .bandwidth_one_core = 1e8, .bandwidth_all_cores = 1.4e8});
  EXPECT_DOUBLE_EQ(rows[1].bound, 2.0);
}

TEST(TeamCapacity, SumsDistinctCoresAllBusyAndOneCoreAlone) {
  MachineModel model = two_cpus(0.5);
  model.cpus[1].capacity_all_busy = 0.45;
  EXPECT_DOUBLE_EQ(model.team_capacity({0, 1}), 1.45);
  EXPECT_DOUBLE_EQ(model.team_capacity({0, 1, 0, 1}), 1.45);  // oversubscribed: the same cores
  EXPECT_DOUBLE_EQ(model.team_capacity({1}), 0.5);             // a team of one core: alone
  EXPECT_DOUBLE_EQ(model.team_capacity({0, 7}), 2.0);          // a CPU it does not know counts 1
}

TEST(BalancedTasks, SplitsToFitWorkersOfDifferentSpeeds) {
  EXPECT_EQ(balanced_tasks({}, 2, 2), 4u);          // unknown speeds: per_worker x workers
  EXPECT_EQ(balanced_tasks({1, 1}, 2, 2), 4u);      // equal speeds
  EXPECT_EQ(balanced_tasks({1, 0.5}, 2, 2), 6u);    // 6 tasks: 4 on the fast core, 2 on the slow
  EXPECT_EQ(balanced_tasks({1, 0.5, 0.5}, 3, 1), 4u);
  EXPECT_EQ(balanced_tasks({1, 0}, 2, 2), 4u);      // a speed that cannot be: an equal split
  EXPECT_EQ(balanced_tasks({1, 0.5}, 3, 2), 6u);    // speeds that do not match the team: equal
}

TEST(AssignSpeeds, GivesEachParallelWorkerItsCoresSpeed) {
  const MachineModel model = two_cpus(0.5);
  std::vector<Point> points(3);
  points[0].mode = Mode::serial;
  points[0].cpus = {0};
  points[1].mode = Mode::parallel;
  points[1].cpus = {0, 1};
  points[2].mode = Mode::parallel;
  points[2].cpus = {0, 1, 0, 1};  // two workers share each core
  bench::assign_speeds(points, model);
  EXPECT_TRUE(points[0].speeds.empty());
  EXPECT_EQ(points[1].speeds, (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(points[2].speeds, (std::vector<double>{0.5, 0.25, 0.5, 0.25}));
}

TEST(Diagnosis, NamesTheClockWhenTheTeamRanSlowerThanSerial) {
  // Serial at 4.4 GHz; the team at 3.1 GHz on identical cores: at most 2 x 3.1 / 4.4 = x1.41.
  const MachineModel model = two_cpus(1.0);
  Pair slowed(1.0 / 1.4, compute, 4.4, 3.1);
  bench::DiagnosisContext context;
  context.model = &model;
  auto rows = bench::summarise(slowed.ms, {.model = &model});
  bench::diagnose_rows(rows, context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::clock) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("x1.41"), std::string::npos) << rows[1].diagnosis->line;
  // The same clock as serial: the clock is not named.
  Pair steady(1.0 / 1.4, compute, 4.4, 4.4);
  rows = bench::summarise(steady.ms, {.model = &model});
  bench::diagnose_rows(rows, context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::clock);
}

TEST(Diagnosis, ASlowCoreReadAsSuchIsNotAClockCause) {
  // CPU 1 at half speed reads half the clock: the attainable bound already counts it.
  const MachineModel model = two_cpus(0.5);
  Pair pair(1.0 / 1.3, compute, 3.0, 0);
  for (auto& s : pair.ms[1].samples) s.ghz_by_cpu = {{0, 3.0}, {1, 1.5}}, s.ghz_before = s.ghz_after = 2.25;
  bench::DiagnosisContext context;
  context.model = &model;
  auto rows = bench::summarise(pair.ms, {.model = &model});
  bench::diagnose_rows(rows, context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::clock) << rows[1].diagnosis->line;
}

TEST(Diagnosis, NamesTheImbalanceOfAnEqualSplitOverCoresOfDifferentSpeed) {
  const MachineModel model = two_cpus(0.5);
  Pair pair(1.0 / 1.0);  // x1.0: each worker half the work, the slow one ends at 1.0
  std::vector<Point> points{pair.ms[1].point};
  bench::assign_speeds(points, model);
  pair.ms[1].point.speeds = points[0].speeds;
  bench::DiagnosisContext context;
  context.model = &model;
  auto rows = bench::summarise(pair.ms, {.model = &model});
  bench::diagnose_rows(rows, context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("x1.00"), std::string::npos) << rows[1].diagnosis->line;
  // Equal speeds: no imbalance to name.
  const MachineModel even = two_cpus(1.0);
  points = {pair.ms[1].point};
  bench::assign_speeds(points, even);
  pair.ms[1].point.speeds = points[0].speeds;
  rows = bench::summarise(pair.ms, {.model = &even});
  bench::diagnose_rows(rows, context);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::imbalance);
}

TEST(SplitSpeedup, IsTheWorkOverTheEndOfTheLastTask) {
  using exec::Schedule;
  EXPECT_DOUBLE_EQ(split_speedup({1, 0.5}, {6, Schedule::dynamic}), 1.5);      // 4 tasks and 2 end together
  EXPECT_DOUBLE_EQ(split_speedup({1, 0.5}, {4, Schedule::dynamic}), 4.0 / 3);  // the 4th waits for the fast one
  EXPECT_DOUBLE_EQ(split_speedup({1, 0.5}, {4, Schedule::fixed}), 1.0);        // 2 each: the slow one ends at 4
  EXPECT_DOUBLE_EQ(split_speedup({1, 0.5}, {2, Schedule::fixed}), 1.0);        // an equal split: T x the slowest
  EXPECT_DOUBLE_EQ(split_speedup({1, 1}, {4, Schedule::fixed}), 2.0);
  EXPECT_DOUBLE_EQ(split_speedup({1, 0.5}, {0, Schedule::dynamic}), 0.0);      // no tasks
  EXPECT_DOUBLE_EQ(split_speedup({1, 0}, {4, Schedule::dynamic}), 0.0);        // a speed that cannot be
}

// The imbalance named is the one the workload's own split leaves over the measured speeds: a
// split dealt in turn, or too few tasks from a shared counter, is named with its ceiling; a
// split that fits the speeds is not, however far the speedup falls below them.
TEST(Diagnosis, NamesTheImbalanceTheWorkloadsSplitLeaves) {
  const MachineModel model = two_cpus(0.5);
  const auto diagnosed = [&](Workload& w, double speedup) {
    Pair pair(1.0 / speedup, w);
    std::vector<Point> points{pair.ms[1].point};
    bench::assign_speeds(points, model);
    pair.ms[1].point.speeds = points[0].speeds;
    bench::DiagnosisContext context;
    context.model = &model;
    auto rows = bench::summarise(pair.ms, {.model = &model});
    bench::diagnose_rows(rows, context);
    return rows;
  };
  Split dealt({4, exec::Schedule::fixed});
  auto rows = diagnosed(dealt, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("its 4 tasks, task i to worker i mod 2, end when the last does, at most x1.00"),
            std::string::npos) << rows[1].diagnosis->line;
  EXPECT_EQ(rows[1].diagnosis->figures["tasks"], 4);
  EXPECT_EQ(rows[1].diagnosis->figures["schedule"], "fixed");
  Split few({4, exec::Schedule::dynamic});
  rows = diagnosed(few, 1.3);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  EXPECT_NEAR(rows[1].diagnosis->figures["ceiling"].get<double>(), 4.0 / 3, 1e-9);
  EXPECT_NE(rows[1].diagnosis->line.find("each taken by the next free worker"), std::string::npos)
      << rows[1].diagnosis->line;
  // Six tasks from a shared counter end together on speeds 1 and 0.5: no imbalance, even at
  // x1.0 (which an equal split, the reading of a split not said, would explain).
  Split fits({6, exec::Schedule::dynamic});
  rows = diagnosed(fits, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  rows = diagnosed(compute, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
}

// A team of a fast and a slow core needs more CPU than serial for the same work: the slow worker
// spends 1 / its speed per unit of it. CPU beyond what the measured speeds need is named with
// its ceiling; the CPU they need alone is not read as extra.
TEST(Diagnosis, WeighsTheTeamsCpuByItsWorkersMeasuredSpeeds) {
  const MachineModel model = two_cpus(0.5);
  const auto diagnosed = [&](const MachineModel& m, double team_cpu_s, Workload& w = compute,
                             double speedup = 1.38) {
    Pair pair(1.0 / speedup, w);  // x1.38 against x1.5 by default
    std::vector<Point> points{pair.ms[1].point};
    bench::assign_speeds(points, m);
    pair.ms[1].point.speeds = points[0].speeds;
    for (auto& s : pair.ms[0].samples) s.cpu_s = 1.0;
    for (auto& s : pair.ms[1].samples) s.cpu_s = team_cpu_s;
    bench::DiagnosisContext context;
    context.model = &m;
    auto rows = bench::summarise(pair.ms, {.model = &m});
    bench::diagnose_rows(rows, context);
    return rows;
  };
  // Speeds 1 and 0.5, split by speed: 2/3 of the work at 1 and 1/3 at 0.5 need 4/3 of serial's
  // CPU. The team spent 1.41 s: x1.06 that, which alone allows 1.5 / 1.0575 = x1.42.
  auto rows = diagnosed(model, 1.41);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::extra_cpu) << rows[1].diagnosis->line;
  const auto& figures = rows[1].diagnosis->figures;
  EXPECT_NEAR(figures["needed_cpu_s"].get<double>(), 4.0 / 3, 1e-9);
  EXPECT_NEAR(figures["ceiling"].get<double>(), 1.5 * (4.0 / 3) / 1.41, 1e-9);
  EXPECT_NE(rows[1].diagnosis->line.find("x1.06 the CPU time the work needs at its cores' measured speeds"),
            std::string::npos) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("x1.42"), std::string::npos) << rows[1].diagnosis->line;
  // The CPU the speeds need, and no more: not extra (x1.34 of serial's would otherwise read as
  // a ceiling of x1.12, which the speedup contradicts).
  rows = diagnosed(model, 1.34);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::extra_cpu) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
  // Equal speeds need serial's CPU: the same 1.34 s is x1.34 of it, against serial's as before.
  const MachineModel even = two_cpus(1.0);
  rows = diagnosed(even, 1.34);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::extra_cpu) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("needed_cpu_s"));
  EXPECT_NE(rows[1].diagnosis->line.find("x1.34 the serial run's CPU time"), std::string::npos)
      << rows[1].diagnosis->line;
  rows = diagnosed(even, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::extra_cpu) << rows[1].diagnosis->line;
  // Where the workload says its split, each worker's share is its tasks': an equal split dealt
  // in turn gives the slow worker half the work, 1 s of CPU, and the team needs 1.5 s. That is
  // no extra CPU; the imbalance (x1.00) is the cause.
  Split dealt({2, exec::Schedule::fixed});
  rows = diagnosed(model, 1.5, dealt, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  EXPECT_FALSE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
  rows = diagnosed(model, 1.65, dealt, 1.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::imbalance) << rows[1].diagnosis->line;
  ASSERT_TRUE(rows[1].diagnosis->figures.contains("also")) << rows[1].diagnosis->figures.dump();
  EXPECT_EQ(rows[1].diagnosis->figures["also"][0], "extra_cpu");
}

TEST(ClockWatch, ReadsTheClockOfEachCpuAsked) {
  bench::ClockWatch watch;
  const std::vector<int> cpus = exec::allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  const auto readings = watch.probe({cpus[0], cpus[0]});
  ASSERT_EQ(readings.size(), 1u);  // one reading per distinct CPU
  EXPECT_GT(readings.at(cpus[0]), 0.2);
  EXPECT_LT(readings.at(cpus[0]), 10.0);
  EXPECT_EQ(watch.probe(cpus).size(), cpus.size());
}

TEST(ClockWatch, AClockThatMovedDisturbsTheBlock) {
  EXPECT_EQ(bench::clock_moved({{0, 3.0}}, {{0, 2.8}}, 0.0), "");   // within 10%
  EXPECT_NE(bench::clock_moved({{0, 3.0}}, {{0, 2.5}}, 0.0).find("CPU 0 moved from 3.00 GHz to 2.50"),
            std::string::npos);
  EXPECT_EQ(bench::clock_moved({{0, 3.0}}, {{0, 2.5}}, 0.05), "");  // within 4 x its noise
  EXPECT_DOUBLE_EQ(bench::mean_ghz({{0, 3.0}, {1, 2.0}}), 2.5);
}

TEST(ClockProbe, ReadsAPlausibleClock) {
  const double ghz = clock_probe_ghz(2e-3);
  EXPECT_GT(ghz, 0.2);
  EXPECT_LT(ghz, 10.0);
}

}  // namespace attainable_test

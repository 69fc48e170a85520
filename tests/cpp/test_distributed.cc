// The distributed mode without a launcher: each rank's share of its host's cores, the
// operations of cvp/dist.h on one rank, and the diagnosis of a distributed row's communication
// (named with its share where it explains the gap, not named where it is too small to).
#include <gtest/gtest.h>

#include <vector>

#include "cvp/dist.h"
#include "dist/runtime.h"
#include "harness/session.h"
#include "report/diagnosis.h"
#include "report/summary.h"

namespace distributed_tests {

using namespace cvp;

TEST(RankShare, SplitsTheHostsCoresEvenlyInTheOrderOfTheirNumbers) {
  const exec::Topology two = exec::make_topology({{0}, {1}}, false);
  EXPECT_EQ(dist::share_of_host(two, 0, 2), std::vector<int>{0});
  EXPECT_EQ(dist::share_of_host(two, 1, 2), std::vector<int>{1});
  EXPECT_EQ(dist::share_of_host(two, 0, 1), (std::vector<int>{0, 1}));
  // Ranked by a machine model (core 1 first), the shares stay the same on every rank.
  exec::Topology ranked = two;
  ranked.cores = {{1}, {0}};
  EXPECT_EQ(dist::share_of_host(ranked, 0, 2), std::vector<int>{0});
  EXPECT_EQ(dist::share_of_host(ranked, 1, 2), std::vector<int>{1});
}

TEST(RankShare, GivesSmtSiblingsAfterTheCoresAndSharesCoresWhenRanksOutnumberThem) {
  const exec::Topology smt = exec::make_topology({{0, 4}, {1, 5}, {2, 6}, {3, 7}}, true);
  EXPECT_EQ(dist::share_of_host(smt, 0, 2), (std::vector<int>{0, 1, 4, 5}));
  EXPECT_EQ(dist::share_of_host(smt, 1, 2), (std::vector<int>{2, 3, 6, 7}));
  const exec::Topology two = exec::make_topology({{0}, {1}}, false);
  EXPECT_EQ(dist::share_of_host(two, 2, 3), std::vector<int>{0});
  EXPECT_EQ(dist::share_of_host(two, 1, 3), std::vector<int>{1});
}

TEST(OneRank, OperationsAreTheIdentityAndThePlanHasNoDistributedPoint) {
  ASSERT_EQ(dist::ranks(), 1);
  EXPECT_EQ(dist::rank(), 0);
  const dist::Group world = dist::Group::world();
  EXPECT_EQ(world.size(), 1);
  double v[2] = {1.5, 2.5};
  world.sum(v, 2);
  world.broadcast(v, 2, 0);
  EXPECT_EQ(v[0], 1.5);
  EXPECT_EQ(world.max(3.0), 3.0);
  double all[2] = {0, 0};
  world.gather(v, 2, all, 0);
  EXPECT_EQ(all[1], 2.5);
  EXPECT_THROW(world.send(v, 1, 1, 0), std::logic_error);
  const exec::Topology two = exec::make_topology({{0}, {1}}, false);
  PlanContext context(two, false, {}, {}, std::nullopt);
  Point base;
  base.group = "x";
  EXPECT_TRUE(context.distributed_sweep(base).empty());
  // No backend rank to make a round trip to, and no run of several ranks to carry them.
  EXPECT_THROW(dist::start_round_trip(1, 0, 0, [](std::uint64_t) {}), std::logic_error);
  EXPECT_THROW(dist::carry_round_trips([] {}), std::logic_error);
  EXPECT_THROW(dist::serve_round_trips([](std::uint64_t, std::uint64_t) { return std::uint64_t{1}; }, 0),
               std::logic_error);
}

// A point rank 0 serves with the other ranks as its backend runs on rank 0's share of its host
// (one rank here: the whole host), one core for serial and concurrent points; a parallel point
// needs two cores of the share, and a distributed point is no such point.
TEST(WithRanks, ServedPointsRunOnRankZerosShare) {
  const exec::Topology two = exec::make_topology({{0}, {1}}, false);
  const exec::Topology one = exec::make_topology({{0}}, false);
  PlanContext context(two, false, {}, {}, std::nullopt);
  PlanContext single(one, false, {}, {}, std::nullopt);
  Point base;
  base.group = "x";
  const auto serial = context.served_with_ranks(context.serial(base));
  ASSERT_TRUE(serial.has_value());
  EXPECT_TRUE(serial->with_ranks && serial->all_ranks());
  EXPECT_EQ(serial->cpus, std::vector<int>{0});
  const auto conc = context.served_with_ranks(context.concurrent(base, 8));
  ASSERT_TRUE(conc.has_value());
  EXPECT_EQ(conc->cpus, std::vector<int>{0});
  EXPECT_EQ(conc->threads, 8);
  const auto par = context.served_with_ranks(context.parallel(base, 2));
  ASSERT_TRUE(par.has_value());
  EXPECT_EQ(par->cpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(par->cores, 2);
  EXPECT_FALSE(single.served_with_ranks(single.parallel(base, 2)).has_value());
  Point spread = context.parallel(base, 2);
  spread.mode = Mode::distributed;
  EXPECT_FALSE(context.served_with_ranks(spread).has_value());
  EXPECT_FALSE(context.serial(base).all_ranks());
}

// A computing workload with the default bound.
class Computing final : public Workload {
 public:
  std::string name() const override { return "computing"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"FLOP", "GFLOP/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }
};

Computing computing;

bench::Measurement measured(Mode mode, double wall_s, double communication_s) {
  bench::Measurement m;
  m.workload = &computing;
  m.point.workload = "computing";
  m.point.group = "computing/n:1";
  m.point.mode = mode;
  m.point.cpus = {0};
  m.point.work = 1e9;
  if (mode == Mode::distributed) {
    m.point.ranks = 2;
    m.point.variant = "/ranks:2";
    m.point.host_cpus = {0, 1};
  }
  for (int round = 0; round < 8; ++round) {
    bench::Sample s;
    s.wall_s = wall_s;
    s.round = round;
    s.executions = 1;
    s.cpus_seen = m.point.cpus;
    s.threads_seen = 1;
    if (mode == Mode::distributed) s.values["communication_s"] = communication_s;
    m.samples.push_back(s);
  }
  return m;
}

// A serial row of 1 s and a 2-rank row of 0.625 s (x1.6 of a bound of 2), `communication_s`
// of it inside MPI.
std::vector<bench::ResultRow> diagnosed(std::vector<bench::Measurement>& ms, double communication_s) {
  ms.push_back(measured(Mode::serial, 1.0, 0));
  ms.push_back(measured(Mode::distributed, 0.625, communication_s));
  ms[0].baseline = &ms[0];
  ms[1].baseline = &ms[0];
  auto rows = bench::summarise(ms);
  bench::DiagnosisContext context;
  context.run_delay_visible = context.steal_visible = true;
  context.network_latency_us = 0.4;
  context.network_bandwidth_bytes_s = 8e9;
  bench::diagnose_rows(rows, context);
  return rows;
}

TEST(DistributedDiagnosis, NamesCommunicationThatExplainsTheGap) {
  std::vector<bench::Measurement> ms;
  const auto rows = diagnosed(ms, 0.125);  // 20%: at most x1.6
  ASSERT_TRUE(rows[1].ok);
  EXPECT_DOUBLE_EQ(rows[1].bound, 2.0);
  EXPECT_DOUBLE_EQ(rows[1].ideal, 2.0);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::communication);
  EXPECT_NE(rows[1].diagnosis->line.find("20.0%"), std::string::npos) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("x1.60"), std::string::npos) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("0.40 us one way"), std::string::npos) << rows[1].diagnosis->line;
}

TEST(DistributedDiagnosis, CommunicationTooSmallToExplainTheGapIsNotNamed) {
  std::vector<bench::Measurement> ms;
  const auto rows = diagnosed(ms, 0.00625);  // 1%: not the cause of a 20% gap
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::communication);
}

TEST(DistributedBound, AddsTheCommunicationTheAlgorithmMustDoAtTheNetworksRates) {
  std::vector<bench::Measurement> ms;
  ms.push_back(measured(Mode::serial, 1.0, 0));
  ms.push_back(measured(Mode::distributed, 0.625, 0.1));
  ms[1].point.comm_bytes = 1e9;      // 0.1 s at 10 GB/s
  ms[1].point.comm_messages = 1000;  // 0.01 s at 10 us
  ms[0].baseline = &ms[0];
  ms[1].baseline = &ms[0];
  bench::MachineView network;
  network.network_bandwidth = 10e9;
  network.network_latency_s = 10e-6;
  const auto rows = bench::summarise(ms, network);
  // 1 s over 2 ranks' cores, plus 0.11 s: x1.64, not x2.
  EXPECT_NEAR(rows[1].bound, 1.0 / (0.5 + 0.11), 1e-9);
  // Without a measured network the bound is the ranks' capacity alone.
  const auto blind = bench::summarise(ms);
  EXPECT_DOUBLE_EQ(blind[1].bound, 2.0);
}

TEST(Scaling, WeakCopiesGrowWithTheWorkersAndStrongKeepsTheSweep) {
  const exec::Topology two = exec::make_topology({{0}, {1}}, false);
  PlanContext context(two, false, {2}, {}, std::nullopt);
  Point base;
  base.workload = "w";
  base.group = "w/n:10";
  base.work = 10;
  const auto grow = [](Point& p, int workers) { p.work *= workers; };
  const std::vector<Point> sweep = context.task_sweep(base, {Backend::threads});
  EXPECT_EQ(context.scaled(sweep, grow).size(), sweep.size());
  context.set_scaling(Scaling::weak);
  const std::vector<Point> weak = context.scaled(sweep, grow);
  ASSERT_EQ(weak.size(), sweep.size());
  for (const Point& p : weak) {
    if (p.mode == Mode::parallel) {
      EXPECT_EQ(p.weak, 2);
      EXPECT_EQ(p.work, 20);
      EXPECT_NE(p.name().find("/weak:2/mode:parallel/"), std::string::npos) << p.name();
    } else {
      EXPECT_EQ(p.weak, 1);
      EXPECT_EQ(p.work, 10);
    }
  }
  context.set_scaling(Scaling::both);
  EXPECT_EQ(context.scaled(sweep, grow).size(), sweep.size() + 1);
}

}  // namespace distributed_tests

// Weak scaling beside strong (--scaling weak|both): a request workload's grown points (K and N x
// its cores P, named /weak:P, only when asked for), their bound and verdict, their Gustafson
// fraction against the one-core point of the K they grew from; and the memory-bandwidth cause of
// a grown or distributed row, per unit of work and per host.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cvp/cvpbench.h"
#include "harness/plan.h"
#include "harness/session.h"
#include "report/diagnosis.h"
#include "report/summary.h"

#include "plan_support.h"

namespace weak_test {  // named: a unity build compiles several test files as one

using namespace cvp;

class Echo final : public exec::RequestHandler {
 public:
  explicit Echo(std::size_t requests) : slots_(requests) {}
  void before_wait(std::size_t id) override { slots_[id] = id * 2654435761u + 1; }
  std::uint64_t after_wait(std::size_t id) override { return slots_[id] | 1; }

 private:
  std::vector<std::uint64_t> slots_;
};

RequestWorkload::Spec echo_spec() {
  RequestWorkload::Spec spec;
  spec.name = "echo";
  spec.make = [](std::size_t requests) { return std::make_unique<Echo>(requests); };
  return spec;
}

const exec::Topology two = exec::make_topology({{0}, {1}}, false);
const exec::Topology single = exec::make_topology({{0}}, false);

std::vector<Point> planned(RequestWorkload& w, std::vector<std::string> args,
                           const exec::Topology& t = two) {
  return plan_support::plan_of(w, std::move(args), t);
}

std::vector<std::string> names(const std::vector<Point>& points) { return plan_support::names_of(points); }

const std::vector<std::string> kFixed = {"--echo-in-flight", "4", "--echo-requests", "40",
                                         "--echo-w-us", "500"};

std::vector<std::string> with(std::vector<std::string> args, const std::string& scaling) {
  args.push_back("--scaling");
  args.push_back(scaling);
  return args;
}

TEST(WeakRequests, StrongScalingPlansNoGrownPoint) {
  RequestWorkload echo(echo_spec());
  for (const Point& p : planned(echo, kFixed)) {
    EXPECT_EQ(p.weak, 1) << p.name();
    EXPECT_EQ(p.name().find("/weak:"), std::string::npos) << p.name();
  }
}

// Each parallel point (K = 4 on P = 2 cores) gets a copy with K and N x 2, named /weak:2, in
// its group; weak alone drops the strong parallel points, both keeps them.
TEST(WeakRequests, GrowsInFlightAndRequestsWithTheCores) {
  RequestWorkload weak(echo_spec());
  const auto points = planned(weak, with(kFixed, "weak"));
  EXPECT_EQ(names(points),
            (std::vector<std::string>{
                "echo/w_us:500/k:1/requests:40/mode:serial/backend:threads/threads:1",
                "echo/w_us:500/k:4/requests:40/mode:concurrent/backend:threads/threads:4",
                "echo/w_us:500/k:8/requests:80/weak:2/mode:parallel/backend:threads/threads:8",
                "echo/w_us:500/k:4/requests:40/mode:concurrent/backend:eventloop/threads:1",
                "echo/w_us:500/k:8/requests:80/weak:2/mode:parallel/backend:eventloop/threads:2"}));
  for (const Point& p : points) {
    EXPECT_EQ(p.group, "echo/w_us:500");
    if (p.mode != Mode::parallel) continue;
    EXPECT_EQ(p.weak, 2);
    EXPECT_EQ(p.in_flight, 8);
    EXPECT_DOUBLE_EQ(p.work, 80);
    EXPECT_EQ(p.cores, 2);
    EXPECT_EQ(p.params_json().at("k"), 8);
    EXPECT_EQ(p.params_json().at("requests"), 80);
    // One blocking thread per request in flight; one event loop per core.
    EXPECT_EQ(p.threads, p.backend == Backend::threads ? 8 : 2);
  }
  RequestWorkload both(echo_spec());
  const auto all = planned(both, with(kFixed, "both"));
  EXPECT_EQ(all.size(), 7u);
  std::vector<std::string> sorted = names(all);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "names must be unique";
  // One core: no P > 1, nothing to grow.
  RequestWorkload alone(echo_spec());
  for (const Point& p : planned(alone, with(kFixed, "both"), single)) EXPECT_EQ(p.weak, 1) << p.name();
}

// Auto-sized runs: the grown point runs N x P of the strong point's N (so at least K P, which
// check() requires), whatever the sizing would pick for K P on its own.
TEST(WeakRequests, GrowsAutoSizedRunsByP) {
  RequestWorkload echo(echo_spec());
  const auto points = planned(echo, {"--echo-in-flight", "64", "--scaling", "both", "--quick"});
  for (const Point& p : points) {
    if (p.weak == 1 || p.mode != Mode::parallel) continue;
    const Point* strong = nullptr;
    for (const Point& q : points) {
      if (q.weak == 1 && q.mode == Mode::parallel && q.backend == p.backend) strong = &q;
    }
    ASSERT_NE(strong, nullptr);
    EXPECT_DOUBLE_EQ(p.work, 2 * strong->work) << p.name();
    EXPECT_GE(p.work, p.in_flight);
    std::vector<const Point*> selected{&p};
    EXPECT_NO_THROW(echo.check(selected));
  }
}

TEST(WeakRequests, RefusesAGrownRunBeyondTheEnginesLimits) {
  RequestWorkload echo(echo_spec());
  try {
    planned(echo, {"--echo-in-flight", "60000", "--echo-requests", "60000", "--scaling", "weak"});
    FAIL() << "120000 in flight planned";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--scaling weak: echo/w_us:1000 with 60000 in flight grows to 120000"),
              std::string::npos) << e.what();
  }
  RequestWorkload strong(echo_spec());
  EXPECT_NO_THROW(planned(strong, {"--echo-in-flight", "60000", "--echo-requests", "60000", "--backend", "eventloop"}));
}

Row request_row(const Point& p, double speedup, double c_us, const Workload& w) {
  Row r;
  r.point = &p;
  r.ok = true;
  r.speedup = speedup;
  r.speedup_low = 0.9 * speedup;
  r.speedup_high = 1.1 * speedup;
  r.ci_known = true;
  r.pairs = 8;
  r.request = RequestFigures{c_us, 0.0};
  r.capacity = p.mode == Mode::parallel ? p.cores : 1;
  r.bound = w.bound(r);
  r.efficiency = r.speedup / r.bound;
  return r;
}

// The grown point's bound is the model's for its own K P on its P cores: min(K P, P (c' + w) / c').
TEST(WeakRequests, TheGrownPointsBoundCountsItsKAndItsCores) {
  RequestWorkload echo(echo_spec());
  const auto points = planned(echo, {"--echo-in-flight", "64", "--echo-requests", "1280", "--scaling", "weak"});
  for (const Point& p : points) {
    if (p.weak == 1) continue;
    ASSERT_EQ(p.in_flight, 128);
    EXPECT_DOUBLE_EQ(request_row(p, 1, 100, echo).bound, 22);   // 2 x (100 + 1000) / 100
    EXPECT_DOUBLE_EQ(request_row(p, 1, 1, echo).bound, 128);    // K P caps it, not K
    EXPECT_DOUBLE_EQ(request_row(p, 1, 10, echo).bound, 128);   // 2 x 101 = 202 > 128
  }
  // Measured: min(K P T_s / (c' + w + o_s), P T_s / c') with the serial request's T_s.
  const Point* weak = nullptr;
  for (const Point& p : points) {
    if (p.weak > 1) weak = &p;
  }
  Point serial = points.front();
  Row base;
  base.point = &serial;
  base.median_s = serial.work * 1150e-6;
  base.request = RequestFigures{50.0, 100.0};
  Row row = request_row(*weak, 1, 50, echo);
  row.baseline = &base;
  EXPECT_DOUBLE_EQ(echo.bound(row), 2 * 1150.0 / 50);  // 46 < 128 x 1150 / 1150
}

// The verdict names the weak point grown from the headline K, with its scaled efficiency and its
// speedup over the one-core point of that K, and Gustafson's fraction from that.
TEST(WeakRequests, TheVerdictNamesTheWeakPoint) {
  RequestWorkload echo(echo_spec());
  const auto points = planned(echo, {"--echo-requests", "1280", "--scaling", "both", "--backend", "eventloop"});
  std::vector<Row> rows;
  for (const auto& p : points) {
    const double speedup = p.mode == Mode::serial ? 1 : p.mode == Mode::concurrent ? 40 : p.weak > 1 ? 76 : 60;
    rows.push_back(request_row(p, speedup, 1, echo));
  }
  VerdictContext context;
  for (const auto& r : rows) context.rows.push_back(&r);
  context.allowed_cores = 2;
  EXPECT_EQ(echo.verdicts(context),
            (std::vector<std::string>{
                "echo w=1ms K=64: concurrency x40.0 [36.0, 44.0] on 1 core (bound x64.0); "
                "parallelism x60.0 [54.0, 66.0] on 2 cores (bound x64.0); weak scaling x76.0 "
                "[68.4, 83.6] at K=128 on 2 cores (scaled efficiency 0.59 of bound x128.0; x1.90 "
                "over K=64 on 1 core, Gustafson serial fraction 0.100) [eventloop backend]"}));
  // A weak point grown from another K is not the headline K's.
  for (auto& r : rows) {
    if (r.point->weak > 1 && r.point->in_flight == 128) r.ok = false;
  }
  // (K = 16 grew from K = 8: not K = 64's.)
  EXPECT_EQ(echo.verdicts(context)[0].find("weak scaling"), std::string::npos) << echo.verdicts(context)[0];
}

// A measurement of `work` units in `wall_s` a block, with 8 undisturbed blocks.
bench::Measurement measured(Workload& w, const Point& p, double wall_s) {
  bench::Measurement m;
  m.workload = &w;
  m.point = p;
  for (int round = 0; round < 8; ++round) {
    bench::Sample s;
    s.wall_s = wall_s;
    s.round = round;
    s.executions = 1;
    s.cpus_seen = p.cpus;
    s.threads_seen = p.threads;
    m.samples.push_back(s);
  }
  return m;
}

// In summary.json a weak io row's Gustafson fraction is against the concurrent point of its K:
// x1.9 over it on 2 cores is s = 0.1, not (2 - 76) / (2 - 1) against serial.
TEST(WeakRequests, GustafsonOfAWeakRequestRowIsAgainstOneCoreAtItsK) {
  RequestWorkload echo(echo_spec());
  const auto points = planned(echo, {"--echo-in-flight", "64", "--echo-requests", "1280", "--scaling", "weak",
                                     "--backend", "eventloop"});
  ASSERT_EQ(points.size(), 3u);
  std::vector<bench::Measurement> ms;
  ms.push_back(measured(echo, points[0], 1.0));          // serial: 1280 requests in 1 s
  ms.push_back(measured(echo, points[1], 1.0 / 40));     // K = 64 on one core: x40
  ms.push_back(measured(echo, points[2], 2.0 / 76));     // 2560 requests on 2 cores: x76
  for (auto& m : ms) m.baseline = &ms[0];
  const auto rows = bench::summarise(ms);
  ASSERT_EQ(rows[2].point->weak, 2);
  EXPECT_NEAR(rows[2].speedup, 76, 0.5);
  EXPECT_NEAR(rows[2].scaled_over_one_core, 1.9, 0.01);
  EXPECT_EQ(rows[2].one_core_name, points[1].name());
  ASSERT_TRUE(rows[2].has_gustafson);
  EXPECT_NEAR(rows[2].gustafson, 0.1, 0.01);
  EXPECT_FALSE(rows[1].has_gustafson);
  // Without the one-core point, no fraction at all.
  std::vector<bench::Measurement> without{ms[0], ms[2]};
  for (auto& m : without) m.baseline = &without[0];
  EXPECT_FALSE(bench::summarise(without)[1].has_gustafson);
}

// --- the memory bandwidth of grown and distributed rows -------------------------------------

// Work whose bound is the cores' (so the bandwidth is the diagnosis's to name).
class Streams final : public Workload {
 public:
  std::string name() const override { return "streams"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"bytes", "GB/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }
};

Streams streams;

Point stream_point(Mode mode, double weak, double bytes_growth) {
  Point p;
  p.workload = "streams";
  p.group = "streams/n:1";
  p.mode = mode;
  p.threads = mode == Mode::serial ? 1 : 2;
  p.cores = p.threads;
  p.cpus = mode == Mode::serial ? std::vector<int>{0} : std::vector<int>{0, 1};
  p.weak = weak;
  p.work = 1e9 * weak;
  p.bytes = 1e8 * bytes_growth;  // serial moves 1e8 bytes in 1 s
  if (mode == Mode::distributed) {
    p.threads = p.cores = 1;
    p.ranks = 2;
    p.cpus = {0};
    p.host_cpus = {0, 1};
  }
  return p;
}

bench::DiagnosisContext limits(double bandwidth_all) {
  bench::DiagnosisContext c;
  c.limits_known = true;
  c.flops_one_core = 50e9;
  c.flops_all_cores = 100e9;
  c.limit_cores = 2;
  c.bandwidth_one_core = 1e8;
  c.bandwidth_all_cores = bandwidth_all;
  return c;
}

// A serial baseline of 1 s and a weak point x2 that does twice the work at `speedup` per unit.
std::vector<bench::ResultRow> diagnosed(const Point& grown, double speedup, double bandwidth_all,
                                        int hosts = 1) {
  std::vector<bench::Measurement> ms;
  ms.push_back(measured(streams, stream_point(Mode::serial, 1, 1), 1.0));
  Point p = grown;
  p.hosts = hosts;
  ms.push_back(measured(streams, p, p.weak / speedup));
  for (auto& m : ms) m.baseline = &ms[0];
  bench::MachineView machine;
  machine.bandwidth_one_core = 1e8;
  machine.bandwidth_all_cores = bandwidth_all;
  auto rows = bench::summarise(ms, machine);
  bench::diagnose_rows(rows, limits(bandwidth_all));
  return rows;
}

TEST(WeakBandwidth, NamesTheBandwidthThatHoldsAWeakRow) {
  // x1.3 per unit of twice the work; serial moved 1e8 B/s, all cores 1.35e8 B/s: at most x1.35.
  const auto held = diagnosed(stream_point(Mode::parallel, 2, 2), 1.3, 1.35e8);
  ASSERT_TRUE(held[1].diagnosis);
  EXPECT_EQ(held[1].diagnosis->cause, Cause::memory_bandwidth) << held[1].diagnosis->line;
  EXPECT_NEAR(held[1].diagnosis->figures["ceiling"].get<double>(), 1.35, 1e-9);
  EXPECT_NE(held[1].diagnosis->line.find("moved 0.1 GB/s, 96% of the 0.1 GB/s measured for all cores"),
            std::string::npos) << held[1].diagnosis->line;
  // The same row with bandwidth to spare: not the memory.
  const auto free = diagnosed(stream_point(Mode::parallel, 2, 2), 1.3, 1e12);
  ASSERT_TRUE(free[1].diagnosis);
  EXPECT_NE(free[1].diagnosis->cause, Cause::memory_bandwidth) << free[1].diagnosis->line;
  EXPECT_FALSE(free[1].diagnosis->figures.contains("also") &&
               free[1].diagnosis->figures["also"].dump().find("memory_bandwidth") != std::string::npos);
}

// A grown problem that moves fewer bytes per unit of work (a matmul's n x P^(1/3): its bytes
// x P^(2/3), its FLOP x P) is held less by the memory: the ceiling is per unit of work.
TEST(WeakBandwidth, TheCeilingIsPerUnitOfWork) {
  const double growth = std::pow(2.0, 2.0 / 3.0);
  const auto rows = diagnosed(stream_point(Mode::parallel, 2, growth), 1.3, 1.2e8);
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::memory_bandwidth) << rows[1].diagnosis->line;
  EXPECT_NEAR(rows[1].diagnosis->figures["ceiling"].get<double>(), 1.2 * std::cbrt(2.0), 1e-9);
  EXPECT_NE(rows[1].diagnosis->line.find("x0.79 its bytes per unit of work"), std::string::npos)
      << rows[1].diagnosis->line;
}

// Distributed rows are held by the bandwidth of their hosts: one host's on one host, every
// host's across hosts (each rank streams from its own memory).
TEST(WeakBandwidth, ADistributedRowCountsEveryHostsMemory) {
  const auto one_host = diagnosed(stream_point(Mode::distributed, 2, 2), 1.3, 1.35e8);
  ASSERT_TRUE(one_host[1].diagnosis);
  EXPECT_EQ(one_host[1].diagnosis->cause, Cause::memory_bandwidth) << one_host[1].diagnosis->line;
  EXPECT_NEAR(one_host[1].diagnosis->figures["ceiling"].get<double>(), 1.35, 1e-9);
  EXPECT_NE(one_host[1].diagnosis->line.find("the ranks moved"), std::string::npos) << one_host[1].diagnosis->line;
  // Two hosts: 2 x 1.35e8 B/s allows x2.7, above the bound of 2 ranks: not the memory.
  const auto two_hosts = diagnosed(stream_point(Mode::distributed, 2, 2), 1.3, 1.35e8, 2);
  ASSERT_TRUE(two_hosts[1].diagnosis);
  EXPECT_NE(two_hosts[1].diagnosis->cause, Cause::memory_bandwidth) << two_hosts[1].diagnosis->line;
}

// A memory-bound workload whose bound is the bandwidth says so in its attainable model, with the
// numbers: a row held there meets its bound and needs no diagnosis.
class Triadish final : public Workload {
 public:
  std::string name() const override { return "streams"; }
  Kind kind() const override { return Kind::memory; }
  WorkUnit unit() const override { return {"bytes", "GB/s", 1e9}; }
  std::vector<Point> plan(const PlanContext&) override { return {}; }
  std::unique_ptr<PreparedPoint> prepare(const Point&, exec::Sightings&, StopToken) override { return nullptr; }
};

TEST(WeakBandwidth, AMemoryBoundRowsBoundIsTheBandwidthPerUnitOfWork) {
  Triadish triadish;
  std::vector<bench::Measurement> ms;
  ms.push_back(measured(triadish, stream_point(Mode::serial, 1, 1), 1.0));
  ms.push_back(measured(triadish, stream_point(Mode::parallel, 2, 2), 2 / 1.352));
  for (auto& m : ms) m.baseline = &ms[0];
  bench::MachineView machine;
  machine.bandwidth_one_core = 1e8;
  machine.bandwidth_all_cores = 1.35e8;
  auto rows = bench::summarise(ms, machine);
  EXPECT_NEAR(rows[1].bound, 1.35, 1e-9);
  bench::diagnose_rows(rows, limits(1.35e8));
  EXPECT_FALSE(rows[1].diagnosis);  // at its bound
  // Below it while moving 95% of the measured bandwidth: the memory is saturated, and named
  // with its figures (the gap is the spread between the pass and the limits' measurement).
  ms[1] = measured(triadish, stream_point(Mode::parallel, 2, 2), 2 / 1.28);
  ms[1].baseline = &ms[0];
  rows = bench::summarise(ms, machine);
  bench::diagnose_rows(rows, limits(1.35e8));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_EQ(rows[1].diagnosis->cause, Cause::memory_bandwidth) << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("95% of the 0.1 GB/s measured for all cores"), std::string::npos)
      << rows[1].diagnosis->line;
  EXPECT_NE(rows[1].diagnosis->line.find("the memory is saturated"), std::string::npos) << rows[1].diagnosis->line;
  // At 74% of it the memory is not what holds the row: not named.
  ms[1] = measured(triadish, stream_point(Mode::parallel, 2, 2), 2 / 1.0);
  ms[1].baseline = &ms[0];
  rows = bench::summarise(ms, machine);
  bench::diagnose_rows(rows, limits(1.35e8));
  ASSERT_TRUE(rows[1].diagnosis);
  EXPECT_NE(rows[1].diagnosis->cause, Cause::memory_bandwidth) << rows[1].diagnosis->line;
}

}  // namespace weak_test

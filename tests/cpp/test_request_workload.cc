// RequestWorkload (include/cvp/cvpbench.h): a user's request handler planned, named, run,
// checked, bounded and worded the way the built-in requests workload is.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cvp/cvpbench.h"
#include "cli/options.h"
#include "harness/plan.h"

#include "plan_support.h"

namespace request_workload_test {  // named: a unity build compiles several test files as one

using namespace cvp;

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A toy handler: before_wait mixes the id into its slot, after_wait fingerprints the slot. With
// `bad_id` set, the response to that id is wrong.
class Toy final : public exec::RequestHandler {
 public:
  static constexpr std::size_t kNone = ~std::size_t{0};
  explicit Toy(std::size_t requests, std::size_t bad_id = kNone)
      : slots_(requests), bad_id_(bad_id) {}
  void before_wait(std::size_t id) override {
    std::uint64_t h = id;
    for (int r = 0; r < 200; ++r) h = mix(h + 1);
    slots_[id] = h;
  }
  std::uint64_t after_wait(std::size_t id) override {
    return (slots_[id] | 1) ^ (id == bad_id_ ? 0x10 : 0);
  }

 private:
  std::vector<std::uint64_t> slots_;
  std::size_t bad_id_;
};

RequestWorkload::Spec toy_spec() {
  RequestWorkload::Spec spec;
  spec.name = "toy";
  spec.description = "a toy handler";
  spec.make = [](std::size_t requests) { return std::make_unique<Toy>(requests); };
  return spec;
}

const exec::Topology two_cores = exec::make_topology({{0}, {1}}, false);
const exec::Topology one_core = exec::make_topology({{0}}, false);

std::vector<Point> plan_of(RequestWorkload& w, std::vector<std::string> args,
                           const exec::Topology& t = two_cores) {
  return plan_support::plan_of(w, std::move(args), t);
}

using plan_support::names_of;

// The refusal of a command line, by a fresh workload (a workload keeps the options parsed into
// it).
std::string error_of(std::vector<std::string> args) {
  RequestWorkload w(toy_spec());
  try {
    plan_of(w, std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(RequestWorkload, DeclaresAnIoWorkloadOnThreadsAndEventLoops) {
  RequestWorkload toy(toy_spec());
  EXPECT_EQ(toy.name(), "toy");
  EXPECT_EQ(toy.kind(), Kind::io);
  EXPECT_EQ(toy.unit().name, "requests");
  EXPECT_EQ(toy.unit().rate_unit, "requests/s");
  EXPECT_EQ(toy.timing(), Timing::manual);
  EXPECT_EQ(toy.backends(), (std::vector<Backend>{Backend::threads, Backend::eventloop}));
  EXPECT_NE(toy.bound_model().find("min(K T_s / (c' + w + o_s), P T_s / c')"), std::string::npos);
}

// The bound comes from what the same run measured: the serial request's real time (its
// overshoot included), the serial overshoot and the point's CPU per request. A serial request
// of c = 50 us, w = 1000 us and an overshoot of 100 us takes T_s = 1150 us.
TEST(RequestWorkload, TheBoundUsesTheSerialRequestsMeasuredTime) {
  RequestWorkload toy(toy_spec());
  Point serial, conc;
  serial.mode = Mode::serial;
  serial.work = 100;  // requests per execution
  serial.params = std::make_shared<RequestWorkload::Params>(1000.0, exec::WaitDistribution::fixed);
  conc = serial;
  conc.mode = Mode::concurrent;
  conc.in_flight = 64;
  Row base;
  base.point = &serial;
  base.median_s = 100 * 1150e-6;
  base.request = RequestFigures{50.0, 100.0};
  Row row;
  row.point = &conc;
  row.request = RequestFigures{50.0, 400.0};
  // Nominal model, without the serial row: min(64, (50 + 1000) / 50) = 21.
  EXPECT_DOUBLE_EQ(toy.bound(row), 21.0);
  // Measured: min(64 x 1150 / 1150, 1150 / 50) = 23; the speedup a run reaches is below it.
  row.baseline = &base;
  EXPECT_DOUBLE_EQ(toy.bound(row), 23.0);
  // K in flight limit: with 4 in flight, 4 x 1150 / (50 + 1000 + 100) = 4.
  conc.in_flight = 4;
  EXPECT_DOUBLE_EQ(toy.bound(row), 4.0);
}

// A handler's own waits: where they wait on something shared (a disk), a wait that grew with K
// is the machine's limit and the point's own wait bounds it; where every request is served at
// once (the wait:mpi backend), the growth is queueing for the CPU and the serial wait bounds it.
// Serially c' = 50 us and the wait 1000 us (T_s = 1050 us); with 64 in flight the wait grew to
// 4000 us.
TEST(RequestWorkload, AnUnsharedWaitIsBoundedByTheSerialWait) {
  RequestWorkload toy(toy_spec());
  auto params = std::make_shared<RequestWorkload::Params>(exec::WaitOwner::async, "backend");
  Point serial, conc;
  serial.mode = Mode::serial;
  serial.work = 100;
  serial.params = params;
  conc = serial;
  conc.mode = Mode::concurrent;
  conc.in_flight = 64;
  Row base;
  base.point = &serial;
  base.median_s = 100 * 1050e-6;
  base.request = RequestFigures{50.0, 0.0, 1000.0, 1000.0, 1000.0, true};
  Row row;
  row.point = &conc;
  row.baseline = &base;
  row.request = RequestFigures{50.0, 0.0, 4000.0, 4000.0, 4000.0, true};
  // Shared: min(64 x 1050 / (50 + 4000), 1050 / 50) = 16.6.
  EXPECT_NEAR(toy.bound(row), 64 * 1050.0 / 4050.0, 1e-9);
  // Served at once: min(64 x 1050 / (50 + 1000), 1050 / 50) = 21, the CPU's limit.
  params->shared_wait = false;
  EXPECT_NEAR(toy.bound(row), 21.0, 1e-9);
}

// A serial request of c_us of CPU, a 1000 us wait and a 100 us overshoot (T_s = 1150 us), and a
// run of 1000 requests with 64 in flight on one core, its row measuring the same c' and
// overshoot; the rows point at each other as a summary links them.
struct K64 {
  explicit K64(double c_us) {
    serial.mode = Mode::serial;
    serial.work = 100;
    serial.params = std::make_shared<RequestWorkload::Params>(1000.0, exec::WaitDistribution::fixed);
    conc = serial;
    conc.mode = Mode::concurrent;
    conc.in_flight = 64;
    conc.work = 1000;
    base.point = &serial;
    base.median_s = 100 * 1150e-6;
    base.request = RequestFigures{c_us, 100.0};
    row.point = &conc;
    row.baseline = &base;
    row.request = RequestFigures{c_us, 100.0};
  }
  K64(const K64&) = delete;
  K64& operator=(const K64&) = delete;
  Point serial, conc;
  Row base, row;
};

// The finding of `cause` the workload's own diagnosis gives `row`, if any.
std::optional<Finding> finding(const RequestWorkload& w, const Row& row, Cause cause) {
  for (auto& f : w.diagnose(row, cvp::DiagnosisContext{})) {
    if (f.cause == cause) return f;
  }
  return std::nullopt;
}

// Slots that sat idle at a run's start and end (fewer than K in flight on average, by Little's
// law on its latencies) are a cause with the bound's ceiling at that mean; full slots, or a mean
// not measured, are none. Serial request: c = 5 us, w = 1000 us, overshoot 100 us: T_s = 1150 us;
// with 64 in flight the wait term binds: 64 x 1150 / 1105.
TEST(RequestWorkload, NamesTheRunsTailOnlyWhenSlotsSatIdle) {
  RequestWorkload toy(toy_spec());
  K64 k(5.0);
  k.row.has_latency = true;
  k.row.p50 = 1200;
  k.row.p99 = 3000;
  EXPECT_NEAR(toy.bound(k.row), 64 * 1150.0 / 1105.0, 1e-9);
  const auto tail_of = [&](double in_flight_mean) {
    k.row.request->in_flight_mean = in_flight_mean;
    return finding(toy, k.row, Cause::run_tail);
  };
  const auto idle = tail_of(48);
  ASSERT_TRUE(idle.has_value());
  EXPECT_NEAR(idle->ceiling, 48 * 1150.0 / 1105.0, 1e-9);
  EXPECT_NE(idle->line.find("on average 48.0 of its 64 requests were in flight"), std::string::npos)
      << idle->line;
  EXPECT_NE(idle->line.find("--toy-requests, 1000 here"), std::string::npos) << idle->line;
  EXPECT_FALSE(tail_of(63).has_value());  // within 3% of K: the slots were full
  EXPECT_FALSE(tail_of(0).has_value());   // not measured
  k.conc.mode = Mode::serial;             // serial has no slots to leave idle
  EXPECT_FALSE(tail_of(0.5).has_value());
}

// CPU beyond the handler's is weighed with the workers' own CPU where the run measured it: a
// server thread of the same process (process CPU) is not the team's doing.
TEST(RequestWorkload, ExtraCpuIsTheWorkersWhereMeasured) {
  RequestWorkload toy(toy_spec());
  K64 k(20.0);
  k.row.median_s = 0.05;       // 1000 requests in 50 ms
  k.row.cpu_s = 0.09;          // the process: 90 us a request, a server thread's included
  k.row.cpu_per_wall = 1.8;
  const auto extra_of = [&](double team_cpu_us) {
    k.row.request->team_cpu_us = team_cpu_us;
    return finding(toy, k.row, Cause::extra_cpu);
  };
  // The workers spent 48 us a request: the core was busy 0.96 of the time, and the bound with
  // that CPU is 1150 / 48.
  const auto busy = extra_of(48);
  ASSERT_TRUE(busy.has_value());
  EXPECT_NEAR(busy->ceiling, 1150.0 / 48.0, 1e-9);
  EXPECT_NE(busy->line.find("48 us of the workers' CPU against the handler's 20 us"), std::string::npos)
      << busy->line;
  // The workers spent what the handler did: the process's extra CPU was another thread's.
  EXPECT_FALSE(extra_of(21).has_value());
  // Not measured: the process's CPU is all there is (90 us a request).
  const auto process = extra_of(0);
  ASSERT_TRUE(process.has_value());
  EXPECT_NE(process->line.find("90 us of process CPU"), std::string::npos) << process->line;
}

TEST(RequestWorkload, PlansSerialConcurrentAndParallelOnBothBackends) {
  RequestWorkload toy(toy_spec());
  const auto points = plan_of(toy, {"--toy-in-flight", "4", "--toy-requests", "40",
                                    "--toy-w-us", "500"});
  EXPECT_EQ(names_of(points),
            (std::vector<std::string>{
                "toy/w_us:500/k:1/requests:40/mode:serial/backend:threads/threads:1",
                "toy/w_us:500/k:4/requests:40/mode:concurrent/backend:threads/threads:4",
                "toy/w_us:500/k:4/requests:40/mode:parallel/backend:threads/threads:4",
                "toy/w_us:500/k:4/requests:40/mode:concurrent/backend:eventloop/threads:1",
                "toy/w_us:500/k:4/requests:40/mode:parallel/backend:eventloop/threads:2"}));
  for (const auto& p : points) {
    EXPECT_EQ(p.workload, "toy");
    EXPECT_EQ(p.group, "toy/w_us:500");
    EXPECT_EQ(p.params_json(), (nlohmann::json{{"w_us", 500.0}, {"distribution", "fixed"},
                                        {"k", p.in_flight}, {"requests", 40}}))
        << p.params_json().dump();
    EXPECT_DOUBLE_EQ(p.work, 40);
    EXPECT_TRUE(p.headline);
  }
  EXPECT_EQ(points[1].cpus, (std::vector<int>{0}));     // K threads on the home CPU
  EXPECT_EQ(points[2].cpus, (std::vector<int>{0, 1}));  // spread over the cores
  EXPECT_EQ(points[2].cores, 2);
  EXPECT_EQ(points[4].in_flight, 4);
  EXPECT_EQ(points[1].origin, "--toy-in-flight 4");
}

TEST(RequestWorkload, SizesRunsAutomaticallyFromTheSpec) {
  RequestWorkload toy(toy_spec());
  const auto points = plan_of(toy, {});
  // Defaults: w = 1 ms, K = 8 and 64; about 0.15 s of waiting per run (short blocks pair well).
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(points.front().name(), "toy/w_us:1000/k:1/requests:150/mode:serial/backend:threads/threads:1");
  int concurrent = 0;
  for (const auto& p : points) {
    if (p.mode == Mode::concurrent) {
      ++concurrent;
      EXPECT_TRUE(p.in_flight == 8 || p.in_flight == 64) << p.name();
      EXPECT_EQ(p.params_json().at("requests").get<std::size_t>(), p.in_flight == 8 ? 1200u : 9600u)
          << p.name();
      EXPECT_EQ(p.origin, "the default --toy-in-flight " + std::to_string(p.in_flight));
    }
  }
  EXPECT_EQ(concurrent, 4);  // two K, two backends
  // --quick aims at 0.04 s (40 requests); a CPU estimate caps a run at what one core can do.
  const auto quick = plan_of(toy, {"--quick"});
  EXPECT_EQ(quick.front().params_json().at("requests").get<std::size_t>(), 40u);
  auto spec = toy_spec();
  spec.cpu_us = 100;
  spec.in_flight = {64};
  RequestWorkload heavy(spec);
  for (const auto& p : plan_of(heavy, {"--backend", "eventloop"})) {
    if (p.mode == Mode::concurrent) {
      // One core: at most (100 + 1000) / 100 = 11 requests' worth at once, 0.15 s of them.
      EXPECT_EQ(p.params_json().at("requests").get<std::size_t>(), 1500u) << p.name();
    }
  }
}

TEST(RequestWorkload, FlagsArePrefixedWithItsName) {
  RequestWorkload toy(toy_spec());
  const auto points = plan_of(toy, {"--toy-wait", "exponential", "--toy-in-flight", "2",
                                    "--toy-requests", "10", "--backend", "eventloop"});
  ASSERT_FALSE(points.empty());
  for (const auto& p : points) {
    EXPECT_EQ(p.group, "toy/w_us:1000/wait:exp");
    EXPECT_EQ(p.params_json().at("distribution"), "exponential");
    // The serial baseline runs on threads; everything else on event loops only.
    EXPECT_TRUE(p.mode == Mode::serial || p.backend == Backend::eventloop) << p.name();
  }
  EXPECT_NE(error_of({"--toy-in-flight", "0"}).find("at least 1"), std::string::npos);
  EXPECT_NE(error_of({"--toy-w-us", "-3"}).find("must be >= 0"), std::string::npos);
  EXPECT_NE(error_of({"--toy-requests", "0"}).find("at least one request"),
            std::string::npos);
  EXPECT_NE(error_of({"--in-flight", "4"}).find("--in-flight"), std::string::npos);
  // Fewer requests than in flight is refused for the points that would run.
  EXPECT_EQ(error_of({"--toy-requests", "3", "--toy-in-flight", "4"}),
            "--toy-requests 3: fewer requests than the 4 in flight of "
            "toy/w_us:1000/k:4/requests:3/mode:concurrent/backend:threads/threads:4; give at "
            "least 4.");

  auto spec = toy_spec();
  spec.flag_prefix = "--";
  RequestWorkload plain(spec);
  EXPECT_EQ(plan_of(plain, {"--in-flight", "2", "--requests", "8"}).back().name(),
            "toy/w_us:1000/k:2/requests:8/mode:parallel/backend:eventloop/threads:2");
}

TEST(RequestWorkload, RefusesABrokenSpec) {
  auto no_make = toy_spec();
  no_make.make = nullptr;
  EXPECT_THROW(RequestWorkload{no_make}, std::invalid_argument);
  auto no_name = toy_spec();
  no_name.name.clear();
  EXPECT_THROW(RequestWorkload{no_name}, std::invalid_argument);
  auto bad_k = toy_spec();
  bad_k.in_flight = {8, 0};
  EXPECT_THROW(RequestWorkload{bad_k}, std::invalid_argument);
  auto bad_wait = toy_spec();
  bad_wait.wait_us = -1;
  EXPECT_THROW(RequestWorkload{bad_wait}, std::invalid_argument);
  EXPECT_NO_THROW(RequestWorkload{toy_spec()});
}

Row row_of(const Point& p, double speedup, double c_us, const Workload& w) {
  Row r;
  r.point = &p;
  r.ok = true;
  r.speedup = speedup;
  r.speedup_low = 0.9 * speedup;
  r.speedup_high = 1.1 * speedup;
  r.ci_known = true;
  r.pairs = 8;
  r.request = RequestFigures{c_us, 0.0};
  r.capacity = p.mode == Mode::parallel ? p.cores : 1;  // identical cores, as the library counts them
  r.bound = w.bound(r);
  return r;
}

TEST(RequestWorkload, BoundsEachPointByItsOwnMeasuredCpu) {
  RequestWorkload toy(toy_spec());
  const auto points = plan_of(toy, {"--toy-in-flight", "64", "--toy-requests", "640"});
  for (const auto& p : points) {
    const Row r = row_of(p, 1, 100, toy);  // c' = 100 us, w = 1000 us: (c' + w) / c' = 11
    switch (p.mode) {
      case Mode::serial: EXPECT_DOUBLE_EQ(r.bound, 1); break;
      case Mode::concurrent: EXPECT_DOUBLE_EQ(r.bound, 11); break;
      case Mode::parallel: EXPECT_DOUBLE_EQ(r.bound, 22); break;
      case Mode::distributed: ADD_FAILURE() << "one process plans no distributed point"; break;
    }
    EXPECT_DOUBLE_EQ(row_of(p, 1, 1, toy).bound, p.mode == Mode::serial ? 1 : 64);  // K caps it
  }
}

TEST(RequestWorkload, VerdictNamesConcurrencyAndParallelismWithTheirBounds) {
  RequestWorkload toy(toy_spec());
  const auto points = plan_of(toy, {"--toy-requests", "1280"});
  std::vector<Row> rows;
  for (const auto& p : points) {
    const double speedup = p.mode == Mode::serial ? 1 : p.mode == Mode::concurrent ? 40 : 60;
    rows.push_back(row_of(p, speedup, 10, toy));
  }
  VerdictContext context;
  for (const auto& r : rows) context.rows.push_back(&r);
  context.allowed_cores = 2;
  EXPECT_EQ(toy.verdicts(context),
            (std::vector<std::string>{"toy w=1ms K=64: concurrency x40.0 [36.0, 44.0] on 1 core "
                                      "(bound x64.0); parallelism x60.0 [54.0, 66.0] on 2 cores "
                                      "(bound x64.0) [eventloop backend]"}));
  // Too few pairs for an interval: n/a, never a zero width; a missed target: noisy.
  for (auto& r : rows) {
    if (r.point->mode == Mode::concurrent) {
      r.ci_known = false;
      r.pairs = 2;
    }
    if (r.point->mode == Mode::parallel) r.precise = false;
  }
  EXPECT_EQ(toy.verdicts(context),
            (std::vector<std::string>{"toy w=1ms K=64: concurrency x40.0 (CI n/a: 2 pairs) on 1 "
                                      "core (bound x64.0); parallelism x60.0 [54.0, 66.0], noisy "
                                      "on 2 cores (bound x64.0) [eventloop backend]"}));
  // Without the event loop, the threads backend speaks.
  context.rows.clear();
  for (const auto& r : rows) {
    if (r.point->backend == Backend::threads) context.rows.push_back(&r);
  }
  EXPECT_NE(toy.verdicts(context)[0].find("[threads backend]"), std::string::npos);

  RequestWorkload alone(toy_spec());
  const auto single = plan_of(alone, {"--toy-requests", "1280"}, one_core);
  std::vector<Row> single_rows;
  for (const auto& p : single) single_rows.push_back(row_of(p, p.mode == Mode::serial ? 1 : 30, 10, alone));
  VerdictContext one;
  for (const auto& r : single_rows) one.rows.push_back(&r);
  one.allowed_cores = 1;
  EXPECT_EQ(alone.verdicts(one),
            (std::vector<std::string>{"toy w=1ms K=64: concurrency x30.0 [27.0, 33.0] on 1 core (bound x64.0); "
                                      "parallelism: only 1 core is allowed, so parallel equals "
                                      "serial [eventloop backend]"}));
}

const Point& find(const std::vector<Point>& points, Mode mode, Backend backend) {
  for (const auto& p : points) {
    if (p.mode == mode && p.backend == backend) return p;
  }
  throw std::runtime_error("no such point");
}

// A real run of each kind: right responses pass, a spoiled one fails, and a handler that is
// wrong for one request in runs (but not in the serial reference) is caught and counted.
TEST(RequestWorkload, ChecksEveryRunAgainstTheSerialHandling) {
  int made = 0;
  auto spec = toy_spec();
  spec.make = [&made](std::size_t requests) {
    // The first handler made computes the serial reference; later ones are wrong for id 7.
    return std::make_unique<Toy>(requests, made++ == 0 ? Toy::kNone : 7);
  };
  RequestWorkload wrong(spec);
  RequestWorkload right(toy_spec());
  const std::vector<std::string> args{"--toy-in-flight", "4", "--toy-requests", "40",
                                      "--toy-w-us", "200"};
  const auto right_points = plan_of(right, args);
  const auto wrong_points = plan_of(wrong, args);
  for (const Mode mode : {Mode::concurrent, Mode::parallel}) {
    for (const Backend backend : {Backend::threads, Backend::eventloop}) {
      const Point& p = find(right_points, mode, backend);
      exec::Sightings sightings(p.threads);
      auto run = right.prepare(p, sightings, StopToken());
      run->warm_up();
      const Execution e = run->execute();
      EXPECT_GT(e.wall_s, 0) << p.name();
      EXPECT_EQ(e.latencies_us.size(), 40u) << p.name();
      EXPECT_TRUE(e.request.has_value()) << p.name();
      EXPECT_EQ(run->verify(), std::nullopt) << p.name();
      EXPECT_EQ(run->wrong_items(), 0u);
      run->corrupt();
      EXPECT_NE(run->verify(), std::nullopt) << p.name();
      EXPECT_EQ(run->wrong_items(), 1u);

      const Point& q = find(wrong_points, mode, backend);
      exec::Sightings seen(q.threads);
      auto bad = wrong.prepare(q, seen, StopToken());
      bad->execute();
      EXPECT_EQ(bad->verify().value_or(""),
                "1 of 40 responses differ from the serial handling's (wrong, missing or "
                "duplicated)")
          << q.name();
      EXPECT_EQ(bad->wrong_items(), 1u);
    }
  }
  EXPECT_GE(made, 5);  // one reference, then one handler per prepared point
}

}  // namespace request_workload_test

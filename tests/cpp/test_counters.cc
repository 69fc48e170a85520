// Counters per block (host/counters.h) and what follows from them: the arithmetic of a block's
// counts, the process's real counters on this machine (software events, threads created after
// opening), and, with a fake reader standing in for a PMU, a real session whose rows carry IPC
// and misses per unit of work and whose diagnosis names ipc_fell and cache_misses when they are
// planted, and not when the parallel team counts as serial does (A/A).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "cli/options.h"
#include "harness/plan.h"
#include "harness/session.h"
#include "host/counters.h"
#include "host/meters.h"
#include "report/diagnosis.h"
#include "report/meter_figures.h"
#include "report/summary.h"

namespace {

using namespace cvp;
using bench::CounterValues;
using bench::Event;
using bench::EventCount;

std::size_t at(Event e) { return static_cast<std::size_t>(e); }

CounterValues values(std::map<Event, EventCount> counts) {
  CounterValues v;
  for (const auto& [e, c] : counts) v.events[at(e)] = c;
  return v;
}

TEST(Counters, ABlockCountsTheDifferencePerExecution) {
  const auto before = values({{Event::instructions, {1000, 10, 10}}, {Event::task_clock, {5'000'000, 10, 10}}});
  const auto after = values({{Event::instructions, {9000, 110, 110}}, {Event::task_clock, {45'000'000, 110, 110}}});
  const auto counts = bench::counts_during(before, after, 4);
  EXPECT_DOUBLE_EQ(*counts.per_execution[at(Event::instructions)], 2000);
  EXPECT_DOUBLE_EQ(*counts.per_execution[at(Event::task_clock)], 0.01);  // ns -> s, per execution
  EXPECT_DOUBLE_EQ(counts.counted_share, 1.0);
  EXPECT_FALSE(counts.per_execution[at(Event::cycles)]);  // not counted: not zero
}

// A group the PMU time-shared with another counted half the block: its counts are scaled to the
// whole block, and the block says how much was counted.
TEST(Counters, ATimeSharedGroupIsScaledToTheWholeBlock) {
  const auto before = values({{Event::cycles, {0, 0, 0}}});
  const auto after = values({{Event::cycles, {500, 1000, 500}}});
  const auto counts = bench::counts_during(before, after, 1);
  EXPECT_DOUBLE_EQ(*counts.per_execution[at(Event::cycles)], 1000);
  EXPECT_DOUBLE_EQ(counts.counted_share, 0.5);
}

// An event its group never counted during the block has no count, never a zero.
TEST(Counters, AnEventNotCountedDuringTheBlockHasNoCount) {
  const auto before = values({{Event::cycles, {100, 50, 20}}});
  const auto after = values({{Event::cycles, {100, 90, 20}}});
  EXPECT_TRUE(bench::counts_during(before, after, 1).empty());
  EXPECT_TRUE(bench::counts_during(values({}), after, 1).empty());
}

TEST(Counters, ARefusalSaysWhyInOneSentence) {
  EXPECT_EQ(bench::perf_refusal(ENOENT, 2).rfind("no PMU: perf_event_open gave ENOENT", 0), 0u);
  const std::string forbidden = bench::perf_refusal(EACCES, 3);
  EXPECT_NE(forbidden.find("perf_event_paranoid is 3"), std::string::npos) << forbidden;
  EXPECT_NE(bench::perf_refusal(EOPNOTSUPP, 2).find("not offered"), std::string::npos);
}

double spin_cpu(double seconds) {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const double start = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  double now = start;
  while (now - start < seconds) {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  return now - start;
}

// The process's own counters on this machine: every event is either counted or named with why;
// where the task clock is counted, a thread created after the counters were opened is counted
// (inherit), while it runs and after it ends.
TEST(Counters, TheProcessCountersCoverThreadsCreatedAfterThem) {
  auto reader = bench::open_process_counters();
  const auto unavailable = reader->unavailable();
  const auto first = reader->read();
  for (std::size_t i = 0; i < bench::kEvents; ++i) {
    const auto e = static_cast<Event>(i);
    if (unavailable.count(e)) {
      EXPECT_FALSE(unavailable.at(e).empty());
    } else {
      EXPECT_TRUE(first.events[i]) << bench::to_string(e) << " is available but was not read";
    }
  }
  if (unavailable.count(Event::task_clock)) GTEST_SKIP() << unavailable.at(Event::task_clock);
  std::thread worker([] { spin_cpu(0.05); });
  worker.join();
  const auto counts = bench::counts_during(first, reader->read(), 1);
  ASSERT_TRUE(counts.per_execution[at(Event::task_clock)]);
  EXPECT_GE(*counts.per_execution[at(Event::task_clock)], 0.045);
  EXPECT_LT(*counts.per_execution[at(Event::task_clock)], 1.0);
}

// Threads that already ran when the counters were opened are not counted, and the scope says so;
// with none, it does not.
TEST(Counters, TheScopeNamesThreadsThatRanBeforeTheCounters) {
  const std::string alone = bench::open_process_counters()->scope();
  if (alone.find("already ran") != std::string::npos) GTEST_SKIP() << "this test program has threads of its own";
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::thread earlier([&] {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return stop; });
  });
  const std::string with_one = bench::open_process_counters()->scope();
  {
    std::lock_guard lock(m);
    stop = true;
  }
  cv.notify_one();
  earlier.join();
  EXPECT_NE(with_one.find("1 thread(s) that already ran when they were opened are not counted"),
            std::string::npos) << with_one;
}

// Reads cost microseconds: a block (0.1 s by default) pays two of them.
TEST(Counters, AReadCostsLittle) {
  bench::BlockMeters meters(bench::open_process_counters(), std::make_unique<bench::EnergyReader>());
  EXPECT_LT(meters.counters_read_us(), 200.0);
  const auto json = meters.counters_summary();
  EXPECT_TRUE(json.contains("available"));
  EXPECT_TRUE(json.contains("unavailable"));
}

// A stand-in for a PMU: cumulative counts that a workload adds to as it executes. Events it is
// not given are unavailable, with a reason.
class FakeCounters final : public bench::CounterReader {
 public:
  explicit FakeCounters(std::vector<Event> counted) : counted_(std::move(counted)) {}
  void add(Event e, double per_execution) {
    std::lock_guard lock(mutex_);
    totals_[e] += static_cast<std::uint64_t>(per_execution);
  }
  std::map<Event, std::string> unavailable() const override {
    std::map<Event, std::string> out;
    for (std::size_t i = 0; i < bench::kEvents; ++i) {
      const auto e = static_cast<Event>(i);
      if (std::find(counted_.begin(), counted_.end(), e) == counted_.end()) out[e] = "not in this fake";
    }
    return out;
  }
  CounterValues read() override {
    std::lock_guard lock(mutex_);
    clock_ns_ += 1'000'000;
    CounterValues v;
    for (Event e : counted_) v.events[at(e)] = EventCount{totals_[e], clock_ns_, clock_ns_};
    return v;
  }
  std::string scope() const override { return "a fake"; }

 private:
  std::vector<Event> counted_;
  std::mutex mutex_;
  std::map<Event, std::uint64_t> totals_;
  std::uint64_t clock_ns_ = 0;
};

// What one execution of a mode adds to the fake PMU, per unit of work.
struct Profile {
  double cycles = 0, instructions = 0, misses = 0;
};

// A serial point and a 2-thread parallel point (bound 2) whose executions report 2 ms and
// 1.6 ms (x1.25, well below the bound) and add their mode's profile to the fake counters.
class Counted final : public Workload {
 public:
  Counted(FakeCounters& pmu, Profile serial, Profile parallel)
      : pmu_(pmu), serial_(serial), parallel_(parallel) {}
  std::string name() const override { return "counted"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"items", "items/s", 1}; }
  Timing timing() const override { return Timing::manual; }
  std::vector<Point> plan(const PlanContext& context) override {
    Point base;
    base.group = "counted/g:1";
    base.work = kWork;
    std::vector<Point> kept;
    for (auto& p : context.task_sweep(base, {Backend::threads})) {
      if (p.mode == Mode::serial || (p.mode == Mode::parallel && p.threads == 2)) kept.push_back(p);
    }
    return kept;
  }
  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings&, StopToken) override {
    struct Run final : PreparedPoint {
      FakeCounters& pmu;
      Profile profile;
      double seconds;
      Run(FakeCounters& p, Profile f, double s) : pmu(p), profile(f), seconds(s) {}
      Execution execute() override {
        spin_cpu(seconds / 10);
        pmu.add(Event::cycles, profile.cycles * kWork);
        pmu.add(Event::instructions, profile.instructions * kWork);
        pmu.add(Event::llc_misses, profile.misses * kWork);
        Execution e;
        e.wall_s = seconds;
        return e;
      }
      std::optional<std::string> verify() override { return std::nullopt; }
      void corrupt() override {}
    };
    const bool serial = point.mode == Mode::serial;
    return std::make_unique<Run>(pmu_, serial ? serial_ : parallel_, serial ? 2e-3 : 1.6e-3);
  }
  double bound(const Row& row) const override { return row.point->mode == Mode::parallel ? 2.0 : 1.0; }
  static constexpr double kWork = 1000;

 private:
  FakeCounters& pmu_;
  Profile serial_, parallel_;
};

// A measured run: the workload and the session stay alive with the rows that point into them.
struct CountedRun {
  std::unique_ptr<Counted> workload;
  std::unique_ptr<bench::Session> session;
  std::vector<bench::ResultRow> rows;
  nlohmann::json summary;
};

// Measures the two points with the fake counters read around every block, then summarises and
// diagnoses them as the program does.
std::unique_ptr<CountedRun> run_counted(std::vector<Event> counted, Profile serial, Profile parallel) {
  auto pmu_owned = std::make_unique<FakeCounters>(std::move(counted));
  auto out = std::make_unique<CountedRun>();
  out->workload = std::make_unique<Counted>(*pmu_owned, serial, parallel);
  bench::Sampling s;
  s.precision = 0;
  s.min_rounds = 6;
  s.block_s = 0.004;
  // The fake counters are the evidence under test: a real clock probe on a shared machine can
  // catch a clock that dipped during a block and name the clock instead.
  s.clock_probe = false;
  s.meters = std::make_shared<bench::BlockMeters>(std::move(pmu_owned),
                                                  std::make_unique<bench::EnergyReader>("/nonexistent"));
  const exec::Topology two_cores = exec::make_topology({{0}, {1}}, false);
  Workload* w = out->workload.get();
  out->session = std::make_unique<bench::Session>(bench::make_plan({w}, bench::Options{}, two_cores),
                                                  std::vector<Workload*>{w}, s);
  out->session->run();
  out->rows = bench::summarise(out->session->measurements());
  bench::DiagnosisContext context;
  context.counters_unavailable = bench::hardware_unavailable(s.meters->counters());
  bench::diagnose_rows(out->rows, context);
  const nlohmann::json machine = {{"counters", s.meters->counters_summary()},
                                  {"energy", s.meters->energy_summary()}};
  out->summary = bench::summary_json(out->rows, machine, bench::Options{}, {});
  return out;
}

const std::vector<Event> kPmu = {Event::cycles, Event::instructions, Event::llc_misses};

TEST(CounterDiagnosis, AnIpcThatFellIsNamedWithItsNumbers) {
  // Serial retires 2 instructions per cycle, the team 1.25: the same work in x1.6 the cycles.
  const auto run_owned = run_counted(kPmu, {1000, 2000, 1}, {1600, 2000, 1});
  const CountedRun& run = *run_owned;
  ASSERT_EQ(run.rows.size(), 2u);
  const auto& parallel = run.rows[1];
  ASSERT_TRUE(parallel.ok);
  EXPECT_NEAR(*parallel.counters.ipc(), 1.25, 1e-9);
  EXPECT_NEAR(*run.rows[0].counters.ipc(), 2.0, 1e-9);
  ASSERT_TRUE(parallel.diagnosis) << "x" << parallel.speedup;
  EXPECT_EQ(parallel.diagnosis->cause, Cause::ipc_fell) << parallel.diagnosis->line;
  EXPECT_NEAR(parallel.diagnosis->figures["ceiling"].get<double>(), 1.25, 1e-9);
  EXPECT_NE(parallel.diagnosis->line.find("1.25 instructions per cycle against 2.00"), std::string::npos)
      << parallel.diagnosis->line;
  // The summary row says the same, serial beside parallel.
  const auto& counters = run.summary["results"][1]["counters"];
  EXPECT_NEAR(counters["ipc"].get<double>(), 1.25, 1e-9);
  EXPECT_NEAR(counters["baseline"]["ipc"].get<double>(), 2.0, 1e-9);
  EXPECT_NEAR(counters["llc_misses_per_unit"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(run.summary["diagnoses"][0]["cause"], "ipc_fell");
}

// A/A: the team retires as many instructions per cycle and misses as often per unit as serial:
// neither counter cause is named, and the line says they were looked at.
TEST(CounterDiagnosis, ATeamThatCountsAsSerialDoesGetsNoCounterCause) {
  const auto run_owned = run_counted(kPmu, {1000, 2000, 1}, {1000, 2000, 1});
  const CountedRun& run = *run_owned;
  const auto& parallel = run.rows[1];
  ASSERT_TRUE(parallel.diagnosis);
  EXPECT_EQ(parallel.diagnosis->cause, Cause::not_identified) << parallel.diagnosis->line;
  EXPECT_NE(parallel.diagnosis->line.find("IPC fall, cache misses"), std::string::npos)
      << parallel.diagnosis->line;
  for (const auto& hidden : parallel.diagnosis->not_seen) {
    EXPECT_NE(hidden.rfind("hardware counters", 0), 0u) << hidden;
  }
}

// Misses per unit of work that grew x1.6 are named, with their ceiling, where the PMU counts
// misses but not cycles; counted as often as serial's, they are not.
TEST(CounterDiagnosis, MissesThatGrewAreNamedAndEqualMissesAreNot) {
  const auto grew = run_counted({Event::llc_misses}, {0, 0, 0.5}, {0, 0, 0.8});
  const auto& row = grew->rows[1];
  ASSERT_TRUE(row.diagnosis);
  EXPECT_EQ(row.diagnosis->cause, Cause::cache_misses) << row.diagnosis->line;
  EXPECT_NEAR(row.diagnosis->figures["ceiling"].get<double>(), 1.25, 1e-9);
  EXPECT_NEAR(row.diagnosis->figures["llc_misses_per_unit"].get<double>(), 0.8, 1e-9);
  EXPECT_NE(row.diagnosis->line.find("1.60 times as often"), std::string::npos) << row.diagnosis->line;

  const auto same = run_counted({Event::llc_misses}, {0, 0, 0.5}, {0, 0, 0.5});
  ASSERT_TRUE(same->rows[1].diagnosis);
  EXPECT_EQ(same->rows[1].diagnosis->cause, Cause::not_identified) << same->rows[1].diagnosis->line;
}

// Misses that grew while the team's cycles per unit of work did not cost anything: the cycles
// bound what the misses can explain, so no cause is named.
TEST(CounterDiagnosis, MissesThatCostNoCyclesAreNotACause) {
  const auto run = run_counted(kPmu, {1000, 2000, 0.5}, {1000, 2000, 0.8});
  ASSERT_TRUE(run->rows[1].diagnosis);
  EXPECT_EQ(run->rows[1].diagnosis->cause, Cause::not_identified) << run->rows[1].diagnosis->line;
}

// Counters that covered only part of the process's CPU time (threads created before them) are
// reported but not trusted by the diagnosis.
TEST(CounterDiagnosis, CountersThatMissedThreadsAreNotTrusted) {
  std::vector<bench::Sample> samples(3);
  for (auto& s : samples) {
    s.cpu_s = 0.02;
    s.counters.per_execution[at(Event::task_clock)] = 0.008;  // 40% of the process's CPU time
    s.counters.per_execution[at(Event::cycles)] = 100;
  }
  const auto half = bench::row_counters(samples);
  ASSERT_TRUE(half.coverage);
  EXPECT_NEAR(*half.coverage, 0.4, 1e-12);
  EXPECT_FALSE(half.trusted());
  for (auto& s : samples) s.counters.per_execution[at(Event::task_clock)] = 0.016;  // switches left out
  EXPECT_TRUE(bench::row_counters(samples).trusted());
}

}  // namespace

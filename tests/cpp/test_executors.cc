// The execution layer: every mode and backend runs every task once, gives the serial answer,
// and runs where it was told to.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <atomic>
#include <set>
#include <stdexcept>
#include <vector>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"
#include "cvp/exec/topology.h"
#include "matmul/matmul.h"

namespace {

using cvp::exec::Backend;

std::string backend_name(const testing::TestParamInfo<Backend>& info) {
  return std::string(cvp::exec::to_string(info.param));
}

class ExecutorTest : public testing::TestWithParam<Backend> {
 protected:
  cvp::exec::Topology topo = cvp::exec::detect_topology();
};

TEST_P(ExecutorTest, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    auto ex = cvp::exec::make_executor(GetParam(), topo.parallel_cpus(threads));
    for (std::size_t tasks : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
      std::vector<std::atomic<int>> hits(tasks);
      ex->run(tasks, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < tasks; ++i) {
        EXPECT_EQ(hits[i].load(), 1) << "task " << i << " of " << tasks << ", " << threads
                                     << " threads";
      }
    }
  }
}

TEST_P(ExecutorTest, EveryModeGivesTheSerialAnswer) {
  for (std::size_t n : {std::size_t{1}, std::size_t{65}, std::size_t{130}}) {
    auto problem = cvp::matmul::make_problem(n, 7);
    cvp::matmul::multiply(problem.a.data(), problem.b.data(), problem.c.data(), n);
    const std::vector<double> serial = problem.c;
    const int cores = topo.allowed_cores();
    const std::vector<std::vector<int>> placements = {
        {topo.home_cpu()},                                         // serial
        std::vector<int>(4, topo.home_cpu()),                      // concurrent, K = 4
        topo.parallel_cpus(cores),                                 // parallel
        topo.parallel_cpus(2 * cores)};                            // oversubscribed
    for (const auto& cpus : placements) {
      auto ex = cvp::exec::make_executor(GetParam(), cpus);
      std::fill(problem.c.begin(), problem.c.end(), -1.0);
      const std::size_t tasks = std::min<std::size_t>(n, 4 * cpus.size());
      ex->run(tasks, [&](std::size_t i) {
        cvp::matmul::multiply_rows(problem.a.data(), problem.b.data(), problem.c.data(), n,
                                   i * n / tasks, (i + 1) * n / tasks);
      });
      EXPECT_EQ(problem.c, serial) << "n=" << n << " threads=" << cpus.size();
    }
  }
}

TEST_P(ExecutorTest, ConcurrentWorkersShareOneCpu) {
  if (!cvp::exec::affinity_supported()) GTEST_SKIP() << "no affinity on this platform";
  const int home = topo.home_cpu();
  auto ex = cvp::exec::make_executor(GetParam(), std::vector<int>(4, home));
  ex->run(64, [](std::size_t) {
    volatile double x = 0;
    for (int i = 0; i < 20000; ++i) x = x + i;
  });
  EXPECT_EQ(ex->sightings().cpus(), std::vector<int>{home});
  EXPECT_EQ(ex->sightings().pin_failures(), 0);
  EXPECT_TRUE(cvp::exec::pinned_as_intended(ex->sightings().cpus(), ex->worker_cpus(), 0));
}

TEST_P(ExecutorTest, ParallelWorkersSpreadOverCores) {
  if (!cvp::exec::affinity_supported()) GTEST_SKIP() << "no affinity on this platform";
  const int cores = topo.allowed_cores();
  for (int threads = 1; threads <= cores; threads *= 2) {
    const auto cpus = topo.parallel_cpus(threads);
    auto ex = cvp::exec::make_executor(GetParam(), cpus);
    // Each task waits until every worker holds one, so every worker must take part (oneTBB's
    // too, as long as its scheduler supplies the threads the arena asked for).
    std::atomic<int> arrived{0};
    ex->run(static_cast<std::size_t>(threads) * 4, [&](std::size_t i) {
      if (i >= static_cast<std::size_t>(threads)) return;
      arrived.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (arrived.load() < threads && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
    });
    EXPECT_EQ(arrived.load(), threads);
    const auto seen = ex->sightings().cpus();
    std::set<int> expected(cpus.begin(), cpus.end());
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [&](int c) { return expected.count(c); }));
    EXPECT_EQ(seen.size(), expected.size()) << threads << " threads";
    EXPECT_EQ(ex->sightings().threads(), threads);
    EXPECT_EQ(ex->sightings().pin_failures(), 0);
  }
}

TEST_P(ExecutorTest, TaskExceptionReachesTheCaller) {
  auto ex = cvp::exec::make_executor(GetParam(), topo.parallel_cpus(2));
  EXPECT_THROW(ex->run(16,
                       [](std::size_t i) {
                         if (i == 5) throw std::runtime_error("planted");
                       }),
               std::runtime_error);
  // The executor stays usable.
  std::atomic<int> count{0};
  ex->run(8, [&](std::size_t) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 8);
}

TEST_P(ExecutorTest, CallerAffinityIsRestored) {
  const auto before = cvp::exec::thread_affinity();
  auto ex = cvp::exec::make_executor(GetParam(), {topo.home_cpu()});
  ex->run(4, [](std::size_t) {});
  EXPECT_EQ(cvp::exec::thread_affinity(), before);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ExecutorTest,
                         testing::Values(Backend::threads, Backend::openmp, Backend::tbb),
                         backend_name);

TEST(Topology, ParallelPlacementFillsCoresBeforeSiblings) {
  // Two cores with two SMT siblings each: {0,2} and {1,3}.
  const auto t = cvp::exec::make_topology({{0, 2}, {1, 3}}, true);
  EXPECT_EQ(t.allowed_cores(), 2);
  EXPECT_EQ(t.home_cpu(), 0);
  EXPECT_EQ(t.parallel_cpus(1), (std::vector<int>{0}));
  EXPECT_EQ(t.parallel_cpus(2), (std::vector<int>{0, 1}));
  EXPECT_EQ(t.parallel_cpus(4), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(t.parallel_cpus(6), (std::vector<int>{0, 1, 2, 3, 0, 1}));
}

TEST(Topology, DetectsTheAllowedSet) {
  const auto t = cvp::exec::detect_topology();
  EXPECT_EQ(t.allowed, cvp::exec::allowed_cpus());
  EXPECT_GE(t.allowed_cores(), 1);
  EXPECT_LE(t.allowed_cores(), t.allowed_logical());
  EXPECT_GE(t.logical_cpus, t.allowed_logical());
  std::size_t in_cores = 0;
  for (const auto& core : t.cores) in_cores += core.size();
  EXPECT_EQ(in_cores, t.allowed.size());
}

TEST(Affinity, CpuListsRoundTrip) {
  EXPECT_EQ(cvp::exec::parse_cpu_list("0-3,6,8-9"), (std::vector<int>{0, 1, 2, 3, 6, 8, 9}));
  EXPECT_EQ(cvp::exec::format_cpu_list({0, 1, 2, 3, 6, 8, 9}), "0-3,6,8-9");
  EXPECT_EQ(cvp::exec::parse_cpu_list("1\n"), (std::vector<int>{1}));
  EXPECT_FALSE(cvp::exec::parse_cpu_list("3-1"));
  EXPECT_FALSE(cvp::exec::parse_cpu_list("a"));
  EXPECT_FALSE(cvp::exec::parse_cpu_list("1,,2"));
  EXPECT_FALSE(cvp::exec::parse_cpu_list("-1"));
}

TEST(Affinity, PinsTheCallingThread) {
  if (!cvp::exec::affinity_supported()) {
    EXPECT_FALSE(cvp::exec::pin_to_cpu(0));
    GTEST_SKIP() << "no affinity on this platform";
  }
  const cvp::exec::ScopedAffinityRestore restore;
  const int cpu = cvp::exec::allowed_cpus().back();
  ASSERT_TRUE(cvp::exec::pin_to_cpu(cpu));
  EXPECT_EQ(cvp::exec::thread_affinity(), std::vector<int>{cpu});
  EXPECT_EQ(cvp::exec::current_cpu(), cpu);
  EXPECT_FALSE(cvp::exec::pin_to_cpu(100000));
}

TEST(Evidence, PinnedNeedsEverySightingInsideTheIntendedSet) {
  EXPECT_TRUE(cvp::exec::pinned_as_intended({1}, {1, 1, 1}, 0));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({0, 1}, {1}, 0));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({1}, {1}, 1));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({}, {1}, 0));
}

}  // namespace

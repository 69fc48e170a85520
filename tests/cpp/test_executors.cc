// The execution layer: every mode and backend runs every task once, gives the serial answer,
// and runs where it was told to.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
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
      // Between runs as the harness does: a spinning team sent to sleep, or given back.
      if (tasks % 2 == 1) ex->settle(); else ex->idle();
    }
  }
}

TEST_P(ExecutorTest, FixedScheduleRunsEveryTaskOnceOnItsOwnWorker) {
  for (int threads : {1, 2, 3}) {
    const auto cpus = topo.parallel_cpus(threads);
    auto ex = cvp::exec::make_executor(GetParam(), cpus);
    for (std::size_t tasks : {std::size_t{0}, std::size_t{2}, std::size_t{7}, std::size_t{30}}) {
      std::vector<std::atomic<int>> hits(tasks);
      std::vector<int> where(tasks, -1);  // each task writes only its own entry
      for (int round = 0; round < 2; ++round) {
        ex->run(tasks, [&](std::size_t i) {
          hits[i].fetch_add(1);
          where[i] = cvp::exec::current_cpu();
        }, cvp::exec::Schedule::fixed);
      }
      for (std::size_t i = 0; i < tasks; ++i) {
        EXPECT_EQ(hits[i].load(), 2) << "task " << i << " of " << tasks;
        // Threads and OpenMP bind task i to worker i mod T, pinned to cpus[i mod T]; oneTBB
        // only runs each task once (its threads join the arena when they can).
        const bool distinct = std::set<int>(cpus.begin(), cpus.end()).size() == cpus.size();
        if (GetParam() != Backend::tbb && cvp::exec::affinity_supported() && distinct) {
          EXPECT_EQ(where[i], cpus[i % cpus.size()]) << "task " << i << ", " << threads << " threads";
        }
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

// Every worker notes its own slot: a team larger than one slot's thread table is still counted
// thread by thread (were the workers to share a slot, threads() would stop at the table's size).
TEST_P(ExecutorTest, EveryWorkerNotesItsOwnSlot) {
  constexpr int kTeam = cvp::exec::Sightings::kThreadsPerSlot + 2;
  auto ex = cvp::exec::make_executor(GetParam(), std::vector<int>(kTeam, topo.home_cpu()));
  EXPECT_EQ(ex->sightings().slots(), kTeam);
  std::atomic<int> arrived{0};
  ex->run(static_cast<std::size_t>(kTeam) * 2, [&](std::size_t i) {
    if (i >= static_cast<std::size_t>(kTeam)) return;
    arrived.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (arrived.load() < kTeam && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  });
  ASSERT_EQ(arrived.load(), kTeam);
  EXPECT_EQ(ex->sightings().threads(), kTeam);
}

// A Sightings the caller passes receives the notes and pin failures, and outlives the executor.
TEST_P(ExecutorTest, RecordsIntoTheCallersSightings) {
  const auto cpus = topo.parallel_cpus(2);
  cvp::exec::Sightings external(2);
  {
    auto ex = cvp::exec::make_executor(GetParam(), cpus, &external);
    EXPECT_EQ(&ex->sightings(), &external);
    std::atomic<int> count{0};
    ex->run(32, [&](std::size_t) { count.fetch_add(1); });
    EXPECT_EQ(count.load(), 32);
  }
  EXPECT_GE(external.threads(), 1);
  EXPECT_LE(external.threads(), 2);
  if (cvp::exec::affinity_supported()) {
    EXPECT_EQ(external.pin_failures(), 0);
    EXPECT_TRUE(cvp::exec::pinned_as_intended(external.cpus(), cpus, external.pin_failures()))
        << cvp::exec::format_cpu_list(external.cpus());
  }
  // Without one, the executor records into its own, one slot per worker; the caller's is left
  // alone.
  external.reset();
  auto own = cvp::exec::make_executor(GetParam(), cpus);
  own->run(8, [](std::size_t) {});
  EXPECT_NE(&own->sightings(), &external);
  EXPECT_EQ(own->sightings().slots(), 2);
  EXPECT_GE(own->sightings().threads(), 1);
  EXPECT_EQ(external.threads(), 0);
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
  for (int threads : {1, 2}) {
    auto ex = cvp::exec::make_executor(GetParam(), topo.parallel_cpus(threads));
    ex->run(4, [](std::size_t) {});
    EXPECT_EQ(cvp::exec::thread_affinity(), before) << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ExecutorTest,
                         testing::Values(Backend::threads, Backend::openmp, Backend::tbb),
                         backend_name);

// This process's threads other than the caller, each with its state ('R' running, 'S'
// sleeping, ...) from /proc/self/task/TID/stat.
std::map<std::string, char> other_threads() {
  std::map<std::string, char> states;
  const auto self = std::to_string(::gettid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    const std::string tid = entry.path().filename();
    if (tid == self) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');  // the name may hold spaces and parentheses
    if (close != std::string::npos && close + 2 < line.size()) states[tid] = line[close + 2];
  }
  return states;
}

// The threads of other_threads() that are not in `before` and run.
int running_since(const std::map<std::string, char>& before) {
  int running = 0;
  for (const auto& [tid, state] : other_threads()) running += !before.count(tid) && state == 'R';
  return running;
}

std::thread::id thread_of_task_zero(cvp::exec::Executor& ex) {
  std::vector<std::thread::id> ids(ex.threads());
  ex.run(ids.size(), [&](std::size_t i) { ids[i] = std::this_thread::get_id(); },
         cvp::exec::Schedule::fixed);
  return ids[0];
}

TEST(ThreadsTeam, TheCallerIsWorkerZeroWhereEveryWorkerHasItsOwnCpu) {
  // Without pinning the workers could share a CPU: they sleep, and the caller waits aside.
  if (!cvp::exec::affinity_supported()) GTEST_SKIP() << "no CPU affinity here";
  const auto topo = cvp::exec::detect_topology();
  const auto me = std::this_thread::get_id();
  // One worker per CPU: the caller runs worker 0's tasks, and no thread is woken for them.
  auto serial = cvp::exec::make_executor(Backend::threads, {topo.home_cpu()});
  EXPECT_EQ(thread_of_task_zero(*serial), me);
  if (topo.cores.size() >= 2) {
    auto parallel = cvp::exec::make_executor(Backend::threads, topo.parallel_cpus(2));
    EXPECT_EQ(thread_of_task_zero(*parallel), me);
  }
  // Workers that share a CPU: the caller waits aside, each worker is a thread of the team.
  auto concurrent = cvp::exec::make_executor(Backend::threads, {topo.home_cpu(), topo.home_cpu()});
  EXPECT_NE(thread_of_task_zero(*concurrent), me);
}

// The std::thread team counts its spinning: the caller that waits for a worker still busy spins
// (up to 200 us, then sleeps), a team of one or on one CPU never spins; the other backends cannot
// tell.
TEST(ThreadsTeam, CountsTheTimeItSpunWaiting) {
  if (!cvp::exec::affinity_supported()) GTEST_SKIP() << "no CPU affinity here: no team spins";
  const auto topo = cvp::exec::detect_topology();
  const auto spun_in = [](cvp::exec::Executor& ex) {
    const double before = ex.spun_s().value_or(-1);
    ex.run(2, [](std::size_t i) {
      if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }, cvp::exec::Schedule::fixed);
    ex.settle();
    return ex.spun_s().value_or(-1) - before;
  };
  auto serial = cvp::exec::make_executor(Backend::threads, {topo.home_cpu()});
  EXPECT_EQ(spun_in(*serial), 0.0);
  auto concurrent = cvp::exec::make_executor(Backend::threads, {topo.home_cpu(), topo.home_cpu()});
  EXPECT_EQ(spun_in(*concurrent), 0.0);
  if (topo.cores.size() >= 2) {
    auto parallel = cvp::exec::make_executor(Backend::threads, topo.parallel_cpus(2));
    const double spun = spun_in(*parallel);
    EXPECT_GE(spun, 150e-6) << "the caller waited 3 ms for worker 1";
    EXPECT_LT(spun, 3e-3) << "a spin lasts at most 200 us, then the spinner sleeps";
  }
  for (const Backend b : {Backend::openmp, Backend::tbb}) {
    EXPECT_FALSE(cvp::exec::make_executor(b, {topo.home_cpu()})->spun_s().has_value());
  }
}

TEST(ThreadsTeam, SettleReturnsWithEveryWorkerAsleep) {
  const auto topo = cvp::exec::detect_topology();
  if (topo.cores.size() < 2) GTEST_SKIP() << "needs two cores";
  // Other tests' pools (OpenMP's, oneTBB's) may spin on: only threads made here count.
  const auto before = other_threads();
  // The check sees a thread that spins (it can fail).
  std::atomic<bool> stop{false};
  std::thread spinner([&] { while (!stop.load()) cvp::exec::cpu_relax(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int seen = 0;
  while (seen == 0 && std::chrono::steady_clock::now() < deadline) seen = running_since(before);
  stop.store(true);
  spinner.join();
  EXPECT_EQ(seen, 1) << "the spinning thread was never seen running";

  auto ex = cvp::exec::make_executor(Backend::threads, topo.parallel_cpus(2));
  for (int round = 0; round < 20; ++round) {
    ex->run(2, [](std::size_t) {});
    ex->settle();
    EXPECT_EQ(running_since(before), 0) << "a worker still runs after settle(), round " << round;
  }
}

TEST(Backends, AllAreTheTaskBackendsEveryAddsTheEventLoop) {
  EXPECT_EQ(cvp::exec::task_backends(),
            (std::vector<Backend>{Backend::threads, Backend::openmp, Backend::tbb}));
  EXPECT_EQ(cvp::exec::every_backend(), (std::vector<Backend>{Backend::threads, Backend::openmp,
                                                               Backend::tbb, Backend::eventloop}));
  for (const Backend b : cvp::exec::every_backend()) {
    EXPECT_EQ(cvp::exec::parse_backend(cvp::exec::to_string(b)), b);
  }
  EXPECT_EQ(cvp::exec::to_string(Backend::eventloop), "eventloop");
  EXPECT_EQ(cvp::exec::parse_backend("eventloop"), Backend::eventloop);
  EXPECT_FALSE(cvp::exec::parse_backend("asio"));
  EXPECT_FALSE(cvp::exec::parse_backend(""));
}

TEST(Backends, TheEventLoopMakesNoExecutor) {
  try {
    cvp::exec::make_executor(Backend::eventloop, {cvp::exec::allowed_cpus().front()});
    ADD_FAILURE() << "make_executor(eventloop) returned";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("eventloop"), std::string::npos) << e.what();
  }
  cvp::exec::Sightings sightings;
  EXPECT_THROW(cvp::exec::make_executor(Backend::eventloop, {0}, &sightings),
               std::invalid_argument);
  EXPECT_EQ(sightings.threads(), 0);
  EXPECT_THROW(cvp::exec::make_executor(Backend::threads, {}), std::invalid_argument);
}

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

// Runs `body(t)` on `n` threads at once and joins them.
template <typename Body>
void on_threads(int n, Body body) {
  std::vector<std::thread> team;
  for (int t = 0; t < n; ++t) team.emplace_back(body, t);
  for (auto& th : team) th.join();
}

// N threads on N slots, each pinned to its own CPU where the machine allows (thread t to the
// t-th allowed CPU, round robin): N threads, and exactly their CPUs.
TEST(Sightings, ThreadsOnTheirOwnSlotsAreCountedWithTheirCpus) {
  const auto allowed = cvp::exec::allowed_cpus();
  for (int n : {1, 2, 4}) {
    cvp::exec::Sightings sightings(n);
    EXPECT_EQ(sightings.slots(), n);
    auto cpu_of = [&](int t) { return allowed[static_cast<std::size_t>(t) % allowed.size()]; };
    std::set<int> expected;
    for (int t = 0; t < n; ++t) expected.insert(cpu_of(t));
    on_threads(n, [&](int t) {
      if (!cvp::exec::pin_to_cpu(cpu_of(t))) sightings.note_pin_failure();
      for (int i = 0; i < 100; ++i) sightings.note(t);
    });
    EXPECT_EQ(sightings.threads(), n);
    if (cvp::exec::affinity_supported()) {
      EXPECT_EQ(sightings.pin_failures(), 0);
      EXPECT_EQ(sightings.cpus(), std::vector<int>(expected.begin(), expected.end()))
          << n << " threads";
    } else {
      EXPECT_TRUE(sightings.cpus().empty());
      EXPECT_EQ(sightings.pin_failures(), n);
    }
  }
}

// A slot noted by several threads counts each; one thread noting several slots counts once.
TEST(Sightings, ThreadsAreCountedOnceWhateverTheirSlots) {
  cvp::exec::Sightings shared(1);
  shared.note(0);
  std::thread([&] { shared.note(0); }).join();
  shared.note(0);
  EXPECT_EQ(shared.threads(), 2);

  cvp::exec::Sightings spread(4);
  for (int slot = 0; slot < 4; ++slot) spread.note(slot);
  EXPECT_EQ(spread.threads(), 1);
  std::thread([&] {
    for (int slot = 3; slot >= 0; --slot) spread.note(slot);
  }).join();
  EXPECT_EQ(spread.threads(), 2);

  // Threads that run one after another are told apart even if the system reuses their ids.
  cvp::exec::Sightings successive(1);
  for (int i = 0; i < 3; ++i) std::thread([&] { successive.note(0); }).join();
  EXPECT_EQ(successive.threads(), 3);
}

// Up to kThreadsPerSlot threads on one slot are counted exactly; past that, threads() is a
// lower bound (the slot's table is full) and never more than the truth.
TEST(Sightings, ManyThreadsOnOneSlot) {
  constexpr int kTable = cvp::exec::Sightings::kThreadsPerSlot;
  cvp::exec::Sightings exact(1);
  on_threads(kTable, [&](int) { exact.note(0); });
  EXPECT_EQ(exact.threads(), kTable);
  cvp::exec::Sightings over(1);
  on_threads(kTable + 3, [&](int) { over.note(0); });
  EXPECT_EQ(over.threads(), kTable);
  cvp::exec::Sightings spread(kTable + 3);
  on_threads(kTable + 3, [&](int t) { spread.note(t); });
  EXPECT_EQ(spread.threads(), kTable + 3);
}

// Any slot index is accepted: taken modulo slots(), a negative one as 0, none out of range.
TEST(Sightings, SlotsWrapAround) {
  EXPECT_EQ(cvp::exec::Sightings().slots(), 1);
  EXPECT_EQ(cvp::exec::Sightings(0).slots(), 1);
  EXPECT_EQ(cvp::exec::Sightings(-3).slots(), 1);
  cvp::exec::Sightings sightings(3);
  for (int slot : {-1, -100, 0, 2, 3, 7, 1 << 30}) sightings.note(slot);
  EXPECT_EQ(sightings.threads(), 1);
  if (cvp::exec::affinity_supported()) {
    EXPECT_EQ(sightings.cpus().size(), 1u);
  }
}

TEST(Sightings, ResetClearsEverything) {
  cvp::exec::Sightings sightings(2);
  on_threads(2, [&](int t) { sightings.note(t); });
  sightings.note(1);
  sightings.note_pin_failure();
  sightings.note_pin_failure();
  EXPECT_EQ(sightings.threads(), 3);
  EXPECT_EQ(sightings.pin_failures(), 2);
  if (cvp::exec::affinity_supported()) {
    EXPECT_FALSE(sightings.cpus().empty());
  }
  sightings.reset();
  EXPECT_EQ(sightings.threads(), 0);
  EXPECT_EQ(sightings.pin_failures(), 0);
  EXPECT_TRUE(sightings.cpus().empty());
  EXPECT_EQ(sightings.slots(), 2);
  // Usable again, and the thread seen before the reset counts anew.
  sightings.note(0);
  EXPECT_EQ(sightings.threads(), 1);
}

// Notes from many threads, some sharing slots, while others read: no data race (this test is
// for the ThreadSanitizer build) and nothing lost.
TEST(Sightings, NotesAndQueriesFromManyThreadsAtOnce) {
  constexpr int kWriters = 6;
  cvp::exec::Sightings sightings(3);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      EXPECT_LE(sightings.threads(), kWriters);
      (void)sightings.cpus();
      (void)sightings.pin_failures();
    }
  });
  on_threads(kWriters, [&](int t) {
    for (int i = 0; i < 2000; ++i) sightings.note(t + i);
    sightings.note_pin_failure();
  });
  done = true;
  reader.join();
  EXPECT_EQ(sightings.threads(), kWriters);
  EXPECT_EQ(sightings.pin_failures(), kWriters);
  if (cvp::exec::affinity_supported()) {
    EXPECT_FALSE(sightings.cpus().empty());
  }
}

TEST(Evidence, PinnedNeedsEverySightingInsideTheIntendedSet) {
  EXPECT_TRUE(cvp::exec::pinned_as_intended({1}, {1, 1, 1}, 0));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({0, 1}, {1}, 0));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({1}, {1}, 1));
  EXPECT_FALSE(cvp::exec::pinned_as_intended({}, {1}, 0));
}

}  // namespace

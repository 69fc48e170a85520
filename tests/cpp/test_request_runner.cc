// The request engine (cvp/exec/requests.h) with handlers of the test's own, and with the
// built-in simulated handler (workloads/requests/handler.h).
#include "cvp/exec/requests.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"
#include "exec/requests/request_engine.h"  // timer_wake_order
#include "requests/handler.h"
#include "requests/requests.h"

namespace {

using cvp::exec::Backend;
using cvp::exec::Sightings;
using cvp::exec::RequestConfig;
using cvp::exec::RequestRun;
using cvp::exec::run_requests;

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A handler that keeps score: each id's input is made up front, before_wait mixes it `rounds`
// times into the id's slot, after_wait finishes it into a fingerprint. It counts the calls per
// id and checks that both calls for an id come from one thread, before_wait first; a broken
// promise makes the fingerprint wrong, so the comparison with the serial handling catches it.
class CountingHandler : public cvp::exec::RequestHandler {
 public:
  CountingHandler(std::size_t requests, std::uint64_t rounds)
      : rounds_(rounds), input_(requests), state_(requests), owner_(requests),
        before_(requests), after_(requests) {
    for (std::size_t id = 0; id < requests; ++id) input_[id] = mix(id + 17);
  }

  void before_wait(std::size_t id) override {
    before_[id].fetch_add(1, std::memory_order_relaxed);
    owner_[id] = std::this_thread::get_id();
    std::uint64_t h = input_[id];
    for (std::uint64_t r = 0; r < rounds_; ++r) h = mix(h + r);
    state_[id] = h;
  }

  std::uint64_t after_wait(std::size_t id) override {
    after_[id].fetch_add(1, std::memory_order_relaxed);
    const bool same_thread = owner_[id] == std::this_thread::get_id();
    const bool in_order = before_[id].load(std::memory_order_relaxed) ==
                          after_[id].load(std::memory_order_relaxed);
    return (mix(state_[id] ^ id) | 1) ^ (same_thread && in_order ? 0 : 2);
  }

  // Every id of 0 .. n-1 had exactly `times` calls of each part.
  bool each_called(std::size_t n, int times) const {
    for (std::size_t id = 0; id < n; ++id) {
      if (before_[id].load() != times || after_[id].load() != times) return false;
    }
    return true;
  }

 private:
  std::uint64_t rounds_;
  std::vector<std::uint64_t> input_;
  std::vector<std::uint64_t> state_;
  std::vector<std::thread::id> owner_;
  std::vector<std::atomic<int>> before_;
  std::vector<std::atomic<int>> after_;
};

enum class Shape { serial, concurrent, parallel };

struct Case {
  Backend backend;
  Shape shape;
};

std::string name_of(const testing::TestParamInfo<Case>& param_info) {
  static const char* const kShapes[] = {"serial", "concurrent", "parallel"};
  return std::string(cvp::exec::to_string(param_info.param.backend)) + "_" +
         kShapes[static_cast<int>(param_info.param.shape)];
}

class EveryRequestOnce : public testing::TestWithParam<Case> {};

TEST_P(EveryRequestOnce, ProcessesEachRequestExactlyOnce) {
  const auto allowed = cvp::exec::allowed_cpus();
  const int home = allowed.front();
  RequestConfig config;
  config.w_us = 200;
  config.requests = 200;
  config.seed = 17;
  std::vector<int> cpus{home};
  switch (GetParam().shape) {
    case Shape::serial:
      config.in_flight = 1;
      break;
    case Shape::concurrent:
      config.in_flight = 8;
      break;
    case Shape::parallel:
      config.in_flight = 8;
      cpus = allowed;
      break;
  }
  const int max_threads = GetParam().backend == Backend::threads
                              ? config.in_flight
                              : std::min(config.in_flight, static_cast<int>(cpus.size()));
  CountingHandler handler(config.requests, 300);
  Sightings sightings(max_threads);  // one slot per worker
  const RequestRun run = run_requests(config, handler, GetParam().backend, cpus, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_EQ(run.latencies_us.size(), config.requests);
  EXPECT_GT(run.wall_s, 0.0);
  EXPECT_TRUE(handler.each_called(config.requests, 1));
  EXPECT_GT(run.cpu_samples, 0u);
  EXPECT_GE(run.cpu_us_per_request, 0.0);
  // The workers' CPU holds the handler's sampled c' (less the clock reads taken out of it) and
  // no more than their cores had in the run's time.
  EXPECT_GE(run.team_cpu_us_per_request, 0.5 * run.cpu_us_per_request);
  EXPECT_LE(run.team_cpu_us_per_request * static_cast<double>(config.requests),
            run.wall_s * 1e6 * static_cast<double>(cpus.size()) * 1.05 + 2000);
  for (const double latency : run.latencies_us) EXPECT_GE(latency, config.w_us);
  EXPECT_GE(run.wait_overshoot_us, 0.0);
  // Every response, against the serial handling of a fresh handler.
  CountingHandler serial(config.requests, 300);
  EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints,
                                      cvp::exec::serial_fingerprints(serial, config.requests)),
            0u);
  if (cvp::exec::affinity_supported()) {
    EXPECT_TRUE(cvp::exec::pinned_as_intended(sightings.cpus(), cpus, sightings.pin_failures()));
  }
  EXPECT_GE(sightings.threads(), 1);
  EXPECT_LE(sightings.threads(), max_threads);
}

// The workers' CPU per request is theirs alone: a thread of the same process that burns 50 ms of
// its own CPU on another CPU meanwhile adds them to the process's CPU time, not to the team's
// (however busy the machine, the 50 ms are counted by that thread's own clock).
TEST(RequestRunner, TeamCpuCountsTheWorkersOnly) {
  const auto allowed = cvp::exec::allowed_cpus();
  if (allowed.size() < 2 || !cvp::exec::affinity_supported()) GTEST_SKIP() << "needs 2 CPUs";
  for (const Backend backend : {Backend::threads, Backend::eventloop}) {
    RequestConfig config;
    config.w_us = 300;
    config.requests = 400;
    config.in_flight = 8;
    const auto before = cvp::exec::UsageSnapshot::now();
    std::thread other([&] {
      cvp::exec::pin_to_cpu(allowed[1]);
      const std::int64_t start = cvp::exec::detail::thread_cpu_ns();
      while (cvp::exec::detail::thread_cpu_ns() - start < 50'000'000) {
      }
    });
    CountingHandler handler(config.requests, 300);
    Sightings sightings(config.in_flight);
    const RequestRun run = run_requests(config, handler, backend, {allowed[0]}, sightings);
    other.join();
    const auto usage = cvp::exec::UsageSnapshot::now() - before;
    const double team_s = run.team_cpu_us_per_request * static_cast<double>(run.processed) * 1e-6;
    const std::string name(cvp::exec::to_string(backend));
    EXPECT_GT(team_s, 0.0) << name;
    EXPECT_LE(team_s, run.wall_s * 1.05 + 0.002) << name;  // one core's worth at most
    EXPECT_GE(usage.cpu_s - team_s, 0.045) << name;         // the other thread's 50 ms are not in it
  }
}

// The built-in handler's every response equals its serial handling's, whatever the backend and
// K; a wrong or missing one is counted.
TEST_P(EveryRequestOnce, EveryResponseMatchesTheSerialReference) {
  RequestConfig config;
  config.w_us = 100;
  config.requests = 96;
  config.in_flight = GetParam().shape == Shape::serial ? 1 : 8;
  const auto cpus = GetParam().shape == Shape::parallel
                        ? cvp::exec::allowed_cpus()
                        : std::vector<int>{cvp::exec::allowed_cpus().front()};
  const std::uint64_t rounds = cvp::requests::rounds_for(3);
  cvp::requests::Handler handler(config.requests, 5, rounds);
  Sightings sightings;
  RequestRun run = run_requests(config, handler, GetParam().backend, cpus, sightings);
  cvp::requests::Handler fresh(config.requests, 5, rounds);
  const auto reference = cvp::exec::serial_fingerprints(fresh, config.requests);
  ASSERT_EQ(reference.size(), config.requests);
  ASSERT_EQ(run.fingerprints.size(), config.requests);
  EXPECT_FALSE(run.stopped);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints, reference), 0u);
  // The handler that ran is left as the serial handling would leave it: its reference agrees.
  EXPECT_EQ(cvp::exec::serial_fingerprints(handler, config.requests), reference);
  run.fingerprints[7] ^= 1u << 8;
  run.fingerprints[9] = 0;
  EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints, reference), 2u);
  run.fingerprints.pop_back();
  EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints, reference), 3u);
}

INSTANTIATE_TEST_SUITE_P(
    RequestRunner, EveryRequestOnce,
    testing::Values(Case{Backend::threads, Shape::serial},
                    Case{Backend::threads, Shape::concurrent},
                    Case{Backend::threads, Shape::parallel},
                    Case{Backend::eventloop, Shape::serial},
                    Case{Backend::eventloop, Shape::concurrent},
                    Case{Backend::eventloop, Shape::parallel}),
    name_of);

// A reference made with another seed or another amount of work differs: the check would notice.
TEST(ReferenceFingerprints, DependOnSeedAndWork) {
  constexpr std::size_t kRequests = 16;
  const std::uint64_t rounds = cvp::requests::rounds_for(3);
  const auto of = [](std::uint64_t seed, std::uint64_t r) {
    cvp::requests::Handler handler(kRequests, seed, r);
    return cvp::exec::serial_fingerprints(handler, kRequests);
  };
  const auto ra = of(1, rounds);
  EXPECT_EQ(ra, of(1, rounds));
  EXPECT_EQ(cvp::exec::count_mismatches(of(2, rounds), ra), kRequests);
  EXPECT_GT(cvp::exec::count_mismatches(of(1, cvp::requests::rounds_for(40)), ra), 0u);
  EXPECT_TRUE(std::none_of(ra.begin(), ra.end(), [](std::uint64_t f) { return f == 0; }));
}

// A handler that is wrong for one id in a run, and only there.
class WrongForOneId final : public CountingHandler {
 public:
  enum class How { wrong, zero, throws };
  WrongForOneId(std::size_t requests, std::size_t bad_id, How how)
      : CountingHandler(requests, 50), bad_id_(bad_id), how_(how) {}

  std::uint64_t after_wait(std::size_t id) override {
    const std::uint64_t f = CountingHandler::after_wait(id);
    if (id != bad_id_) return f;
    switch (how_) {
      case How::wrong: return f ^ 0x40;
      case How::zero: return 0;
      case How::throws: throw std::runtime_error("request " + std::to_string(id) + " failed");
    }
    return f;
  }

 private:
  std::size_t bad_id_;
  How how_;
};

class EitherBackend : public testing::TestWithParam<Backend> {};

// One wrong response among many, in any mode: the comparison with the serial handling finds
// exactly that one, and the run itself saw nothing wrong (it checks only one response per id).
TEST_P(EitherBackend, AWrongResponseIsCaughtByTheSerialReference) {
  for (const int k : {1, 6}) {
    RequestConfig config;
    config.w_us = 50;
    config.requests = 60;
    config.in_flight = k;
    WrongForOneId handler(config.requests, 13, WrongForOneId::How::wrong);
    Sightings sightings(k);
    const RequestRun run = run_requests(config, handler, GetParam(), cvp::exec::allowed_cpus(),
                                        sightings);
    CountingHandler right(config.requests, 50);
    const auto reference = cvp::exec::serial_fingerprints(right, config.requests);
    EXPECT_EQ(run.errors, 0u) << "K=" << k;
    EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints, reference), 1u) << "K=" << k;
    EXPECT_NE(run.fingerprints[13], reference[13]);
    EXPECT_EQ(run.fingerprints[12], reference[12]);
  }
}

// A fingerprint of 0 is no response: the run counts it missing, and so does the comparison.
TEST_P(EitherBackend, AZeroFingerprintIsAMissingResponse) {
  RequestConfig config;
  config.w_us = 50;
  config.requests = 40;
  config.in_flight = 4;
  WrongForOneId handler(config.requests, 21, WrongForOneId::How::zero);
  Sightings sightings(4);
  const RequestRun run =
      run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 1u);
  EXPECT_EQ(run.fingerprints[21], 0u);
  CountingHandler right(config.requests, 50);
  EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints,
                                      cvp::exec::serial_fingerprints(right, config.requests)),
            1u);
}

// What the handler throws reaches the caller, once every worker has stopped.
TEST_P(EitherBackend, AHandlerExceptionReachesTheCaller) {
  RequestConfig config;
  config.w_us = 50;
  config.requests = 40;
  config.in_flight = 4;
  WrongForOneId handler(config.requests, 5, WrongForOneId::How::throws);
  Sightings sightings(4);
  try {
    run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
    ADD_FAILURE() << "the handler's exception was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "request 5 failed");
  }
}

TEST_P(EitherBackend, ExponentialWaitsStillProcessEachRequestOnce) {
  RequestConfig config;
  config.w_us = 100;
  config.distribution = cvp::exec::WaitDistribution::exponential;
  config.requests = 120;
  config.in_flight = 6;
  CountingHandler handler(config.requests, 20);
  Sightings sightings;
  const RequestRun run =
      run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_EQ(run.latencies_us.size(), config.requests);
  EXPECT_TRUE(handler.each_called(config.requests, 1));
}

// Waiting work overlaps when K requests are in flight, even on one CPU. Loose on purpose (the
// machine may be shared): K = 8 must beat a quarter of the ideal 8x over back-to-back waits.
TEST_P(EitherBackend, WaitsOverlapOnOneCpu) {
  RequestConfig config;
  config.w_us = 5000;
  config.requests = 64;
  config.in_flight = 8;
  CountingHandler handler(config.requests, 20);
  Sightings sightings;
  const RequestRun run =
      run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_EQ(run.errors, 0u);
  const double back_to_back_s = static_cast<double>(config.requests) * config.w_us * 1e-6;
  EXPECT_LT(run.wall_s, back_to_back_s / 2);
}

// A raised stop flag ends the run early: no new request is taken, and the responses not made
// are missing rather than counted as errors.
TEST_P(EitherBackend, StopFlagEndsTheRunEarly) {
  std::atomic<bool> stop{true};
  RequestConfig config;
  config.w_us = 50;
  config.requests = 64;
  config.in_flight = 4;
  config.stop = cvp::exec::StopToken(&stop);
  CountingHandler handler(config.requests, 20);
  Sightings sightings;
  const RequestRun run =
      run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.processed, 0u);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_TRUE(handler.each_called(config.requests, 0));
  stop = false;
  const RequestRun full =
      run_requests(config, handler, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_FALSE(full.stopped);
  EXPECT_EQ(full.processed, config.requests);
}

TEST_P(EitherBackend, InvalidConfigsThrow) {
  Sightings sightings;
  const std::vector<int> cpus{cvp::exec::allowed_cpus().front()};
  CountingHandler handler(4, 1);
  auto run_with = [&](RequestConfig config, const std::vector<int>& on) {
    return run_requests(config, handler, GetParam(), on, sightings);
  };
  RequestConfig config;
  config.requests = 4;
  config.in_flight = 2;
  config.w_us = 1;

  RequestConfig bad = config;
  bad.in_flight = 0;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.requests = 1;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  EXPECT_THROW(run_with(config, {}), std::invalid_argument);
  bad = config;
  bad.w_us = -1;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.w_us = std::nan("");
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.w_us = INFINITY;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  // Refused before any request was handled.
  EXPECT_TRUE(handler.each_called(4, 0));
  EXPECT_NO_THROW(run_with(config, cpus));
  EXPECT_TRUE(handler.each_called(4, 1));
}

// Each worker notes its own Sightings slot (thread t slot t, loop l slot l): a team larger than
// one slot's thread table is still counted thread by thread, and each loop is seen on its CPU.
// Long waits and few requests, so that every worker takes a request before they run out.
TEST_P(EitherBackend, EachWorkerNotesItsOwnSlot) {
  const auto allowed = cvp::exec::allowed_cpus();
  RequestConfig config;
  config.w_us = 20000;
  config.in_flight = cvp::exec::Sightings::kThreadsPerSlot + 2;
  config.requests = 2 * static_cast<std::size_t>(config.in_flight);
  // threads: every thread on the home CPU; event loops: one per allowed CPU (at most two).
  const bool threads = GetParam() == Backend::threads;
  const std::vector<int> cpus =
      threads ? std::vector<int>{allowed.front()}
              : std::vector<int>(allowed.begin(), allowed.begin() + (allowed.size() > 1 ? 2 : 1));
  const int team = threads ? config.in_flight : static_cast<int>(cpus.size());
  CountingHandler handler(config.requests, 1);
  Sightings sightings(team);
  const RequestRun run = run_requests(config, handler, GetParam(), cpus, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(sightings.threads(), team);
  if (cvp::exec::affinity_supported()) {
    EXPECT_EQ(sightings.pin_failures(), 0);
    EXPECT_EQ(sightings.cpus(), cpus);
  }
}

std::string backend_name(const testing::TestParamInfo<Backend>& param_info) {
  return std::string(cvp::exec::to_string(param_info.param));
}

INSTANTIATE_TEST_SUITE_P(RequestRunner, EitherBackend,
                         testing::Values(Backend::threads, Backend::eventloop), backend_name);

// Requests run on threads or event loops only: a task backend is refused before anything runs.
TEST(RequestRunner, TaskBackendsAreRefused) {
  RequestConfig config;
  config.requests = 4;
  config.in_flight = 2;
  config.w_us = 1;
  const std::vector<int> cpus{cvp::exec::allowed_cpus().front()};
  CountingHandler handler(config.requests, 1);
  for (const Backend backend : {Backend::openmp, Backend::tbb}) {
    Sightings sightings;
    try {
      run_requests(config, handler, backend, cpus, sightings);
      ADD_FAILURE() << cvp::exec::to_string(backend) << " ran requests";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(cvp::exec::to_string(backend)), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(sightings.threads(), 0);
    EXPECT_EQ(sightings.pin_failures(), 0);
  }
  EXPECT_TRUE(handler.each_called(config.requests, 0));
}

// The serial reference: each id once, in order, on the calling thread.
TEST(SerialFingerprints, HandleEachIdOnceOnTheCallingThread) {
  CountingHandler handler(32, 10);
  const auto reference = cvp::exec::serial_fingerprints(handler, 32);
  ASSERT_EQ(reference.size(), 32u);
  EXPECT_TRUE(handler.each_called(32, 1));
  CountingHandler again(32, 10);
  EXPECT_EQ(cvp::exec::serial_fingerprints(again, 32), reference);
  EXPECT_TRUE(cvp::exec::serial_fingerprints(again, 0).empty());
}

TEST(CountMismatches, CountsWrongMissingAndAbsentEntries) {
  const std::vector<std::uint64_t> reference{3, 5, 7, 9};
  EXPECT_EQ(cvp::exec::count_mismatches(reference, reference), 0u);
  EXPECT_EQ(cvp::exec::count_mismatches({3, 5, 8, 9}, reference), 1u);
  EXPECT_EQ(cvp::exec::count_mismatches({3, 0, 7, 9}, reference), 1u);
  EXPECT_EQ(cvp::exec::count_mismatches({3, 5}, reference), 2u);
  EXPECT_EQ(cvp::exec::count_mismatches({3, 5, 7, 9, 11}, reference), 1u);
  EXPECT_EQ(cvp::exec::count_mismatches({}, {}), 0u);
}

TEST(EventLoop, WakesTimersInDeadlineOrder) {
  constexpr std::size_t kTimers = 40;
  std::vector<double> delays(kTimers);
  for (std::size_t i = 0; i < kTimers; ++i) delays[i] = 300.0 * static_cast<double>(i + 1);
  std::mt19937 rng(12345);
  std::shuffle(delays.begin(), delays.end(), rng);

  const std::vector<std::size_t> order = cvp::exec::detail::timer_wake_order(delays);

  std::vector<std::size_t> expected(kTimers);
  std::iota(expected.begin(), expected.end(), std::size_t{0});
  std::sort(expected.begin(), expected.end(),
            [&](std::size_t a, std::size_t b) { return delays[a] < delays[b]; });
  EXPECT_EQ(order, expected);
}

TEST(RequestRunner, BackendNames) {
  EXPECT_EQ(cvp::exec::to_string(Backend::threads), "threads");
  EXPECT_EQ(cvp::exec::to_string(Backend::eventloop), "eventloop");
  EXPECT_EQ(cvp::exec::parse_backend("eventloop"), Backend::eventloop);
}

}  // namespace

namespace {

// The wait:mpi handler's reference (its answers computed locally): the same responses when run
// through the engine as serially, each response carrying the backend's answer (not the plain
// handler's), and the answer a deterministic function of the request.
TEST(RoundTripHandler, ItsResponsesCarryTheBackendsAnswer) {
  constexpr std::size_t kRequests = 48;
  const std::uint64_t rounds = cvp::requests::rounds_for(2);
  cvp::requests::RoundTripHandler local(kRequests, 3, rounds, 1, /*local=*/true);
  const auto reference = cvp::exec::serial_fingerprints(local, kRequests, cvp::exec::WaitOwner::async);
  RequestConfig config;
  config.wait = cvp::exec::WaitOwner::async;
  config.requests = kRequests;
  config.in_flight = 8;
  Sightings sightings;
  cvp::requests::RoundTripHandler again(kRequests, 3, rounds, 1, /*local=*/true);
  for (Backend b : {Backend::threads, Backend::eventloop}) {
    RequestRun run = run_requests(config, again, b, {cvp::exec::allowed_cpus().front()}, sightings);
    EXPECT_EQ(cvp::exec::count_mismatches(run.fingerprints, reference), 0u);
  }
  cvp::requests::Handler plain(kRequests, 3, rounds);
  EXPECT_EQ(cvp::exec::count_mismatches(cvp::exec::serial_fingerprints(plain, kRequests), reference),
            kRequests);
  EXPECT_EQ(cvp::requests::backend_answer(5, 77), cvp::requests::backend_answer(5, 77));
  EXPECT_NE(cvp::requests::backend_answer(5, 77), cvp::requests::backend_answer(6, 77));
  EXPECT_NE(cvp::requests::backend_answer(5, 77), cvp::requests::backend_answer(5, 78));
  // Remote, outside a run of several ranks: the wait's failure reaches the caller.
  cvp::requests::RoundTripHandler remote(kRequests, 3, rounds, 1, /*local=*/false);
  EXPECT_THROW(run_requests(config, remote, Backend::threads, {cvp::exec::allowed_cpus().front()}, sightings),
               std::logic_error);
}

}  // namespace

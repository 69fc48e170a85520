#include "requests/request_runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"
#include "requests/requests.h"

namespace {

using cvp::exec::Backend;
using cvp::exec::Sightings;
using cvp::io::RequestConfig;
using cvp::io::RequestRun;
using cvp::io::run_requests;

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
  config.c_us = 5;
  config.w_us = 200;
  config.requests = 200;
  config.recheck = config.requests;  // recompute every response from scratch
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
  Sightings sightings(max_threads);  // one slot per worker
  const RequestRun run = run_requests(config, GetParam().backend, cpus, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_EQ(run.latencies_us.size(), config.requests);
  EXPECT_GT(run.wall_s, 0.0);
  EXPECT_EQ(run.rounds, cvp::requests::rounds_for(config.c_us));
  EXPECT_GT(run.cpu_samples, 0u);
  EXPECT_GE(run.cpu_us_per_request, 0.0);
  for (const double latency : run.latencies_us) EXPECT_GE(latency, config.w_us);
  EXPECT_GE(run.wait_overshoot_us, 0.0);
  if (cvp::exec::affinity_supported()) {
    EXPECT_TRUE(cvp::exec::pinned_as_intended(sightings.cpus(), cpus, sightings.pin_failures()));
  }
  EXPECT_GE(sightings.threads(), 1);
  EXPECT_LE(sightings.threads(), max_threads);
}

// Every response's fingerprint equals the serial handling's, whatever the backend and K; a
// wrong or missing one is counted.
TEST_P(EveryRequestOnce, EveryResponseMatchesTheSerialReference) {
  RequestConfig config;
  config.c_us = 3;
  config.w_us = 100;
  config.requests = 96;
  config.in_flight = GetParam().shape == Shape::serial ? 1 : 8;
  config.recheck = 0;
  config.seed = 5;
  const auto cpus = GetParam().shape == Shape::parallel
                        ? cvp::exec::allowed_cpus()
                        : std::vector<int>{cvp::exec::allowed_cpus().front()};
  Sightings sightings;
  RequestRun run = run_requests(config, GetParam().backend, cpus, sightings);
  const auto reference = cvp::io::reference_fingerprints(config);
  ASSERT_EQ(reference.size(), config.requests);
  ASSERT_EQ(run.fingerprints.size(), config.requests);
  EXPECT_FALSE(run.stopped);
  EXPECT_EQ(cvp::io::count_mismatches(run.fingerprints, reference), 0u);
  run.fingerprints[7] ^= 1u << 8;
  run.fingerprints[9] = 0;
  EXPECT_EQ(cvp::io::count_mismatches(run.fingerprints, reference), 2u);
  run.fingerprints.pop_back();
  EXPECT_EQ(cvp::io::count_mismatches(run.fingerprints, reference), 3u);
}

// A reference made with another seed or another c differs: the check would notice.
TEST(ReferenceFingerprints, DependOnSeedAndWork) {
  RequestConfig a;
  a.requests = 16;
  a.c_us = 3;
  RequestConfig b = a;
  b.seed = a.seed + 1;
  RequestConfig c = a;
  c.c_us = 40;
  const auto ra = cvp::io::reference_fingerprints(a);
  EXPECT_EQ(ra, cvp::io::reference_fingerprints(a));
  EXPECT_EQ(cvp::io::count_mismatches(cvp::io::reference_fingerprints(b), ra), a.requests);
  EXPECT_GT(cvp::io::count_mismatches(cvp::io::reference_fingerprints(c), ra), 0u);
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

class EitherBackend : public testing::TestWithParam<Backend> {};

TEST_P(EitherBackend, ExponentialWaitsStillProcessEachRequestOnce) {
  RequestConfig config;
  config.c_us = 2;
  config.w_us = 100;
  config.distribution = cvp::io::WaitDistribution::exponential;
  config.requests = 120;
  config.in_flight = 6;
  config.recheck = config.requests;
  Sightings sightings;
  const RequestRun run =
      run_requests(config, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_EQ(run.latencies_us.size(), config.requests);
}

// Waiting work overlaps when K requests are in flight, even on one CPU. Loose on purpose (the
// machine may be shared): K = 8 must beat a quarter of the ideal 8x over back-to-back waits.
TEST_P(EitherBackend, WaitsOverlapOnOneCpu) {
  RequestConfig config;
  config.c_us = 5;
  config.w_us = 5000;
  config.requests = 64;
  config.in_flight = 8;
  config.recheck = 0;
  Sightings sightings;
  const RequestRun run =
      run_requests(config, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_EQ(run.errors, 0u);
  const double back_to_back_s = static_cast<double>(config.requests) * config.w_us * 1e-6;
  EXPECT_LT(run.wall_s, back_to_back_s / 2);
}

// A raised stop flag ends the run early: no new request is taken, and the responses not made
// are missing rather than counted as errors.
TEST_P(EitherBackend, StopFlagEndsTheRunEarly) {
  std::atomic<bool> stop{true};
  RequestConfig config;
  config.c_us = 2;
  config.w_us = 50;
  config.requests = 64;
  config.in_flight = 4;
  config.stop = &stop;
  Sightings sightings;
  const RequestRun run =
      run_requests(config, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.processed, 0u);
  EXPECT_EQ(run.errors, 0u);
  stop = false;
  const RequestRun full =
      run_requests(config, GetParam(), {cvp::exec::allowed_cpus().front()}, sightings);
  EXPECT_FALSE(full.stopped);
  EXPECT_EQ(full.processed, config.requests);
}

TEST_P(EitherBackend, InvalidConfigsThrow) {
  Sightings sightings;
  const std::vector<int> cpus{cvp::exec::allowed_cpus().front()};
  auto run_with = [&](RequestConfig config, const std::vector<int>& on) {
    return run_requests(config, GetParam(), on, sightings);
  };
  RequestConfig config;
  config.requests = 4;
  config.in_flight = 2;
  config.c_us = 1;
  config.w_us = 1;

  RequestConfig bad = config;
  bad.in_flight = 0;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.requests = 1;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  EXPECT_THROW(run_with(config, {}), std::invalid_argument);
  bad = config;
  bad.c_us = -1;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.w_us = -1;
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  bad = config;
  bad.w_us = std::nan("");
  EXPECT_THROW(run_with(bad, cpus), std::invalid_argument);
  EXPECT_NO_THROW(run_with(config, cpus));
}

// Each worker notes its own Sightings slot (thread t slot t, loop l slot l): a team larger than
// one slot's thread table is still counted thread by thread, and each loop is seen on its CPU.
// Long waits and few requests, so that every worker takes a request before they run out.
TEST_P(EitherBackend, EachWorkerNotesItsOwnSlot) {
  const auto allowed = cvp::exec::allowed_cpus();
  RequestConfig config;
  config.c_us = 1;
  config.w_us = 20000;
  config.in_flight = cvp::exec::Sightings::kThreadsPerSlot + 2;
  config.requests = 2 * static_cast<std::size_t>(config.in_flight);
  config.recheck = 0;
  // threads: every thread on the home CPU; event loops: one per allowed CPU (at most two).
  const bool threads = GetParam() == Backend::threads;
  const std::vector<int> cpus =
      threads ? std::vector<int>{allowed.front()}
              : std::vector<int>(allowed.begin(), allowed.begin() + (allowed.size() > 1 ? 2 : 1));
  const int team = threads ? config.in_flight : static_cast<int>(cpus.size());
  Sightings sightings(team);
  const RequestRun run = run_requests(config, GetParam(), cpus, sightings);
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
  config.c_us = 1;
  config.w_us = 1;
  const std::vector<int> cpus{cvp::exec::allowed_cpus().front()};
  for (const Backend backend : {Backend::openmp, Backend::tbb}) {
    Sightings sightings;
    try {
      run_requests(config, backend, cpus, sightings);
      ADD_FAILURE() << cvp::exec::to_string(backend) << " ran requests";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(cvp::exec::to_string(backend)), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(sightings.threads(), 0);
    EXPECT_EQ(sightings.pin_failures(), 0);
  }
}

TEST(EventLoop, WakesTimersInDeadlineOrder) {
  constexpr std::size_t kTimers = 40;
  std::vector<double> delays(kTimers);
  for (std::size_t i = 0; i < kTimers; ++i) delays[i] = 300.0 * static_cast<double>(i + 1);
  std::mt19937 rng(12345);
  std::shuffle(delays.begin(), delays.end(), rng);

  const std::vector<std::size_t> order = cvp::io::timer_wake_order(delays);

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

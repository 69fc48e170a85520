// The request engine with handlers that wait themselves (cvp/exec/requests.h, WaitOwner):
// blocking in wait(id) on threads, refused on the event loop; asynchronous in
// async_wait(id, io, done) on both backends. Each wait is measured as the handler's, errors
// reach the caller, and a handler that never calls done() is told so instead of hanging.
#include <time.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "cvp/exec/requests.h"

namespace {

using cvp::exec::Backend;
using cvp::exec::RequestConfig;
using cvp::exec::RequestRun;
using cvp::exec::Sightings;
using cvp::exec::WaitOwner;
using cvp::exec::run_requests;

constexpr double kWaitUs = 3000;

// How a handler's wait ends: as it should, with an error for one id, or never (done() dropped).
enum class Ending { done, fails_for_3, never };

// Each request's wait is kWaitUs of real waiting: a sleep in wait(), or a timer of the
// context it is given in async_wait(). Its CPU parts are tiny; its fingerprint is the id's.
class WaitingHandler final : public cvp::exec::RequestHandler {
 public:
  WaitingHandler(std::size_t requests, Ending ending) : timers_(requests), ending_(ending) {}

  void before_wait(std::size_t) override {}
  std::uint64_t after_wait(std::size_t id) override { return 2 * id + 1; }

  void wait(std::size_t id) override {
    if (ending_ == Ending::fails_for_3 && id == 3) throw std::runtime_error("the disk is full (request 3)");
    const timespec ts{0, static_cast<long>(kWaitUs * 1000)};
    nanosleep(&ts, nullptr);
    waits_done_.fetch_add(1);
  }

  void async_wait(std::size_t id, asio::io_context& io, WaitDone done) override {
    if (ending_ == Ending::never) return;  // done() dropped: the wait never ends
    auto& timer = timers_[id];
    timer = std::make_unique<asio::steady_timer>(io, std::chrono::microseconds(static_cast<long>(kWaitUs)));
    const bool fail = ending_ == Ending::fails_for_3 && id == 3;
    timer->async_wait([this, id, done = std::move(done), fail](const asio::error_code& ec) {
      waits_done_.fetch_add(1);
      timers_[id].reset();  // what is made on `io` ends with the wait: the context may end next
      if (fail) {
        done(std::make_exception_ptr(std::runtime_error("the server closed the connection (request 3)")));
      } else if (ec) {
        done(std::make_exception_ptr(std::runtime_error(ec.message())));
      } else {
        done(nullptr);
      }
    });
  }

  int waits_done() const { return waits_done_.load(); }

 private:
  std::atomic<int> waits_done_{0};
  std::vector<std::unique_ptr<asio::steady_timer>> timers_;  // one slot per id
  Ending ending_;
};

RequestConfig config_for(WaitOwner owner) {
  RequestConfig config;
  config.wait = owner;
  config.w_us = 0;
  config.requests = 48;
  config.in_flight = 8;
  return config;
}

std::vector<int> home() { return {cvp::exec::allowed_cpus().front()}; }

// Each wait is measured as the handler's: at least the time it waited, no engine overshoot;
// its CPU (c') is the handler's CPU parts, not the wait; and waits overlap with 8 in flight
// on one CPU (loose: at most half of back-to-back, on a shared machine).
void expect_measured_waits(const RequestRun& run, const RequestConfig& config) {
  EXPECT_EQ(run.processed, config.requests);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_GE(run.wait_us, kWaitUs);
  EXPECT_GE(run.wait_p50_us, kWaitUs);
  EXPECT_GE(run.wait_p90_us, run.wait_p50_us);
  EXPECT_LT(run.wait_p50_us, 20 * kWaitUs);
  EXPECT_EQ(run.wait_overshoot_us, 0);
  EXPECT_LT(run.cpu_us_per_request, kWaitUs / 3);
  const double back_to_back_s = static_cast<double>(config.requests) * kWaitUs * 1e-6;
  EXPECT_LT(run.wall_s, back_to_back_s / 2);
}

TEST(HandlerWaits, ABlockingWaitIsMeasuredOnThreads) {
  const RequestConfig config = config_for(WaitOwner::blocking);
  WaitingHandler handler(config.requests, Ending::done);
  Sightings sightings;
  expect_measured_waits(run_requests(config, handler, Backend::threads, home(), sightings), config);
}

// A/A of the measurement: the engine's own 3 ms sleep reads as the handler's 3 ms wait does.
TEST(HandlerWaits, TheEngineWaitIsMeasuredAsTheHandlersIs) {
  RequestConfig config = config_for(WaitOwner::engine);
  config.w_us = kWaitUs;
  WaitingHandler handler(config.requests, Ending::done);
  Sightings sightings;
  const RequestRun run = run_requests(config, handler, Backend::threads, home(), sightings);
  EXPECT_GE(run.wait_us, kWaitUs);
  EXPECT_NEAR(run.wait_us, kWaitUs + run.wait_overshoot_us, 1.0);
}

TEST(HandlerWaits, ABlockingWaitIsRefusedOnTheEventLoop) {
  const RequestConfig config = config_for(WaitOwner::blocking);
  WaitingHandler handler(config.requests, Ending::done);
  Sightings sightings;
  try {
    run_requests(config, handler, Backend::eventloop, home(), sightings);
    ADD_FAILURE() << "a blocking wait ran on the event loop";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stall"), std::string::npos) << e.what();
  }
}

TEST(HandlerWaits, ABlockingWaitsErrorReachesTheCaller) {
  const RequestConfig config = config_for(WaitOwner::blocking);
  WaitingHandler handler(config.requests, Ending::fails_for_3);
  Sightings sightings;
  EXPECT_THROW(
      {
        try {
          run_requests(config, handler, Backend::threads, home(), sightings);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "the disk is full (request 3)");
          throw;
        }
      },
      std::runtime_error);
}

// A handler that says it waits but does not override the call it needs is told which.
TEST(HandlerWaits, AHandlerWithoutItsWaitIsToldWhich) {
  struct NoWait final : cvp::exec::RequestHandler {
    void before_wait(std::size_t) override {}
    std::uint64_t after_wait(std::size_t id) override { return id + 1; }
  } handler;
  Sightings sightings;
  EXPECT_THROW(run_requests(config_for(WaitOwner::blocking), handler, Backend::threads, home(), sightings),
               std::logic_error);
  EXPECT_THROW(run_requests(config_for(WaitOwner::async), handler, Backend::eventloop, home(), sightings),
               std::logic_error);
}

class AsyncWait : public testing::TestWithParam<Backend> {};

TEST_P(AsyncWait, IsMeasuredOnEitherBackend) {
  const RequestConfig config = config_for(WaitOwner::async);
  WaitingHandler handler(config.requests, Ending::done);
  Sightings sightings;
  expect_measured_waits(run_requests(config, handler, GetParam(), home(), sightings), config);
}

TEST_P(AsyncWait, AnErrorPassedToDoneReachesTheCaller) {
  const RequestConfig config = config_for(WaitOwner::async);
  WaitingHandler handler(config.requests, Ending::fails_for_3);
  Sightings sightings;
  try {
    run_requests(config, handler, GetParam(), home(), sightings);
    ADD_FAILURE() << "the error passed to done() was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the server closed the connection (request 3)");
  }
}

TEST_P(AsyncWait, AWaitThatNeverCallsDoneIsReportedNotWaitedFor) {
  const RequestConfig config = config_for(WaitOwner::async);
  WaitingHandler handler(config.requests, Ending::never);
  Sightings sightings;
  try {
    run_requests(config, handler, GetParam(), home(), sightings);
    ADD_FAILURE() << "requests that never resumed went unreported";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("done()"), std::string::npos) << e.what();
  }
}

// The serial reference makes the handler's own waits too (a response may depend on what the
// wait brought back), and none of the engine's.
TEST(HandlerWaits, TheReferenceMakesTheHandlersOwnWaits) {
  for (const WaitOwner owner : {WaitOwner::blocking, WaitOwner::async, WaitOwner::engine}) {
    WaitingHandler handler(6, Ending::done);
    const auto fingerprints = cvp::exec::serial_fingerprints(handler, 6, owner);
    EXPECT_EQ(fingerprints.size(), 6u);
    EXPECT_EQ(handler.waits_done(), owner == WaitOwner::engine ? 0 : 6) << static_cast<int>(owner);
  }
}

INSTANTIATE_TEST_SUITE_P(HandlerWaits, AsyncWait, testing::Values(Backend::threads, Backend::eventloop),
                         [](const testing::TestParamInfo<Backend>& info) {
                           return std::string(cvp::exec::to_string(info.param));
                         });

}  // namespace

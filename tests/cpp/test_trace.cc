// The span recorder (cvp/exec/trace.h) on the executors' teams and the request engine: every
// task and request part is recorded once while armed, on the worker and CPU that ran it, and
// nothing is recorded while it is not.
#include "cvp/exec/trace.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"
#include "cvp/exec/requests.h"

namespace {

using cvp::exec::Backend;
namespace trace = cvp::exec::trace;

void spin(int rounds) {
  std::atomic<int> sink{0};
  for (int i = 0; i < rounds; ++i) sink.fetch_add(i, std::memory_order_relaxed);
}

class TraceOnEveryBackend : public testing::TestWithParam<Backend> {};

TEST_P(TraceOnEveryBackend, RecordsEachTaskOnceWhileArmedAndNothingOtherwise) {
  const auto allowed = cvp::exec::allowed_cpus();
  const std::vector<int> cpus(allowed.begin(), allowed.begin() + std::min<std::size_t>(2, allowed.size()));
  auto team = cvp::exec::make_executor(GetParam(), cpus);
  const cvp::exec::Task task = [](std::size_t) { spin(20000); };
  team->run(8, task);  // before start(): not recorded
  trace::start();
  EXPECT_TRUE(trace::recording());
  team->run(8, task);
  const auto spans = trace::stop();
  EXPECT_FALSE(trace::recording());
  team->run(8, task);  // after stop(): not recorded
  EXPECT_TRUE(trace::stop().empty());

  ASSERT_EQ(spans.size(), 8u);
  std::set<std::uint64_t> indices;
  for (const auto& s : spans) {
    indices.insert(s.index);
    EXPECT_EQ(s.kind, trace::SpanKind::task);
    EXPECT_LT(s.begin_ns, s.end_ns);
    EXPECT_GE(s.on_cpu_ns, 0);
    ASSERT_GE(s.worker, 0);
    ASSERT_LT(s.worker, static_cast<int>(cpus.size()));
    if (cvp::exec::affinity_supported()) {
      EXPECT_EQ(s.cpu, cpus[static_cast<std::size_t>(s.worker)]);
    }
  }
  EXPECT_EQ(indices.size(), 8u);
  EXPECT_TRUE(std::is_sorted(spans.begin(), spans.end(),
                             [](const auto& a, const auto& b) { return a.begin_ns < b.begin_ns; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, TraceOnEveryBackend,
                         testing::Values(Backend::threads, Backend::openmp, Backend::tbb),
                         [](const auto& backend) { return std::string(cvp::exec::to_string(backend.param)); });

// A do-nothing handler: each request is two CPU parts around its wait.
class Echo : public cvp::exec::RequestHandler {
 public:
  void before_wait(std::size_t) override {}
  std::uint64_t after_wait(std::size_t id) override { return id + 1; }
};

class TraceRequests : public testing::TestWithParam<Backend> {};

// Threads that end before stop() (a request team's) leave their spans behind; each request has
// its two CPU parts and one wait, in order, on one worker.
TEST_P(TraceRequests, EveryRequestHasTwoCpuPartsAroundOneWait) {
  cvp::exec::RequestConfig config;
  config.w_us = 200;
  config.requests = 40;
  config.in_flight = 4;
  Echo handler;
  cvp::exec::Sightings sightings(4);
  const std::vector<int> cpus{cvp::exec::allowed_cpus().front()};
  trace::start();
  const auto run = cvp::exec::run_requests(config, handler, GetParam(), cpus, sightings);
  const auto spans = trace::stop();
  EXPECT_EQ(run.processed, config.requests);
  std::map<std::uint64_t, std::vector<trace::Span>> by_request;
  for (const auto& s : spans) by_request[s.index].push_back(s);
  ASSERT_EQ(by_request.size(), config.requests);
  for (const auto& [id, parts] : by_request) {
    ASSERT_EQ(parts.size(), 3u) << "request " << id;
    // Sorted by begin: before wait, then the wait, then after wait.
    EXPECT_EQ(parts[0].kind, trace::SpanKind::cpu);
    EXPECT_EQ(parts[1].kind, trace::SpanKind::wait);
    EXPECT_EQ(parts[2].kind, trace::SpanKind::cpu);
    EXPECT_LE(parts[0].end_ns, parts[1].begin_ns);
    EXPECT_LE(parts[1].end_ns, parts[2].begin_ns);
    EXPECT_GE(parts[1].end_ns - parts[1].begin_ns, 200'000);  // the wait asked for
    EXPECT_EQ(parts[0].worker, parts[2].worker);
    EXPECT_EQ(parts[1].on_cpu_ns, -1);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TraceRequests, testing::Values(Backend::threads, Backend::eventloop),
                         [](const auto& backend) { return std::string(cvp::exec::to_string(backend.param)); });

}  // namespace

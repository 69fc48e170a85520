#include "requests/requests.h"

#include <time.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace cvp::requests;

TEST(Requests, RequestIsDeterministicAndWellFormed) {
  EXPECT_EQ(make_request(3, 7), make_request(3, 7));
  EXPECT_NE(make_request(3, 7), make_request(4, 7));
  EXPECT_NE(make_request(3, 7), make_request(3, 8));
  const auto request = nlohmann::json::parse(make_request(42, 1));
  EXPECT_EQ(request.at("id").get<std::uint64_t>(), 42u);
  EXPECT_EQ(request.at("payload").get<std::string>().size(), kPayloadBytes);
  EXPECT_TRUE(request.at("values").is_array());
  EXPECT_TRUE(request.at("user").is_string());
}

TEST(Requests, ResponsesMatchTheirRequests) {
  for (std::uint64_t id = 0; id < 32; ++id) {
    const std::string request = make_request(id, 11);
    const Prepared prepared = prepare_rounds(request, 40);
    EXPECT_EQ(prepared.id, id);
    EXPECT_EQ(prepared.rounds, 40u);
    const std::string response = respond(prepared);
    EXPECT_TRUE(response_matches(request, response, 40)) << response;
    EXPECT_TRUE(response_matches(request, response)) << response;
    const auto parsed = nlohmann::json::parse(response);
    EXPECT_EQ(parsed.at("id").get<std::uint64_t>(), id);
    EXPECT_EQ(parsed.at("digest").get<std::string>().size(), 16u);
  }
}

TEST(Requests, ResponseDependsOnTheRequestAndTheWork) {
  const std::string a = make_request(1, 5);
  const std::string b = make_request(2, 5);
  const std::string response_a = respond(prepare_rounds(a, 10));
  const std::string response_b = respond(prepare_rounds(b, 10));
  EXPECT_NE(response_a, response_b);
  EXPECT_FALSE(response_matches(b, response_a, 10));
  EXPECT_FALSE(response_matches(a, response_b));
  EXPECT_NE(respond(prepare_rounds(a, 11)), response_a);  // the digest depends on the work done
  EXPECT_FALSE(response_matches(a, response_a, 11));
}

TEST(Requests, CheckerRejectsDamagedResponses) {
  const std::string request = make_request(9, 3);
  std::string response = respond(prepare_rounds(request, 20));
  EXPECT_FALSE(response_matches(request, ""));
  EXPECT_FALSE(response_matches(request, "{}"));
  EXPECT_FALSE(response_matches(request, "not json"));
  const auto at = response.find("\"digest\":\"") + 10;
  response[at] = response[at] == '0' ? '1' : '0';
  EXPECT_FALSE(response_matches(request, response));
}

TEST(Requests, MalformedRequestsThrow) {
  EXPECT_THROW(prepare_rounds("not json", 1), std::invalid_argument);
  EXPECT_THROW(prepare_rounds("[1,2]", 1), std::invalid_argument);
  EXPECT_THROW(prepare_rounds(R"({"id":1,"user":"u","payload":"p"})", 1), std::invalid_argument);
  EXPECT_THROW(prepare_rounds(R"({"id":-1,"user":"u","payload":"p","values":[]})", 1),
               std::invalid_argument);
  EXPECT_NO_THROW(prepare_rounds(R"({"id":1,"user":"u","payload":"p","values":[1,2]})", 1));
}

TEST(Requests, RoundsGrowWithRequestedWork) {
  EXPECT_EQ(rounds_for(0), 0u);
  EXPECT_EQ(rounds_for(-5), 0u);
  EXPECT_GT(rounds_per_us(), 0.0);
  EXPECT_LE(rounds_for(10), rounds_for(100));
  EXPECT_GT(rounds_for(100), 0u);
}

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

// A sanity check only: the machine may be shared and noisy, so the bounds are loose and the
// best of several trials (thread CPU time, which preemption does not inflate) is compared.
TEST(Requests, CalibrationGivesRoughlyTheRequestedWork) {
  calibrate();
  const std::string payload(kPayloadBytes, 'q');
  for (const double c_us : {50.0, 500.0}) {
    const std::uint64_t rounds = rounds_for(c_us);
    double best = std::numeric_limits<double>::infinity();
    std::uint64_t h = 1;
    for (int trial = 0; trial < 7; ++trial) {
      const double t0 = thread_cpu_us();
      h = hash_rounds(payload, rounds, h);
      best = std::min(best, thread_cpu_us() - t0);
    }
    EXPECT_NE(h, 0u);
    EXPECT_GT(best, 0.3 * c_us) << "rounds " << rounds;
    EXPECT_LT(best, 3.0 * c_us) << "rounds " << rounds;
  }
}

}  // namespace

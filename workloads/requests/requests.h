// Simulated request handling: the I/O-bound workload.
//
// A request is a small JSON text. Handling it is: parse it, do c microseconds of real CPU work
// on its payload (rounds of a hash), wait on a "backend" (the runner's business, not this
// file's), then build and serialise a JSON response that depends on the request. The handler is
// split in two around the wait: prepare() before it, respond() after it.
//
// Pure functions: no threads, no clocks, except the start-up calibration of the CPU work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cvp::requests {

// Bytes of every request's payload; fixed, so one calibration holds for every request.
inline constexpr std::size_t kPayloadBytes = 128;

// The request text for `id`, deterministic from (id, seed): the id, a method and path, a user,
// a payload string of kPayloadBytes characters and a small array of integers.
std::string make_request(std::uint64_t id, std::uint64_t seed);

// The CPU work step: `rounds` passes of FNV-1a (plus an xorshift mix per pass) over `bytes`,
// starting from `h`. Sequentially dependent, so it cannot be vectorised away.
std::uint64_t hash_rounds(std::string_view bytes, std::uint64_t rounds, std::uint64_t h);

// Measures how many hash_rounds rounds over a kPayloadBytes payload run per microsecond on the
// calling thread's CPU (best of several trials, so preemption does not skew it). Call once at
// start-up on the CPU the measurements will use; safe to call again, from any thread.
void calibrate();

// Rounds per microsecond from the last calibration; calibrates first if never calibrated.
double rounds_per_us();

// Rounds that make `c_us` microseconds of CPU work: round(c_us * rounds_per_us()), 0 for c_us <= 0.
std::uint64_t rounds_for(double c_us);

// A parsed and computed request: everything respond() needs.
struct Prepared {
  std::uint64_t id = 0;
  std::string user;
  std::uint64_t rounds = 0;  // CPU work done
  std::uint64_t digest = 0;  // hash_rounds over the payload, seeded by the id
  std::int64_t total = 0;    // sum of the request's values
};

// Parses `request` and does the CPU work on its payload: rounds_for(c_us) rounds.
// Throws std::invalid_argument when `request` is not a well-formed request.
Prepared prepare(std::string_view request, double c_us);

// The same with an explicit number of rounds (what runners use: one calibration per run).
Prepared prepare_rounds(std::string_view request, std::uint64_t rounds);

// The serialised JSON response: id, user, status, rounds, digest (16 hex digits), total and a
// shard derived from the digest.
std::string respond(const Prepared& prepared);

// True when `response` is exactly the response `request` gets with `rounds` rounds of work.
// Recomputes it from scratch (costs as much CPU as handling the request); never throws.
bool response_matches(std::string_view request, std::string_view response, std::uint64_t rounds);

// The same, taking the number of rounds from the response itself.
bool response_matches(std::string_view request, std::string_view response);

}  // namespace cvp::requests

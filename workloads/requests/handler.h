// The simulated request handler (requests.h) as the request engine runs it
// (cvp::exec::RequestHandler, cvp/exec/requests.h): the request texts are made up front, the
// parse and the CPU work happen before the wait, the JSON response after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cvp/exec/requests.h"
#include "requests/requests.h"

namespace cvp::requests {

// What a response is compared by: a hash of its text, never 0.
std::uint64_t fingerprint(std::string_view response);

class Handler final : public exec::RequestHandler {
 public:
  // Requests 0 .. requests-1, made from `seed` (make_request), each handled with `rounds` rounds
  // of CPU work (rounds_for(c_us)): the texts are made here, outside every clock.
  Handler(std::size_t requests, std::uint64_t seed, std::uint64_t rounds);

  // Parses request `id` and does its CPU work (prepare_rounds), into the id's own slot.
  void before_wait(std::size_t id) override;
  // Builds the response from the id's slot (respond) and returns its fingerprint.
  std::uint64_t after_wait(std::size_t id) override;

  std::uint64_t rounds() const { return rounds_; }
  const std::string& request(std::size_t id) const { return requests_[id]; }
  // The digest before_wait() computed for request `id`: what it asks a backend about.
  std::uint64_t digest(std::size_t id) const { return prepared_[id].digest; }

 private:
  std::uint64_t rounds_;
  std::vector<std::string> requests_;
  // One per id, written and read only by the worker that took the id: what the request carries
  // across its wait.
  std::vector<Prepared> prepared_;
};

// A backend's answer to request `id` asking about `digest` (a lookup in a remote service,
// simulated): deterministic, never 0.
std::uint64_t backend_answer(std::uint64_t id, std::uint64_t digest);

// The simulated handler whose wait is a round trip over MPI (cvp/dist.h): the request's digest
// goes to backend rank 1 + id % backends, which answers it (backend_answer) after its hold, and
// the response's fingerprint includes the answer, so a reply lost, swapped or wrong is a wrong
// response. With `local` the answer is computed here at once: the serial reference, without
// the network. Its waits are completion-based (WaitOwner::async), on threads and event loops.
class RoundTripHandler final : public exec::RequestHandler {
 public:
  RoundTripHandler(std::size_t requests, std::uint64_t seed, std::uint64_t rounds, int backends,
                   bool local);

  void before_wait(std::size_t id) override { handler_.before_wait(id); }
  std::uint64_t after_wait(std::size_t id) override;
  void async_wait(std::size_t id, asio::io_context& io, WaitDone done) override;

 private:
  Handler handler_;
  int backends_;
  bool local_;
  // One per id, written when its reply is handed back and read by the worker that took the id.
  std::vector<std::uint64_t> answers_;
};

}  // namespace cvp::requests

#include "requests/handler.h"

#include <algorithm>
#include <functional>
#include <memory>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "cvp/dist.h"

namespace cvp::requests {

std::uint64_t fingerprint(std::string_view response) {
  return std::hash<std::string_view>{}(response) | 1;
}

Handler::Handler(std::size_t requests, std::uint64_t seed, std::uint64_t rounds)
    : rounds_(rounds), prepared_(requests) {
  requests_.reserve(requests);
  for (std::size_t id = 0; id < requests; ++id) requests_.push_back(make_request(id, seed));
}

void Handler::before_wait(std::size_t id) { prepared_[id] = prepare_rounds(requests_[id], rounds_); }

std::uint64_t Handler::after_wait(std::size_t id) { return fingerprint(respond(prepared_[id])); }

std::uint64_t backend_answer(std::uint64_t id, std::uint64_t digest) {
  std::uint64_t z = digest ^ (id * 0x9E3779B97F4A7C15ULL);  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) | 1;
}

RoundTripHandler::RoundTripHandler(std::size_t requests, std::uint64_t seed, std::uint64_t rounds,
                                   int backends, bool local)
    : handler_(requests, seed, rounds), backends_(std::max(1, backends)), local_(local), answers_(requests, 0) {}

std::uint64_t RoundTripHandler::after_wait(std::size_t id) {
  return (handler_.after_wait(id) ^ (answers_[id] * 0x100000001B3ULL)) | 1;
}

void RoundTripHandler::async_wait(std::size_t id, asio::io_context& io, WaitDone done) {
  const std::uint64_t digest = handler_.digest(id);
  if (local_) {
    answers_[id] = backend_answer(id, digest);
    asio::post(io, [done = std::move(done)] { done(nullptr); });
    return;
  }
  // The reply comes on the main thread: the guard keeps `io` running until it is posted there.
  auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(io.get_executor());
  const int to = 1 + static_cast<int>(id % static_cast<std::size_t>(backends_));
  // Both move on to `io`: once posted, nothing left on the main thread refers to it, which may
  // be gone when the main thread lets go of this callback.
  dist::start_round_trip(to, id, digest,
                         [this, id, &io, done = std::move(done), guard = std::move(guard)](std::uint64_t reply) mutable {
                           answers_[id] = reply;
                           asio::post(io, [done = std::move(done), guard = std::move(guard)] { done(nullptr); });
                         });
}

}  // namespace cvp::requests

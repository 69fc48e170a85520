#include "requests/handler.h"

#include <functional>

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

}  // namespace cvp::requests

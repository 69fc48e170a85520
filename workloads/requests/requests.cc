#include "requests/requests.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace cvp::requests {
namespace {

using nlohmann::json;

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;
constexpr std::size_t kValues = 8;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string hex16(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kDigits[v & 0xf];
    v >>= 4;
  }
  return out;
}

// Rounds per microsecond; 0 until calibrated. Relaxed: any thread's calibration will do.
std::atomic<double> g_rounds_per_us{0.0};
// Keeps calibration results observable so the timed work is not optimised away.
std::atomic<std::uint64_t> g_sink{0};

}  // namespace

std::string make_request(std::uint64_t id, std::uint64_t seed) {
  std::uint64_t state = seed * 0x2545f4914f6cdd1dull ^ (id + 1) * 0x9e3779b97f4a7c15ull;
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  std::string payload(kPayloadBytes, ' ');
  for (std::size_t i = 0; i < kPayloadBytes; i += 8) {
    std::uint64_t bits = splitmix64(state);
    for (std::size_t j = i; j < std::min(i + 8, kPayloadBytes); ++j, bits >>= 8) {
      payload[j] = kAlphabet[bits & 63];
    }
  }
  json values = json::array();
  for (std::size_t i = 0; i < kValues; ++i) {
    values.push_back(static_cast<std::int64_t>(splitmix64(state) % 2001) - 1000);
  }
  const std::uint64_t user = splitmix64(state) % 10000;
  const json request = {
      {"id", id},
      {"method", (id % 4 == 0) ? "GET" : "POST"},
      {"path", "/v1/items/" + std::to_string(splitmix64(state) % 100000)},
      {"user", "user-" + std::to_string(user)},
      {"payload", std::move(payload)},
      {"values", std::move(values)},
  };
  return request.dump();
}

std::uint64_t hash_rounds(std::string_view bytes, std::uint64_t rounds, std::uint64_t h) {
  for (std::uint64_t r = 0; r < rounds; ++r) {
    for (const char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= kFnvPrime;
    }
    h ^= h << 13;
    h ^= h >> 7;
    h ^= h << 17;
  }
  return h;
}

void calibrate() {
  using Clock = std::chrono::steady_clock;
  std::string payload(kPayloadBytes, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  std::uint64_t h = hash_rounds(payload, 2000, kFnvOffset);  // warm up (and let clocks rise)
  constexpr std::uint64_t kRounds = 1000;
  double best_us = std::numeric_limits<double>::infinity();
  for (int trial = 0; trial < 25; ++trial) {
    const auto t0 = Clock::now();
    h = hash_rounds(payload, kRounds, h);
    const auto t1 = Clock::now();
    best_us = std::min(best_us, std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  g_sink.fetch_xor(h, std::memory_order_relaxed);
  g_rounds_per_us.store(static_cast<double>(kRounds) / std::max(best_us, 1e-3),
                        std::memory_order_relaxed);
}

double rounds_per_us() {
  double rate = g_rounds_per_us.load(std::memory_order_relaxed);
  if (rate <= 0) {
    calibrate();
    rate = g_rounds_per_us.load(std::memory_order_relaxed);
  }
  return rate;
}

std::uint64_t rounds_for(double c_us) {
  if (!(c_us > 0)) return 0;
  return static_cast<std::uint64_t>(std::llround(c_us * rounds_per_us()));
}

Prepared prepare(std::string_view request, double c_us) {
  return prepare_rounds(request, rounds_for(c_us));
}

Prepared prepare_rounds(std::string_view request, std::uint64_t rounds) {
  json parsed = json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) throw std::invalid_argument("request is not a JSON object");
  const auto id = parsed.find("id");
  const auto user = parsed.find("user");
  const auto payload = parsed.find("payload");
  const auto values = parsed.find("values");
  if (id == parsed.end() || !id->is_number_unsigned() || user == parsed.end() ||
      !user->is_string() || payload == parsed.end() || !payload->is_string() ||
      values == parsed.end() || !values->is_array()) {
    throw std::invalid_argument("request lacks an unsigned id, a user, a payload or values");
  }
  Prepared out;
  out.id = id->get<std::uint64_t>();
  out.user = user->get<std::string>();
  out.rounds = rounds;
  for (const json& v : *values) {
    if (!v.is_number_integer()) throw std::invalid_argument("request values must be integers");
    out.total += v.get<std::int64_t>();
  }
  out.digest = hash_rounds(payload->get_ref<const std::string&>(), rounds, kFnvOffset ^ out.id);
  return out;
}

std::string respond(const Prepared& prepared) {
  // Filled key by key: nlohmann's initializer-list construction copies every element twice.
  json response = json::object();
  response["id"] = prepared.id;
  response["user"] = prepared.user;
  response["status"] = "ok";
  response["rounds"] = prepared.rounds;
  response["digest"] = hex16(prepared.digest);
  response["total"] = prepared.total;
  response["shard"] = prepared.digest % 16;
  return response.dump();
}

bool response_matches(std::string_view request, std::string_view response, std::uint64_t rounds) {
  try {
    return respond(prepare_rounds(request, rounds)) == response;
  } catch (const std::exception&) {
    return false;
  }
}

bool response_matches(std::string_view request, std::string_view response) {
  const json parsed = json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return false;
  const auto rounds = parsed.find("rounds");
  if (rounds == parsed.end() || !rounds->is_number_unsigned()) return false;
  return response_matches(request, response, rounds->get<std::uint64_t>());
}

}  // namespace cvp::requests

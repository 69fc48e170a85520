// The two hashes the request-handler examples share: FNV-1a over a text (a response's
// fingerprint) and SplitMix64's finaliser (a signature's rounds, inputs made from an id).
#pragma once

#include <cstdint>
#include <string_view>

namespace examples {

inline std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

inline std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace examples

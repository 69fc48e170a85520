// How a closed set is spelled: an enum's values named once, in declaration order, in one array;
// to_string and parsing are the same two lookups for every such enum.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace cvp::exec {

// names[value]: the value's spelling ("?" for a value outside the array).
template <typename Enum, std::size_t N>
constexpr std::string_view name_of(Enum value, const std::array<std::string_view, N>& names) {
  const auto i = static_cast<std::size_t>(value);
  return i < N ? names[i] : std::string_view("?");
}

// The value spelled `text`, or nullopt.
template <typename Enum, std::size_t N>
constexpr std::optional<Enum> value_named(std::string_view text,
                                          const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace cvp::exec

// Seconds on the steady clock since a moment: the one helper the machine's measurements
// (machine_limits, cpu_model, fma_peak) share. Internal to the library.
#pragma once

#include <chrono>

namespace cvp::bench {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace cvp::bench

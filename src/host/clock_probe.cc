// The clock probe of host/cpu_model.h: a chain of dependent integer adds, one per cycle on
// every x86-64 and AArch64 core, timed on the steady clock.
#include <chrono>
#include <cstdint>

#include "host/cpu_model.h"

namespace cvp::bench {
namespace {

constexpr std::uint64_t kAddsPerStep = 32;

// `steps` x kAddsPerStep adds, each depending on the one before.
std::uint64_t add_chain(std::uint64_t steps, std::uint64_t x) {
  for (std::uint64_t i = 0; i < steps; ++i) {
#if defined(__x86_64__)
#define CVP_ADD4 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
    asm volatile(CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 : "+r"(x));
#undef CVP_ADD4
#elif defined(__aarch64__)
#define CVP_ADD4 "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
    asm volatile(CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 CVP_ADD4 : "+r"(x));
#undef CVP_ADD4
#else
    // Elsewhere the compiler keeps a dependent chain it cannot fold through the barrier.
    for (std::uint64_t j = 0; j < kAddsPerStep; ++j) {
      x = x * 3 + 1;
      asm volatile("" : "+r"(x));
    }
#endif
  }
  return x;
}

}  // namespace

double clock_probe_ghz(double seconds) {
  using Clock = std::chrono::steady_clock;
  // Calibrate the chain's length on a short run, then time one of about `seconds`.
  std::uint64_t steps = 64;
  std::uint64_t sink = 0;
  for (;;) {
    const auto t0 = Clock::now();
    sink = add_chain(steps, sink);
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    if (took >= seconds || steps >= (1ULL << 40)) {
      asm volatile("" : : "r"(sink));
      return took > 0 ? static_cast<double>(steps * kAddsPerStep) / took / 1e9 : 0;
    }
    steps = took > seconds / 16 ? static_cast<std::uint64_t>(static_cast<double>(steps) * seconds / took * 1.05) + 1
                                : steps * 8;
  }
}

}  // namespace cvp::bench

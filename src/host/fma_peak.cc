#include "host/fma_peak.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cvp/isa.h"
#include "harness/stats.h"
#include "host/elapsed.h"

namespace cvp::bench {
namespace {

// Twelve independent chains cover the FMA latency (4 cycles) times the FMA pipes (2) with room
// to spare, and leave registers for the operands even with 16 of them (AVX2).
constexpr std::size_t kChains = 12;
constexpr long kRoundIterations = 100000;  // ~0.1-0.5 ms per round
constexpr std::size_t kMaxLanes = 8;
constexpr double kScale = 1 - 1e-9, kAdd = 1e-9;  // the chains stay near their start

// Results land here, so no loop can be optimised away; atomic, as every busy core stores to it.
std::atomic<double> g_fma_sink{0};

// One round of every chain, kept in `state` between rounds (kChains x lanes doubles). Each
// chain is a parameter of its own, so it stays in a register: GCC keeps an array of twelve
// vectors in memory, where store-to-load forwarding joins every chain's critical path and
// halves the rate. One pair of templates per instruction set, each compiled for its own.
template <class... V>
void steps_generic(double* state, V... chain) {
  typedef double Vec __attribute__((vector_size(16)));
  const Vec scale = {kScale, kScale}, add = {kAdd, kAdd};
  for (long i = 0; i < kRoundIterations; ++i) ((chain = chain * scale + add), ...);
  std::size_t j = 0;
  ((std::memcpy(state + 2 * j++, &chain, sizeof chain)), ...);
}

template <std::size_t... J>
void round_generic(double* state, std::index_sequence<J...>) {
  typedef double Vec __attribute__((vector_size(16)));
  steps_generic(state, Vec{state[2 * J], state[2 * J + 1]}...);
}

#if defined(__x86_64__) || defined(__i386__)
template <class... V>
__attribute__((target("avx2,fma"))) void steps_avx2(double* state, V... chain) {
  const __m256d scale = _mm256_set1_pd(kScale), add = _mm256_set1_pd(kAdd);
  for (long i = 0; i < kRoundIterations; ++i) ((chain = _mm256_fmadd_pd(chain, scale, add)), ...);
  std::size_t j = 0;
  ((_mm256_storeu_pd(state + 4 * j++, chain)), ...);
}

template <std::size_t... J>
__attribute__((target("avx2,fma"))) void round_avx2(double* state, std::index_sequence<J...>) {
  steps_avx2(state, _mm256_loadu_pd(state + 4 * J)...);
}

template <class... V>
__attribute__((target("avx512f"))) void steps_avx512(double* state, V... chain) {
  const __m512d scale = _mm512_set1_pd(kScale), add = _mm512_set1_pd(kAdd);
  for (long i = 0; i < kRoundIterations; ++i) ((chain = _mm512_fmadd_pd(chain, scale, add)), ...);
  std::size_t j = 0;
  ((_mm512_storeu_pd(state + 8 * j++, chain)), ...);
}

template <std::size_t... J>
__attribute__((target("avx512f"))) void round_avx512(double* state, std::index_sequence<J...>) {
  steps_avx512(state, _mm512_loadu_pd(state + 8 * J)...);
}
#endif

struct Loop {
  void (*round)(double* state);
  std::size_t lanes;
  const char* name;
};

Loop loop_for(Isa isa) {
  using Chains = std::make_index_sequence<kChains>;
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx512) return {[](double* s) { round_avx512(s, Chains()); }, 8, "AVX-512"};
  if (isa == Isa::avx2) return {[](double* s) { round_avx2(s, Chains()); }, 4, "AVX2"};
#endif
  return {[](double* s) { round_generic(s, Chains()); }, 2, "generic"};
}

}  // namespace

const char* fma_isa() { return loop_for(chosen_isa()).name; }

double fma_flops(double seconds) {
  const Loop loop = loop_for(chosen_isa());
  volatile double seed = 1.0;  // unknown to the compiler, so the chains cannot be precomputed
  double state[kChains * kMaxLanes];
  for (std::size_t j = 0; j < kChains * kMaxLanes; ++j) {
    state[j] = seed + static_cast<double>(j / loop.lanes);  // distinct: no chains can merge
  }
  std::vector<double> rates;
  const auto start = std::chrono::steady_clock::now();
  auto round_start = start;
  const double round_flop = 2.0 * static_cast<double>(loop.lanes * kChains) * kRoundIterations;
  while (seconds_since(start) < seconds) {
    loop.round(state);
    const auto now = std::chrono::steady_clock::now();
    rates.push_back(round_flop / std::chrono::duration<double>(now - round_start).count());
    round_start = now;
  }
  g_fma_sink.store(std::accumulate(state, state + kChains * loop.lanes, 0.0),
                   std::memory_order_relaxed);
  return stats::percentiles(rates, {90}).front();
}

}  // namespace cvp::bench

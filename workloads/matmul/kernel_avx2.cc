// The matmul path for AVX2 + FMA: 4 x 12 micro-tiles, 12 accumulators, 3 B vectors and one
// broadcast in the 16 ymm registers, compiled with target attributes, not -mavx2, so the rest of
// the program stays runnable on any x86-64 CPU. Called only when cpu_supports(Isa::avx2).
// 4 x 12 loads 7 vectors per 12 FMAs against 8 for BLIS's 6 x 8, and with MC = 192 (a 384 KiB
// A block in L2) each B sliver serves 48 tiles: on Zen 5 it ran 8-13% faster than 6 x 8 with
// MC = 96 (workloads/matmul/README.md has the measurements).
#include <cstddef>

#include "matmul/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace cvp::matmul {
namespace {

#define CVP_MATMUL_TARGET __attribute__((target("avx2,fma")))

struct Simd {
  using Vec = __m256d;
  static constexpr Isa kIsa = Isa::avx2;
  static constexpr const char* kName = "avx2-fma";
  static constexpr std::size_t kLanes = 4;
  static constexpr std::size_t kMr = 4;
  static constexpr std::size_t kNv = 3;
  static constexpr std::size_t kMc = 192;
  static constexpr std::size_t kKc = 256;
  CVP_MATMUL_TARGET static Vec zero() { return _mm256_setzero_pd(); }
  CVP_MATMUL_TARGET static Vec broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  CVP_MATMUL_TARGET static Vec load(const double* p) { return _mm256_load_pd(p); }
  CVP_MATMUL_TARGET static Vec loadu(const double* p) { return _mm256_loadu_pd(p); }
  CVP_MATMUL_TARGET static void storeu(double* p, Vec v) { _mm256_storeu_pd(p, v); }
  CVP_MATMUL_TARGET static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  CVP_MATMUL_TARGET static Vec add(Vec a, Vec b) { return _mm256_add_pd(a, b); }
  CVP_MATMUL_TARGET static void prefetch(const double* p) { __builtin_prefetch(p, 0, 3); }
  CVP_MATMUL_TARGET static void prefetch_l2(const double* p) { __builtin_prefetch(p, 0, 2); }
};

#include "matmul/blocked_kernel.h"

}  // namespace

const Kernel::Ops& avx2_ops() { return kOps; }

}  // namespace cvp::matmul
#endif

// The matmul path for AVX-512F: 8 x 24 micro-tiles, 24 accumulators of the 32 zmm registers,
// compiled with target attributes, not -mavx512f, so the rest of the program stays runnable on
// any x86-64 CPU. Called only when cpu_supports(Isa::avx512).
#include <cstddef>

#include "matmul/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace cvp::matmul {
namespace {

#define CVP_MATMUL_TARGET __attribute__((target("avx512f,avx2,fma")))

struct Simd {
  using Vec = __m512d;
  static constexpr Isa kIsa = Isa::avx512;
  static constexpr const char* kName = "avx512";
  static constexpr std::size_t kLanes = 8;
  static constexpr std::size_t kMr = 8;
  static constexpr std::size_t kNv = 3;
  static constexpr std::size_t kMc = 96;
  static constexpr std::size_t kKc = 256;
  CVP_MATMUL_TARGET static Vec zero() { return _mm512_setzero_pd(); }
  CVP_MATMUL_TARGET static Vec broadcast(const double* p) { return _mm512_set1_pd(*p); }
  CVP_MATMUL_TARGET static Vec load(const double* p) { return _mm512_load_pd(p); }
  CVP_MATMUL_TARGET static Vec loadu(const double* p) { return _mm512_loadu_pd(p); }
  CVP_MATMUL_TARGET static void storeu(double* p, Vec v) { _mm512_storeu_pd(p, v); }
  CVP_MATMUL_TARGET static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  CVP_MATMUL_TARGET static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  CVP_MATMUL_TARGET static void prefetch(const double* p) { __builtin_prefetch(p, 0, 3); }
  CVP_MATMUL_TARGET static void prefetch_l2(const double* p) { __builtin_prefetch(p, 0, 2); }
};

#include "matmul/blocked_kernel.h"

}  // namespace

const Kernel::Ops& avx512_ops() { return kOps; }

}  // namespace cvp::matmul
#endif

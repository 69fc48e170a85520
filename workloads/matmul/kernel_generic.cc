// The portable matmul path: 4 x 4 micro-tiles of GCC/Clang vector extensions (two doubles,
// lowered to SSE2 on x86-64 and to whatever another target has). It runs on any CPU, and is the
// one to force (CVPBENCH_KERNEL=generic) to see what the wider paths buy.
#include <cstddef>
#include <cstring>

#include "matmul/kernels.h"

namespace cvp::matmul {
namespace {

#define CVP_MATMUL_TARGET

struct Simd {
  typedef double Vec __attribute__((vector_size(16)));
  static constexpr Isa kIsa = Isa::generic;
  static constexpr const char* kName = "generic";
  static constexpr std::size_t kLanes = 2;
  static constexpr std::size_t kMr = 4;
  static constexpr std::size_t kNv = 2;
  static constexpr std::size_t kMc = 96;
  static constexpr std::size_t kKc = 256;
  static Vec zero() { return Vec{0.0, 0.0}; }
  static Vec broadcast(const double* p) { return Vec{*p, *p}; }
  static Vec loadu(const double* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static Vec load(const double* p) { return loadu(p); }
  static void storeu(double* p, Vec v) { std::memcpy(p, &v, sizeof v); }
  static Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
  static Vec add(Vec a, Vec b) { return a + b; }
  static void prefetch(const double* p) { __builtin_prefetch(p, 0, 3); }
  static void prefetch_l2(const double* p) { __builtin_prefetch(p, 0, 2); }
};

#include "matmul/blocked_kernel.h"

}  // namespace

const Kernel::Ops& generic_ops() { return kOps; }

}  // namespace cvp::matmul

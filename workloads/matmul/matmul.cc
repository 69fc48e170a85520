// Dense matrix multiply, GotoBLAS/BLIS style: B is packed in kc x nc panels, A in mc x kc blocks,
// and a register-blocked micro-kernel computes one MR x NR tile of C from an MR-row sliver of the
// packed A and an NR-column sliver of the packed B. See workloads/README.md for the design.
//
// Bit-identical results across row splits come from three rules:
//  1. k is blocked at fixed multiples of kKc from k = 0, whatever the rows or n;
//  2. every tile, full or edge, goes through the same micro-kernel: an edge tile is computed from
//     zero-padded slivers into a local MR x NR buffer and only its valid part is written back;
//  3. within a tile each C element lives in its own vector lane, so its FMA chain (k ascending,
//     starting from zero in each k block, then one add into C) never mixes with its neighbours.
#include "matmul/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace cvp::matmul {
namespace {

// --- SIMD vocabulary: one vector type and five operations per instruction set. -----------------
#if defined(__AVX512F__)
using Vec = __m512d;
constexpr std::size_t kLanes = 8;
constexpr std::size_t kMr = 8;   // rows of a micro-tile
constexpr std::size_t kNv = 3;   // vectors per micro-tile row: NR = 24; 24 accumulators of 32 zmm
inline Vec vzero() { return _mm512_setzero_pd(); }
inline Vec vbroadcast(const double* p) { return _mm512_set1_pd(*p); }
inline Vec vload_aligned(const double* p) { return _mm512_load_pd(p); }
inline Vec vloadu(const double* p) { return _mm512_loadu_pd(p); }
inline void vstoreu(double* p, Vec v) { _mm512_storeu_pd(p, v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_pd(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256d;
constexpr std::size_t kLanes = 4;
constexpr std::size_t kMr = 6;   // 6 x 8 tile: 12 accumulators of 16 ymm (BLIS haswell shape)
constexpr std::size_t kNv = 2;
inline Vec vzero() { return _mm256_setzero_pd(); }
inline Vec vbroadcast(const double* p) { return _mm256_broadcast_sd(p); }
inline Vec vload_aligned(const double* p) { return _mm256_load_pd(p); }
inline Vec vloadu(const double* p) { return _mm256_loadu_pd(p); }
inline void vstoreu(double* p, Vec v) { _mm256_storeu_pd(p, v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_pd(a, b); }
#else
// Portable fallback: GCC/Clang vector extensions, lowered to whatever the target has.
typedef double Vec __attribute__((vector_size(16)));
constexpr std::size_t kLanes = 2;
constexpr std::size_t kMr = 4;
constexpr std::size_t kNv = 2;
inline Vec vzero() { return Vec{0.0, 0.0}; }
inline Vec vbroadcast(const double* p) { return Vec{*p, *p}; }
inline Vec vloadu(const double* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Vec vload_aligned(const double* p) { return vloadu(p); }
inline void vstoreu(double* p, Vec v) { std::memcpy(p, &v, sizeof v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return a * b + c; }
inline Vec vadd(Vec a, Vec b) { return a + b; }
#endif

constexpr std::size_t kNr = kNv * kLanes;  // columns of a micro-tile

// Cache blocking. kKc is part of the numerical contract (rule 1 above): changing it changes the
// rounding of every result, but never makes results depend on the split.
// Sizes were the fastest of KC in {128..384}, MC in {48..192} on Zen 4 (1 MiB L2 per core).
constexpr std::size_t kKc = 256;   // k depth: an MR-row A sliver (kMr x kKc) stays in L1
constexpr std::size_t kMc = 96;    // rows of a packed A block (kMc x kKc), kept in L2
constexpr std::size_t kNc = 4096 / kNr * kNr;  // columns of a packed B panel (kKc x kNc), in L3
static_assert(kMc % kMr == 0 && kNc % kNr == 0, "blocks must hold whole micro-tiles");

constexpr std::size_t kAlign = 64;

// A grow-only, 64-byte aligned scratch buffer. One per thread (thread_local below), so concurrent
// calls from several threads never share packing space.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }

  double* get(std::size_t count) {
    if (count > capacity_) {
      std::free(data_);
      const std::size_t bytes = (count * sizeof(double) + kAlign - 1) / kAlign * kAlign;
      data_ = static_cast<double*>(std::aligned_alloc(kAlign, bytes));
      if (data_ == nullptr) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
      capacity_ = count;
    }
    return data_;
  }

 private:
  double* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// Packs B[pc .. pc+kc) x [jc .. jc+nc) into kNr-column slivers, each kc rows of kNr contiguous
// doubles; columns past n are zero.
void pack_b(const double* b, std::size_t n, std::size_t pc, std::size_t kc, std::size_t jc,
            std::size_t nc, double* bp) {
  for (std::size_t jr = 0; jr < nc; jr += kNr) {
    const std::size_t cols = std::min(kNr, nc - jr);
    const double* src = b + pc * n + jc + jr;
    for (std::size_t k = 0; k < kc; ++k) {
      std::memcpy(bp, src + k * n, cols * sizeof(double));
      std::fill(bp + cols, bp + kNr, 0.0);
      bp += kNr;
    }
  }
}

// Packs A[ic .. ic+mc) x [pc .. pc+kc) into kMr-row slivers, each kc columns of kMr contiguous
// doubles; rows past mc are zero.
void pack_a(const double* a, std::size_t n, std::size_t ic, std::size_t mc, std::size_t pc,
            std::size_t kc, double* ap) {
  for (std::size_t ir = 0; ir < mc; ir += kMr) {
    const std::size_t rows = std::min(kMr, mc - ir);
    for (std::size_t i = 0; i < rows; ++i) {
      const double* src = a + (ic + ir + i) * n + pc;
      for (std::size_t k = 0; k < kc; ++k) ap[k * kMr + i] = src[k];
    }
    for (std::size_t i = rows; i < kMr; ++i) {
      for (std::size_t k = 0; k < kc; ++k) ap[k * kMr + i] = 0.0;
    }
    ap += kc * kMr;
  }
}

// The micro-kernel: acc = ap (kMr x kc) * bp (kc x kNr), then c = acc, or c += acc if accumulate.
// noinline keeps a single compiled copy, so full and edge tiles share one instruction sequence.
__attribute__((noinline)) void micro_kernel(std::size_t kc, const double* __restrict ap,
                                            const double* __restrict bp, double* __restrict c,
                                            std::size_t ldc, bool accumulate) {
  Vec acc[kMr][kNv];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) acc[i][v] = vzero();
  }
  for (std::size_t k = 0; k < kc; ++k) {
    Vec bv[kNv];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) bv[v] = vload_aligned(bp + v * kLanes);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < kMr; ++i) {
      const Vec av = vbroadcast(ap + i);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < kNv; ++v) acc[i][v] = vfma(av, bv[v], acc[i][v]);
    }
    ap += kMr;
    bp += kNr;
  }
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
    double* row = c + i * ldc;
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) {
      double* p = row + v * kLanes;
      vstoreu(p, accumulate ? vadd(vloadu(p), acc[i][v]) : acc[i][v]);
    }
  }
}

// One micro-tile of C at (row, col), of rows x cols valid elements (at most kMr x kNr).
void compute_tile(std::size_t kc, const double* ap, const double* bp, double* c, std::size_t n,
                  std::size_t rows, std::size_t cols, bool accumulate) {
  if (rows == kMr && cols == kNr) {
    micro_kernel(kc, ap, bp, c, n, accumulate);
    return;
  }
  alignas(kAlign) double tile[kMr * kNr];
  micro_kernel(kc, ap, bp, tile, kNr, false);
  for (std::size_t i = 0; i < rows; ++i) {
    double* dst = c + i * n;
    const double* src = tile + i * kNr;
    for (std::size_t j = 0; j < cols; ++j) dst[j] = accumulate ? dst[j] + src[j] : src[j];
  }
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A uniform double in [-1, 1): the top 53 bits scaled to [0, 2), shifted down by one.
double to_unit_interval(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-52 - 1.0;
}

}  // namespace

Problem make_problem(std::size_t n, std::uint64_t seed) {
  Problem p;
  p.n = n;
  p.a.resize(n * n);
  p.b.resize(n * n);
  p.c.assign(n * n, 0.0);
  p.packed_b = AlignedDoubles(packed_b_size(n));
  std::uint64_t state = seed;
  for (double& x : p.a) x = to_unit_interval(splitmix64(state));
  for (double& x : p.b) x = to_unit_interval(splitmix64(state));
  return p;
}

std::size_t row_tile() { return kMr; }

std::size_t packed_b_slivers(std::size_t n) { return (n + kNr - 1) / kNr; }

std::size_t packed_b_size(std::size_t n) {
  return ((n + kKc - 1) / kKc) * packed_b_slivers(n) * kKc * kNr;
}

// Layout: block (pc / kKc, sliver) at ((pc / kKc) * slivers + sliver) * kKc * kNr, holding kc rows
// of kNr contiguous doubles; columns past n are zero. Every block starts 64-byte aligned.
void pack_b_slivers(const double* b, std::size_t n, double* packed, std::size_t sliver_begin,
                    std::size_t sliver_end) {
  const std::size_t slivers = packed_b_slivers(n);
  sliver_end = std::min(sliver_end, slivers);
  for (std::size_t pc = 0; pc < n; pc += kKc) {
    const std::size_t kc = std::min(kKc, n - pc);
    for (std::size_t s = sliver_begin; s < sliver_end; ++s) {
      pack_b(b, n, pc, kc, s * kNr, std::min(kNr, n - s * kNr),
             packed + ((pc / kKc) * slivers + s) * kKc * kNr);
    }
  }
}

void multiply_rows_packed(const double* a, const double* packed_b, double* c, std::size_t n,
                          std::size_t row_begin, std::size_t row_end) {
  if (row_begin >= row_end) return;
  const std::size_t slivers = packed_b_slivers(n);
  const std::size_t kc_max = std::min(kKc, n);
  const std::size_t mc_max = std::min(kMc, (row_end - row_begin + kMr - 1) / kMr * kMr);
  thread_local Scratch a_scratch;
  double* ap = a_scratch.get(kc_max * mc_max);

  for (std::size_t jc = 0; jc < n; jc += kNc) {
    const std::size_t nc = std::min(kNc, n - jc);
    for (std::size_t pc = 0; pc < n; pc += kKc) {
      const std::size_t kc = std::min(kKc, n - pc);
      const bool accumulate = pc != 0;
      const double* block = packed_b + (pc / kKc) * slivers * kKc * kNr;
      for (std::size_t ic = row_begin; ic < row_end; ic += kMc) {
        const std::size_t mc = std::min(kMc, row_end - ic);
        pack_a(a, n, ic, mc, pc, kc, ap);
        for (std::size_t jr = 0; jr < nc; jr += kNr) {
          const std::size_t cols = std::min(kNr, nc - jr);
          const double* b_sliver = block + ((jc + jr) / kNr) * kKc * kNr;
          for (std::size_t ir = 0; ir < mc; ir += kMr) {
            const std::size_t rows = std::min(kMr, mc - ir);
            compute_tile(kc, ap + ir * kc, b_sliver, c + (ic + ir) * n + jc + jr, n, rows, cols,
                         accumulate);
          }
        }
      }
    }
  }
}

void multiply_rows(const double* a, const double* b, double* c, std::size_t n,
                   std::size_t row_begin, std::size_t row_end) {
  if (row_begin >= row_end) return;
  thread_local Scratch b_scratch;
  double* packed = b_scratch.get(packed_b_size(n));
  pack_b_slivers(b, n, packed, 0, packed_b_slivers(n));
  multiply_rows_packed(a, packed, c, n, row_begin, row_end);
}

AlignedDoubles::AlignedDoubles(std::size_t count) : size_(count) {
  if (count == 0) return;
  const std::size_t bytes = (count * sizeof(double) + kAlign - 1) / kAlign * kAlign;
  data_ = static_cast<double*>(std::aligned_alloc(kAlign, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
}

AlignedDoubles::~AlignedDoubles() { std::free(data_); }

AlignedDoubles::AlignedDoubles(AlignedDoubles&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

AlignedDoubles& AlignedDoubles::operator=(AlignedDoubles&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void multiply(const double* a, const double* b, double* c, std::size_t n) {
  multiply_rows(a, b, c, n, 0, n);
}

void multiply_naive(const double* a, const double* b, double* c, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::size_t k = 0; k < n; ++k) sum += a[i * n + k] * b[k * n + j];
      c[i * n + j] = sum;
    }
  }
}

double flops(std::size_t n) {
  const auto d = static_cast<double>(n);
  return 2.0 * d * d * d;
}

double checksum(const double* c, std::size_t n) {
  // A plain sum misses swapped elements; the position weights (1..13) catch those too.
  double sum = 0.0;
  double weighted = 0.0;
  const std::size_t count = n * n;
  for (std::size_t idx = 0; idx < count; ++idx) {
    sum += c[idx];
    weighted += c[idx] * static_cast<double>(idx % 13 + 1);
  }
  return sum + weighted;
}

}  // namespace cvp::matmul

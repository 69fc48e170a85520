// Dense double-precision matrix multiply, C = A x B, all n x n and row-major; and the
// rectangular C += A x B of any shape that a distributed product adds up panel by panel.
//
// The kernel is a pure function over a range of rows of C: no threads, no clocks. Every mode and
// backend of cvpbench computes C by splitting [0, n) into row ranges and calling multiply_rows on
// each, so they all run the same algorithm and must produce bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cvp/isa.h"

namespace cvp::matmul {

// 64-byte aligned storage for doubles (the packed layout loads whole cache lines).
class AlignedDoubles {
 public:
  explicit AlignedDoubles(std::size_t count = 0);
  ~AlignedDoubles();
  AlignedDoubles(AlignedDoubles&& other) noexcept;
  AlignedDoubles& operator=(AlignedDoubles&& other) noexcept;
  AlignedDoubles(const AlignedDoubles&) = delete;
  AlignedDoubles& operator=(const AlignedDoubles&) = delete;

  double* data() { return data_; }
  const double* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  double* data_ = nullptr;
  std::size_t size_ = 0;
};

// Inputs and output of one problem; allocation and input generation are setup, never timed.
struct Problem {
  std::size_t n = 0;
  std::vector<double> a;  // n*n, row-major
  std::vector<double> b;  // n*n, row-major
  std::vector<double> c;  // n*n, row-major, the output
  AlignedDoubles packed_b;  // packed_b_size(n): room for B in the kernel's packed layout
};

// Deterministic pseudo-random inputs in [-1, 1) from `seed`; c is zero-filled.
// REQUIRES: n > 0.
Problem make_problem(std::size_t n, std::uint64_t seed = 42);

// Computes rows [row_begin, row_end) of C = A x B into c (overwriting them).
// Reads all of b and rows [row_begin, row_end) of a; writes only those rows of c, so disjoint
// row ranges may run concurrently. Results do not depend on how [0, n) is split into ranges.
// REQUIRES: row_begin <= row_end <= n; a, b, c each hold n*n doubles; c does not alias a or b.
void multiply_rows(const double* a, const double* b, double* c, std::size_t n,
                   std::size_t row_begin, std::size_t row_end);

// The product in two phases, so that B is packed once per product and not once per row range:
//   1. pack_b_slivers over [0, packed_b_slivers(n)), split into any sub-ranges (disjoint ranges
//      may run concurrently), into `packed` of packed_b_size(n) doubles, 64-byte aligned;
//   2. multiply_rows_packed over row ranges, reading `packed`.
// The result is bit-identical to multiply_rows (which does both phases for its own rows).
std::size_t packed_b_slivers(std::size_t n);
std::size_t packed_b_size(std::size_t n);
void pack_b_slivers(const double* b, std::size_t n, double* packed, std::size_t sliver_begin,
                    std::size_t sliver_end);
void multiply_rows_packed(const double* a, const double* packed_b, double* c, std::size_t n,
                          std::size_t row_begin, std::size_t row_end);

// Rows of the kernel's register tile: row ranges that are multiples of it waste no work on
// padding (8 on the AVX-512 path, 4 on the others).
std::size_t row_tile();

// The rectangular product that accumulates, C += A x B: one panel step of a product distributed
// over a process grid (SUMMA), where each step adds an m x k panel of A times a k x n panel of B
// into an m x n block of C. All row-major; lda, ldb, ldc are the distances between consecutive
// rows (so a block of a larger matrix can be passed in place).
//
// Every k block (the kernel's k depth, from the panel's first column of A) is added into C in
// ascending order, so that:
//  - the result is bit-identical whatever the split of [0, m) into row ranges (within one path);
//  - into a C of zeros, it is bit-identical to multiply (for m = n = k), up to the sign of zeros;
//  - for k no deeper than one k block (256), two calls give exactly C + A1 x B1 + A2 x B2 as two
//    separate products added in that order would; deeper, and a product split into panels of k
//    (as SUMMA does), it agrees with one product within rounding, not bit for bit.
// Only C's m x n elements are written; the padding between rows (ldc > n) is never touched.
// m, n or k of 0 changes nothing.
// REQUIRES: lda >= k, ldb >= n, ldc >= n; a holds (m - 1) * lda + k doubles, b (k - 1) * ldb + n,
// c (m - 1) * ldc + n; c overlaps neither a nor b.
void multiply_add(std::size_t m, std::size_t n, std::size_t k, const double* a, std::size_t lda,
                  const double* b, std::size_t ldb, double* c, std::size_t ldc);

// C += A x B in two phases, so that a team packs the B panel once and splits the rows of C:
//   1. pack_b_slivers over [0, packed_b_slivers(n)), split into any sub-ranges (disjoint ranges
//      may run concurrently), into `packed` of packed_b_size(k, n) doubles, 64-byte aligned;
//   2. multiply_add_rows_packed over row ranges of C, reading `packed`: rows [row_begin, row_end)
//      of A and C, writing only those rows of C, so disjoint ranges may run concurrently.
// The result is bit-identical to multiply_add, whatever the splits.
// REQUIRES: as multiply_add, and row_begin <= row_end <= m.
std::size_t packed_b_size(std::size_t k, std::size_t n);
void pack_b_slivers(const double* b, std::size_t k, std::size_t n, std::size_t ldb,
                    double* packed, std::size_t sliver_begin, std::size_t sliver_end);
void multiply_add_rows_packed(std::size_t n, std::size_t k, const double* a, std::size_t lda,
                              const double* packed_b, double* c, std::size_t ldc,
                              std::size_t row_begin, std::size_t row_end);

// One instruction set's micro-kernel with the packed layout it reads (kernels.h). The free
// functions above and below run Kernel::chosen(); a Kernel runs its own path, so tests and
// comparisons can run every path this CPU supports in one process. Results are bit-identical
// across splits within one path; different paths round differently (FMA against separate
// multiply and add, other register tiles), so never mix the paths of one product.
class Kernel {
 public:
  struct Ops;  // the compiled path: defined in kernels.h
  explicit Kernel(const Ops& ops) : ops_(&ops) {}

  // The kernel of `isa`. Throws std::invalid_argument when this CPU lacks it.
  static const Kernel& of(Isa isa);
  // The kernel of cvp::chosen_isa(): the widest this CPU supports, or CVPBENCH_KERNEL's.
  static const Kernel& chosen();

  Isa isa() const;
  const char* name() const;  // "avx512", "avx2-fma", "generic"
  std::size_t row_tile() const;
  std::size_t packed_b_slivers(std::size_t n) const;
  std::size_t packed_b_size(std::size_t n) const;
  void pack_b_slivers(const double* b, std::size_t n, double* packed, std::size_t sliver_begin,
                      std::size_t sliver_end) const;
  void multiply_rows_packed(const double* a, const double* packed_b, double* c, std::size_t n,
                            std::size_t row_begin, std::size_t row_end) const;
  void multiply_rows(const double* a, const double* b, double* c, std::size_t n,
                     std::size_t row_begin, std::size_t row_end) const;
  void multiply(const double* a, const double* b, double* c, std::size_t n) const;
  // The rectangular C += A x B (see the free functions above) on this path.
  std::size_t packed_b_size(std::size_t k, std::size_t n) const;
  void pack_b_slivers(const double* b, std::size_t k, std::size_t n, std::size_t ldb,
                      double* packed, std::size_t sliver_begin, std::size_t sliver_end) const;
  void multiply_add_rows_packed(std::size_t n, std::size_t k, const double* a, std::size_t lda,
                                const double* packed_b, double* c, std::size_t ldc,
                                std::size_t row_begin, std::size_t row_end) const;
  void multiply_add(std::size_t m, std::size_t n, std::size_t k, const double* a, std::size_t lda,
                    const double* b, std::size_t ldb, double* c, std::size_t ldc) const;

 private:
  const Ops* ops_;
};

// Whole product, one call over all rows.
void multiply(const double* a, const double* b, double* c, std::size_t n);

// Textbook triple loop; the reference the tests check multiply_rows against.
void multiply_naive(const double* a, const double* b, double* c, std::size_t n);

// Textbook C += A x B, the reference for multiply_add (same shapes and leading dimensions): each
// element's products are summed from zero over k ascending, then added to C.
void multiply_add_naive(std::size_t m, std::size_t n, std::size_t k, const double* a,
                        std::size_t lda, const double* b, std::size_t ldb, double* c,
                        std::size_t ldc);

// Floating-point operations of one n x n product: 2 n^3.
double flops(std::size_t n);
// Of one m x k by k x n product: 2 m n k.
double flops(std::size_t m, std::size_t n, std::size_t k);

// Order-independent checksum of c, used to compare a run with the serial answer.
double checksum(const double* c, std::size_t n);

}  // namespace cvp::matmul

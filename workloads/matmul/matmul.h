// Dense double-precision matrix multiply, C = A x B, all n x n and row-major.
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

 private:
  const Ops* ops_;
};

// Whole product, one call over all rows.
void multiply(const double* a, const double* b, double* c, std::size_t n);

// Textbook triple loop; the reference the tests check multiply_rows against.
void multiply_naive(const double* a, const double* b, double* c, std::size_t n);

// Floating-point operations of one n x n product: 2 n^3.
double flops(std::size_t n);

// Order-independent checksum of c, used to compare a run with the serial answer.
double checksum(const double* c, std::size_t n);

}  // namespace cvp::matmul

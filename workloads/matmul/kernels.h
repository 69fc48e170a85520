// The matmul kernel's compiled paths, one per instruction set, and what they share. Internal to
// workloads/matmul: matmul.cc dispatches to these, kernel_generic.cc, kernel_avx2.cc and
// kernel_avx512.cc define them by including blocked_kernel.h.
#pragma once

#include <cstddef>

#include "matmul/matmul.h"

namespace cvp::matmul {

inline constexpr std::size_t kAlign = 64;

struct Kernel::Ops {
  Isa isa;
  const char* name;
  std::size_t mr;  // rows of a micro-tile
  std::size_t nr;  // columns of a micro-tile: the width of a packed B sliver
  // k depth of a block. Part of the numerical contract (rule 1 of blocked_kernel.h): changing it
  // changes the rounding of every result, never whether results depend on the split.
  std::size_t kc;
  void (*pack_b_slivers)(const double* b, std::size_t n, double* packed, std::size_t sliver_begin,
                         std::size_t sliver_end);
  void (*multiply_rows_packed)(const double* a, const double* packed_b, double* c, std::size_t n,
                               std::size_t row_begin, std::size_t row_end);
  // The rectangular C += A x B: a k x n panel of B (rows ldb apart) packed in the layout above,
  // then rows of C (m x n, rows ldc apart) from A (m x k, rows lda apart) and the packed panel.
  void (*pack_b_panel)(const double* b, std::size_t k, std::size_t n, std::size_t ldb,
                       double* packed, std::size_t sliver_begin, std::size_t sliver_end);
  void (*multiply_add_rows_packed)(std::size_t n, std::size_t k, const double* a, std::size_t lda,
                                   const double* packed_b, double* c, std::size_t ldc,
                                   std::size_t row_begin, std::size_t row_end);
};

// A grow-only, 64-byte aligned scratch buffer. One per thread and use (thread_local), so
// concurrent calls from several threads never share packing space.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  double* get(std::size_t count);  // throws std::bad_alloc

 private:
  double* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// The calling thread's buffer for packed A blocks (shared by the paths: one runs at a time).
Scratch& a_scratch();

const Kernel::Ops& generic_ops();
#if defined(__x86_64__) || defined(__i386__)
const Kernel::Ops& avx2_ops();
const Kernel::Ops& avx512_ops();
#endif

}  // namespace cvp::matmul

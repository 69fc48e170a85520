// Dense matrix multiply, GotoBLAS/BLIS style: B is packed in kc x nc panels, A in mc x kc blocks,
// and a register-blocked micro-kernel computes one MR x NR tile of C from an MR-row sliver of the
// packed A and an NR-column sliver of the packed B. See workloads/matmul/README.md.
//
// This file is the body of one path, included by each kernel_<isa>.cc inside an anonymous
// namespace after that file has defined:
//   CVP_MATMUL_TARGET  the function attribute of its instruction set (empty for generic);
//   struct Simd        Vec, kLanes, kMr, kNv, kMc, kKc and the vector operations (zero, broadcast,
//                      load, loadu, storeu, fma, add, prefetch), each marked CVP_MATMUL_TARGET.
// Every function here carries the attribute and has internal linkage, so the compiler may use
// the wider instructions only in this path's own functions: no inline function shared with
// other files (std::min, std::fill...) is ever compiled for an instruction set the CPU may lack.
//
// Bit-identical results across row splits come from three rules:
//  1. k is blocked at fixed multiples of kKc from k = 0, whatever the rows or n;
//  2. every tile, full or edge, goes through the same micro-kernel: an edge tile is computed from
//     zero-padded slivers into a local MR x NR buffer and only its valid part is written back;
//  3. within a tile each C element lives in its own vector lane, so its FMA chain (k ascending,
//     starting from zero in each k block, then one add into C) never mixes with its neighbours.
// The rectangular C += A x B (multiply_add_rows_packed) is the same loops over an m x k A, a k x n
// B panel and an m x n C with their own leading dimensions; it adds every k block into C, the
// first one included, where the square C = A x B stores the first.

constexpr std::size_t kLanes = Simd::kLanes;
constexpr std::size_t kMr = Simd::kMr;
constexpr std::size_t kNv = Simd::kNv;
constexpr std::size_t kNr = kNv * kLanes;
constexpr std::size_t kMc = Simd::kMc;
constexpr std::size_t kKc = Simd::kKc;  // part of the numerical contract: see rule 1
constexpr std::size_t kNc = 4096 / kNr * kNr;  // columns of a packed B panel (kKc x kNc), in L3
static_assert(kMc % kMr == 0 && kNc % kNr == 0, "blocks must hold whole micro-tiles");

CVP_MATMUL_TARGET inline std::size_t smaller(std::size_t x, std::size_t y) { return x < y ? x : y; }

// Copies row k of B's slivers [sliver_begin, sliver_end) into their packed blocks (kc rows of kNr
// contiguous doubles each, kKc * kNr apart); columns past n are zero. Row by row, so the reads
// run along B's rows: sliver by sliver they would jump a page every row.
CVP_MATMUL_TARGET void pack_b_row(const double* __restrict row, std::size_t n,
                                  std::size_t sliver_begin, std::size_t sliver_end,
                                  double* __restrict dst) {
  for (std::size_t s = sliver_begin; s < sliver_end; ++s, dst += kKc * kNr) {
    const double* src = row + s * kNr;
    if ((s + 1) * kNr <= n) {
#pragma GCC unroll 24
      for (std::size_t j = 0; j < kNr; ++j) dst[j] = src[j];
      continue;
    }
    const std::size_t cols = n - s * kNr;
    for (std::size_t j = 0; j < kNr; ++j) dst[j] = j < cols ? src[j] : 0.0;
  }
}

// Packs A[ic .. ic+mc) x [pc .. pc+kc) (rows lda apart) into kMr-row slivers, each kc columns of
// kMr contiguous doubles; rows past mc are zero.
CVP_MATMUL_TARGET void pack_a(const double* a, std::size_t lda, std::size_t ic, std::size_t mc,
                              std::size_t pc, std::size_t kc, double* __restrict ap) {
  for (std::size_t ir = 0; ir < mc; ir += kMr) {
    const std::size_t rows = smaller(kMr, mc - ir);
    for (std::size_t i = 0; i < rows; ++i) {
      const double* src = a + (ic + ir + i) * lda + pc;
      for (std::size_t k = 0; k < kc; ++k) ap[k * kMr + i] = src[k];
    }
    for (std::size_t i = rows; i < kMr; ++i) {
      for (std::size_t k = 0; k < kc; ++k) ap[k * kMr + i] = 0.0;
    }
    ap += kc * kMr;
  }
}

// One step of k: the tile's accumulators += one A column (kMr broadcasts) x one B row.
CVP_MATMUL_TARGET inline void rank1(typename Simd::Vec (&acc)[kMr][kNv], const double* ap,
                                    const double* bp) {
  typename Simd::Vec bv[kNv];
#pragma GCC unroll 4
  for (std::size_t v = 0; v < kNv; ++v) bv[v] = Simd::load(bp + v * kLanes);
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
    const typename Simd::Vec av = Simd::broadcast(ap + i);
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) acc[i][v] = Simd::fma(av, bv[v], acc[i][v]);
  }
}

// The micro-kernel: acc = ap (kMr x kc) * bp (kc x kNr), then c = acc, or c += acc if accumulate.
// noinline keeps a single compiled copy, so full and edge tiles share one instruction sequence.
CVP_MATMUL_TARGET __attribute__((noinline)) void micro_kernel(
    std::size_t kc, const double* __restrict ap, const double* __restrict bp,
    double* __restrict c, std::size_t ldc, bool accumulate) {
  typename Simd::Vec acc[kMr][kNv];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) acc[i][v] = Simd::zero();
  }
  // The tile of C is written at the end: start bringing in every line of it now.
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (std::size_t j = 0; j < kNr; j += 8) Simd::prefetch(c + i * ldc + j);
    Simd::prefetch(c + i * ldc + kNr - 1);
  }
  std::size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    Simd::prefetch(ap + 16 * kMr);
    rank1(acc, ap, bp);
    rank1(acc, ap + kMr, bp + kNr);
    rank1(acc, ap + 2 * kMr, bp + 2 * kNr);
    rank1(acc, ap + 3 * kMr, bp + 3 * kNr);
    ap += 4 * kMr;
    bp += 4 * kNr;
  }
  for (; k < kc; ++k) {
    rank1(acc, ap, bp);
    ap += kMr;
    bp += kNr;
  }
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kMr; ++i) {
    double* row = c + i * ldc;
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kNv; ++v) {
      double* p = row + v * kLanes;
      Simd::storeu(p, accumulate ? Simd::add(Simd::loadu(p), acc[i][v]) : acc[i][v]);
    }
  }
}

// One micro-tile of C at c (rows ldc apart), of rows x cols valid elements (at most kMr x kNr).
// Only those are written: an edge tile never touches C past its last row or column.
CVP_MATMUL_TARGET void compute_tile(std::size_t kc, const double* ap, const double* bp, double* c,
                                    std::size_t ldc, std::size_t rows, std::size_t cols,
                                    bool accumulate) {
  if (rows == kMr && cols == kNr) {
    micro_kernel(kc, ap, bp, c, ldc, accumulate);
    return;
  }
  alignas(kAlign) double tile[kMr * kNr];
  micro_kernel(kc, ap, bp, tile, kNr, false);
  for (std::size_t i = 0; i < rows; ++i) {
    double* dst = c + i * ldc;
    const double* src = tile + i * kNr;
    for (std::size_t j = 0; j < cols; ++j) dst[j] = accumulate ? dst[j] + src[j] : src[j];
  }
}

CVP_MATMUL_TARGET std::size_t slivers_of(std::size_t n) { return (n + kNr - 1) / kNr; }

// Layout of a packed k x n panel of B: block (pc / kKc, sliver) at
// ((pc / kKc) * slivers + sliver) * kKc * kNr, holding kc rows of kNr contiguous doubles; columns
// past n are zero. Every block starts 64-byte aligned. B's rows are ldb apart.
CVP_MATMUL_TARGET void pack_b_panel(const double* b, std::size_t k, std::size_t n,
                                    std::size_t ldb, double* packed, std::size_t sliver_begin,
                                    std::size_t sliver_end) {
  const std::size_t slivers = slivers_of(n);
  sliver_end = smaller(sliver_end, slivers);
  if (sliver_begin >= sliver_end) return;
  for (std::size_t pc = 0; pc < k; pc += kKc) {
    const std::size_t kc = smaller(kKc, k - pc);
    double* block = packed + ((pc / kKc) * slivers + sliver_begin) * kKc * kNr;
    for (std::size_t kk = 0; kk < kc; ++kk) {
      pack_b_row(b + (pc + kk) * ldb, n, sliver_begin, sliver_end, block + kk * kNr);
    }
  }
}

// The square n x n B.
CVP_MATMUL_TARGET void pack_b_slivers(const double* b, std::size_t n, double* packed,
                                      std::size_t sliver_begin, std::size_t sliver_end) {
  pack_b_panel(b, n, n, n, packed, sliver_begin, sliver_end);
}

// Rows [ic, ic + mc) of C (rows ldc apart) against the k block at pc, for the columns
// [jc, jc + nc).
CVP_MATMUL_TARGET void multiply_block(const double* ap, const double* b_block, double* c,
                                      std::size_t ldc, std::size_t ic, std::size_t mc,
                                      std::size_t jc, std::size_t nc, std::size_t kc,
                                      bool accumulate) {
  // The next B sliver is prefetched into L2 a slice per tile, so that its first tile does not
  // wait on L3 (the packed B of a k block is larger than L2 from n = 512 on).
  constexpr std::size_t kLine = 64 / sizeof(double);
  const std::size_t tiles = (mc + kMr - 1) / kMr;
  const std::size_t lines = kc * kNr / kLine;
  const std::size_t lines_per_tile = (lines + tiles - 1) / tiles;
  for (std::size_t jr = 0; jr < nc; jr += kNr) {
    const std::size_t cols = smaller(kNr, nc - jr);
    const double* b_sliver = b_block + ((jc + jr) / kNr) * kKc * kNr;
    const double* next = jr + kNr < nc ? b_sliver + kKc * kNr : nullptr;
    for (std::size_t ir = 0, tile = 0; ir < mc; ir += kMr, ++tile) {
      if (next != nullptr) {
        const std::size_t first = tile * lines_per_tile;
        const std::size_t last = smaller(lines, first + lines_per_tile);
        for (std::size_t l = first; l < last; ++l) Simd::prefetch_l2(next + l * kLine);
      }
      compute_tile(kc, ap + ir * kc, b_sliver, c + (ic + ir) * ldc + jc + jr, ldc,
                   smaller(kMr, mc - ir), cols, accumulate);
    }
  }
}

// Rows [row_begin, row_end) of C (m x n, rows ldc apart) against A (m x k, rows lda apart) and
// a packed k x n panel of B: C = A x B when add_to_c is false, C += A x B when it is true. Each
// element's k blocks are added into C in ascending order (the first one stored instead when
// add_to_c is false), so the result depends on neither the row range nor the tile a row is in.
CVP_MATMUL_TARGET void multiply_panel_rows(std::size_t n, std::size_t k, const double* a,
                                           std::size_t lda, const double* packed_b, double* c,
                                           std::size_t ldc, std::size_t row_begin,
                                           std::size_t row_end, bool add_to_c) {
  if (row_begin >= row_end || n == 0 || k == 0) return;
  const std::size_t slivers = slivers_of(n);
  const std::size_t kc_max = smaller(kKc, k);
  const std::size_t mc_max = smaller(kMc, (row_end - row_begin + kMr - 1) / kMr * kMr);
  double* ap = a_scratch().get(kc_max * mc_max);
  for (std::size_t jc = 0; jc < n; jc += kNc) {
    const std::size_t nc = smaller(kNc, n - jc);
    for (std::size_t pc = 0; pc < k; pc += kKc) {
      const std::size_t kc = smaller(kKc, k - pc);
      const double* block = packed_b + (pc / kKc) * slivers * kKc * kNr;
      for (std::size_t ic = row_begin; ic < row_end; ic += kMc) {
        const std::size_t mc = smaller(kMc, row_end - ic);
        pack_a(a, lda, ic, mc, pc, kc, ap);
        multiply_block(ap, block, c, ldc, ic, mc, jc, nc, kc, add_to_c || pc != 0);
      }
    }
  }
}

// The square product, C = A x B, all n x n.
CVP_MATMUL_TARGET void multiply_rows_packed(const double* a, const double* packed_b, double* c,
                                            std::size_t n, std::size_t row_begin,
                                            std::size_t row_end) {
  multiply_panel_rows(n, n, a, n, packed_b, c, n, row_begin, row_end, false);
}

// C += A x B, C m x n, A m x k, B a packed k x n panel.
CVP_MATMUL_TARGET void multiply_add_rows_packed(std::size_t n, std::size_t k, const double* a,
                                                std::size_t lda, const double* packed_b,
                                                double* c, std::size_t ldc,
                                                std::size_t row_begin, std::size_t row_end) {
  multiply_panel_rows(n, k, a, lda, packed_b, c, ldc, row_begin, row_end, true);
}

const Kernel::Ops kOps{Simd::kIsa,           Simd::kName,   kMr, kNr, kKc, &pack_b_slivers,
                       &multiply_rows_packed, &pack_b_panel, &multiply_add_rows_packed};

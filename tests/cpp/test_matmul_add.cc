// The rectangular C += A x B of the matmul kernel (multiply_add and its two phases), on every path
// this CPU runs: right against the textbook loop on shapes that fit no tile, with leading
// dimensions wider than the rows; bit-identical across row splits; accumulating; and a product
// added up panel by panel over k (as a distributed SUMMA step does) agreeing with one product.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cvp/isa.h"
#include "matmul/matmul.h"

// Inside a named namespace: the sanitizer builds compile this file in one unit with the other
// matmul tests, whose helpers (some of the same names) sit in the global anonymous namespace.
namespace matmul_add_test {
namespace {

using cvp::Isa;
using cvp::matmul::Kernel;

// A value no product here makes, written into the padding between rows of C to see that it stays.
constexpr double kPadding = -12345.5;

// One row-major m x cols matrix with rows `ld` apart, stored in exactly (rows - 1) * ld + cols
// doubles, so a write past its last element is outside the allocation (and the sanitizers see it).
struct Matrix {
  std::size_t rows = 0, cols = 0, ld = 0;
  std::vector<double> v;
  double& at(std::size_t i, std::size_t j) { return v[i * ld + j]; }
  double at(std::size_t i, std::size_t j) const { return v[i * ld + j]; }
  double* data() { return v.data(); }
  const double* data() const { return v.data(); }
};

// Values in [-1, 1) from `seed`; the padding between rows holds kPadding.
Matrix random_matrix(std::size_t rows, std::size_t cols, std::size_t ld, std::uint64_t seed) {
  Matrix m{rows, cols, ld, std::vector<double>(rows == 0 ? 0 : (rows - 1) * ld + cols, kPadding)};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) m.at(i, j) = unit(rng);
  }
  return m;
}

Matrix zero_matrix(std::size_t rows, std::size_t cols, std::size_t ld) {
  Matrix m = random_matrix(rows, cols, ld, 0);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) m.at(i, j) = 0.0;
  }
  return m;
}

bool same_bits(const Matrix& x, const Matrix& y) {
  return x.v.size() == y.v.size() &&
         std::memcmp(x.v.data(), y.v.data(), x.v.size() * sizeof(double)) == 0;
}

// Elements of the padding between C's rows that no longer hold kPadding.
std::size_t padding_touched(const Matrix& c) {
  std::size_t touched = 0;
  for (std::size_t i = 0; i + 1 < c.rows; ++i) {
    for (std::size_t j = c.cols; j < c.ld; ++j) touched += c.at(i, j) == kPadding ? 0 : 1;
  }
  return touched;
}

// Sum over k of |a_ip| |b_pj| plus |c_ij|: what the rounding error of element (i, j) scales with.
Matrix magnitudes(const Matrix& a, const Matrix& b, const Matrix& c) {
  Matrix mag = zero_matrix(c.rows, c.cols, c.cols);
  for (std::size_t i = 0; i < c.rows; ++i) {
    for (std::size_t j = 0; j < c.cols; ++j) {
      double sum = std::abs(c.at(i, j));
      for (std::size_t p = 0; p < a.cols; ++p) sum += std::abs(a.at(i, p)) * std::abs(b.at(p, j));
      mag.at(i, j) = sum;
    }
  }
  return mag;
}

struct Shape {
  std::size_t m, n, k;
};

const char* lacks(Isa isa) { return isa == Isa::avx512 ? "AVX-512F" : "AVX2 and FMA"; }

class MatmulAdd : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!cvp::cpu_supports(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << lacks(GetParam()) << ", so the "
                   << cvp::to_string(GetParam()) << " path cannot run here";
    }
  }
  const Kernel& kernel() const { return Kernel::of(GetParam()); }
  std::string path() const { return cvp::to_string(GetParam()); }

  // C += A x B through the two phases: B packed in `pack_parts` pieces of its slivers, then C's
  // rows in the ranges ending at each of `cuts`.
  void add_in_phases(const Matrix& a, const Matrix& b, Matrix& c,
                     const std::vector<std::size_t>& cuts, std::size_t pack_parts) const {
    const Kernel& k = kernel();
    const std::size_t n = c.cols, depth = a.cols;
    cvp::matmul::AlignedDoubles packed(k.packed_b_size(depth, n));
    const std::size_t slivers = k.packed_b_slivers(n);
    for (std::size_t part = 0; part < pack_parts; ++part) {
      k.pack_b_slivers(b.data(), depth, n, b.ld, packed.data(), part * slivers / pack_parts,
                       (part + 1) * slivers / pack_parts);
    }
    std::size_t begin = 0;
    for (const std::size_t end : cuts) {
      k.multiply_add_rows_packed(n, depth, a.data(), a.ld, packed.data(), c.data(), c.ld, begin,
                                 end);
      begin = end;
    }
  }
};

TEST_P(MatmulAdd, MatchesNaiveOnShapesThatFitNoTile) {
  // Odd sizes on every side of the tiles (4, 8, 12, 24), the A blocks (96, 192) and the k block
  // (256), with every leading dimension wider than its rows.
  const std::vector<Shape> shapes = {{1, 1, 1},     {7, 13, 5},    {67, 129, 33}, {1, 50, 300},
                                     {50, 1, 257},  {9, 25, 1},    {97, 49, 256}, {193, 23, 513},
                                     {13, 200, 64}, {25, 97, 129}};
  for (const Shape& s : shapes) {
    const Matrix a = random_matrix(s.m, s.k, s.k + 3, 1 + s.m);
    const Matrix b = random_matrix(s.k, s.n, s.n + 5, 2 + s.n);
    Matrix c = random_matrix(s.m, s.n, s.n + 7, 3 + s.k);
    Matrix want = c;
    cvp::matmul::multiply_add_naive(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, want.data(),
                                    want.ld);
    kernel().multiply_add(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, c.data(), c.ld);
    const double tolerance = 1e-12 * static_cast<double>(s.k + 1);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j) {
        if (std::abs(c.at(i, j) - want.at(i, j)) <= tolerance) continue;
        if (++bad <= 3) {
          ADD_FAILURE() << path() << " path, " << s.m << "x" << s.n << "x" << s.k << ": C[" << i
                        << "][" << j << "] = " << c.at(i, j) << ", naive gives " << want.at(i, j);
        }
      }
    }
    EXPECT_EQ(bad, 0u) << path() << " path, " << s.m << "x" << s.n << "x" << s.k;
    EXPECT_EQ(padding_touched(c), 0u) << path() << " path, " << s.m << "x" << s.n << "x" << s.k;
  }
}

TEST_P(MatmulAdd, RowSplitsAreBitIdenticalWithinThePath) {
  // k of 300 crosses a k block, so C is added into twice per element.
  const Shape s{150, 77, 300};
  const Matrix a = random_matrix(s.m, s.k, s.k + 1, 11);
  const Matrix b = random_matrix(s.k, s.n, s.n + 2, 12);
  const Matrix c0 = random_matrix(s.m, s.n, s.n + 3, 13);
  Matrix whole = c0;
  kernel().multiply_add(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, whole.data(), whole.ld);

  std::vector<std::vector<std::size_t>> splits;
  std::vector<std::size_t> rows(s.m);
  for (std::size_t i = 0; i < s.m; ++i) rows[i] = i + 1;
  splits.push_back(rows);              // every row alone
  splits.push_back({1, 2, 75, s.m});  // uneven, across tiles
  std::mt19937_64 rng(s.m);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = 0; at < s.m;) {
      at = std::min(s.m, at + 1 + static_cast<std::size_t>(rng() % 60));
      cuts.push_back(at);
    }
    splits.push_back(cuts);
  }
  for (std::size_t t = 0; t < splits.size(); ++t) {
    Matrix c = c0;
    add_in_phases(a, b, c, splits[t], 1 + t % 3);
    EXPECT_TRUE(same_bits(c, whole)) << path() << " path, split " << t << " of "
                                     << splits[t].size() << " row ranges";
  }

  // Disjoint ranges on concurrent threads, one packed panel shared.
  Matrix c = c0;
  const Kernel& k = kernel();
  cvp::matmul::AlignedDoubles packed(k.packed_b_size(s.k, s.n));
  k.pack_b_slivers(b.data(), s.k, s.n, b.ld, packed.data(), 0, k.packed_b_slivers(s.n));
  std::vector<std::thread> team;
  for (const std::size_t begin : {std::size_t{0}, std::size_t{37}, std::size_t{101}}) {
    const std::size_t end = begin == 0 ? 37 : begin == 37 ? 101 : s.m;
    team.emplace_back([&, begin, end] {
      k.multiply_add_rows_packed(s.n, s.k, a.data(), a.ld, packed.data(), c.data(), c.ld, begin,
                                 end);
    });
  }
  for (std::thread& t : team) t.join();
  EXPECT_TRUE(same_bits(c, whole)) << path() << " path, three concurrent threads";
}

TEST_P(MatmulAdd, IntoZerosIsTheSquareProduct) {
  // Adding the first k block into zeros gives that block's value, so from a C of zeros the
  // accumulating product equals multiply, up to the sign of a zero (compared with ==).
  for (const std::size_t n : {1u, 31u, 97u, 257u}) {
    const cvp::matmul::Problem p = cvp::matmul::make_problem(n, 19);
    std::vector<double> square(n * n, std::nan("")), added(n * n, 0.0);
    kernel().multiply(p.a.data(), p.b.data(), square.data(), n);
    kernel().multiply_add(n, n, n, p.a.data(), n, p.b.data(), n, added.data(), n);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < n * n; ++i) differ += added[i] == square[i] ? 0 : 1;
    EXPECT_EQ(differ, 0u) << path() << " path, n = " << n;
  }
}

TEST_P(MatmulAdd, AccumulatingTwiceAddsTwoProducts) {
  // Within one k block (k <= 256) each call adds its product to C in one rounding, so two calls
  // equal C + P1 + P2 exactly; deeper, each k block is added on its own, so only within rounding.
  for (const std::size_t depth : {100u, 600u}) {
    const Shape s{45, 70, depth};
    const Matrix a1 = random_matrix(s.m, s.k, s.k + 4, 21), a2 = random_matrix(s.m, s.k, s.k, 22);
    const Matrix b1 = random_matrix(s.k, s.n, s.n, 23), b2 = random_matrix(s.k, s.n, s.n + 1, 24);
    const Matrix c0 = random_matrix(s.m, s.n, s.n + 2, 25);
    Matrix c = c0;
    kernel().multiply_add(s.m, s.n, s.k, a1.data(), a1.ld, b1.data(), b1.ld, c.data(), c.ld);
    kernel().multiply_add(s.m, s.n, s.k, a2.data(), a2.ld, b2.data(), b2.ld, c.data(), c.ld);

    Matrix p1 = zero_matrix(s.m, s.n, s.n), p2 = zero_matrix(s.m, s.n, s.n);
    kernel().multiply_add(s.m, s.n, s.k, a1.data(), a1.ld, b1.data(), b1.ld, p1.data(), p1.ld);
    kernel().multiply_add(s.m, s.n, s.k, a2.data(), a2.ld, b2.data(), b2.ld, p2.data(), p2.ld);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j) {
        const double want = (c0.at(i, j) + p1.at(i, j)) + p2.at(i, j);
        const bool ok = depth <= 256 ? c.at(i, j) == want
                                     : std::abs(c.at(i, j) - want) <=
                                           1e-12 * (2.0 * static_cast<double>(depth) + 1.0);
        bad += ok ? 0 : 1;
      }
    }
    EXPECT_EQ(bad, 0u) << path() << " path, k = " << depth;
    EXPECT_EQ(padding_touched(c), 0u) << path() << " path, k = " << depth;
  }
}

TEST_P(MatmulAdd, PanelStepsOverKAgreeWithOneProduct) {
  // SUMMA adds C += A[:, p:p+kb] x B[p:p+kb, :] panel by panel; the panels start their k blocks
  // afresh, so the result differs from one product only by rounding, relative to the magnitude
  // of what each element sums.
  const Shape s{70, 90, 515};
  const Matrix a = random_matrix(s.m, s.k, s.k + 6, 31);
  const Matrix b = random_matrix(s.k, s.n, s.n + 3, 32);
  const Matrix c0 = random_matrix(s.m, s.n, s.n + 1, 33);
  Matrix once = c0;
  kernel().multiply_add(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, once.data(), once.ld);
  const Matrix mag = magnitudes(a, b, c0);
  // Each of the two sums is within (k + 1) units of rounding of its magnitude.
  const double relative = 2.0 * static_cast<double>(s.k + 1) * DBL_EPSILON;
  for (const std::size_t kb : {1u, 64u, 100u, 256u, 300u}) {
    Matrix steps = c0;
    for (std::size_t p = 0; p < s.k; p += kb) {
      const std::size_t depth = std::min(kb, s.k - p);
      kernel().multiply_add(s.m, s.n, depth, a.data() + p, a.ld, b.data() + p * b.ld, b.ld,
                            steps.data(), steps.ld);
    }
    std::size_t bad = 0;
    double worst = 0.0;
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j) {
        const double err = std::abs(steps.at(i, j) - once.at(i, j)) / mag.at(i, j);
        worst = std::max(worst, err);
        bad += err <= relative ? 0 : 1;
      }
    }
    EXPECT_EQ(bad, 0u) << path() << " path, panels of " << kb << ": worst relative difference "
                       << worst << ", allowed " << relative;
    EXPECT_EQ(padding_touched(steps), 0u) << path() << " path, panels of " << kb;
  }
}

TEST_P(MatmulAdd, EmptyShapesChangeNothing) {
  const Matrix a = random_matrix(5, 6, 6, 41), b = random_matrix(6, 7, 7, 42);
  const Matrix c0 = random_matrix(5, 7, 7, 43);
  for (const Shape& s : {Shape{0, 7, 6}, Shape{5, 0, 6}, Shape{5, 7, 0}}) {
    Matrix c = c0;
    kernel().multiply_add(s.m, s.n, s.k, a.data(), 6, b.data(), 7, c.data(), 7);
    EXPECT_TRUE(same_bits(c, c0)) << path() << " path, " << s.m << "x" << s.n << "x" << s.k;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, MatmulAdd, ::testing::Values(Isa::generic, Isa::avx2, Isa::avx512),
                         [](const ::testing::TestParamInfo<Isa>& isa) {
                           return std::string(cvp::to_string(isa.param));
                         });

TEST(MatmulAddDispatch, FreeFunctionsRunTheChosenPath) {
  const Kernel& chosen = Kernel::chosen();
  EXPECT_EQ(cvp::matmul::packed_b_size(300, 77), chosen.packed_b_size(300, 77));
  EXPECT_EQ(cvp::matmul::packed_b_size(100), chosen.packed_b_size(100, 100));
  const Shape s{21, 34, 270};
  const Matrix a = random_matrix(s.m, s.k, s.k + 2, 51), b = random_matrix(s.k, s.n, s.n, 52);
  const Matrix c0 = random_matrix(s.m, s.n, s.n + 9, 53);
  Matrix by_kernel = c0, by_function = c0, by_phases = c0;
  chosen.multiply_add(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, by_kernel.data(), s.n + 9);
  cvp::matmul::multiply_add(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, by_function.data(),
                            s.n + 9);
  cvp::matmul::AlignedDoubles packed(cvp::matmul::packed_b_size(s.k, s.n));
  cvp::matmul::pack_b_slivers(b.data(), s.k, s.n, b.ld, packed.data(), 0,
                              cvp::matmul::packed_b_slivers(s.n));
  cvp::matmul::multiply_add_rows_packed(s.n, s.k, a.data(), a.ld, packed.data(), by_phases.data(),
                                        s.n + 9, 0, 10);
  cvp::matmul::multiply_add_rows_packed(s.n, s.k, a.data(), a.ld, packed.data(), by_phases.data(),
                                        s.n + 9, 10, s.m);
  EXPECT_TRUE(same_bits(by_function, by_kernel));
  EXPECT_TRUE(same_bits(by_phases, by_kernel));
  EXPECT_DOUBLE_EQ(cvp::matmul::flops(3, 5, 7), 210.0);
}

}  // namespace
}  // namespace matmul_add_test

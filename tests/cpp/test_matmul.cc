// The matmul kernel: correct against the textbook loop, and bit-identical however rows are split.
#include "matmul/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using cvp::matmul::Problem;

// Sizes around every blocking boundary of the kernel: micro-tiles (4..24), the A block (96) and
// the k block (256), plus primes that fit no tile at all.
const std::vector<std::size_t> kSizes = {1,  2,  3,  5,  7,  8,   9,   13,  16,  17,  23,  24,
                                         25, 31, 47, 48, 49, 63,  64,  65,  95,  96,  97,  127,
                                         128, 129, 191, 193, 200, 255, 256, 257, 263, 300, 521};

std::vector<double> full_product(const Problem& p) {
  std::vector<double> c(p.n * p.n, 0.0);
  cvp::matmul::multiply(p.a.data(), p.b.data(), c.data(), p.n);
  return c;
}

bool bit_identical(const std::vector<double>& x, const std::vector<double>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

// Index of the first element whose bits differ, or size if none; makes failures readable.
std::size_t first_difference(const std::vector<double>& x, const std::vector<double>& y) {
  for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    if (std::memcmp(&x[i], &y[i], sizeof(double)) != 0) return i;
  }
  return std::min(x.size(), y.size());
}

// Computes C by calling multiply_rows on consecutive ranges that end at each of `cuts`.
std::vector<double> product_by_ranges(const Problem& p, const std::vector<std::size_t>& cuts) {
  std::vector<double> c(p.n * p.n, 0.0);
  std::size_t begin = 0;
  for (const std::size_t end : cuts) {
    cvp::matmul::multiply_rows(p.a.data(), p.b.data(), c.data(), p.n, begin, end);
    begin = end;
  }
  return c;
}

class MatmulSize : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MatmulSize, MatchesNaive) {
  const std::size_t n = GetParam();
  const Problem p = cvp::matmul::make_problem(n, 7);
  std::vector<double> expected(n * n, 0.0);
  cvp::matmul::multiply_naive(p.a.data(), p.b.data(), expected.data(), n);
  const std::vector<double> actual = full_product(p);
  // Each element sums n products of values in [-1, 1); rounding error grows at most like n.
  const double tolerance = 1e-12 * static_cast<double>(n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n * n; ++i) {
    if (!(std::abs(actual[i] - expected[i]) <= tolerance)) {
      if (++bad <= 5) {
        ADD_FAILURE() << "n=" << n << " C[" << i / n << "][" << i % n << "] = " << actual[i]
                      << ", naive gives " << expected[i];
      }
    }
  }
  EXPECT_EQ(bad, 0u);
}

TEST_P(MatmulSize, EveryRowAloneIsBitIdentical) {
  const std::size_t n = GetParam();
  const Problem p = cvp::matmul::make_problem(n, 11);
  std::vector<std::size_t> cuts(n);
  for (std::size_t i = 0; i < n; ++i) cuts[i] = i + 1;
  const std::vector<double> full = full_product(p);
  const std::vector<double> split = product_by_ranges(p, cuts);
  EXPECT_TRUE(bit_identical(full, split)) << "first difference at " << first_difference(full, split);
}

TEST_P(MatmulSize, RandomSplitsAreBitIdentical) {
  const std::size_t n = GetParam();
  const Problem p = cvp::matmul::make_problem(n, 13);
  const std::vector<double> full = full_product(p);
  std::mt19937_64 rng(n);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    while (at < n) {
      at = std::min(n, at + 1 + static_cast<std::size_t>(rng() % (n / 3 + 1)));
      cuts.push_back(at);
    }
    const std::vector<double> split = product_by_ranges(p, cuts);
    EXPECT_TRUE(bit_identical(full, split))
        << "trial " << trial << ", " << cuts.size() << " ranges, first difference at "
        << first_difference(full, split);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, MatmulSize, ::testing::ValuesIn(kSizes),
                         [](const ::testing::TestParamInfo<std::size_t>& size) {
                           return std::to_string(size.param);
                         });

TEST(Matmul, UnevenChunksAreBitIdentical) {
  const Problem p = cvp::matmul::make_problem(300, 3);
  const std::vector<double> full = full_product(p);
  // Chunks of 1, 6, 1, 89 (straddles 96), 3, 200 rows: starts that are off every tile boundary.
  const std::vector<double> split = product_by_ranges(p, {1, 7, 8, 97, 100, 300});
  EXPECT_TRUE(bit_identical(full, split)) << "first difference at " << first_difference(full, split);
}

TEST(Matmul, ConcurrentRangesAreBitIdentical) {
  // Threads each pack into their own scratch space; a shared buffer would corrupt the result.
  const std::size_t n = 263;
  const Problem p = cvp::matmul::make_problem(n, 5);
  const std::vector<double> full = full_product(p);
  std::vector<double> c(n * n, 0.0);
  const std::vector<std::size_t> cuts = {0, 5, 70, 71, 160, 263};
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t + 1 < cuts.size(); ++t) {
    workers.emplace_back([&, t] {
      cvp::matmul::multiply_rows(p.a.data(), p.b.data(), c.data(), n, cuts[t], cuts[t + 1]);
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_TRUE(bit_identical(full, c)) << "first difference at " << first_difference(full, c);
}

TEST(Matmul, RowsOutsideTheRangeAreUntouched) {
  const std::size_t n = 129;
  const std::size_t begin = 37;
  const std::size_t end = 91;
  const Problem p = cvp::matmul::make_problem(n, 17);
  const std::vector<double> full = full_product(p);
  const double sentinel = -12345.678;
  std::vector<double> c(n * n, sentinel);
  cvp::matmul::multiply_rows(p.a.data(), p.b.data(), c.data(), n, begin, end);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const double expected = (i >= begin && i < end) ? full[i * n + j] : sentinel;
      ASSERT_EQ(std::memcmp(&c[i * n + j], &expected, sizeof(double)), 0)
          << "C[" << i << "][" << j << "] = " << c[i * n + j] << ", expected " << expected;
    }
  }
}

TEST(Matmul, EmptyRangeWritesNothing) {
  const Problem p = cvp::matmul::make_problem(17, 1);
  std::vector<double> c(17 * 17, 3.0);
  cvp::matmul::multiply_rows(p.a.data(), p.b.data(), c.data(), 17, 9, 9);
  EXPECT_TRUE(std::all_of(c.begin(), c.end(), [](double x) { return x == 3.0; }));
}

TEST(Matmul, OverwritesPreviousContents) {
  const Problem p = cvp::matmul::make_problem(65, 2);
  const std::vector<double> full = full_product(p);
  std::vector<double> c(65 * 65, 1e300);
  cvp::matmul::multiply(p.a.data(), p.b.data(), c.data(), 65);
  EXPECT_TRUE(bit_identical(full, c));
}

TEST(Matmul, SmallIntegerProductsAreExact) {
  // Integers are exact in double, so any summation order must give exactly these values.
  const std::vector<double> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<double> b = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  const std::vector<double> expected = {30, 24, 18, 84, 69, 54, 138, 114, 90};
  std::vector<double> c(9, 0.0);
  cvp::matmul::multiply(a.data(), b.data(), c.data(), 3);
  EXPECT_EQ(c, expected);

  const double one_a = -0.75;
  const double one_b = 0.5;
  double one_c = 0.0;
  cvp::matmul::multiply(&one_a, &one_b, &one_c, 1);
  EXPECT_EQ(one_c, -0.375);
}

TEST(Matmul, IdentityReturnsTheOtherFactor) {
  const std::size_t n = 97;
  const Problem p = cvp::matmul::make_problem(n, 23);
  std::vector<double> identity(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) identity[i * n + i] = 1.0;
  std::vector<double> c(n * n, 0.0);
  cvp::matmul::multiply(p.a.data(), identity.data(), c.data(), n);
  EXPECT_TRUE(bit_identical(c, p.a));
  cvp::matmul::multiply(identity.data(), p.b.data(), c.data(), n);
  EXPECT_TRUE(bit_identical(c, p.b));
}

TEST(Matmul, FlopsIsTwoNCubed) {
  EXPECT_EQ(cvp::matmul::flops(1), 2.0);
  EXPECT_EQ(cvp::matmul::flops(10), 2000.0);
  EXPECT_EQ(cvp::matmul::flops(1024), 2.0 * 1024.0 * 1024.0 * 1024.0);
}

TEST(Checksum, IsDeterministicAndDetectsOneChangedElement) {
  const std::size_t n = 64;
  const Problem p = cvp::matmul::make_problem(n, 29);
  std::vector<double> c = full_product(p);
  const double reference = cvp::matmul::checksum(c.data(), n);
  EXPECT_EQ(cvp::matmul::checksum(c.data(), n), reference);
  for (const std::size_t idx : {std::size_t{0}, n + 3, n * n / 2, n * n - 1}) {
    std::vector<double> changed = c;
    changed[idx] += 0.5;
    EXPECT_NE(cvp::matmul::checksum(changed.data(), n), reference) << "element " << idx;
  }
}

TEST(Checksum, DetectsSwappedElements) {
  const std::size_t n = 5;
  std::vector<double> c(n * n, 0.0);
  c[3] = 1.0;
  std::vector<double> swapped(n * n, 0.0);
  swapped[4] = 1.0;
  EXPECT_NE(cvp::matmul::checksum(c.data(), n), cvp::matmul::checksum(swapped.data(), n));
}

TEST(MakeProblem, IsDeterministicPerSeed) {
  const Problem x = cvp::matmul::make_problem(33, 99);
  const Problem y = cvp::matmul::make_problem(33, 99);
  EXPECT_TRUE(bit_identical(x.a, y.a));
  EXPECT_TRUE(bit_identical(x.b, y.b));
  const Problem z = cvp::matmul::make_problem(33, 100);
  EXPECT_FALSE(bit_identical(x.a, z.a));
  EXPECT_FALSE(bit_identical(x.b, z.b));
  EXPECT_FALSE(bit_identical(x.a, x.b));
}

TEST(MakeProblem, HasTheRightShapeAndRange) {
  const std::size_t n = 50;
  const Problem p = cvp::matmul::make_problem(n);
  EXPECT_EQ(p.n, n);
  ASSERT_EQ(p.a.size(), n * n);
  ASSERT_EQ(p.b.size(), n * n);
  ASSERT_EQ(p.c.size(), n * n);
  EXPECT_TRUE(std::all_of(p.c.begin(), p.c.end(), [](double x) { return x == 0.0; }));
  double lo = 1.0;
  double hi = -1.0;
  for (const std::vector<double>* m : {&p.a, &p.b}) {
    for (const double x : *m) {
      ASSERT_GE(x, -1.0);
      ASSERT_LT(x, 1.0);
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  // 5000 uniform draws cover most of [-1, 1); a broken scaling would not.
  EXPECT_LT(lo, -0.99);
  EXPECT_GT(hi, 0.99);
}

}  // namespace

namespace {

// The two-phase product (B packed once, in any split, then rows in any split) must equal the
// one-call product bit for bit: every mode of cvpbench runs it that way.
TEST(MatmulPacked, TwoPhaseProductIsBitIdentical) {
  for (std::size_t n : {std::size_t{1}, std::size_t{23}, std::size_t{64}, std::size_t{97},
                        std::size_t{300}}) {
    auto p = cvp::matmul::make_problem(n, 11);
    ASSERT_EQ(p.packed_b.size(), cvp::matmul::packed_b_size(n));
    std::vector<double> whole(n * n);
    cvp::matmul::multiply(p.a.data(), p.b.data(), whole.data(), n);
    const std::size_t slivers = cvp::matmul::packed_b_slivers(n);
    for (std::size_t parts : {std::size_t{1}, std::size_t{3}, slivers}) {
      std::fill(p.packed_b.data(), p.packed_b.data() + p.packed_b.size(), -7.0);
      for (std::size_t i = 0; i < parts; ++i) {
        cvp::matmul::pack_b_slivers(p.b.data(), n, p.packed_b.data(), i * slivers / parts,
                                    (i + 1) * slivers / parts);
      }
      std::fill(p.c.begin(), p.c.end(), 0.0);
      for (std::size_t r = 0; r < n; r += 13) {
        cvp::matmul::multiply_rows_packed(p.a.data(), p.packed_b.data(), p.c.data(), n, r,
                                          std::min(n, r + 13));
      }
      EXPECT_EQ(p.c, whole) << "n=" << n << " parts=" << parts;
    }
  }
}

TEST(MatmulPacked, PackedBufferIsAligned) {
  auto p = cvp::matmul::make_problem(50, 1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.packed_b.data()) % 64, 0u);
}

}  // namespace

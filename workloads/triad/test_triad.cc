// The triad kernel: correct, exact, bit-identical however [0, n) is split, writing only its own
// range; the answer check catches a one-bit fault; the sizing follows STREAM's rule.
#include "triad/triad.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using cvp::triad::Arrays;
using cvp::triad::kScalar;

// Small arrays (ASan and TSan run these too); a prime, so no vector width divides it.
constexpr std::size_t kN = 10007;
constexpr std::size_t kMiB = std::size_t{1} << 20;

bool same_bits(const double* x, const double* y, std::size_t n) {
  return std::memcmp(x, y, n * sizeof(double)) == 0;
}

// Index of the first element whose bits differ, or n; makes failures readable.
std::size_t first_difference(const double* x, const double* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(&x[i], &y[i], sizeof(double)) != 0) return i;
  }
  return n;
}

Arrays initialised(std::size_t n) {
  Arrays arrays(n);
  cvp::triad::initialise(arrays, 0, n);
  return arrays;
}

// Inputs whose triad is inexact and rounds differently with and without FMA.
void fill_inexact(Arrays& arrays) {
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    arrays.a()[i] = 0.0;
    arrays.b()[i] = -0.3 * static_cast<double>(i % 97 + 1);
    arrays.c()[i] = 0.1 * static_cast<double>(i % 89 + 1) + 1e-3 * static_cast<double>(i % 7);
  }
}

void fill(Arrays& arrays, bool exact_inputs) {
  if (exact_inputs) {
    cvp::triad::initialise(arrays, 0, arrays.size());
  } else {
    fill_inexact(arrays);
  }
}

// Cut points of [0, n) into uneven ranges: empty ones, single elements, odd starts, long ones.
std::vector<std::size_t> uneven_cuts(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::size_t> cuts = {0, 0, 1, 2, 3, 3, 7, 8, 9, 17, n / 2, n / 2 + 1, n - 1, n, n};
  std::uniform_int_distribution<std::size_t> any(0, n);
  for (int k = 0; k < 40; ++k) cuts.push_back(any(rng));
  std::sort(cuts.begin(), cuts.end());
  return cuts;  // starts with 0 and ends with n; repeats give empty ranges
}

void triad_by_ranges(Arrays& arrays, const std::vector<std::size_t>& cuts, bool backwards) {
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) ranges.emplace_back(cuts[k], cuts[k + 1]);
  if (backwards) std::reverse(ranges.begin(), ranges.end());
  for (const auto& [begin, end] : ranges) {
    cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, begin, end);
  }
}

TEST(TriadArrays, SizedAlignedAndDistinct) {
  Arrays arrays(kN);
  EXPECT_EQ(arrays.size(), kN);
  for (const double* p : {arrays.a(), arrays.b(), arrays.c()}) {
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
  }
  EXPECT_NE(arrays.a(), arrays.b());
  EXPECT_NE(arrays.b(), arrays.c());
  EXPECT_NE(arrays.a(), arrays.c());
}

TEST(TriadArrays, EmptyAndMoves) {
  Arrays empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.a(), nullptr);

  Arrays first = initialised(kN);
  const double* a = first.a();
  Arrays second(std::move(first));
  EXPECT_EQ(second.a(), a);
  EXPECT_EQ(second.size(), kN);
  EXPECT_EQ(first.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(first.a(), nullptr);

  Arrays third(5);
  third = std::move(second);
  EXPECT_EQ(third.a(), a);
  EXPECT_EQ(third.size(), kN);
  EXPECT_EQ(second.size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(cvp::triad::mismatches(third, kScalar, 0, 0), 0u);
}

TEST(TriadInitialise, DeterministicWhateverTheSplit) {
  const Arrays whole = initialised(kN);
  Arrays pieces(kN);
  const std::vector<std::size_t> cuts = uneven_cuts(kN, 3);
  for (std::size_t k = cuts.size() - 1; k > 0; --k) {  // back to front
    cvp::triad::initialise(pieces, cuts[k - 1], cuts[k]);
  }
  EXPECT_TRUE(same_bits(whole.a(), pieces.a(), kN));
  EXPECT_TRUE(same_bits(whole.b(), pieces.b(), kN));
  EXPECT_TRUE(same_bits(whole.c(), pieces.c(), kN));

  // The values depend on i alone; a is zero; inputs vary from element to element.
  const Arrays again = initialised(kN);
  EXPECT_TRUE(same_bits(whole.b(), again.b(), kN));
  EXPECT_TRUE(same_bits(whole.c(), again.c(), kN));
  for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(whole.a()[i], 0.0) << i;
  for (std::size_t i = 1; i < kN; ++i) {
    ASSERT_NE(whole.b()[i], whole.b()[i - 1]) << i;
    ASSERT_NE(whole.c()[i], whole.c()[i - 1]) << i;
  }
}

TEST(TriadInitialise, WritesOnlyItsRange) {
  Arrays arrays(kN);
  for (double* p : {arrays.a(), arrays.b(), arrays.c()}) std::fill(p, p + kN, -7.0);
  cvp::triad::initialise(arrays, 100, 201);
  for (const double* p : {arrays.a(), arrays.b(), arrays.c()}) {
    for (std::size_t i = 0; i < kN; ++i) {
      if (i < 100 || i >= 201) {
        ASSERT_EQ(p[i], -7.0) << i;
      }
    }
  }
  EXPECT_EQ(arrays.a()[150], 0.0);
}

TEST(Triad, WholeRangeMatchesTheFormulaExactly) {
  Arrays arrays = initialised(kN);
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 0, kN);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 0u);
  // Independently of floating point: b = (i % 1021) / 2 and c = (i % 1019) / 4 are exact, so
  // 4 a = 2 (i % 1021) + 3 (i % 1019) exactly, for s = 3.
  ASSERT_EQ(kScalar, 3.0);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(4.0 * arrays.a()[i], static_cast<double>(2 * (i % 1021) + 3 * (i % 1019))) << i;
  }
}

TEST(Triad, WritesOnlyItsRange) {
  Arrays arrays = initialised(kN);
  std::fill(arrays.a(), arrays.a() + kN, -7.0);
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 33, 4099);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 33, 4099), 0u);
  for (std::size_t i = 0; i < kN; ++i) {
    if (i < 33 || i >= 4099) {
      ASSERT_EQ(arrays.a()[i], -7.0) << i;
    }
  }
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 50, 50);  // empty: no-op
  EXPECT_EQ(arrays.a()[50], arrays.b()[50] + kScalar * arrays.c()[50]);
}

TEST(Triad, UnevenSplitsAreBitIdenticalToOneCall) {
  for (const bool exact_inputs : {true, false}) {
    Arrays whole(kN);
    fill(whole, exact_inputs);
    cvp::triad::triad(whole.a(), whole.b(), whole.c(), kScalar, 0, kN);
    for (unsigned seed = 1; seed <= 4; ++seed) {
      Arrays split(kN);
      fill(split, exact_inputs);
      triad_by_ranges(split, uneven_cuts(kN, seed), /*backwards=*/seed % 2 == 0);
      EXPECT_TRUE(same_bits(whole.a(), split.a(), kN))
          << "exact inputs " << exact_inputs << ", seed " << seed << ": first difference at "
          << first_difference(whole.a(), split.a(), kN);
      EXPECT_EQ(cvp::triad::mismatches(split, kScalar, 0, kN), 0u);
    }
    // Every element computed alone, by the scalar path.
    Arrays singles(kN);
    fill(singles, exact_inputs);
    for (std::size_t i = 0; i < kN; ++i) {
      cvp::triad::triad(singles.a(), singles.b(), singles.c(), kScalar, i, i + 1);
    }
    EXPECT_TRUE(same_bits(whole.a(), singles.a(), kN))
        << "first difference at " << first_difference(whole.a(), singles.a(), kN);
  }
}

// The kernel rounds the product and then the sum (-ffp-contract=off), never one fused multiply-
// add. These inputs tell the two apart, so the test fails if contraction creeps back in.
TEST(Triad, MultipliesThenAddsWithoutContraction) {
  Arrays arrays(kN);
  fill_inexact(arrays);
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 0, kN);
  std::size_t fma_differs = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    volatile double product = kScalar * arrays.c()[i];  // volatile: no contraction here either
    const double expected = arrays.b()[i] + product;
    ASSERT_EQ(std::memcmp(&arrays.a()[i], &expected, sizeof(double)), 0)
        << i << ": " << arrays.a()[i] << " vs " << expected;
    if (std::fma(kScalar, arrays.c()[i], arrays.b()[i]) != expected) ++fma_differs;
  }
  EXPECT_GT(fma_differs, 0u) << "the inputs no longer distinguish fma from multiply-then-add";
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 0u);
}

// Every loop this CPU runs (AVX-512F, AVX2, portable) gives the same bits as the formula,
// multiply then add, over uneven ranges whose ends fit no vector width.
class TriadPath : public ::testing::TestWithParam<cvp::Isa> {};

TEST_P(TriadPath, BitIdenticalToTheFormulaOverUnevenRanges) {
  const cvp::Isa isa = GetParam();
  if (!cvp::cpu_supports(isa)) {
    GTEST_SKIP() << "this CPU lacks " << (isa == cvp::Isa::avx512 ? "AVX-512F" : "AVX2 and FMA")
                 << ", so the " << cvp::to_string(isa) << " loop cannot run here";
  }
  Arrays arrays(kN);
  fill_inexact(arrays);
  const std::vector<std::size_t> cuts = uneven_cuts(kN, 5);
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
    cvp::triad::triad(isa, arrays.a(), arrays.b(), arrays.c(), kScalar, cuts[k], cuts[k + 1]);
  }
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 0u) << cvp::to_string(isa);
  EXPECT_STREQ(cvp::triad::kernel_name(isa), cvp::to_string(isa));
}

TEST_P(TriadPath, RefusedWhereTheCpuLacksIt) {
  const cvp::Isa isa = GetParam();
  if (cvp::cpu_supports(isa)) GTEST_SKIP() << "this CPU runs the " << cvp::to_string(isa) << " loop";
  Arrays arrays(16);
  EXPECT_THROW(cvp::triad::triad(isa, arrays.a(), arrays.b(), arrays.c(), kScalar, 0, 16),
               std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Paths, TriadPath,
                         ::testing::Values(cvp::Isa::generic, cvp::Isa::avx2, cvp::Isa::avx512),
                         [](const ::testing::TestParamInfo<cvp::Isa>& isa) {
                           return std::string(cvp::to_string(isa.param));
                         });

TEST(TriadDispatch, DefaultRunsTheChosenLoop) {
  // triad() runs chosen_isa()'s loop: the same bits as calling that loop by name.
  Arrays by_default(kN), by_name(kN);
  fill_inexact(by_default);
  fill_inexact(by_name);
  cvp::triad::triad(by_default.a(), by_default.b(), by_default.c(), kScalar, 3, kN - 5);
  cvp::triad::triad(cvp::chosen_isa(), by_name.a(), by_name.b(), by_name.c(), kScalar, 3, kN - 5);
  EXPECT_TRUE(same_bits(by_default.a(), by_name.a(), kN));
  EXPECT_TRUE(cvp::cpu_supports(cvp::chosen_isa()));
}

TEST(TriadCheck, CorruptIsCaughtAsExactlyOneMismatch) {
  Arrays arrays = initialised(kN);
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 0, kN);
  ASSERT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 0u);
  cvp::triad::corrupt(arrays);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 1u);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, kN / 2, kN / 2 + 1), 1u);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN / 2), 0u);
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, kN / 2 + 1, kN), 0u);

  Arrays empty;
  cvp::triad::corrupt(empty);  // no element to spoil: a no-op
  EXPECT_EQ(cvp::triad::mismatches(empty, kScalar, 0, 0), 0u);
}

TEST(TriadCheck, CountsEveryWrongElement) {
  Arrays arrays = initialised(kN);
  cvp::triad::triad(arrays.a(), arrays.b(), arrays.c(), kScalar, 0, kN);
  arrays.a()[0] = std::numeric_limits<double>::quiet_NaN();
  arrays.a()[kN - 1] += 1.0;
  arrays.a()[10] = -arrays.a()[10];  // b[10] + 3 c[10] > 0
  EXPECT_EQ(cvp::triad::mismatches(arrays, kScalar, 0, kN), 3u);
  // A triad with another scalar disagrees almost everywhere.
  EXPECT_GT(cvp::triad::mismatches(arrays, 2.0, 0, kN), kN / 2);
}

TEST(TriadSizing, AtLeastFourTimesTheCacheAndTheFloor) {
  for (const bool quick : {false, true}) {
    const std::size_t floor_bytes = (quick ? 32 : 64) * kMiB;
    for (const std::size_t llc : {std::size_t{1}, std::size_t{1000}, 512 * std::size_t{1024},
                                  8 * kMiB, 8 * kMiB + 1, 16 * kMiB, 32 * kMiB, 32 * kMiB + 8,
                                  96 * kMiB + 1, 128 * kMiB, 320 * kMiB, 1024 * kMiB + 3}) {
      const std::size_t n = cvp::triad::default_elements(llc, quick);
      const std::size_t bytes = n * sizeof(double);
      const std::size_t wanted = std::min(std::max(4 * llc, floor_bytes), cvp::triad::kMaxDefaultArrayBytes);
      EXPECT_EQ(n % 64, 0u) << llc;
      EXPECT_GE(bytes, wanted) << llc;  // 4x the cache and the floor, up to the 512 MiB ceiling
      EXPECT_LE(bytes, std::max(cvp::triad::kMaxDefaultArrayBytes, floor_bytes)) << llc;
      // No bigger than needed: one fewer block of 64 would break a rule.
      EXPECT_LT((n - 64) * sizeof(double), wanted) << llc;
    }
  }
  EXPECT_EQ(cvp::triad::default_elements(32 * kMiB, false), 16 * kMiB);  // 128 MiB per array
  EXPECT_EQ(cvp::triad::default_elements(1 * kMiB, false), 8 * kMiB);    // the 64 MiB floor
  EXPECT_EQ(cvp::triad::default_elements(1 * kMiB, true), 4 * kMiB);     // the 32 MiB floor
  // The 512 MiB ceiling: a reported 508 MiB cache (a VM seeing its host's) would make 2 GiB.
  EXPECT_EQ(cvp::triad::default_elements(508 * kMiB, false), 64 * kMiB);
  EXPECT_EQ(cvp::triad::default_elements(508 * kMiB, true), 64 * kMiB);
  EXPECT_EQ(cvp::triad::default_elements(100 * kMiB, false), 50 * kMiB);  // 4x, under the ceiling
  EXPECT_LE(cvp::triad::default_elements(4 * kMiB, true),
            cvp::triad::default_elements(4 * kMiB, false));
}

TEST(TriadSizing, UnknownCacheMeans32MiB) {
  for (const bool quick : {false, true}) {
    EXPECT_EQ(cvp::triad::default_elements(0, quick),
              cvp::triad::default_elements(32 * kMiB, quick));
    EXPECT_GE(cvp::triad::default_elements(0, quick) * sizeof(double), 128 * kMiB);
  }
}

TEST(TriadSizing, LastLevelCacheProbeRuns) {
  const std::size_t llc = cvp::triad::last_level_cache_bytes();
  // 0 means unknown; anything else must look like a cache.
  if (llc != 0) {
    EXPECT_GE(llc, 16u * 1024u);
    EXPECT_LE(llc, 64u * 1024u * kMiB);
  }
  EXPECT_EQ(cvp::triad::last_level_cache_bytes(), llc);  // stable
  RecordProperty("last_level_cache_bytes", std::to_string(llc));
}

}  // namespace

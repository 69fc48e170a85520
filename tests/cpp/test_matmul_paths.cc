// Every compiled path of the matmul kernel (cvp::matmul::Kernel): right against the textbook
// loop on sizes that fit no block, bit-identical across splits within the path, and chosen from
// what the CPU supports. A path this CPU lacks is skipped, saying why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cvp/isa.h"
#include "matmul/matmul.h"

namespace {

using cvp::Isa;
using cvp::matmul::Kernel;
using cvp::matmul::Problem;

const char* needs(Isa isa) { return isa == Isa::avx512 ? "AVX-512F" : "AVX2 and FMA"; }

class MatmulPath : public ::testing::TestWithParam<Isa> {
 protected:
  bool runs_here() const { return cvp::cpu_supports(GetParam()); }
  const Kernel& kernel() const { return Kernel::of(GetParam()); }
};

#define SKIP_UNLESS_SUPPORTED()                                                               \
  if (!runs_here()) {                                                                         \
    GTEST_SKIP() << "this CPU lacks " << needs(GetParam()) << ", so the "                   \
                 << cvp::to_string(GetParam()) << " path cannot run here";                   \
  }

// The product through the packed two-phase interface, B packed in `pack_parts` pieces and C
// computed in the row ranges ending at `cuts`.
std::vector<double> packed_product(const Kernel& k, const Problem& p,
                                   const std::vector<std::size_t>& cuts, std::size_t pack_parts) {
  const std::size_t n = p.n;
  cvp::matmul::AlignedDoubles packed(k.packed_b_size(n));
  const std::size_t slivers = k.packed_b_slivers(n);
  for (std::size_t part = 0; part < pack_parts; ++part) {
    k.pack_b_slivers(p.b.data(), n, packed.data(), part * slivers / pack_parts,
                     (part + 1) * slivers / pack_parts);
  }
  std::vector<double> c(n * n, std::nan(""));
  std::size_t begin = 0;
  for (const std::size_t end : cuts) {
    k.multiply_rows_packed(p.a.data(), packed.data(), c.data(), n, begin, end);
    begin = end;
  }
  return c;
}

TEST_P(MatmulPath, MatchesNaiveOnSizesThatFitNoBlock) {
  SKIP_UNLESS_SUPPORTED();
  // Primes and neighbours of every tile (4, 6, 8, 12, 24), A block (96, 192) and k block (256).
  for (const std::size_t n : {1u, 5u, 7u, 13u, 25u, 97u, 193u, 257u, 389u}) {
    const Problem p = cvp::matmul::make_problem(n, 31);
    std::vector<double> expected(n * n), actual(n * n, std::nan(""));
    cvp::matmul::multiply_naive(p.a.data(), p.b.data(), expected.data(), n);
    kernel().multiply(p.a.data(), p.b.data(), actual.data(), n);
    const double tolerance = 1e-12 * static_cast<double>(n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n * n; ++i) bad += std::abs(actual[i] - expected[i]) <= tolerance ? 0 : 1;
    EXPECT_EQ(bad, 0u) << cvp::to_string(GetParam()) << " path, n = " << n;
  }
}

TEST_P(MatmulPath, SplitsAreBitIdenticalWithinThePath) {
  SKIP_UNLESS_SUPPORTED();
  const std::size_t n = 301;
  const Problem p = cvp::matmul::make_problem(n, 37);
  const Kernel& k = kernel();
  std::vector<double> whole(n * n);
  k.multiply(p.a.data(), p.b.data(), whole.data(), n);
  std::mt19937_64 rng(n);
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = 0; at < n;) {
      at = std::min(n, at + 1 + static_cast<std::size_t>(rng() % 120));
      cuts.push_back(at);
    }
    const std::vector<double> split = packed_product(k, p, cuts, 1 + static_cast<std::size_t>(trial));
    EXPECT_EQ(std::memcmp(split.data(), whole.data(), n * n * sizeof(double)), 0)
        << cvp::to_string(GetParam()) << " path, trial " << trial << ", " << cuts.size()
        << " row ranges";
  }
}

TEST_P(MatmulPath, NamesItsPathAndTile) {
  SKIP_UNLESS_SUPPORTED();
  const Kernel& k = kernel();
  EXPECT_EQ(k.isa(), GetParam());
  const std::string expected = GetParam() == Isa::avx512 ? "avx512"
                               : GetParam() == Isa::avx2 ? "avx2-fma"
                                                         : "generic";
  EXPECT_EQ(k.name(), expected);
  EXPECT_EQ(k.row_tile(), GetParam() == Isa::avx512 ? 8u : 4u);
}

TEST_P(MatmulPath, RefusedWhereTheCpuLacksIt) {
  if (runs_here()) GTEST_SKIP() << "this CPU runs the " << cvp::to_string(GetParam()) << " path";
  EXPECT_THROW(Kernel::of(GetParam()), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Paths, MatmulPath,
                         ::testing::Values(Isa::generic, Isa::avx2, Isa::avx512),
                         [](const ::testing::TestParamInfo<Isa>& isa) {
                           return std::string(cvp::to_string(isa.param));
                         });

TEST(MatmulDispatch, RunsThePathChosenForThisCpu) {
  const Kernel& chosen = Kernel::chosen();
  EXPECT_EQ(chosen.isa(), cvp::chosen_isa());
  EXPECT_TRUE(cvp::cpu_supports(chosen.isa()));
  const char* forced = std::getenv(cvp::kKernelEnv);
  if (forced == nullptr || *forced == '\0') {
    EXPECT_EQ(chosen.isa(), cvp::best_isa()) << "unforced, the widest path the CPU runs";
  }
  EXPECT_EQ(cvp::matmul::row_tile(), chosen.row_tile());
  EXPECT_EQ(cvp::matmul::packed_b_size(100), chosen.packed_b_size(100));
}

TEST(MatmulDispatch, PathsAgreeWithinRounding) {
  // Different paths round differently (FMA or not, other tiles), never by more than rounding.
  const std::size_t n = 200;
  const Problem p = cvp::matmul::make_problem(n, 41);
  std::vector<double> generic(n * n), other(n * n);
  Kernel::of(Isa::generic).multiply(p.a.data(), p.b.data(), generic.data(), n);
  int compared = 0;
  for (Isa isa : {Isa::avx2, Isa::avx512}) {
    if (!cvp::cpu_supports(isa)) continue;
    Kernel::of(isa).multiply(p.a.data(), p.b.data(), other.data(), n);
    for (std::size_t i = 0; i < n * n; ++i) ASSERT_NEAR(other[i], generic[i], 1e-12 * n);
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "this CPU runs only the generic path";
}

}  // namespace

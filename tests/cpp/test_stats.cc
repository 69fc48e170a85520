#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "harness/stats.h"

namespace {

using namespace cvp::stats;

TEST(Stats, MedianAndQuantiles) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5}, 0.0), 1);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5}, 1.0), 5);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5}, 0.25), 2);
  EXPECT_THROW(median({}), std::invalid_argument);
}

TEST(Stats, PercentilesOnKnownData) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  std::shuffle(v.begin(), v.end(), std::mt19937(1));
  const auto p = percentiles(v, {50, 95, 99, 100});
  // numpy.percentile(range(1, 101), [50, 95, 99, 100]) = 50.5, 95.05, 99.01, 100
  EXPECT_NEAR(p[0], 50.5, 1e-12);
  EXPECT_NEAR(p[1], 95.05, 1e-12);
  EXPECT_NEAR(p[2], 99.01, 1e-12);
  EXPECT_NEAR(p[3], 100, 1e-12);
}

TEST(Stats, MedianCiFromOrderStatistics) {
  // n = 5 cannot reach 95%: [min, max] with coverage 1 - 2/32.
  const auto small = median_ci({5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(small.low, 1);
  EXPECT_DOUBLE_EQ(small.high, 5);
  EXPECT_NEAR(small.coverage, 0.9375, 1e-12);
  // n = 20: the classic interval is [x(6), x(15)] (1-based), coverage 0.9586.
  std::vector<double> v;
  for (int i = 1; i <= 20; ++i) v.push_back(i);
  const auto ci = median_ci(v);
  EXPECT_DOUBLE_EQ(ci.low, 6);
  EXPECT_DOUBLE_EQ(ci.high, 15);
  EXPECT_NEAR(ci.coverage, 0.9586, 1e-4);
}

TEST(Stats, RatioOfMediansCoversAKnownRatio) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(1.0, 0.02);
  std::vector<double> slow, fast;
  for (int i = 0; i < 15; ++i) {
    slow.push_back(2.0 * noise(rng));
    fast.push_back(1.0 * noise(rng));
  }
  const auto r = ratio_of_medians(slow, fast);
  EXPECT_NEAR(r.value, 2.0, 0.05);
  EXPECT_LT(r.low, r.value);
  EXPECT_GT(r.high, r.value);
  EXPECT_LT(r.low, 2.0);
  EXPECT_GT(r.high, 2.0);
  EXPECT_GT(r.low, 1.8);  // not uselessly wide
  // Identical samples: ratio exactly 1 with a degenerate interval.
  const auto same = ratio_of_medians({1, 1, 1}, {1, 1, 1});
  EXPECT_DOUBLE_EQ(same.value, 1);
  EXPECT_DOUBLE_EQ(same.low, 1);
  EXPECT_DOUBLE_EQ(same.high, 1);
}

TEST(Stats, KarpFlatt) {
  EXPECT_NEAR(karp_flatt(2.0, 2), 0.0, 1e-12);   // perfect scaling: no serial fraction
  EXPECT_NEAR(karp_flatt(1.0, 2), 1.0, 1e-12);   // no scaling: all serial
  // Amdahl with f = 0.1 on 4 processors: s = 1 / (0.1 + 0.9 / 4).
  EXPECT_NEAR(karp_flatt(1.0 / (0.1 + 0.9 / 4), 4), 0.1, 1e-12);
  EXPECT_THROW(karp_flatt(1.0, 1), std::invalid_argument);
}

}  // namespace

namespace {

TEST(Stats, SignTestTailIsExact) {
  EXPECT_NEAR(cvp::stats::sign_test_p(8, 8), 1.0 / 256, 1e-12);
  EXPECT_NEAR(cvp::stats::sign_test_p(6, 3), 42.0 / 64, 1e-12);  // P(X >= 3), X ~ B(6, 1/2)
  EXPECT_DOUBLE_EQ(cvp::stats::sign_test_p(6, 0), 1.0);
  EXPECT_DOUBLE_EQ(cvp::stats::sign_test_p(0, 0), 1.0);
}

}  // namespace

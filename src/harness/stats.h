// Distribution-free summaries: medians first, ratios of medians after, confidence intervals by
// order statistics and by bootstrap (after Hoefler & Belli).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cvp::stats {

// REQUIRES for all: !values.empty().
double median(std::vector<double> values);

// Linear-interpolation quantile (the "type 7" of R and numpy's default), q in [0, 1].
double quantile(std::vector<double> values, double q);

// Percentiles p in [0, 100] of one sample, computed after a single sort.
std::vector<double> percentiles(std::vector<double> values, const std::vector<double>& ps);

struct Interval {
  double low = 0;
  double high = 0;
  double coverage = 0;  // the confidence the interval actually has (order statistics are discrete)
};

// Confidence interval of the median from order statistics (binomial, no normality assumed).
// The narrowest symmetric pair of order statistics with coverage >= `level`; with too few
// samples to reach it, [min, max] and its (lower) coverage.
Interval median_ci(std::vector<double> values, double level = 0.95);

// Ratio of medians median(numerator) / median(denominator) with a percentile-bootstrap
// confidence interval (independent resampling of both samples, fixed seed: reproducible).
struct RatioEstimate {
  double value = 0;
  double low = 0;
  double high = 0;
};
RatioEstimate ratio_of_medians(const std::vector<double>& numerator,
                               const std::vector<double>& denominator, double level = 0.95,
                               int resamples = 2000, std::uint64_t seed = 12345);

// One-sided sign test: the probability that `above` or more of `n` values lie above a point
// when each is as likely above as below it (the median at that point): P(Binomial(n, 1/2) >=
// above). 1 for n = 0.
double sign_test_p(int n, int above);

// Karp-Flatt experimentally determined serial fraction for speedup s on p processors.
// REQUIRES: p > 1, s > 0.
double karp_flatt(double speedup, double p);

}  // namespace cvp::stats

#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace cvp::stats {

namespace {

void require_values(const std::vector<double>& values) {
  if (values.empty()) throw std::invalid_argument("statistics of an empty sample");
}

double sorted_quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

// P(X <= k) for X ~ Binomial(n, 1/2).
double binomial_half_cdf(int n, int k) {
  if (k < 0) return 0.0;
  double sum = 0;
  for (int i = 0; i <= k && i <= n; ++i) {
    sum += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) -
                    n * std::log(2.0));
  }
  return std::min(sum, 1.0);
}

}  // namespace

double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

double quantile(std::vector<double> values, double q) {
  require_values(values);
  std::sort(values.begin(), values.end());
  return sorted_quantile(values, std::clamp(q, 0.0, 1.0));
}

std::vector<double> percentiles(std::vector<double> values, const std::vector<double>& ps) {
  require_values(values);
  std::sort(values.begin(), values.end());
  std::vector<double> out;
  out.reserve(ps.size());
  for (double p : ps) out.push_back(sorted_quantile(values, std::clamp(p / 100.0, 0.0, 1.0)));
  return out;
}

Interval median_ci(std::vector<double> values, double level) {
  require_values(values);
  std::sort(values.begin(), values.end());
  const int n = static_cast<int>(values.size());
  // Interval [x_(k), x_(n-1-k)] (0-based) covers the median with 1 - 2 P(X <= k).
  // k = 0 is [min, max], the widest interval the sample offers.
  Interval best{values.front(), values.back(), 1.0 - 2.0 * std::pow(0.5, n)};
  for (int k = 1; k < n / 2; ++k) {
    const double coverage = 1.0 - 2.0 * binomial_half_cdf(n, k);
    if (coverage < level) break;
    best = {values[static_cast<std::size_t>(k)], values[static_cast<std::size_t>(n - 1 - k)],
            coverage};
  }
  if (n == 1) best.coverage = 0.0;
  return best;
}

RatioEstimate ratio_of_medians(const std::vector<double>& numerator,
                               const std::vector<double>& denominator, double level,
                               int resamples, std::uint64_t seed) {
  require_values(numerator);
  require_values(denominator);
  RatioEstimate est;
  est.value = median(numerator) / median(denominator);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick_num(0, numerator.size() - 1);
  std::uniform_int_distribution<std::size_t> pick_den(0, denominator.size() - 1);
  std::vector<double> ratios;
  ratios.reserve(static_cast<std::size_t>(resamples));
  std::vector<double> num(numerator.size());
  std::vector<double> den(denominator.size());
  for (int r = 0; r < resamples; ++r) {
    for (double& v : num) v = numerator[pick_num(rng)];
    for (double& v : den) v = denominator[pick_den(rng)];
    ratios.push_back(median(num) / median(den));
  }
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1.0 - level) / 2.0;
  est.low = sorted_quantile(ratios, tail);
  est.high = sorted_quantile(ratios, 1.0 - tail);
  return est;
}

double sign_test_p(int n, int above) {
  if (n <= 0 || above <= 0) return 1.0;
  return std::clamp(1.0 - binomial_half_cdf(n, above - 1), 0.0, 1.0);
}

double karp_flatt(double speedup, double p) {
  if (p <= 1 || speedup <= 0) throw std::invalid_argument("karp_flatt needs p > 1 and s > 0");
  return (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p);
}

}  // namespace cvp::stats

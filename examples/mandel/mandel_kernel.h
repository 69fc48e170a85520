// The Mandelbrot kernel of the mandel examples: escape counts of rows [first, last) of the n x n
// grid over [-2, 1] x [-1.5, 1.5]. Plain code: no threads, no clocks, no cvpbench header.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

inline void mandel_rows(std::vector<int>& counts, long long n, std::size_t first, std::size_t last) {
  for (std::size_t y = first; y < last; ++y) {
    for (long long x = 0; x < n; ++x) {
      const std::complex<double> c(-2.0 + 3.0 * static_cast<double>(x) / static_cast<double>(n),
                                   -1.5 + 3.0 * static_cast<double>(y) / static_cast<double>(n));
      std::complex<double> z = 0;
      int k = 0;
      while (k < 256 && std::norm(z) <= 4.0) z = z * z + c, ++k;
      counts[y * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)] = k;
    }
  }
}

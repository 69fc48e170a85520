// The Jacobi kernel of the jacobi example: `sweeps` sweeps of the 4-neighbour mean over an
// n x n grid whose border stays fixed, for rows [first, last) only. Each band recomputes the
// rows around it that its result depends on (`sweeps` rows on each side, fewer at the border)
// in two buffers of its own, so every cell is computed by the same arithmetic from the same
// inputs however the rows are split: the result is exact. Plain code: no threads, no clocks,
// no cvpbench header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

// The grid before the first sweep: any fixed pattern will do.
inline std::vector<double> jacobi_start(std::size_t n) {
  std::vector<double> grid(n * n);
  for (std::size_t i = 0; i < grid.size(); ++i) {
    grid[i] = static_cast<double>((i * 7 + i / n * 13) % 17) / 16.0;
  }
  return grid;
}

// Writes rows [first, last) of `in` after `sweeps` sweeps into `out`; returns the cell updates
// it made, the halo's included.
inline std::size_t jacobi_rows(const std::vector<double>& in, std::vector<double>& out,
                               std::size_t n, std::size_t sweeps, std::size_t first,
                               std::size_t last) {
  thread_local std::vector<double> a, b;  // this worker's two buffers, kept between executions
  const std::size_t lo = first > sweeps ? first - sweeps : 0;
  const std::size_t hi = std::min(n, last + sweeps);
  a.assign(in.begin() + static_cast<std::ptrdiff_t>(lo * n),
           in.begin() + static_cast<std::ptrdiff_t>(hi * n));
  b = a;
  std::size_t updates = 0;
  for (std::size_t k = 1; k <= sweeps; ++k) {
    // The rows this sweep can compute from what the last one left (the grid's border is fixed).
    const std::size_t begin = lo == 0 ? 1 : lo + k;
    const std::size_t end = hi == n ? n - 1 : hi - k;
    for (std::size_t r = begin; r < end; ++r) {
      const double* up = &a[(r - 1 - lo) * n];
      const double* row = &a[(r - lo) * n];
      const double* down = &a[(r + 1 - lo) * n];
      double* next = &b[(r - lo) * n];
      for (std::size_t c = 1; c + 1 < n; ++c) {
        next[c] = 0.25 * ((up[c] + down[c]) + (row[c - 1] + row[c + 1]));
      }
    }
    updates += (end > begin ? end - begin : 0) * (n > 2 ? n - 2 : 0);
    std::swap(a, b);
  }
  std::copy(a.begin() + static_cast<std::ptrdiff_t>((first - lo) * n),
            a.begin() + static_cast<std::ptrdiff_t>((last - lo) * n),
            out.begin() + static_cast<std::ptrdiff_t>(first * n));
  return updates;
}

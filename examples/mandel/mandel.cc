// A kernel of your own measured with the lambda API (cvp/tasks.h), no class to write: the
// Mandelbrot set on an n x n grid, each task a band of rows. The escape counts do not depend on
// how the rows are split, so every mode and backend must give the serial checksum exactly.
//
//   mandel_bench --quick                  # serial, concurrent on one core, parallel on all cores
//   mandel_bench --mandel-n 1024 --backend threads,tbb
#include <cvp/tasks.h>

#include <complex>
#include <cstddef>
#include <numeric>
#include <vector>

namespace {

// Escape counts of rows [first, last) of the n x n grid over [-2, 1] x [-1.5, 1.5].
void mandel_rows(std::vector<int>& counts, long long n, std::size_t first, std::size_t last) {
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts;
  return cvp::run_program(argc, argv, cvp::tasks("mandel")
      .sizes({1024}).quick_sizes({256})
      .unit("pixels", "Mpixel/s", 1e6)
      .description("escape counts of the Mandelbrot set on an n x n grid")
      .work([](long long n) { return static_cast<double>(n) * static_cast<double>(n); })
      .prepare([&](long long n) { counts.assign(static_cast<std::size_t>(n * n), 0); })
      .run([&](std::size_t task, std::size_t tasks, long long n) {
        mandel_rows(counts, n, task * n / tasks, (task + 1) * n / tasks);
      })
      .checksum([&](long long) { return std::accumulate(counts.begin(), counts.end(), 0.0); }));
}

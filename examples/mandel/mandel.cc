// A kernel of your own measured with the lambda API (cvp/tasks.h), no class to write: the
// Mandelbrot set on an n x n grid, each task a band of rows. The escape counts do not depend on
// how the rows are split, so every mode and backend must give the serial checksum exactly.
//
//   mandel_bench --quick                  # serial, concurrent on one core, parallel on all cores
//   mandel_bench --mandel-n 1024 --backend threads,tbb
#include <cvp/tasks.h>

#include <cstddef>
#include <numeric>
#include <vector>

#include "mandel_kernel.h"

int main(int argc, char** argv) {
  std::vector<int> counts;
  return cvp::run_program(argc, argv, cvp::tasks("mandel")
      .sizes({1024}).quick_sizes({256}).unit("pixels", "Mpixel/s", 1e6)
      .description("escape counts of the Mandelbrot set on an n x n grid")
      .work([](long long n) { return static_cast<double>(n) * static_cast<double>(n); })
      .prepare([&](long long n) { counts.assign(static_cast<std::size_t>(n * n), 0); })
      .run([&](std::size_t task, std::size_t tasks, long long n) {
        mandel_rows(counts, n, task * n / tasks, (task + 1) * n / tasks);
      })
      .checksum([&](long long) { return std::accumulate(counts.begin(), counts.end(), 0.0); }));
}

// A unit test of your own that measures in process (cvp/measure.h) and asserts on the result:
// the Mandelbrot kernel, split over 2 cores, must run more than 1.5 times as fast as serially.
// It needs 2 cores and a quiet machine to judge; with fewer, or when the run says the machine
// was busy, it says so and does not judge (exit 0), as a test of timing must.
#include <cvp/tasks.h>

#include <cstdio>
#include <numeric>
#include <vector>

#include "mandel_kernel.h"

int main() {
  std::vector<int> counts;
  const cvp::Results results = cvp::measure(cvp::tasks("mandel")
      .sizes({512})
      .work([](long long n) { return static_cast<double>(n) * static_cast<double>(n); })
      .prepare([&](long long n) { counts.assign(static_cast<std::size_t>(n * n), 0); })
      .run([&](std::size_t task, std::size_t tasks, long long n) {
        mandel_rows(counts, n, task * n / tasks, (task + 1) * n / tasks);
      })
      .checksum([&](long long) { return std::accumulate(counts.begin(), counts.end(), 0.0); }),
      {"--threads", "2", "--backend", "threads", "--budget", "10"});
  const cvp::Result& par = results.at("mode:parallel/backend:threads/threads:2");
  std::printf("parallel on 2 threads: x%.2f [%.2f, %.2f] of a bound of x%.2f\n", par.speedup,
              par.speedup_low, par.speedup_high, par.bound);
  if (!par.ok) {
    std::printf("FAILED: %s\n", par.error.c_str());
    return 1;
  }
  if (par.ideal < 2 || results.summary.value("noisy", false)) {
    std::printf("not judged: %s\n", par.ideal < 2 ? "fewer than 2 cores" : "the machine was busy");
    return 0;
  }
  if (par.speedup <= 1.5) {
    std::printf("FAILED: expected a parallel speedup above x1.5\n");
    return 1;
  }
  return 0;
}

// Two parameters and a counter with the lambda API (cvp/tasks.h): `sweeps` Jacobi sweeps over
// an n x n grid, each task a band of rows. Points are named jacobi/n:N/sweeps:S/... and the
// flags are --jacobi-n and --jacobi-sweeps. The counter `updates` is the cell updates of each
// execution, the halo each band recomputes included: it grows with the number of tasks.
//
//   jacobi_bench --quick
//   jacobi_bench --jacobi-n 512 --jacobi-sweeps 2,8 --backend threads
#include <cvp/tasks.h>

#include <atomic>
#include <cstddef>
#include <numeric>
#include <vector>

#include "jacobi_kernel.h"

int main(int argc, char** argv) {
  std::vector<double> in, out;
  std::atomic<std::size_t> updates{0};
  const auto size = [](const cvp::Args& args) { return static_cast<std::size_t>(args["n"]); };
  return cvp::run_program(argc, argv, cvp::tasks("jacobi")
      .params({"n", "sweeps"})
      .product({{512, 1024}, {4, 16}}).quick_product({{256}, {4}})
      .unit("cells", "Mcell/s", 1e6)
      .description("sweeps of the 4-neighbour mean over an n x n grid, bands of rows")
      .work([](const cvp::Args& a) { return 1.0 * a["n"] * a["n"] * a["sweeps"]; })
      .prepare([&](const cvp::Args& a) { in = jacobi_start(size(a)); out.assign(in.size(), 0.0); })
      .run([&](std::size_t task, std::size_t tasks, const cvp::Args& args) {
        const std::size_t n = size(args);
        const auto sweeps = static_cast<std::size_t>(args["sweeps"]);
        updates += jacobi_rows(in, out, n, sweeps, task * n / tasks, (task + 1) * n / tasks);
      })
      .checksum([&](const cvp::Args&) { return std::accumulate(out.begin(), out.end(), 0.0); })
      .counter("updates", [&](const cvp::Args&) { return double(updates.exchange(0)); }));
}

// cvpbench-blas-compare: how far the matmul kernel is from a tuned BLAS on the same core.
//
// The process pins itself to the first CPU it is allowed (so `taskset -c 3` picks core 3), sets
// OpenBLAS to one thread, and times each path of cvp::matmul::Kernel this CPU supports (or only
// the one CVPBENCH_KERNEL names) against cblas_dgemm for the same inputs. All report GFLOP/s
// (2 n^3 per product) as the GFLOPS counter. For interleaved runs, add
// --benchmark_repetitions=N --benchmark_enable_random_interleaving=true.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "matmul/matmul.h"

#if defined(__linux__) && !defined(CVP_NO_AFFINITY)
#include <sched.h>
#endif

namespace {

// Pins the calling thread to the first CPU of its allowed set; returns that CPU, or -1 if pinning
// is unavailable or failed.
int pin_to_first_allowed_cpu() {
#if defined(__linux__) && !defined(CVP_NO_AFFINITY)
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
  }
#endif
  return -1;
}

void set_gflops(benchmark::State& state, std::size_t n) {
  state.counters["GFLOPS"] = benchmark::Counter(cvp::matmul::flops(n) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void bm_cvpbench(benchmark::State& state, const cvp::matmul::Kernel* kernel, std::size_t n) {
  cvp::matmul::Problem p = cvp::matmul::make_problem(n);
  for (auto _ : state) {
    kernel->multiply(p.a.data(), p.b.data(), p.c.data(), n);
    benchmark::DoNotOptimize(p.c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

void bm_openblas(benchmark::State& state, std::size_t n) {
  cvp::matmul::Problem p = cvp::matmul::make_problem(n);
  const auto dim = static_cast<blasint>(n);
  for (auto _ : state) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0, p.a.data(), dim,
                p.b.data(), dim, 0.0, p.c.data(), dim);
    benchmark::DoNotOptimize(p.c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

}  // namespace

// The paths to time: CVPBENCH_KERNEL's alone when it is set, else every one this CPU runs.
std::vector<const cvp::matmul::Kernel*> kernels_to_time() {
  if (const char* forced = std::getenv(cvp::kKernelEnv); forced != nullptr && *forced != '\0') {
    return {&cvp::matmul::Kernel::chosen()};
  }
  std::vector<const cvp::matmul::Kernel*> kernels;
  for (cvp::Isa isa : {cvp::Isa::avx512, cvp::Isa::avx2, cvp::Isa::generic}) {
    if (cvp::cpu_supports(isa)) kernels.push_back(&cvp::matmul::Kernel::of(isa));
  }
  return kernels;
}

int main(int argc, char** argv) {
  if (const cvp::IsaChoice choice = cvp::isa_choice(); choice.refusal) {
    std::fprintf(stderr, "cvpbench-blas-compare: error: %s\n", choice.refusal->c_str());
    return 2;
  }
  // Pin before OpenBLAS or Google Benchmark start anything, so every thread inherits the CPU.
  const int cpu = pin_to_first_allowed_cpu();
  openblas_set_num_threads(1);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("pinned_cpu", cpu >= 0 ? std::to_string(cpu) : "not pinned");
#ifdef CVP_OPENBLAS_VERSION
  benchmark::AddCustomContext("openblas_version", CVP_OPENBLAS_VERSION);
#endif
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());

  for (const std::size_t n : std::vector<std::size_t>{256, 512, 1024}) {
    const std::string size = "/n:" + std::to_string(n);
    for (const cvp::matmul::Kernel* kernel : kernels_to_time()) {
      const std::string name = std::string("matmul/impl:cvpbench-") + kernel->name() + size;
      benchmark::RegisterBenchmark(name.c_str(), bm_cvpbench, kernel, n)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
    benchmark::RegisterBenchmark(("matmul/impl:openblas" + size).c_str(), bm_openblas, n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// A plain Google Benchmark program with Complexity(): its JSON has BigO and RMS rows, which hold
// fitted coefficients instead of times. generate.sh builds it and writes benchmark.json here.
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

static void sum(benchmark::State& state) {
  std::vector<double> v(static_cast<std::size_t>(state.range(0)), 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(std::accumulate(v.begin(), v.end(), 0.0));
  state.SetComplexityN(state.range(0));
}
BENCHMARK(sum)->RangeMultiplier(4)->Range(1 << 8, 1 << 14)->Complexity(benchmark::oN);

BENCHMARK_MAIN();

#include "exec/slow_cpu.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <utility>

namespace cvp::exec {
namespace {

std::vector<SlowCpu>& table() {
  static std::vector<SlowCpu> cpus;
  return cpus;
}

std::atomic<bool> g_any{false};

}  // namespace

void set_slow_cpus(std::vector<SlowCpu> cpus) {
  table() = std::move(cpus);
  g_any.store(!table().empty(), std::memory_order_release);
}

const std::vector<SlowCpu>& slow_cpus() { return table(); }

bool any_slow_cpu() { return g_any.load(std::memory_order_acquire); }

double slow_cpu_percent(int cpu) {
  if (!any_slow_cpu()) return 0;
  for (const SlowCpu& s : table()) {
    if (s.cpu == cpu) return s.percent;
  }
  return 0;
}

double stretch_on_slow_cpu(double elapsed_s) {
  if (!any_slow_cpu() || elapsed_s <= 0) return 0;
  const int cpu = sched_getcpu();
  const double percent = cpu < 0 ? 0 : slow_cpu_percent(cpu);
  if (percent <= 0) return 0;
  const double extra = elapsed_s * percent / 100;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(extra);
  while (std::chrono::steady_clock::now() < end) {
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace cvp::exec

// The --inject-slow-cpu seam: CPUs made slower on purpose, so that a model of the machine that
// must see cores of different speeds can be tested on a machine whose cores are all alike.
// Work that runs on a slowed CPU (each task of an Executor, each CPU part of a request, the
// machine model's FMA loop and clock probe) is followed by busy work for `percent` % of its
// own time, on the same thread, inside whatever region times it. Internal to the library.
#pragma once

#include <chrono>
#include <vector>

namespace cvp::exec {

struct SlowCpu {
  int cpu = 0;
  double percent = 0;  // in (0, 1000]
};

// Sets the slowed CPUs for the rest of the process (empty: none).
// REQUIRES: called before any thread that runs work exists (the program calls it once, right
// after parsing its options); the list is read without a lock afterwards.
void set_slow_cpus(std::vector<SlowCpu> cpus);
const std::vector<SlowCpu>& slow_cpus();
bool any_slow_cpu();

// The percentage `cpu` is slowed by; 0 when it is not.
double slow_cpu_percent(int cpu);

// After work that took `elapsed_s` on the calling thread: spins percent % of it longer when
// the thread is on a slowed CPU now (sched_getcpu). Returns the seconds added (0 at once when
// no CPU is slowed).
double stretch_on_slow_cpu(double elapsed_s);

// Runs `work`, timed and stretched as above; only `work` when no CPU is slowed.
template <class Work>
void run_stretched(Work&& work) {
  if (!any_slow_cpu()) {
    work();
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  work();
  stretch_on_slow_cpu(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace cvp::exec

// Evidence that a measurement ran where it was meant to: the CPUs and threads its tasks were
// seen on, and the process's CPU time and context switches around it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace cvp::exec {

// Process-wide resource usage at one instant (getrusage(RUSAGE_SELF) and a monotonic clock).
struct UsageSnapshot {
  double wall_s = 0;
  double cpu_s = 0;  // user + system, all threads
  long voluntary_switches = 0;
  long involuntary_switches = 0;

  static UsageSnapshot now();
};

struct UsageDelta {
  double wall_s = 0;
  double cpu_s = 0;
  long voluntary_switches = 0;
  long involuntary_switches = 0;
  double cpu_per_wall() const { return wall_s > 0 ? cpu_s / wall_s : 0.0; }
};

UsageDelta operator-(const UsageSnapshot& after, const UsageSnapshot& before);

// Thread-safe record of where tasks ran. Tasks call note() at their start and end.
class Sightings {
 public:
  static constexpr int kMaxCpus = 1024;

  // Records the calling thread and the CPU it runs on now.
  void note();
  void note_pin_failure() { pin_failures_.fetch_add(1, std::memory_order_relaxed); }

  std::vector<int> cpus() const;
  int threads() const;
  int pin_failures() const { return pin_failures_.load(std::memory_order_relaxed); }
  void reset();

 private:
  std::array<std::atomic<std::uint64_t>, kMaxCpus / 64> cpu_bits_{};
  std::atomic<int> pin_failures_{0};
  mutable std::mutex mutex_;
  std::unordered_set<std::thread::id> threads_;
};

// Pinned means: every pin succeeded and every task was seen only on the CPUs it was meant for.
bool pinned_as_intended(const std::vector<int>& seen, const std::vector<int>& intended,
                        int pin_failures);

}  // namespace cvp::exec

// Evidence that a measurement ran where it was meant to: the CPUs and threads its tasks were
// seen on, and the process's CPU time and context switches around it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
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

// Where tasks ran: the CPUs and the threads they were seen on, and the workers' pin failures.
//
// Tasks call note(slot) at their start and end, inside the timed region, so it takes no lock and
// allocates nothing: each worker slot has its own cache lines (a CPU bitmap and a small table of
// the threads that noted it), written with relaxed atomics, and the queries merge the slots
// afterwards. A worker passes its own slot (its index in the team), so no two workers write the
// same line. Every member may be called from many threads at once; the queries and reset() are
// meant for outside the timed region, once the workers that note have finished (their results
// then include every note that happened before).
class Sightings {
 public:
  static constexpr int kMaxCpus = 1024;
  // Threads one slot tells apart; more threads on one slot make threads() a lower bound.
  static constexpr int kThreadsPerSlot = 8;

  // `slots` < 1 counts as 1.
  explicit Sightings(int slots = 1);
  Sightings(const Sightings&) = delete;
  Sightings& operator=(const Sightings&) = delete;

  int slots() const { return n_slots_; }

  // Records, in slot `slot` (taken modulo slots(); a negative slot is 0), the CPU the calling
  // thread runs on now (nothing when that is unknown) and the calling thread.
  void note(int slot);
  void note_pin_failure() { pin_failures_.fetch_add(1, std::memory_order_relaxed); }

  // Every CPU any slot was seen on, ascending.
  std::vector<int> cpus() const;
  // The number of distinct threads that noted any slot: exact while no slot is noted by more
  // than kThreadsPerSlot threads, and a lower bound past that.
  int threads() const;
  int pin_failures() const { return pin_failures_.load(std::memory_order_relaxed); }
  void reset();

 private:
  // One worker's record, on cache lines of its own: two for the CPU bitmap, one for the threads.
  struct alignas(64) Slot {
    std::array<std::atomic<std::uint64_t>, kMaxCpus / 64> cpu_bits{};
    // Ids of the threads seen (never 0), each entry claimed from 0 (free) by compare-exchange,
    // in order: the first is the slot's owner, the only one in a team that keeps its slots, so
    // a note after the first reads one entry and writes nothing.
    std::array<std::atomic<std::uintptr_t>, kThreadsPerSlot> thread_ids{};
  };

  int n_slots_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<int> pin_failures_{0};
};

// Pinned means: every pin succeeded and every task was seen only on the CPUs it was meant for.
bool pinned_as_intended(const std::vector<int>& seen, const std::vector<int>& intended,
                        int pin_failures);

}  // namespace cvp::exec

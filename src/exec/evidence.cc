#include "cvp/exec/evidence.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "cvp/exec/affinity.h"

namespace cvp::exec {

UsageSnapshot UsageSnapshot::now() {
  UsageSnapshot s;
  s.wall_s = std::chrono::duration<double>(
                 std::chrono::steady_clock::now().time_since_epoch()).count();
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
              static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    s.voluntary_switches = ru.ru_nvcsw;
    s.involuntary_switches = ru.ru_nivcsw;
  }
  return s;
}

UsageDelta operator-(const UsageSnapshot& after, const UsageSnapshot& before) {
  return {after.wall_s - before.wall_s, after.cpu_s - before.cpu_s,
          after.voluntary_switches - before.voluntary_switches,
          after.involuntary_switches - before.involuntary_switches};
}

namespace {

// The calling thread's id for Sightings: never 0, and never given to two threads of the process
// (unlike std::thread::id or a TLS address, which a thread started later may reuse), so threads
// of successive runs that note one Sightings are told apart. Drawn once per thread.
std::uintptr_t this_thread_tag() {
  static std::atomic<std::uintptr_t> next{1};
  thread_local const std::uintptr_t tag = next.fetch_add(1, std::memory_order_relaxed);
  return tag;
}

}  // namespace

Sightings::Sightings(int slots)
    : n_slots_(std::max(1, slots)),
      slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(n_slots_))) {}

void Sightings::note(int slot) {
  Slot& s = slots_[static_cast<std::size_t>(slot < 0 ? 0 : slot % n_slots_)];
  const int cpu = current_cpu();
  if (cpu >= 0 && cpu < kMaxCpus) {
    std::atomic<std::uint64_t>& word = s.cpu_bits[static_cast<std::size_t>(cpu / 64)];
    const std::uint64_t bit = std::uint64_t{1} << (cpu % 64);
    // Read first: after a worker's first note on its CPU the bit is set, and a read costs less
    // than a locked read-modify-write.
    if ((word.load(std::memory_order_relaxed) & bit) == 0) {
      word.fetch_or(bit, std::memory_order_relaxed);
    }
  }
  const std::uintptr_t me = this_thread_tag();
  for (std::atomic<std::uintptr_t>& entry : s.thread_ids) {
    std::uintptr_t seen = entry.load(std::memory_order_relaxed);
    if (seen == me) return;
    // A free entry: claim it, unless another thread claims it first (then `seen` is that one's
    // id, and the search goes on past it).
    if (seen == 0 && entry.compare_exchange_strong(seen, me, std::memory_order_relaxed)) return;
  }
  // The table is full: this thread goes uncounted, and threads() is a lower bound.
}

std::vector<int> Sightings::cpus() const {
  std::array<std::uint64_t, kMaxCpus / 64> bits{};
  for (int i = 0; i < n_slots_; ++i) {
    const Slot& s = slots_[static_cast<std::size_t>(i)];
    for (std::size_t w = 0; w < bits.size(); ++w) {
      bits[w] |= s.cpu_bits[w].load(std::memory_order_relaxed);
    }
  }
  std::vector<int> out;
  for (std::size_t w = 0; w < bits.size(); ++w) {
    for (int b = 0; b < 64; ++b) {
      if (bits[w] & (std::uint64_t{1} << b)) out.push_back(static_cast<int>(w) * 64 + b);
    }
  }
  return out;
}

int Sightings::threads() const {
  // A thread may have noted several slots (oneTBB's threads change slots between runs): count
  // each id once.
  std::vector<std::uintptr_t> ids;
  for (int i = 0; i < n_slots_; ++i) {
    for (const auto& entry : slots_[static_cast<std::size_t>(i)].thread_ids) {
      const std::uintptr_t id = entry.load(std::memory_order_relaxed);
      if (id != 0) ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return static_cast<int>(std::unique(ids.begin(), ids.end()) - ids.begin());
}

void Sightings::reset() {
  for (int i = 0; i < n_slots_; ++i) {
    Slot& s = slots_[static_cast<std::size_t>(i)];
    for (auto& w : s.cpu_bits) w.store(0, std::memory_order_relaxed);
    for (auto& entry : s.thread_ids) entry.store(0, std::memory_order_relaxed);
  }
  pin_failures_.store(0, std::memory_order_relaxed);
}

bool pinned_as_intended(const std::vector<int>& seen, const std::vector<int>& intended,
                        int pin_failures) {
  if (pin_failures > 0 || seen.empty()) return false;
  return std::all_of(seen.begin(), seen.end(), [&](int cpu) {
    return std::find(intended.begin(), intended.end(), cpu) != intended.end();
  });
}

}  // namespace cvp::exec

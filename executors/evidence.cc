#include "cvp/exec/evidence.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

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

void Sightings::note() {
  const int cpu = current_cpu();
  if (cpu >= 0 && cpu < kMaxCpus) {
    cpu_bits_[static_cast<std::size_t>(cpu / 64)].fetch_or(std::uint64_t{1} << (cpu % 64),
                                                           std::memory_order_relaxed);
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  threads_.insert(std::this_thread::get_id());
}

std::vector<int> Sightings::cpus() const {
  std::vector<int> out;
  for (std::size_t w = 0; w < cpu_bits_.size(); ++w) {
    const std::uint64_t bits = cpu_bits_[w].load(std::memory_order_relaxed);
    for (int b = 0; b < 64; ++b) {
      if (bits & (std::uint64_t{1} << b)) out.push_back(static_cast<int>(w) * 64 + b);
    }
  }
  return out;
}

int Sightings::threads() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(threads_.size());
}

void Sightings::reset() {
  for (auto& w : cpu_bits_) w.store(0, std::memory_order_relaxed);
  pin_failures_.store(0, std::memory_order_relaxed);
  const std::lock_guard<std::mutex> lock(mutex_);
  threads_.clear();
}

bool pinned_as_intended(const std::vector<int>& seen, const std::vector<int>& intended,
                        int pin_failures) {
  if (pin_failures > 0 || seen.empty()) return false;
  return std::all_of(seen.begin(), seen.end(), [&](int cpu) {
    return std::find(intended.begin(), intended.end(), cpu) != intended.end();
  });
}

}  // namespace cvp::exec

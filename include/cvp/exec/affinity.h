// CPU affinity of the calling thread, and where it is running now.
//
// Built with CVP_NO_AFFINITY (as on platforms without affinity calls, e.g. macOS) every pin
// request fails and is reported as such; nothing pretends to be pinned.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cvp::exec {

// True when this build can pin threads to CPUs.
bool affinity_supported();

// CPUs the process may run on (sched_getaffinity of the process), ascending. Never empty:
// without affinity support it is 0 .. hardware_concurrency-1.
std::vector<int> allowed_cpus();

// Pins the calling thread to `cpu`. Returns false when the pin was refused or unsupported.
bool pin_to_cpu(int cpu);

// The calling thread's affinity mask as a list, ascending; empty when unsupported.
std::vector<int> thread_affinity();

// Restores the calling thread's affinity to `cpus` (from thread_affinity()). Returns success.
bool set_thread_affinity(const std::vector<int>& cpus);

// The CPU the calling thread is running on right now, or -1 when unknown.
int current_cpu();

// Saves the calling thread's affinity on construction and restores it on destruction, so a
// caller that joins a pool (OpenMP master, oneTBB arena master) gets its own mask back.
class ScopedAffinityRestore {
 public:
  ScopedAffinityRestore();
  ~ScopedAffinityRestore();
  ScopedAffinityRestore(const ScopedAffinityRestore&) = delete;
  ScopedAffinityRestore& operator=(const ScopedAffinityRestore&) = delete;

 private:
  std::vector<int> saved_;
};

// Parses a CPU list such as "0-3,6,8-9". Returns nullopt on malformed text.
std::optional<std::vector<int>> parse_cpu_list(const char* text);

// Formats ascending CPUs compactly: {0,1,2,5} -> "0-2,5".
std::string format_cpu_list(const std::vector<int>& cpus);

}  // namespace cvp::exec

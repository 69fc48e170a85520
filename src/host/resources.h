// What this process may use: CPU quota, memory and threads, from cgroups (v1 and v2), rlimits
// and /proc. /proc/self/cgroup is parsed in one place, here, for every probe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

// One line of /proc/self/cgroup: "hierarchy-id:controller-list:path".
struct CgroupEntry {
  bool v2 = false;                       // "0::path", the unified hierarchy
  std::vector<std::string> controllers;  // v1 only
  std::string path;
  bool has(const std::string& controller) const;
};
std::vector<CgroupEntry> parse_proc_cgroup(const std::string& text);

// The CPU time the process's cgroups allow, in CPUs (quota / period), the smallest along the
// cgroup's path; nullopt when no quota is set or none can be read. cgroup v2 (cpu.max) and v1
// (cpu.cfs_quota_us, cpu.cfs_period_us). `proc_self_cgroup` is the text of /proc/self/cgroup.
std::optional<double> cgroup_cpu_quota(const std::string& proc_self_cgroup,
                                       const std::string& cgroup_root = "/sys/fs/cgroup");
std::optional<double> cgroup_cpu_quota();

// Bytes of memory available to a new allocation now: the least of MemAvailable, what the
// memory cgroup still allows and RLIMIT_AS/RLIMIT_DATA; 0 when unknown.
std::size_t available_memory_bytes();

// How many threads this process may create, from RLIMIT_NPROC, kernel.threads-max and
// vm.max_map_count (two mappings per thread stack); 0 when none can be read.
std::size_t thread_limit();

}  // namespace cvp::bench

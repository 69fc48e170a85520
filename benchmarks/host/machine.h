// The machine context every result file carries, so a reader can reproduce the run.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "cvp/exec/topology.h"

namespace cvp::bench {

// cpu model, CPUs (logical, physical, allowed), SMT, caches, governor, compiler and flags,
// library versions, OS, host and date (UTC, ISO 8601).
nlohmann::json machine_context(const exec::Topology& topology);

// The CPU time the process's cgroups allow, in CPUs (quota / period), the smallest along the
// cgroup's path; nullopt when no quota is set or none can be read. cgroup v2 (cpu.max) and v1
// (cpu.cfs_quota_us, cpu.cfs_period_us). `proc_self_cgroup` is the text of /proc/self/cgroup.
std::optional<double> cgroup_cpu_quota(const std::string& proc_self_cgroup,
                                       const std::string& cgroup_root = "/sys/fs/cgroup");
std::optional<double> cgroup_cpu_quota();

// The host name, as a file-name-safe string (for the run folder).
std::string safe_host_name();

// UTC now as 2026-01-31T12:00:00Z.
std::string utc_timestamp();

}  // namespace cvp::bench

// Which CPUs this process may use, how they group into physical cores, and where each mode's
// workers go. Machine-wide facts come from hwloc; the allowed subset from sched_getaffinity, so
// `taskset -c 1 cvpbench` is honoured.
#pragma once

#include <string>
#include <vector>

namespace cvp::exec {

struct CacheInfo {
  int level = 0;
  std::string type;  // "data", "instruction" or "unified"
  long long size_bytes = 0;
  int shared_by = 1;  // logical CPUs sharing one instance
};

struct Topology {
  std::string cpu_model;
  int logical_cpus = 1;    // machine-wide
  int physical_cores = 1;  // machine-wide
  bool smt = false;        // some core holds more than one logical CPU
  std::vector<CacheInfo> caches;
  std::vector<int> allowed;              // logical CPUs this process may use, ascending
  std::vector<std::vector<int>> cores;   // allowed CPUs grouped by physical core

  // Physical cores with at least one allowed CPU: what "all cores" means for parallel mode.
  int allowed_cores() const { return static_cast<int>(cores.size()); }
  int allowed_logical() const { return static_cast<int>(allowed.size()); }

  // The CPU serial and concurrent mode run on: the first CPU of the first allowed core.
  int home_cpu() const;

  // Where each of `threads` parallel workers goes: one per physical core first, then SMT
  // siblings, then round-robin over the allowed CPUs (oversubscribed).
  // REQUIRES: threads >= 1.
  std::vector<int> parallel_cpus(int threads) const;
};

// Detects the machine; falls back to one core per allowed CPU when hwloc cannot load.
Topology detect_topology();

// A topology for tests: `cores_cpus` lists each allowed core's CPUs.
Topology make_topology(const std::vector<std::vector<int>>& cores_cpus, bool smt);

}  // namespace cvp::exec

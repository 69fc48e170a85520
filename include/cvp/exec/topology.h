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

// One kind of core, as hwloc's CPU kinds rank them (hybrid CPUs: performance and efficiency
// cores; big.LITTLE).
struct CpuKind {
  std::string name;              // "P", "E" ("M" between them; "K<rank>" beyond three kinds)
  int rank = 0;                  // hwloc's efficiency rank: higher is faster
  std::string core_type;         // hwloc's CoreType info ("IntelCore", "IntelAtom"), "" if none
  double frequency_max_mhz = 0;  // hwloc's FrequencyMaxMHz info, 0 when not offered
  std::vector<int> cpus;         // its allowed CPUs, ascending
};

struct Topology {
  std::string cpu_model;
  int logical_cpus = 1;    // machine-wide
  int physical_cores = 1;  // machine-wide
  bool smt = false;        // some core holds more than one logical CPU
  std::vector<CacheInfo> caches;
  std::vector<int> allowed;              // logical CPUs this process may use, ascending
  // Allowed CPUs grouped by physical core, fastest first: by kind (the fastest kind first),
  // then, once the machine model has measured them (Topology::ranked), by measured speed; the
  // home CPU is first. Cores of one speed keep the order of their CPU numbers.
  std::vector<std::vector<int>> cores;
  // The kinds of core among the allowed CPUs, fastest first; empty when there is one kind.
  std::vector<CpuKind> kinds;

  // Physical cores with at least one allowed CPU: what "all cores" means for parallel mode.
  int allowed_cores() const { return static_cast<int>(cores.size()); }
  int allowed_logical() const { return static_cast<int>(allowed.size()); }

  // The CPU serial and concurrent mode run on: the first CPU of the first allowed core (the
  // fastest, once the cores are ranked).
  int home_cpu() const;

  // The kind `cpu` is of; nullptr with one kind, or for a CPU of no kind.
  const CpuKind* kind_of(int cpu) const;
  // The kinds among `cpus` joined fastest first ("P", "P+E"); "" with one kind.
  std::string kinds_label(const std::vector<int>& cpus) const;
  // How many cores are of the fastest kind (all cores with one kind).
  int fastest_kind_cores() const;

  // This topology with its cores reordered: `core_order` lists indices into `cores` (a
  // permutation), and `home` (an allowed CPU) is moved to the front of its core.
  Topology ranked(const std::vector<std::size_t>& core_order, int home) const;

  // Where each of `threads` parallel workers goes: one per physical core first, then SMT
  // siblings, then round-robin over the allowed CPUs (oversubscribed).
  // REQUIRES: threads >= 1.
  std::vector<int> parallel_cpus(int threads) const;
};

// Detects the machine; falls back to one core per allowed CPU when hwloc cannot load.
Topology detect_topology();

// The machine an hwloc XML file describes (hwloc_topology_set_xml), every CPU of it allowed,
// for planning another machine (--list) and for tests. Throws std::runtime_error, one
// sentence, when the file cannot be read as a topology.
Topology topology_from_xml(const std::string& path);

// A topology for tests: `cores_cpus` lists each allowed core's CPUs.
Topology make_topology(const std::vector<std::vector<int>>& cores_cpus, bool smt);

}  // namespace cvp::exec

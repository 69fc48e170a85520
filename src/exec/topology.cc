#include "cvp/exec/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "cvp/exec/affinity.h"

namespace cvp::exec {

int Topology::home_cpu() const {
  if (!cores.empty() && !cores.front().empty()) return cores.front().front();
  return allowed.empty() ? 0 : allowed.front();
}

std::vector<int> Topology::parallel_cpus(int threads) const {
  // Order: first CPU of every core, then second CPU of every core, ... then wrap around.
  std::vector<int> order;
  std::size_t depth = 0;
  for (bool added = true; added; ++depth) {
    added = false;
    for (const auto& core : cores) {
      if (depth < core.size()) {
        order.push_back(core[depth]);
        added = true;
      }
    }
  }
  if (order.empty()) order.push_back(home_cpu());
  std::vector<int> cpus(static_cast<std::size_t>(std::max(threads, 0)));
  for (std::size_t i = 0; i < cpus.size(); ++i) cpus[i] = order[i % order.size()];
  return cpus;
}

Topology make_topology(const std::vector<std::vector<int>>& cores_cpus, bool smt) {
  Topology t;
  t.cpu_model = "synthetic";
  t.cores = cores_cpus;
  for (const auto& core : cores_cpus) t.allowed.insert(t.allowed.end(), core.begin(), core.end());
  std::sort(t.allowed.begin(), t.allowed.end());
  t.logical_cpus = static_cast<int>(t.allowed.size());
  t.physical_cores = static_cast<int>(cores_cpus.size());
  t.smt = smt;
  return t;
}

namespace {

// Firmware pads model strings with spaces (and hwloc passes them on): keep the words only.
std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "unknown";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string cpu_model_from_proc() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        return trimmed(line.substr(colon + 1));
      }
    }
  }
  return "unknown";
}

}  // namespace

Topology detect_topology() {
  Topology t;
  const std::vector<int> allowed = allowed_cpus();
  const std::set<int> allowed_set(allowed.begin(), allowed.end());
  t.allowed = allowed;

  hwloc_topology_t topo;
  bool loaded = hwloc_topology_init(&topo) == 0;
  if (loaded && hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    loaded = false;
  }
  if (!loaded) {
    for (int cpu : allowed) t.cores.push_back({cpu});
    t.logical_cpus = static_cast<int>(allowed.size());
    t.physical_cores = t.logical_cpus;
    t.cpu_model = cpu_model_from_proc();
    return t;
  }

  t.logical_cpus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  const int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  t.physical_cores = ncores > 0 ? ncores : t.logical_cpus;
  std::set<int> placed;
  for (int i = 0; i < ncores; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    std::vector<int> cpus;
    int pus = 0;
    hwloc_obj_t pu = nullptr;
    while ((pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU, pu))) {
      ++pus;
      const int cpu = static_cast<int>(pu->os_index);
      if (allowed_set.count(cpu)) cpus.push_back(cpu);
    }
    if (pus > 1) t.smt = true;
    std::sort(cpus.begin(), cpus.end());
    if (!cpus.empty()) {
      placed.insert(cpus.begin(), cpus.end());
      t.cores.push_back(cpus);
    }
  }
  // Allowed CPUs hwloc did not place in a core (e.g. no-affinity builds) count as cores.
  for (int cpu : allowed) {
    if (!placed.count(cpu)) t.cores.push_back({cpu});
  }
  std::sort(t.cores.begin(), t.cores.end());

  const hwloc_obj_t root = hwloc_get_root_obj(topo);
  const char* model = hwloc_obj_get_info_by_name(root, "CPUModel");
  if (!model) {
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    if (pkg) model = hwloc_obj_get_info_by_name(pkg, "CPUModel");
  }
  t.cpu_model = trimmed(model ? model : cpu_model_from_proc());

  for (hwloc_obj_type_t type : {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE,
                                HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE}) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, 0);
    if (!obj || !obj->attr) continue;
    CacheInfo c;
    c.level = static_cast<int>(obj->attr->cache.depth);
    switch (obj->attr->cache.type) {
      case HWLOC_OBJ_CACHE_DATA: c.type = "data"; break;
      case HWLOC_OBJ_CACHE_INSTRUCTION: c.type = "instruction"; break;
      default: c.type = "unified"; break;
    }
    c.size_bytes = static_cast<long long>(obj->attr->cache.size);
    c.shared_by = std::max(1, hwloc_bitmap_weight(obj->cpuset));
    t.caches.push_back(c);
  }
  hwloc_topology_destroy(topo);
  return t;
}

}  // namespace cvp::exec

#include "cvp/exec/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
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

const CpuKind* Topology::kind_of(int cpu) const {
  for (const CpuKind& kind : kinds) {
    if (std::binary_search(kind.cpus.begin(), kind.cpus.end(), cpu)) return &kind;
  }
  return nullptr;
}

std::string Topology::kinds_label(const std::vector<int>& cpus) const {
  std::string label;
  for (const CpuKind& kind : kinds) {  // fastest first
    const bool present = std::any_of(cpus.begin(), cpus.end(), [&](int cpu) {
      return std::binary_search(kind.cpus.begin(), kind.cpus.end(), cpu);
    });
    if (present) label += (label.empty() ? "" : "+") + kind.name;
  }
  return label;
}

int Topology::fastest_kind_cores() const {
  if (kinds.empty()) return allowed_cores();
  const CpuKind& fastest = kinds.front();
  return static_cast<int>(std::count_if(cores.begin(), cores.end(), [&](const auto& core) {
    return std::binary_search(fastest.cpus.begin(), fastest.cpus.end(), core.front());
  }));
}

Topology Topology::ranked(const std::vector<std::size_t>& core_order, int home) const {
  Topology t = *this;
  t.cores.clear();
  for (std::size_t index : core_order) {
    if (index < cores.size()) t.cores.push_back(cores[index]);
  }
  if (t.cores.size() != cores.size()) t.cores = cores;  // not a permutation: keep the order
  for (std::size_t c = 0; c < t.cores.size(); ++c) {
    auto& core = t.cores[c];
    const auto at = std::find(core.begin(), core.end(), home);
    if (at == core.end()) continue;
    std::rotate(core.begin(), at, at + 1);
    std::rotate(t.cores.begin(), t.cores.begin() + static_cast<std::ptrdiff_t>(c),
                t.cores.begin() + static_cast<std::ptrdiff_t>(c) + 1);
    break;
  }
  return t;
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

namespace {

// The allowed CPUs grouped by hwloc's cores; whether some core holds more than one CPU.
void fill_cores(hwloc_topology_t topo, Topology& t) {
  const std::set<int> allowed_set(t.allowed.begin(), t.allowed.end());
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
  for (int cpu : t.allowed) {
    if (!placed.count(cpu)) t.cores.push_back({cpu});
  }
  std::sort(t.cores.begin(), t.cores.end());
}

void fill_model_and_caches(hwloc_topology_t topo, Topology& t) {
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
}

// One kind from hwloc's CPU kinds: its rank, infos and allowed CPUs (none: nullopt).
std::optional<CpuKind> read_kind(hwloc_topology_t topo, unsigned index,
                                 const std::set<int>& allowed) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  int efficiency = -1;
  unsigned nr_infos = 0;
  hwloc_info_s* infos = nullptr;
  if (set == nullptr) return std::nullopt;
  const bool read = hwloc_cpukinds_get_info(topo, index, set, &efficiency, &nr_infos, &infos, 0) == 0;
  CpuKind kind;
  // Kinds come sorted by efficiency rank; an unknown rank (-1) keeps that order.
  kind.rank = efficiency >= 0 ? efficiency : static_cast<int>(index);
  for (unsigned i = 0; read && i < nr_infos; ++i) {
    const std::string name = infos[i].name ? infos[i].name : "";
    const char* value = infos[i].value ? infos[i].value : "";
    if (name == "CoreType") kind.core_type = value;
    if (name == "FrequencyMaxMHz") kind.frequency_max_mhz = std::strtod(value, nullptr);
  }
  for (int cpu = hwloc_bitmap_first(set); read && cpu >= 0; cpu = hwloc_bitmap_next(set, cpu)) {
    if (allowed.count(cpu)) kind.cpus.push_back(cpu);
  }
  hwloc_bitmap_free(set);
  if (!read || kind.cpus.empty()) return std::nullopt;
  return kind;
}

// The name of the kind at position `i` of `n` kinds (fastest first): Intel's core types by
// their names, else P for the fastest, E for the slowest, M between (K<rank> beyond three).
std::string kind_name(const CpuKind& kind, std::size_t i, std::size_t n) {
  if (kind.core_type == "IntelCore") return "P";
  if (kind.core_type == "IntelAtom") return "E";
  if (n > 3) return "K" + std::to_string(kind.rank);
  if (i == 0) return "P";
  return i + 1 == n ? "E" : "M";
}

void fill_kinds(hwloc_topology_t topo, Topology& t) {
  const std::set<int> allowed(t.allowed.begin(), t.allowed.end());
  const int n = hwloc_cpukinds_get_nr(topo, 0);
  std::vector<CpuKind> kinds;
  for (int i = 0; i < n; ++i) {
    if (auto kind = read_kind(topo, static_cast<unsigned>(i), allowed)) kinds.push_back(*kind);
  }
  if (kinds.size() < 2) return;  // one kind: nothing to say about kinds
  std::stable_sort(kinds.begin(), kinds.end(),
                   [](const CpuKind& a, const CpuKind& b) { return a.rank > b.rank; });
  for (std::size_t i = 0; i < kinds.size(); ++i) kinds[i].name = kind_name(kinds[i], i, kinds.size());
  t.kinds = std::move(kinds);
}

// Cores of the fastest kind first (their CPU numbers decide among cores of one kind).
void order_cores_by_kind(Topology& t) {
  if (t.kinds.empty()) return;
  const auto rank = [&t](const std::vector<int>& core) {
    const CpuKind* kind = t.kind_of(core.front());
    return kind ? kind->rank : -1;
  };
  std::stable_sort(t.cores.begin(), t.cores.end(),
                   [&](const auto& a, const auto& b) { return rank(a) > rank(b); });
}

Topology from_hwloc(hwloc_topology_t topo, std::vector<int> allowed) {
  Topology t;
  t.allowed = std::move(allowed);
  fill_cores(topo, t);
  fill_model_and_caches(topo, t);
  fill_kinds(topo, t);
  order_cores_by_kind(t);
  return t;
}

}  // namespace

Topology detect_topology() {
  const std::vector<int> allowed = allowed_cpus();
  hwloc_topology_t topo;
  bool loaded = hwloc_topology_init(&topo) == 0;
  if (loaded && hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    loaded = false;
  }
  if (!loaded) {
    Topology t;
    t.allowed = allowed;
    for (int cpu : allowed) t.cores.push_back({cpu});
    t.logical_cpus = static_cast<int>(allowed.size());
    t.physical_cores = t.logical_cpus;
    t.cpu_model = cpu_model_from_proc();
    return t;
  }
  Topology t = from_hwloc(topo, allowed);
  hwloc_topology_destroy(topo);
  return t;
}

Topology topology_from_xml(const std::string& path) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) throw std::runtime_error("hwloc could not start");
  if (hwloc_topology_set_xml(topo, path.c_str()) != 0 || hwloc_topology_load(topo) != 0) {
    const int error = errno;
    hwloc_topology_destroy(topo);
    throw std::runtime_error("the topology file " + path + " could not be read as an hwloc XML " +
                             "topology (" + std::strerror(error) + ")");
  }
  std::vector<int> allowed;
  const hwloc_const_cpuset_t set = hwloc_topology_get_topology_cpuset(topo);
  for (int cpu = hwloc_bitmap_first(set); cpu >= 0; cpu = hwloc_bitmap_next(set, cpu)) {
    allowed.push_back(cpu);
  }
  Topology t = from_hwloc(topo, allowed);
  hwloc_topology_destroy(topo);
  if (t.allowed.empty()) {
    throw std::runtime_error("the topology file " + path + " holds no CPU");
  }
  return t;
}

}  // namespace cvp::exec

#include "host/cpu_model.h"

#include <algorithm>
#include <set>

namespace cvp::bench {

const CpuInfo* MachineModel::find(int cpu) const {
  const auto it = std::lower_bound(cpus.begin(), cpus.end(), cpu,
                                   [](const CpuInfo& c, int want) { return c.cpu < want; });
  return it != cpus.end() && it->cpu == cpu ? &*it : nullptr;
}

double MachineModel::team_capacity(const std::vector<int>& team) const {
  // One entry per physical core: its first CPU in the team stands for it (an SMT sibling
  // adds no core of FMA throughput).
  std::set<int> cores_seen;
  std::vector<const CpuInfo*> members;
  std::set<int> unknown_cpus;
  for (const int cpu : team) {
    const CpuInfo* info = measured ? find(cpu) : nullptr;
    if (info == nullptr) {
      unknown_cpus.insert(cpu);
      continue;
    }
    if (cores_seen.insert(info->core).second) members.push_back(info);
  }
  const std::size_t unknown = unknown_cpus.size();
  double sum = static_cast<double>(unknown);
  for (const CpuInfo* info : members) {
    sum += members.size() + unknown == 1 ? info->capacity_alone : info->capacity_all_busy;
  }
  return sum;
}

}  // namespace cvp::bench

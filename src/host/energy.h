// Energy per block, where the machine lets it be read: the package and core energy counters
// of the Linux powercap interface (/sys/class/powercap/intel-rapl:*; AMD's RAPL appears under
// the same name on recent kernels), read at each block's start and end, outside its timed
// region.
//
// A package counter counts the whole package (every process on it, and its idle power), not
// this process: a block's joules are the machine's while the block ran. Each counter is a
// running total in microjoules that wraps at its max_energy_range_uj; a block's joules take one
// wrap into account (a counter of 262 kJ wraps after more than 20 minutes at 200 W, far longer
// than a block). The kernel updates the counters about every millisecond.
//
// When nothing is readable (no powercap zone, as in most virtual machines; energy_uj readable
// by root only since Linux 5.10), the reader says why once, and every row's energy is null.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

// What a domain measures: a CPU package, or the cores of one (powercap's "core" subzone).
enum class EnergyDomain { package, core };

// One powercap zone this reader reads.
struct EnergyZone {
  EnergyDomain domain = EnergyDomain::package;
  std::string name;              // the zone's own name ("package-0", "core")
  std::uint64_t max_range_uj = 0;  // where the counter wraps (0: unknown, no wrap handled)
};

// Every zone's counter at one instant, in the reader's zone order; nullopt where a read failed.
struct EnergyValues {
  std::vector<std::optional<std::uint64_t>> uj;
};

// The joules of one block, per execution of the point, summed over the packages and over their
// cores; nullopt for a domain that was not read.
struct BlockEnergy {
  std::optional<double> package_j, core_j;
  bool empty() const { return !package_j && !core_j; }
};

// The microjoules between two readings of a counter that wraps at `max_range_uj`.
std::uint64_t microjoules_between(std::uint64_t before, std::uint64_t after,
                                  std::uint64_t max_range_uj);

class EnergyReader {
 public:
  // The zones under `sys_root`/class/powercap (a fake tree, for tests).
  explicit EnergyReader(const std::string& sys_root = "/sys");
  ~EnergyReader();
  EnergyReader(const EnergyReader&) = delete;
  EnergyReader& operator=(const EnergyReader&) = delete;

  bool readable() const { return !zones_.empty(); }
  // Why nothing is readable, in one sentence ("" when something is).
  const std::string& why_not() const { return why_not_; }
  const std::vector<EnergyZone>& zones() const { return zones_; }

  EnergyValues read() const;
  BlockEnergy during(const EnergyValues& before, const EnergyValues& after, double executions) const;

 private:
  std::vector<EnergyZone> zones_;
  std::vector<int> fds_;  // each zone's energy_uj, kept open: a block reads them again from 0
  std::string why_not_;
};

// machine.energy of the summary: {"readable": true, "zones": [...], "read_us": ...} or
// {"readable": false, "why": ...}.
nlohmann::json energy_json(const EnergyReader& reader, double read_us);

}  // namespace cvp::bench

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
// Where powercap has nothing readable, the same RAPL counters are read through perf's `power`
// PMU (/sys/bus/event_source/devices/power: energy-pkg and energy-cores, opened with
// perf_event_open on one CPU of each package, its cpumask; each count is scaled to joules by the
// event's .scale file). A perf counter is 64 bits wide: it does not wrap.
//
// When nothing is readable (no powercap zone and no power PMU, as in most virtual machines;
// energy_uj readable by root only since Linux 5.10; perf_event_paranoid), the reader says why
// once, and every row's energy is null.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

// What a domain measures: a CPU package, or the cores of one (powercap's "core" subzone).
enum class EnergyDomain { package, core };

// Where a reader's counters come from.
enum class EnergySource { powercap, perf };

// One counter this reader reads: a powercap zone, or a perf power event on one package.
struct EnergyZone {
  EnergyDomain domain = EnergyDomain::package;
  std::string name;              // the zone's own name ("package-0", "core"; perf: "energy-pkg@cpu0")
  std::uint64_t max_range_uj = 0;  // where the counter wraps (0: unknown, no wrap handled)
  double joules_per_count = 1e-6;  // powercap counts microjoules; perf, its event's .scale
};

// Every zone's counter at one instant, in the reader's zone order; nullopt where a read failed.
// Counts in the zone's own unit (EnergyZone::joules_per_count).
struct EnergyValues {
  std::vector<std::optional<std::uint64_t>> uj;
};

// Opens perf event (type, config) counting on `cpu` system-wide: a file descriptor that read()
// answers with the 64-bit count, or -1 with errno set. The default calls perf_event_open; tests
// pass their own.
using PerfOpener = std::function<int(std::uint32_t type, std::uint64_t config, int cpu)>;
int open_perf_counter(std::uint32_t type, std::uint64_t config, int cpu);

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
  // The zones under `sys_root`/class/powercap, else the power PMU's events under
  // `sys_root`/bus/event_source/devices/power opened with `open` (a fake tree and opener, for
  // tests).
  explicit EnergyReader(const std::string& sys_root = "/sys", PerfOpener open = open_perf_counter);
  ~EnergyReader();
  EnergyReader(const EnergyReader&) = delete;
  EnergyReader& operator=(const EnergyReader&) = delete;

  bool readable() const { return !zones_.empty(); }
  // Why nothing is readable, in one sentence ("" when something is).
  const std::string& why_not() const { return why_not_; }
  const std::vector<EnergyZone>& zones() const { return zones_; }
  EnergySource source() const { return source_; }

  EnergyValues read() const;
  BlockEnergy during(const EnergyValues& before, const EnergyValues& after, double executions) const;

 private:
  // Finds the power PMU's package and core events; "" when it opened some, else why not.
  std::string open_perf_events(const std::string& sys_root, const PerfOpener& open);

  std::vector<EnergyZone> zones_;
  std::vector<int> fds_;  // each zone's counter, kept open: energy_uj read again from 0, or perf
  EnergySource source_ = EnergySource::powercap;
  std::string why_not_;
};

// machine.energy of the summary: {"readable": true, "zones": [...], "read_us": ...} or
// {"readable": false, "why": ...}.
nlohmann::json energy_json(const EnergyReader& reader, double read_us);

}  // namespace cvp::bench

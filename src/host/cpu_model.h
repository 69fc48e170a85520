// The machine as it is: each allowed CPU's kind and measured speed, alone and with every core
// busy, and its clock. Bounds are derived from this model (a parallel team's attainable speedup
// is the sum of its CPUs' capacities relative to the home CPU alone), so boost clocks and
// cores of different kinds are in them. Kinds come from hwloc's CPU kinds and Linux's
// cpu_capacity; speeds are measured here (an FMA loop and a dependent-add clock probe, which
// needs no cpufreq) and cached with the machine's limits.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cvp/exec/topology.h"

namespace cvp::bench {

// One allowed CPU as this machine showed it.
struct CpuInfo {
  int cpu = 0;                    // logical CPU number
  int core = 0;                   // index of its physical core in Topology::cores
  std::string kind;               // "P", "E", ... ; "" when the machine has one kind of core
  int kind_rank = 0;              // hwloc's efficiency rank: higher is faster; 0 with one kind
  double frequency_max_mhz = 0;   // hwloc's FrequencyMaxMHz info, 0 when not offered
  double sysfs_capacity = 0;      // Linux's cpu_capacity (of 1024), 0 when absent
  double flops_alone = 0;         // FP64 FLOP/s of one thread on this CPU, the others idle
  double flops_all_busy = 0;      // the same while one thread per allowed core runs
  double ghz_alone = 0;           // the clock probe (dependent adds per ns), the others idle
  double ghz_all_busy = 0;        // the clock probe while one thread per allowed core runs
  double capacity_alone = 0;      // flops_alone / the home CPU's flops_alone
  double capacity_all_busy = 0;   // flops_all_busy / the home CPU's flops_alone
};

// Each allowed CPU, the home CPU chosen from them, and the kinds they fall into.
struct MachineModel {
  std::vector<CpuInfo> cpus;      // one per allowed CPU, ascending by CPU number
  int home_cpu = 0;               // where serial and concurrent points run: the fastest alone
  std::string home_reason;        // one sentence: which CPU and why
  double probe_noise = 0;         // relative spread of repeated clock probes on one CPU
  bool measured = false;          // false: not measured (--limits off); capacities read 1
  bool cached = false;            // the speeds were read from the machine-limits cache
  double seconds = 0;             // how long measuring the speeds took (when they were measured)
  std::string speeds_note;        // CPUs read slower alone than all busy (raised to it); "" if none

  const CpuInfo* find(int cpu) const;
  // The speedup a team pinned to `cpus` can reach over one thread on the home CPU alone:
  // the sum, over the distinct physical cores among `cpus`, of their capacity with every
  // core busy (their capacity alone when the team has one core). Without a measured model
  // (or for a CPU it does not know) each core counts 1.
  double team_capacity(const std::vector<int>& cpus) const;
};

// summary.json's machine.cpus (one object per allowed CPU), machine.home_cpu ({cpu, reason})
// and machine.cpu_speeds (whether and how they were measured): an object with these three
// keys, for the caller to merge into "machine". Unmeasured figures are null.
nlohmann::json cpus_to_json(const MachineModel& model);

// --- How the model is made. --------------------------------------------------------------------

// What is measured of one CPU (and cached with the machine limits).
struct CpuSpeed {
  int cpu = 0;
  double flops_alone = 0, flops_all_busy = 0;  // FP64 FLOP/s
  double ghz_alone = 0, ghz_all_busy = 0;      // the clock probe
};

struct CpuSpeeds {
  std::vector<CpuSpeed> cpus;  // one per allowed CPU, ascending
  double probe_noise = 0;
  double seconds = 0;          // how long the measurement took
};

// Measures every allowed CPU of `topology`: alone (one pinned thread, the others idle), then
// with one pinned thread per allowed core busy (once per SMT depth), three interleaved tries of
// each, medians kept. Takes under 2 s on 2 to 128 CPUs. Pins only threads it starts.
CpuSpeeds measure_cpu_speeds(const exec::Topology& topology);

// A CPU whose FMA rate with every core busy fell below kSharedCore of its rate alone while its
// clock probe held (within kHomeTie) lost its FMA units, not its clock: with one thread per
// core busy only a thread out of sight shares them (a neighbour's work on the host's SMT
// sibling of a vCPU, say). Such a reading is taken again, up to `times` times (the team all
// busy at once, by `again`), each CPU keeping its highest all-busy FMA rate and that reading's
// clock: a passing neighbour must not become the machine's model, cached for later runs. A
// sharing that lasts (two vCPUs that are siblings on one host core) reads the same every time
// and stays. Returns how many times it measured again.
inline constexpr double kSharedCore = 0.80;
int confirm_all_busy(CpuSpeeds& speeds, const std::function<std::vector<CpuSpeed>()>& again,
                     int times);

// The per-CPU part of the machine-limits cache file, and its reader: nullopt for anything
// missing or malformed, or when the CPUs are not exactly `allowed`.
nlohmann::json speeds_to_json(const CpuSpeeds& speeds);
std::optional<CpuSpeeds> speeds_from_json(const nlohmann::json& json,
                                          const std::vector<int>& allowed);

// Linux's cpu_capacity (of 1024) of each of `cpus` under `sysfs_root`
// (<root>/devices/system/cpu/cpu<N>/cpu_capacity); CPUs without one are left out.
std::map<int, double> read_sysfs_capacity(const std::vector<int>& cpus,
                                          const std::string& sysfs_root = "/sys");

// The model of `topology`'s allowed CPUs: kinds from its CpuKinds, `sysfs` capacities, and
// the measured `speeds` (nullptr: not measured, every capacity 1, the home CPU the first CPU
// of the first core, which is of the fastest kind). A CPU is never slower alone than with
// every core busy: a reading alone below its all-busy one was disturbed, and the all-busy
// rate stands for it (speeds_note says so where it fell short by more than kHomeTie), so no
// team's capacity exceeds its size. The home CPU is the fastest alone; CPUs
// within kHomeTie of the fastest count as as fast, and the first of them in the topology's
// order is chosen.
inline constexpr double kHomeTie = 0.03;
MachineModel build_model(const exec::Topology& topology, const CpuSpeeds* speeds,
                         const std::map<int, double>& sysfs);

// `topology` with its cores fastest first (by measured speed with every core busy; cores
// within kHomeTie of each other keep their order) and the model's home CPU first; the model's
// core indices then refer to the returned topology's cores.
exec::Topology rank_topology(const exec::Topology& topology, MachineModel& model);

// The effective clock of the calling thread's CPU, in GHz: a chain of dependent integer adds
// (one per cycle on every x86-64 and ARM core) timed for about `seconds`. Works without
// cpufreq; in a VM it reads the clock the guest gets.
double clock_probe_ghz(double seconds);

}  // namespace cvp::bench

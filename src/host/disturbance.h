// Was one block of timed executions disturbed? Cheap per-block readings of what the kernel
// knows: the time our threads waited for a CPU they were ready to run on (run delay, from each
// thread's /proc/self/task/TID/schedstat), the time the hypervisor took from our CPUs (steal,
// /proc/stat), and the CPUs' clock (cpufreq, where the machine exposes it). Beside them, the
// system-wide load that names other processes as a cause: the busy ticks of the block's CPUs
// (/proc/stat), CPU pressure (/proc/pressure/cpu, PSI) and the runnable tasks (procs_running).
// Read before and after each block, outside the timed region.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

struct DisturbanceReading {
  double run_delay_s = 0;          // summed over the process's threads
  bool run_delay_known = false;    // false where schedstat is missing (no CONFIG_SCHED_INFO)
  std::uint64_t steal_ticks = 0;   // summed over the CPUs read
  bool steal_known = false;
  std::vector<double> khz;         // per CPU read; empty where cpufreq is absent
  // System-wide load, for naming other processes as a cause:
  std::uint64_t busy_ticks = 0;    // non-idle ticks of the CPUs read (user .. softirq), /proc/stat
  bool busy_known = false;
  double pressure_us = 0;          // CPU pressure: time some task waited for a CPU (PSI "some")
  bool pressure_known = false;     // false without /proc/pressure/cpu (no CONFIG_PSI, or psi=0)
  int procs_running = -1;          // runnable tasks now, all CPUs (/proc/stat), -1: unknown
};

// Reads the readings for `cpus` (under `proc_root` and `sys_root`, for tests).
DisturbanceReading read_disturbance(const std::vector<int>& cpus,
                                    const std::string& proc_root = "/proc",
                                    const std::string& sys_root = "/sys");

// Our threads' wait for a CPU between two readings (0 where unknown, never below 0: threads
// that ended take their delay with them).
double run_delay_during(const DisturbanceReading& before, const DisturbanceReading& after);

// What disturbed a block, from the readings around it; "" when nothing did.
//  * steal: any tick stolen from the block's CPUs;
//  * run delay: more than kRunDelayShare of the block's wall time (plus kRunDelayVariation of
//    the usual wait) waited, beyond what the point's own blocks typically wait
//    (`typical_run_delay_s`: a concurrent team's threads wait for each other by design, a team
//    of one thread per core does not);
//  * frequency: a CPU's clock more than kFrequencyShare away from where it started.
struct BlockDisturbance {
  double run_delay_s = 0;  // during the block
  double steal_s = 0;
  // CPU time other processes took on the block's CPUs: their busy time less our process's CPU
  // time (`our_cpu_s`), never below 0; -1 where /proc/stat gave nothing.
  double others_cpu_s = -1;
  double pressure_share = -1;  // CPU pressure over the block (share of its wall time), -1: unknown
  int procs_running = -1;      // the larger of the two readings' runnable tasks
  std::string why;
};
inline constexpr double kRunDelayShare = 0.01;
inline constexpr double kRunDelayVariation = 0.10;
inline constexpr double kFrequencyShare = 0.05;
BlockDisturbance judge_block(const DisturbanceReading& before, const DisturbanceReading& after,
                             double wall_s, std::optional<double> typical_run_delay_s,
                             long ticks_per_second, double our_cpu_s = 0);

}  // namespace cvp::bench

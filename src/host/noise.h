// Was the machine quiet while we measured? Load average, CPU steal and the other processes
// that used CPU, read from /proc before and after the run.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

// One reading of /proc.
struct NoiseSnapshot {
  std::chrono::steady_clock::time_point when{};
  std::optional<std::vector<double>> load_avg;  // 1, 5 and 15 minutes (/proc/loadavg)
  // Per CPU (-1: the "cpu" line of all CPUs): total and steal ticks (/proc/stat).
  std::map<int, std::pair<std::uint64_t, std::uint64_t>> cpu_ticks;
  std::map<int, std::uint64_t> idle_ticks;  // per CPU as above: idle + iowait
  // Per process other than ours: its name and CPU ticks so far (utime + stime).
  std::map<int, std::pair<std::string, std::uint64_t>> processes;
};

// Reads /proc (under `proc_root`, for tests). Missing files leave their parts empty.
NoiseSnapshot take_noise_snapshot(const std::string& proc_root = "/proc");

// Processes of this run besides this one (the other ranks of a distributed run on this host):
// snapshots leave them out, as they leave this process out, so their work is not "others'".
void count_as_ours(std::vector<int> pids);

struct BusyProcess {
  std::string name;
  double cpu_percent = 0;  // of one CPU, over the run
};

// CPUs' worth of work that ran on `cpus` between two snapshots (0.5: half of one CPU busy);
// nullopt when /proc/stat gave nothing to compare.
std::optional<double> busy_cpus(const NoiseSnapshot& earlier, const NoiseSnapshot& later,
                                const std::vector<int>& cpus);

struct NoiseReport {
  std::optional<std::vector<double>> load_before, load_after;  // recorded, not judged: our own
                                                               // earlier runs linger in them
  std::optional<double> busy_before;    // CPUs busy on the allowed CPUs just before the run
  std::optional<double> steal_percent;  // over the allowed CPUs, during the run
  std::vector<BusyProcess> busy;        // top few other processes by CPU, over the run
  double seconds = 0;
  bool noisy = false;
  std::vector<std::string> reasons;     // one sentence each
};

// Thresholds: the allowed CPUs more than a quarter of a CPU busy just before the run, steal
// above 3 %, another process above 10 % of a CPU during the run.
inline constexpr double kBusyBeforeCpus = 0.25;
inline constexpr double kStealPercent = 3.0;
inline constexpr double kBusyPercent = 10.0;

// `busy_before`: busy_cpus over a short quiet wait just before the run.
NoiseReport assess_noise(const NoiseSnapshot& before, const NoiseSnapshot& after,
                         const std::vector<int>& allowed_cpus, long ticks_per_second,
                         std::optional<double> busy_before = std::nullopt);

// "cc1plus 97%, sh 45%": the other processes above kBusyPercent of a CPU, "" when none.
std::string busy_names(const NoiseReport& report);

nlohmann::json noise_json(const NoiseReport& report);

}  // namespace cvp::bench

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
  // Per process other than ours: its name and CPU ticks so far (utime + stime).
  std::map<int, std::pair<std::string, std::uint64_t>> processes;
};

// Reads /proc (under `proc_root`, for tests). Missing files leave their parts empty.
NoiseSnapshot take_noise_snapshot(const std::string& proc_root = "/proc");

struct BusyProcess {
  std::string name;
  double cpu_percent = 0;  // of one CPU, over the run
};

struct NoiseReport {
  std::optional<std::vector<double>> load_before, load_after;
  std::optional<double> steal_percent;  // over the allowed CPUs, during the run
  std::vector<BusyProcess> busy;        // top few other processes by CPU, over the run
  double seconds = 0;
  bool noisy = false;
  std::vector<std::string> reasons;     // one sentence each
};

// Thresholds: load average before the run above 0.5 per online CPU, steal above 3 %, another
// process above 10 % of a CPU.
inline constexpr double kLoadPerCpu = 0.5;
inline constexpr double kStealPercent = 3.0;
inline constexpr double kBusyPercent = 10.0;

NoiseReport assess_noise(const NoiseSnapshot& before, const NoiseSnapshot& after,
                         const std::vector<int>& allowed_cpus, int online_cpus,
                         long ticks_per_second);

nlohmann::json noise_json(const NoiseReport& report);

}  // namespace cvp::bench

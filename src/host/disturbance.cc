#include "host/disturbance.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace cvp::bench {
namespace {

// Run delay in ns: the second field of /proc/<pid>/task/<tid>/schedstat.
bool add_run_delays(const std::string& proc_root, double* seconds) {
  const std::string tasks = proc_root + "/self/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return false;
  bool any = false;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/schedstat");
    unsigned long long run_ns = 0, wait_ns = 0;
    if (in >> run_ns >> wait_ns) {
      *seconds += static_cast<double>(wait_ns) * 1e-9;
      any = true;
    }
  }
  ::closedir(dir);
  return any;
}

}  // namespace

DisturbanceReading read_disturbance(const std::vector<int>& cpus, const std::string& proc_root,
                                    const std::string& sys_root) {
  DisturbanceReading r;
  r.run_delay_known = add_run_delays(proc_root, &r.run_delay_s);
  std::ifstream stat(proc_root + "/stat");
  std::string line;
  while (std::getline(stat, line)) {
    if (line.compare(0, 3, "cpu") != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') {
      if (line.compare(0, 3, "cpu") != 0) {
        if (line.compare(0, 14, "procs_running ") == 0) r.procs_running = std::atoi(line.c_str() + 14);
        break;  // the cpu lines come first
      }
      continue;
    }
    std::istringstream fields(line.substr(3));
    int cpu = -1;
    fields >> cpu;
    bool wanted = false;
    for (int c : cpus) wanted = wanted || c == cpu;
    if (!wanted) continue;
    // user nice system idle iowait irq softirq steal ... (guest time is inside user)
    std::uint64_t v = 0;
    for (int i = 0; i < 8 && (fields >> v); ++i) {
      if (i == 7) {
        r.steal_ticks += v;
        r.steal_known = true;
      } else if (i != 3 && i != 4) {
        r.busy_ticks += v;
        r.busy_known = true;
      }
    }
  }
  // The rest of /proc/stat: procs_running comes after the cpu lines.
  while (std::getline(stat, line)) {
    if (line.compare(0, 14, "procs_running ") == 0) {
      r.procs_running = std::atoi(line.c_str() + 14);
      break;
    }
  }
  std::ifstream pressure(proc_root + "/pressure/cpu");
  while (std::getline(pressure, line)) {
    // some avg10=0.00 avg60=0.00 avg300=0.00 total=12345 (microseconds)
    const auto at = line.find(" total=");
    if (line.compare(0, 5, "some ") != 0 || at == std::string::npos) continue;
    char* end = nullptr;
    const double total = std::strtod(line.c_str() + at + 7, &end);
    if (end != line.c_str() + at + 7 && std::isfinite(total) && total >= 0) {
      r.pressure_us = total;
      r.pressure_known = true;
    }
  }
  for (int cpu : cpus) {
    std::ifstream in(sys_root + "/devices/system/cpu/cpu" + std::to_string(cpu) +
                     "/cpufreq/scaling_cur_freq");
    double khz = 0;
    if (!(in >> khz)) {
      r.khz.clear();
      break;
    }
    r.khz.push_back(khz);
  }
  return r;
}

double run_delay_during(const DisturbanceReading& before, const DisturbanceReading& after) {
  if (!before.run_delay_known || !after.run_delay_known) return 0;
  return std::max(0.0, after.run_delay_s - before.run_delay_s);
}

BlockDisturbance judge_block(const DisturbanceReading& before, const DisturbanceReading& after,
                             double wall_s, std::optional<double> typical_run_delay_s,
                             long ticks_per_second, double our_cpu_s) {
  BlockDisturbance d;
  if (before.busy_known && after.busy_known && after.busy_ticks >= before.busy_ticks &&
      ticks_per_second > 0) {
    const double busy = static_cast<double>(after.busy_ticks - before.busy_ticks) /
                        static_cast<double>(ticks_per_second);
    d.others_cpu_s = std::max(0.0, busy - our_cpu_s);
  }
  if (before.pressure_known && after.pressure_known && wall_s > 0 &&
      after.pressure_us >= before.pressure_us) {
    d.pressure_share = std::min(1.0, (after.pressure_us - before.pressure_us) * 1e-6 / wall_s);
  }
  d.procs_running = std::max(before.procs_running, after.procs_running);
  std::vector<std::string> why;
  if (before.run_delay_known && after.run_delay_known) {
    d.run_delay_s = run_delay_during(before, after);
    const double excess = d.run_delay_s - typical_run_delay_s.value_or(0.0);
    // A team that waits by design (more threads than cores) varies in its wait by itself.
    const double allowed = kRunDelayShare * wall_s + kRunDelayVariation * typical_run_delay_s.value_or(0.0);
    if (wall_s > 0 && excess > allowed) {
      char text[160];
      std::snprintf(text, sizeof(text),
                    "threads waited %.2f ms for a CPU beyond their usual %.2f ms (%.1f%% of the "
                    "block)",
                    d.run_delay_s * 1e3, typical_run_delay_s.value_or(0.0) * 1e3,
                    100.0 * excess / wall_s);
      why.emplace_back(text);
    }
  }
  if (before.steal_known && after.steal_known && after.steal_ticks > before.steal_ticks &&
      ticks_per_second > 0) {
    d.steal_s = static_cast<double>(after.steal_ticks - before.steal_ticks) /
                static_cast<double>(ticks_per_second);
    char text[96];
    std::snprintf(text, sizeof(text), "the hypervisor stole %.0f ms of its CPUs",
                  d.steal_s * 1e3);
    why.emplace_back(text);
  }
  if (!before.khz.empty() && before.khz.size() == after.khz.size()) {
    for (std::size_t i = 0; i < before.khz.size(); ++i) {
      if (before.khz[i] > 0 &&
          std::fabs(after.khz[i] - before.khz[i]) > kFrequencyShare * before.khz[i]) {
        char text[96];
        std::snprintf(text, sizeof(text), "a CPU's clock moved from %.0f to %.0f MHz",
                      before.khz[i] / 1e3, after.khz[i] / 1e3);
        why.emplace_back(text);
        break;
      }
    }
  }
  for (const auto& w : why) d.why += (d.why.empty() ? "" : "; ") + w;
  return d;
}

}  // namespace cvp::bench

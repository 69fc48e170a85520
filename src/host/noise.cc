#include "host/noise.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cvp/workload.h"

namespace cvp::bench {
namespace {

// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so it ends at the last ')'.
bool parse_process_stat(const std::string& line, std::string& name, std::uint64_t& ticks) {
  const auto open = line.find('(');
  const auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  name = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  // Fields after comm: state(3) ppid(4) ... utime(14) stime(15).
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!rest) return false;
  ticks = utime + stime;
  return true;
}

}  // namespace

namespace {
std::vector<int> g_ours;  // count_as_ours
}  // namespace

void count_as_ours(std::vector<int> pids) { g_ours = std::move(pids); }

NoiseSnapshot take_noise_snapshot(const std::string& proc_root) {
  NoiseSnapshot s;
  s.when = std::chrono::steady_clock::now();
  {
    std::ifstream in(proc_root + "/loadavg");
    double a = 0, b = 0, c = 0;
    if (in >> a >> b >> c) s.load_avg = std::vector<double>{a, b, c};
  }
  {
    std::ifstream in(proc_root + "/stat");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("cpu", 0) != 0) break;
      std::istringstream fields(line);
      std::string label;
      fields >> label;
      int cpu = -1;
      if (label.size() > 3) cpu = std::atoi(label.c_str() + 3);
      // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
      // counted in user and nice.
      std::uint64_t v = 0, total = 0, steal = 0, idle = 0;
      for (int i = 0; i < 8 && fields >> v; ++i) {
        total += v;
        if (i == 7) steal = v;
        if (i == 3 || i == 4) idle += v;
      }
      s.cpu_ticks[cpu] = {total, steal};
      s.idle_ticks[cpu] = idle;
    }
  }
  const int self = static_cast<int>(::getpid());
  if (DIR* dir = ::opendir(proc_root.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      const long pid = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || pid == self ||
          std::find(g_ours.begin(), g_ours.end(), static_cast<int>(pid)) != g_ours.end()) {
        continue;
      }
      std::ifstream in(proc_root + "/" + entry->d_name + "/stat");
      std::string line;
      std::string name;
      std::uint64_t ticks = 0;
      if (std::getline(in, line) && parse_process_stat(line, name, ticks)) {
        s.processes[static_cast<int>(pid)] = {name, ticks};
      }
    }
    ::closedir(dir);
  }
  return s;
}

std::optional<double> busy_cpus(const NoiseSnapshot& earlier, const NoiseSnapshot& later,
                                const std::vector<int>& cpus) {
  double busy = 0;
  bool any = false;
  for (int cpu : cpus) {
    const auto t0 = earlier.cpu_ticks.find(cpu), t1 = later.cpu_ticks.find(cpu);
    const auto i0 = earlier.idle_ticks.find(cpu), i1 = later.idle_ticks.find(cpu);
    if (t0 == earlier.cpu_ticks.end() || t1 == later.cpu_ticks.end() ||
        i0 == earlier.idle_ticks.end() || i1 == later.idle_ticks.end()) {
      continue;
    }
    if (t1->second.first <= t0->second.first || i1->second < i0->second) continue;
    const auto total = static_cast<double>(t1->second.first - t0->second.first);
    const auto idle = static_cast<double>(i1->second - i0->second);
    busy += std::clamp(1.0 - idle / total, 0.0, 1.0);
    any = true;
  }
  return any ? std::optional<double>(busy) : std::nullopt;
}

std::string busy_names(const NoiseReport& report) {
  std::string names;
  for (const auto& p : report.busy) {
    if (p.cpu_percent <= kBusyPercent) continue;
    names += (names.empty() ? "" : ", ") + p.name + " " + fixed(p.cpu_percent, 0) + "%";
  }
  return names;
}

NoiseReport assess_noise(const NoiseSnapshot& before, const NoiseSnapshot& after,
                         const std::vector<int>& allowed_cpus, long ticks_per_second,
                         std::optional<double> busy_before) {
  NoiseReport r;
  r.load_before = before.load_avg;
  r.load_after = after.load_avg;
  r.busy_before = busy_before;
  r.seconds = std::chrono::duration<double>(after.when - before.when).count();

  if (busy_before && *busy_before > kBusyBeforeCpus) {
    r.reasons.push_back("the allowed CPUs were busy just before the run (" +
                        fixed(100 * *busy_before, 0) + "% of a CPU in use by others)");
  }

  // Steal over the allowed CPUs (the machine's "cpu" line when per-CPU lines are missing).
  std::uint64_t total = 0, steal = 0;
  auto add = [&](int cpu) {
    const auto b = before.cpu_ticks.find(cpu);
    const auto a = after.cpu_ticks.find(cpu);
    if (b == before.cpu_ticks.end() || a == after.cpu_ticks.end()) return false;
    if (a->second.first < b->second.first || a->second.second < b->second.second) return false;
    total += a->second.first - b->second.first;
    steal += a->second.second - b->second.second;
    return true;
  };
  bool all = !allowed_cpus.empty();
  for (int cpu : allowed_cpus) all = add(cpu) && all;
  if (!all) {
    total = steal = 0;
    add(-1);
  }
  if (total > 0) {
    r.steal_percent = 100.0 * static_cast<double>(steal) / static_cast<double>(total);
    if (*r.steal_percent > kStealPercent) {
      r.reasons.push_back("CPU steal " + fixed(*r.steal_percent, 1) +
                          "% during the run: the hypervisor gave our CPUs to someone else");
    }
  }

  // Other processes' CPU during the run; one that started during it counts from zero.
  if (r.seconds > 0 && ticks_per_second > 0) {
    for (const auto& [pid, proc] : after.processes) {
      const auto b = before.processes.find(pid);
      std::uint64_t earlier = 0;
      if (b != before.processes.end()) {
        if (b->second.first != proc.first || b->second.second > proc.second) continue;  // reused pid
        earlier = b->second.second;
      }
      const double pct = 100.0 * static_cast<double>(proc.second - earlier) /
                         static_cast<double>(ticks_per_second) / r.seconds;
      if (pct > 0) r.busy.push_back({proc.first, pct});
    }
    std::sort(r.busy.begin(), r.busy.end(),
              [](const BusyProcess& x, const BusyProcess& y) { return x.cpu_percent > y.cpu_percent; });
    if (r.busy.size() > 5) r.busy.resize(5);
    const std::string names = busy_names(r);
    if (!names.empty()) {
      r.reasons.push_back("other processes used CPU during the run (" + names + " of a CPU)");
    }
  }
  r.noisy = !r.reasons.empty();
  return r;
}

nlohmann::json noise_json(const NoiseReport& r) {
  auto load = [](const std::optional<std::vector<double>>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json busy = nlohmann::json::array();
  for (const auto& p : r.busy) busy.push_back({{"name", p.name}, {"cpu_percent", p.cpu_percent}});
  return {
      {"load_avg_before", load(r.load_before)},
      {"load_avg_after", load(r.load_after)},
      {"busy_cpus_before", r.busy_before ? nlohmann::json(*r.busy_before) : nlohmann::json(nullptr)},
      {"steal_percent", r.steal_percent ? nlohmann::json(*r.steal_percent) : nlohmann::json(nullptr)},
      {"busy_processes", busy},
      {"seconds", r.seconds},
      {"thresholds",
       {{"busy_cpus_before", kBusyBeforeCpus},
        {"steal_percent", kStealPercent},
        {"process_cpu_percent", kBusyPercent}}},
      {"noisy", r.noisy},
      {"reasons", r.reasons},
  };
}

}  // namespace cvp::bench

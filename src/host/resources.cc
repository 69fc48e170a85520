#include "host/resources.h"

#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cvp::bench {
namespace {

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string proc_self_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  return end != text.c_str() ? static_cast<std::size_t>(v) : 0;
}

// `path` and each of its ancestors up to "/", deepest first.
std::vector<std::string> path_and_ancestors(std::string path) {
  std::vector<std::string> out;
  while (true) {
    out.push_back(path == "/" ? "" : path);
    if (path.empty() || path == "/") break;
    const auto slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  return out;
}

// The quota of one cgroup folder, in CPUs, if it sets one.
std::optional<double> quota_in(const std::string& folder, bool v2) {
  if (v2) {
    std::istringstream in(read_first_line(folder + "/cpu.max"));
    std::string quota;
    double period = 0;
    if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
    const double q = std::strtod(quota.c_str(), nullptr);
    if (q <= 0) return std::nullopt;
    return q / period;
  }
  const std::string quota = read_first_line(folder + "/cpu.cfs_quota_us");
  const std::string period = read_first_line(folder + "/cpu.cfs_period_us");
  if (quota.empty() || period.empty()) return std::nullopt;
  const double q = std::strtod(quota.c_str(), nullptr);
  const double p = std::strtod(period.c_str(), nullptr);
  if (q <= 0 || p <= 0) return std::nullopt;  // -1: no quota
  return q / p;
}

// Memory the process's own memory cgroup still allows (limit - usage), or 0 when unlimited or
// unknown. The cgroup's path may be absent under a namespaced mount: then its root is ours.
std::size_t cgroup_memory_left() {
  std::size_t left = 0;
  auto consider = [&](const std::string& folder, const char* limit_file, const char* usage_file) {
    const std::size_t limit = read_number(folder + "/" + limit_file);
    if (limit == 0 || limit >= (std::size_t{1} << 60)) return false;  // no limit
    const std::size_t usage = read_number(folder + "/" + usage_file);
    const std::size_t free = limit > usage ? limit - usage : 1;
    if (left == 0 || free < left) left = free;
    return true;
  };
  for (const auto& entry : parse_proc_cgroup(proc_self_cgroup())) {
    if (!entry.v2 && !entry.has("memory")) continue;
    const std::string mount = entry.v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    for (const std::string& folder : {mount + (entry.path == "/" ? "" : entry.path), mount}) {
      if (entry.v2 ? consider(folder, "memory.max", "memory.current")
                   : consider(folder, "memory.limit_in_bytes", "memory.usage_in_bytes")) {
        break;
      }
    }
  }
  return left;
}

}  // namespace

bool CgroupEntry::has(const std::string& controller) const {
  for (const auto& c : controllers) {
    if (c == controller) return true;
  }
  return false;
}

std::vector<CgroupEntry> parse_proc_cgroup(const std::string& text) {
  std::vector<CgroupEntry> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    CgroupEntry e;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    e.v2 = line.compare(0, first, "0") == 0 && controllers.empty();
    std::istringstream names(controllers);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (!name.empty()) e.controllers.push_back(name);
    }
    e.path = line.substr(second + 1);
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<double> cgroup_cpu_quota(const std::string& text, const std::string& root) {
  std::optional<double> smallest;
  auto consider = [&](const std::string& mount, const std::string& path, bool v2) {
    for (const auto& folder : path_and_ancestors(path)) {
      if (const auto q = quota_in(mount + folder, v2)) {
        if (!smallest || *q < *smallest) smallest = q;
      }
    }
  };
  for (const auto& entry : parse_proc_cgroup(text)) {
    if (entry.v2) {
      consider(root, entry.path, true);
      consider(root + "/unified", entry.path, true);
    } else if (entry.has("cpu")) {
      for (const char* mount : {"/cpu,cpuacct", "/cpu", "/cpuacct,cpu", ""}) {
        consider(root + mount, entry.path, false);
      }
    }
  }
  return smallest;
}

std::optional<double> cgroup_cpu_quota() { return cgroup_cpu_quota(proc_self_cgroup()); }

std::size_t available_memory_bytes() {
  std::size_t available = 0;
  auto lower = [&](std::size_t v) {
    if (v > 0 && (available == 0 || v < available)) available = v;
  };
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::size_t value = 0;
    std::string unit;
    while (in >> key >> value >> unit) {
      if (key == "MemAvailable:") {
        lower(value * 1024);
        break;
      }
    }
  }
  lower(cgroup_memory_left());
  for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    rlimit r{};
    if (getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
      lower(static_cast<std::size_t>(r.rlim_cur));
    }
  }
  return available;
}

std::size_t thread_limit() {
  std::size_t limit = 0;
  auto lower = [&](std::size_t v) {
    if (v > 0 && (limit == 0 || v < limit)) limit = v;
  };
  rlimit r{};
  if (getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
    lower(static_cast<std::size_t>(r.rlim_cur));
  }
  std::size_t v = 0;
  if (std::ifstream in("/proc/sys/kernel/threads-max"); in >> v) lower(v);
  if (std::ifstream in("/proc/sys/vm/max_map_count"); in >> v) lower(v / 2);
  return limit;
}

}  // namespace cvp::bench

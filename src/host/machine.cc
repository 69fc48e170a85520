#include "host/machine.h"

#include <hwloc.h>
#include <omp.h>
#include <oneapi/tbb/version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <CLI/Version.hpp>

#include "cvp/exec/affinity.h"
#include "cvp_git_commit.h"
#include "host/resources.h"

namespace cvp::bench {
namespace {

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  return line;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string compiler_name() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("g++ ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::string safe_host_name() {
  std::string h = host_name();
  for (char& c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) c = '_';
  }
  return h.empty() ? "host" : h;
}

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Strings read from firmware, /proc and /etc carry padding: a reader compares machines by them.
static void trim_strings(nlohmann::json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    const auto first = text.find_first_not_of(" \t\r\n");
    value = first == std::string::npos
                ? std::string()
                : text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  } else if (value.is_structured()) {
    for (auto& item : value) trim_strings(item);
  }
}

nlohmann::json machine_context(const exec::Topology& t) {
  nlohmann::json caches = nlohmann::json::array();
  for (const auto& c : t.caches) {
    caches.push_back({{"level", c.level}, {"type", c.type}, {"size_bytes", c.size_bytes},
                      {"shared_by", c.shared_by}});
  }
  std::string governor = read_first_line("/sys/devices/system/cpu/cpu" +
                                         std::to_string(t.home_cpu()) +
                                         "/cpufreq/scaling_governor");
  if (governor.empty()) governor = "absent";

  utsname u{};
  std::string os = "unknown";
  if (uname(&u) == 0) os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  std::string pretty = read_first_line("/etc/os-release");
  {
    std::ifstream in("/etc/os-release");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("PRETTY_NAME=", 0) == 0) {
        pretty = line.substr(12);
        if (pretty.size() >= 2 && pretty.front() == '"') pretty = pretty.substr(1, pretty.size() - 2);
        os = pretty + " (" + os + ")";
      }
    }
  }

  const unsigned hwloc_api = hwloc_get_api_version();
  const std::optional<double> quota = cgroup_cpu_quota();
  nlohmann::json machine = {
      {"cpu_model", t.cpu_model},
      {"logical_cpus", t.logical_cpus},
      {"physical_cores", t.physical_cores},
      {"allowed_cpus", t.allowed},
      {"allowed_cores", t.allowed_cores()},
      {"smt", t.smt},
      {"caches", caches},
      {"governor", governor},
      {"compiler", compiler_name()},
      {"flags", CVP_BUILD_FLAGS},
      {"libraries",
       {{"tbb", TBB_runtime_version()},
        {"openmp", std::to_string(_OPENMP) + " (OpenMP spec date of the compiler's runtime)"},
        {"benchmark", CVP_BENCHMARK_VERSION},
        {"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                              std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                              std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
        {"hwloc", std::to_string(hwloc_api >> 16) + "." + std::to_string((hwloc_api >> 8) & 0xff) +
                      "." + std::to_string(hwloc_api & 0xff)},
        {"cli11", CLI11_VERSION}}},
      {"os", os},
      {"host", host_name()},
      {"date", utc_timestamp()},
      {"pinning_supported", exec::affinity_supported()},
      {"cgroup_cpu_quota", quota ? nlohmann::json(*quota) : nlohmann::json(nullptr)},
  };
  trim_strings(machine);
  return machine;
}

const char* git_commit() { return CVP_GIT_COMMIT; }

}  // namespace cvp::bench

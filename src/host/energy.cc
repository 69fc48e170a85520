#include "host/energy.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "host/counters.h"

namespace cvp::bench {
namespace {

namespace fs = std::filesystem;

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// A counter in microjoules from an open file, read again from its start.
std::optional<std::uint64_t> read_counter(int fd) {
  char buf[32];
  const ssize_t got = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (got <= 0) return std::nullopt;
  buf[got] = '\0';
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(buf, &end, 10);
  if (end == buf || errno != 0) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

// "intel-rapl:0" is a package (or the platform, "psys"), "intel-rapl:0:0" a part of one ("core",
// "uncore", "dram"); other zones (intel-rapl-mmio, which repeats the package) are not read.
std::optional<EnergyDomain> domain_of(const std::string& zone, const std::string& name) {
  const std::string prefix = "intel-rapl:";
  if (zone.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const bool sub = zone.find(':', prefix.size()) != std::string::npos;
  if (!sub && name.compare(0, 8, "package-") == 0) return EnergyDomain::package;
  if (sub && name == "core") return EnergyDomain::core;
  return std::nullopt;
}

// A perf counter's 64-bit count, read from its current value.
std::optional<std::uint64_t> read_perf_count(int fd) {
  std::uint64_t count = 0;
  if (::read(fd, &count, sizeof(count)) != static_cast<ssize_t>(sizeof(count))) return std::nullopt;
  return count;
}

// "0", "0,64", "0-1,4": the CPUs of a cpumask or list file; empty when it is not one.
std::vector<int> cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    char* end = nullptr;
    const long first = std::strtol(part.c_str(), &end, 10);
    if (end == part.c_str() || first < 0) return {};
    long last = first;
    if (*end == '-') {
      const char* from = end + 1;
      last = std::strtol(from, &end, 10);
      if (end == from || last < first) return {};
    }
    if (*end != '\0' && *end != '\n' && *end != ' ') return {};
    for (long cpu = first; cpu <= last; ++cpu) cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

// The config of a power event's description ("event=0x02"); nullopt when it is another form.
std::optional<std::uint64_t> event_config(const std::string& text) {
  const std::string key = "event=";
  if (text.compare(0, key.size(), key) != 0) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str() + key.size(), &end, 0);
  if (end == text.c_str() + key.size() || errno != 0 || (*end != '\0' && *end != ' ')) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

}  // namespace

int open_perf_counter(std::uint32_t type, std::uint64_t config, int cpu) {
  perf_event_attr a{};
  a.size = sizeof(a);
  a.type = type;
  a.config = config;
  return static_cast<int>(::syscall(SYS_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

std::string EnergyReader::open_perf_events(const std::string& sys_root, const PerfOpener& open) {
  const fs::path pmu = fs::path(sys_root) / "bus" / "event_source" / "devices" / "power";
  std::error_code ec;
  if (!fs::is_directory(pmu, ec)) return "no perf power events: " + pmu.string() + " is absent";
  char* end = nullptr;
  const std::string type_text = first_line(pmu / "type");
  const unsigned long type = std::strtoul(type_text.c_str(), &end, 10);
  const std::vector<int> cpus = cpu_list(first_line(pmu / "cpumask"));
  if (end == type_text.c_str() || cpus.empty()) {
    return "the perf power PMU under " + pmu.string() + " has no readable type or cpumask";
  }
  std::string refused;
  for (const auto& [event, domain] : {std::pair{"energy-pkg", EnergyDomain::package},
                                      std::pair{"energy-cores", EnergyDomain::core}}) {
    const auto config = event_config(first_line(pmu / "events" / event));
    const double scale = std::strtod(first_line(pmu / "events" / (std::string(event) + ".scale")).c_str(), nullptr);
    if (!config || !(scale > 0)) continue;  // not offered here (energy-cores on AMD, say)
    for (const int cpu : cpus) {
      const int fd = open(static_cast<std::uint32_t>(type), *config, cpu);
      if (fd < 0) {
        if (refused.empty()) refused = std::string(event) + " on CPU " + std::to_string(cpu) + ": " +
                                       perf_refusal(errno, perf_event_paranoid());
        continue;
      }
      if (!read_perf_count(fd)) {
        ::close(fd);
        continue;
      }
      fds_.push_back(fd);
      zones_.push_back({domain, std::string(event) + "@cpu" + std::to_string(cpu), 0, scale});
    }
  }
  if (!zones_.empty()) {
    source_ = EnergySource::perf;
    return "";
  }
  return refused.empty() ? "the perf power PMU offers no energy-pkg or energy-cores event"
                         : "the perf power events cannot be read: " + refused;
}

std::uint64_t microjoules_between(std::uint64_t before, std::uint64_t after,
                                  std::uint64_t max_range_uj) {
  if (after >= before) return after - before;
  // The counter wrapped once: from `before` up to its range, then from 0 to `after`.
  return max_range_uj > before ? max_range_uj - before + after : 0;
}

EnergyReader::EnergyReader(const std::string& sys_root, PerfOpener open) {
  const fs::path root = fs::path(sys_root) / "class" / "powercap";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    const std::string perf = open_perf_events(sys_root, open);
    if (perf.empty()) return;
    why_not_ = "no powercap energy counters: " + root.string() +
               " is absent; this machine or virtual machine exposes no RAPL; " + perf;
    return;
  }
  std::vector<fs::path> found;
  // Without exceptions: a folder that cannot be listed is one with nothing readable in it.
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  std::string refused;
  for (const auto& zone : found) {
    const auto domain = domain_of(zone.filename().string(), first_line(zone / "name"));
    if (!domain) continue;
    const fs::path file = zone / "energy_uj";
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !read_counter(fd)) {
      if (refused.empty()) refused = file.string() + ": " + std::strerror(fd < 0 ? errno : EIO);
      if (fd >= 0) ::close(fd);
      continue;
    }
    const std::string range = first_line(zone / "max_energy_range_uj");
    fds_.push_back(fd);
    zones_.push_back({*domain, first_line(zone / "name"),
                      static_cast<std::uint64_t>(std::strtoull(range.c_str(), nullptr, 10))});
  }
  if (!zones_.empty()) return;
  const std::string perf = open_perf_events(sys_root, open);
  if (perf.empty()) return;
  why_not_ = (refused.empty()
      ? "no RAPL package zone under " + root.string() + "; this machine exposes no energy counters"
      : "the energy counters cannot be read: " + refused +
            "; since Linux 5.10 energy_uj is readable by root only") + "; " + perf;
}

EnergyReader::~EnergyReader() {
  for (int fd : fds_) ::close(fd);
}

EnergyValues EnergyReader::read() const {
  EnergyValues v;
  v.uj.reserve(fds_.size());
  for (int fd : fds_) v.uj.push_back(source_ == EnergySource::perf ? read_perf_count(fd) : read_counter(fd));
  return v;
}

BlockEnergy EnergyReader::during(const EnergyValues& before, const EnergyValues& after,
                                 double executions) const {
  BlockEnergy e;
  const double n = std::max(executions, 1.0);
  bool failed[2] = {false, false};
  for (std::size_t i = 0; i < zones_.size(); ++i) {
    const auto d = static_cast<std::size_t>(zones_[i].domain);
    auto& sum = zones_[i].domain == EnergyDomain::package ? e.package_j : e.core_j;
    if (i >= before.uj.size() || i >= after.uj.size() || !before.uj[i] || !after.uj[i]) {
      failed[d] = true;
      continue;
    }
    const double joules = zones_[i].joules_per_count *
        static_cast<double>(microjoules_between(*before.uj[i], *after.uj[i], zones_[i].max_range_uj));
    sum = sum.value_or(0) + joules / n;
  }
  if (failed[0]) e.package_j.reset();
  if (failed[1]) e.core_j.reset();
  return e;
}

nlohmann::json energy_json(const EnergyReader& reader, double read_us) {
  if (!reader.readable()) return {{"readable", false}, {"why", reader.why_not()}};
  nlohmann::json zones = nlohmann::json::array();
  for (const auto& z : reader.zones()) {
    zones.push_back({{"name", z.name},
                     {"domain", z.domain == EnergyDomain::package ? "package" : "core"},
                     {"max_energy_range_uj", z.max_range_uj},
                     {"joules_per_count", z.joules_per_count}});
  }
  return {{"readable", true},
          {"source", reader.source() == EnergySource::perf ? "perf power events (RAPL)" : "powercap (RAPL)"},
          {"zones", zones},
          {"read_us", read_us >= 0 ? nlohmann::json(read_us) : nlohmann::json(nullptr)}};
}

}  // namespace cvp::bench

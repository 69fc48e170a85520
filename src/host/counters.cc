#include "host/counters.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace cvp::bench {

std::string_view to_string(Event event) { return kEventNames[static_cast<std::size_t>(event)]; }

bool is_hardware(Event event) {
  return event == Event::cycles || event == Event::instructions || event == Event::llc_misses ||
         event == Event::stalled_cycles_frontend || event == Event::stalled_cycles_backend;
}

int perf_event_paranoid() {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  int level = -9;
  return (in >> level) ? level : -9;
}

std::string perf_refusal(int error, int paranoid) {
  const std::string code = error == ENOENT       ? "ENOENT"
                           : error == ENODEV     ? "ENODEV"
                           : error == EOPNOTSUPP ? "EOPNOTSUPP"
                           : error == EACCES     ? "EACCES"
                           : error == EPERM      ? "EPERM"
                           : error == ENOSYS     ? "ENOSYS"
                           : error == EINVAL     ? "EINVAL"
                           : error == EMFILE     ? "EMFILE"
                                                 : "errno " + std::to_string(error);
  const std::string gave = "perf_event_open gave " + code;
  if (error == ENOENT || error == ENODEV) {
    return "no PMU: " + gave + "; the kernel exposes no such event here, as in most virtual machines";
  }
  if (error == EOPNOTSUPP) return "not offered by this PMU: " + gave;
  if (error == EACCES || error == EPERM) {
    return "forbidden: " + gave + "; perf_event_paranoid is " +
           (paranoid == -9 ? std::string("unknown") : std::to_string(paranoid)) +
           ": run as root, lower kernel.perf_event_paranoid, or allow perf_event_open in the "
           "container's seccomp profile";
  }
  if (error == ENOSYS) return "not in this kernel: " + gave;
  if (error == EMFILE) return "out of file descriptors: " + gave;
  return "refused: " + gave;
}

bool BlockCounts::empty() const {
  return std::none_of(per_execution.begin(), per_execution.end(),
                      [](const std::optional<double>& v) { return v.has_value(); });
}

BlockCounts counts_during(const CounterValues& before, const CounterValues& after,
                          double executions) {
  BlockCounts counts;
  const double n = std::max(executions, 1.0);
  for (std::size_t i = 0; i < kEvents; ++i) {
    const auto& a = before.events[i];
    const auto& b = after.events[i];
    if (!a || !b || b->value < a->value || b->running_ns <= a->running_ns ||
        b->enabled_ns < a->enabled_ns) {
      continue;  // not counted during the block (or readings out of order)
    }
    const double enabled = static_cast<double>(b->enabled_ns - a->enabled_ns);
    const double running = static_cast<double>(b->running_ns - a->running_ns);
    if (enabled < running) continue;
    // Time-shared with other groups: the count scaled to the whole block.
    double value = static_cast<double>(b->value - a->value) * enabled / running;
    if (static_cast<Event>(i) == Event::task_clock) value *= 1e-9;  // ns of CPU -> s
    counts.per_execution[i] = value / n;
    counts.counted_share = std::min(counts.counted_share, running / enabled);
  }
  return counts;
}

nlohmann::json counters_json(const CounterReader& reader, double read_us) {
  const auto unavailable = reader.unavailable();
  nlohmann::json available = nlohmann::json::array();
  nlohmann::json why = nlohmann::json::object();
  for (std::size_t i = 0; i < kEvents; ++i) {
    const auto event = static_cast<Event>(i);
    const auto it = unavailable.find(event);
    if (it == unavailable.end()) {
      available.push_back(to_string(event));
    } else {
      why[std::string(to_string(event))] = it->second;
    }
  }
  return {{"available", available},
          {"unavailable", why},
          {"scope", reader.scope()},
          {"read_us", read_us >= 0 ? nlohmann::json(read_us) : nlohmann::json(nullptr)}};
}

std::string hardware_unavailable(const CounterReader& reader) {
  const auto unavailable = reader.unavailable();
  for (Event e : {Event::cycles, Event::instructions}) {
    if (const auto it = unavailable.find(e); it != unavailable.end()) return it->second;
  }
  return "";
}

namespace {

#if defined(__linux__)

// The process's threads other than the calling one, now (-1: unknown).
int other_threads() {
  std::error_code ec;
  int n = -1;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : std::max(n, 0);
}

perf_event_attr attr_of(Event event) {
  perf_event_attr a{};
  a.size = sizeof(a);
  a.type = is_hardware(event) ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
  switch (event) {
    case Event::cycles: a.config = PERF_COUNT_HW_CPU_CYCLES; break;
    case Event::instructions: a.config = PERF_COUNT_HW_INSTRUCTIONS; break;
    // The kernel's generic cache-misses event: last-level cache misses on most CPUs.
    case Event::llc_misses: a.config = PERF_COUNT_HW_CACHE_MISSES; break;
    case Event::stalled_cycles_frontend: a.config = PERF_COUNT_HW_STALLED_CYCLES_FRONTEND; break;
    case Event::stalled_cycles_backend: a.config = PERF_COUNT_HW_STALLED_CYCLES_BACKEND; break;
    case Event::task_clock: a.config = PERF_COUNT_SW_TASK_CLOCK; break;
    case Event::context_switches: a.config = PERF_COUNT_SW_CONTEXT_SWITCHES; break;
    case Event::cpu_migrations: a.config = PERF_COUNT_SW_CPU_MIGRATIONS; break;
    case Event::page_faults: a.config = PERF_COUNT_SW_PAGE_FAULTS; break;
  }
  a.inherit = 1;
  a.exclude_hv = 1;
  a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  return a;
}

// Context switches and migrations happen in the kernel: counted in user space only, they read 0.
bool kernel_only(Event event) {
  return event == Event::context_switches || event == Event::cpu_migrations;
}

// One group of events read at once, or (grouped == false) events each read alone, for kernels
// that refuse PERF_FORMAT_GROUP with inherit.
struct OpenGroup {
  bool grouped = true;
  std::vector<std::pair<Event, int>> members;  // the leader first
};

class PerfCounters final : public CounterReader {
 public:
  PerfCounters() : paranoid_(perf_event_paranoid()), threads_before_(other_threads()) {
    open_group({Event::cycles, Event::instructions, Event::llc_misses,
                Event::stalled_cycles_frontend, Event::stalled_cycles_backend});
    open_group({Event::task_clock, Event::context_switches, Event::cpu_migrations,
                Event::page_faults});
  }
  ~PerfCounters() override {
    for (auto& g : groups_) close_group(g);
  }
  PerfCounters(const PerfCounters&) = delete;
  PerfCounters& operator=(const PerfCounters&) = delete;

  std::map<Event, std::string> unavailable() const override { return unavailable_; }
  std::string scope() const override;
  CounterValues read() override;

 private:
  // Opens `event` in `group` (as its leader when it has none); the fd, or -errno.
  int open_event(Event event, OpenGroup& group);
  void open_group(const std::vector<Event>& events);
  // Drops the group's last members while the PMU cannot count them all at once.
  void fit_group(OpenGroup& group);
  static bool counts(const OpenGroup& group);
  static void read_group(const OpenGroup& group, CounterValues& values);
  static void close_group(OpenGroup& group) {
    for (auto& [event, fd] : group.members) ::close(fd);
    group.members.clear();
  }

  int paranoid_;
  int threads_before_;  // the process's other threads when the counters were opened: not counted
  std::vector<OpenGroup> groups_;
  std::map<Event, std::string> unavailable_;
  std::vector<Event> user_only_;
};

int PerfCounters::open_event(Event event, OpenGroup& group) {
  perf_event_attr a = attr_of(event);
  const bool leader = group.members.empty() || !group.grouped;
  if (group.grouped) a.read_format |= PERF_FORMAT_GROUP;
  const int group_fd = leader ? -1 : group.members.front().second;
  long fd = syscall(SYS_perf_event_open, &a, 0, -1, group_fd, 0UL);
  if (fd < 0 && errno == EINVAL && leader && group.grouped) {
    // An older kernel refuses a group read with inherit: read each event alone.
    group.grouped = false;
    a.read_format &= ~static_cast<std::uint64_t>(PERF_FORMAT_GROUP);
    fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0UL);
  }
  if (fd < 0 && (errno == EACCES || errno == EPERM) && !kernel_only(event)) {
    // perf_event_paranoid 2 lets a process count itself in user space only.
    a.exclude_kernel = 1;
    fd = syscall(SYS_perf_event_open, &a, 0, -1, group_fd, 0UL);
    if (fd >= 0) user_only_.push_back(event);
  }
  return fd >= 0 ? static_cast<int>(fd) : -errno;
}

void PerfCounters::open_group(const std::vector<Event>& events) {
  OpenGroup group;
  for (Event event : events) {
    const int fd = open_event(event, group);
    if (fd < 0) {
      unavailable_[event] = perf_refusal(-fd, paranoid_);
    } else {
      group.members.emplace_back(event, fd);
    }
  }
  if (group.members.empty()) return;
  fit_group(group);
  if (!group.members.empty()) groups_.push_back(std::move(group));
}

bool PerfCounters::counts(const OpenGroup& group) {
  CounterValues v;
  read_group(group, v);
  const auto& first = v.events[static_cast<std::size_t>(group.members.front().first)];
  return first && (first->running_ns > 0 || first->enabled_ns == 0);
}

void PerfCounters::fit_group(OpenGroup& group) {
  if (!group.grouped) return;
  // A group the PMU cannot hold never counts (its time running stays 0): drop members from the
  // end until it counts, naming each dropped one.
  while (!group.members.empty()) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
    if (counts(group)) return;
    const auto [event, fd] = group.members.back();
    ::close(fd);
    group.members.pop_back();
    unavailable_[event] = group.members.empty()
        ? "the PMU never counted it: its counters are all taken, by the NMI watchdog or another user of perf"
        : "the PMU cannot count it in one group with " + std::string(to_string(group.members.front().first));
  }
}

void PerfCounters::read_group(const OpenGroup& group, CounterValues& values) {
  if (group.grouped) {
    // {nr, time_enabled, time_running, value[nr]}
    std::vector<std::uint64_t> buf(3 + group.members.size());
    const ssize_t got = ::read(group.members.front().second, buf.data(), buf.size() * sizeof(std::uint64_t));
    if (got != static_cast<ssize_t>(buf.size() * sizeof(std::uint64_t)) || buf[0] != group.members.size()) return;
    for (std::size_t i = 0; i < group.members.size(); ++i) {
      values.events[static_cast<std::size_t>(group.members[i].first)] = EventCount{buf[3 + i], buf[1], buf[2]};
    }
    return;
  }
  for (const auto& [event, fd] : group.members) {
    std::uint64_t buf[3] = {0, 0, 0};  // {value, time_enabled, time_running}
    if (::read(fd, buf, sizeof(buf)) == static_cast<ssize_t>(sizeof(buf))) {
      values.events[static_cast<std::size_t>(event)] = EventCount{buf[0], buf[1], buf[2]};
    }
  }
}

CounterValues PerfCounters::read() {
  CounterValues values;
  for (const auto& g : groups_) read_group(g, values);
  return values;
}

std::string PerfCounters::scope() const {
  std::string text =
      "the whole process: opened with inherit on the thread that drives the run before its first "
      "team, so every thread created since is counted (a block's coverage compares the counted "
      "task clock with the process's CPU time)";
  if (threads_before_ > 0) {
    text += "; " + std::to_string(threads_before_) +
            " thread(s) that already ran when they were opened are not counted";
  }
  if (!user_only_.empty()) {
    text += "; counted in user space only (perf_event_paranoid " + std::to_string(paranoid_) + "):";
    for (Event e : user_only_) text += " " + std::string(to_string(e));
  }
  return text;
}

#else

class NoCounters final : public CounterReader {
 public:
  std::map<Event, std::string> unavailable() const override {
    std::map<Event, std::string> all;
    for (std::size_t i = 0; i < kEvents; ++i) all[static_cast<Event>(i)] = "counters are read on Linux only";
    return all;
  }
  CounterValues read() override { return {}; }
  std::string scope() const override { return "none"; }
};

#endif

}  // namespace

std::unique_ptr<CounterReader> open_process_counters() {
#if defined(__linux__)
  return std::make_unique<PerfCounters>();
#else
  return std::make_unique<NoCounters>();
#endif
}

}  // namespace cvp::bench

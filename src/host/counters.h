// Counters per block: what the CPU's performance monitoring unit (PMU) and the kernel count while
// a block of executions runs, read at the block's start and end, outside its timed region.
//
// Hardware events (cycles, instructions, last-level cache misses, stalled cycles where the PMU
// offers them) say whether a team's workers slowed down because they shared a cache or memory:
// instructions per cycle and misses per unit of work, serial against parallel. Software events
// (task clock, context switches, CPU migrations, page faults) are counted by the kernel and work
// in virtual machines too.
//
// Scope: the whole process. The counters are opened once, on the thread that drives the run,
// with `inherit`, before the first team is created: every thread the process creates afterwards
// (std::thread, OpenMP and oneTBB workers, the request engine's per-execution teams) gets its own
// copy, a read sums the live threads' copies, and a thread that ends adds its counts to the
// parent's. This covers every backend's team, including threads created and joined inside one
// execution, with two reads per block, and needs no privilege beyond what perf_event_paranoid
// allows a process on itself. Counting per worker thread by its id would miss the teams that
// come and go inside an execution; counting per CPU needs CAP_PERFMON and counts every other
// process on those CPUs too. What the scope cannot see (a thread created before the counters
// were opened) shows as a task clock below the process's CPU time: each block's `coverage`.
//
// Each group of events is read at once (PERF_FORMAT_GROUP), so that instructions and cycles are
// counted over the same time. When the PMU has fewer counters than the events asked for, the
// kernel time-shares them: each read carries the time the group was enabled and the time it
// counted, and a block's counts are scaled by their ratio (`counted_share` says how much).
//
// An event the machine cannot count (no PMU, as in most virtual machines; perf_event_paranoid;
// a container's seccomp profile; an event this PMU does not offer) is named once with why, and
// the others go on.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cvp::bench {

enum class Event {
  cycles, instructions, llc_misses, stalled_cycles_frontend, stalled_cycles_backend,
  task_clock, context_switches, cpu_migrations, page_faults
};
inline constexpr std::size_t kEvents = 9;
// Their summary.json names.
inline constexpr std::array<std::string_view, kEvents> kEventNames{
    "cycles", "instructions", "llc_misses", "stalled_cycles_frontend", "stalled_cycles_backend",
    "task_clock", "context_switches", "cpu_migrations", "page_faults"};
std::string_view to_string(Event event);
bool is_hardware(Event event);

// One event's running count since its counter was opened, as read at one instant: the raw count,
// and the nanoseconds its group was enabled and actually counting (less when time-shared).
struct EventCount {
  std::uint64_t value = 0;
  std::uint64_t enabled_ns = 0;
  std::uint64_t running_ns = 0;
};

// Every event at one instant; nullopt for an event that is not counted (or whose read failed).
struct CounterValues {
  std::array<std::optional<EventCount>, kEvents> events{};
};

// What reads the counters. The process's real counters are open_process_counters(); tests give
// a fake one to exercise what follows (IPC, misses per unit of work) without a PMU.
class CounterReader {
 public:
  virtual ~CounterReader() = default;
  // Every event that cannot be counted here, with why, in one sentence each.
  virtual std::map<Event, std::string> unavailable() const = 0;
  // Every counted event's count now.
  virtual CounterValues read() = 0;
  // What the counters cover, in words (summary: machine.counters.scope).
  virtual std::string scope() const = 0;
};

// The process's counters, opened now on the calling thread with inherit (see above). Never
// throws: events it cannot open are unavailable(), with why.
std::unique_ptr<CounterReader> open_process_counters();

// Why perf_event_open refused an event, in one sentence ("no PMU: perf_event_open gave ENOENT
// ..."), from its errno and the kernel's perf_event_paranoid (-9: unknown).
std::string perf_refusal(int error, int paranoid);

// The kernel's perf_event_paranoid (/proc/sys/kernel/perf_event_paranoid); -9 when unreadable.
int perf_event_paranoid();

// What one block counted, per execution of the point: each event's count scaled to the whole
// block when its group was time-shared (task clock in seconds, the rest as counts), and the
// lowest share of the block any counted group actually counted. Empty when nothing was counted.
struct BlockCounts {
  std::array<std::optional<double>, kEvents> per_execution{};
  double counted_share = 1;
  bool empty() const;
};
BlockCounts counts_during(const CounterValues& before, const CounterValues& after,
                          double executions);

// machine.counters of the summary: the events counted, those not with why, the scope and the
// cost of one read in microseconds (-1: not measured).
nlohmann::json counters_json(const CounterReader& reader, double read_us);

// Why hardware counters cannot tell IPC or cache misses here ("" when cycles and instructions
// are both counted): the first reason of the two.
std::string hardware_unavailable(const CounterReader& reader);

}  // namespace cvp::bench

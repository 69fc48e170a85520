// What this machine can do at most: peak FP64 FLOP/s, memory bandwidth and the latency of the
// wake-ups a concurrent runtime depends on. Workload results are read against these numbers, so
// each is measured the plain way a reader can check (STREAM's triad, an FMA loop, futex calls),
// and kept per machine so a run pays the ~1-2 s once.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <vector>
#include <optional>
#include <string>

#include "cvp/exec/topology.h"
#include "host/cpu_model.h"

namespace cvp::bench {

// Microseconds.
struct Spread {
  double median = 0;
  double p99 = 0;
};

// The triad bandwidth of one kind of core (on a machine with more than one): one thread on the
// kind's first core, and one thread on each of its cores at once.
struct KindBandwidth {
  std::string kind;              // "P", "E", ...
  std::vector<int> cpus;         // the kind's cores (their first CPUs) the all-cores figure used
  double one_core = 0, all_cores = 0;  // bytes/s
};

struct MachineLimits {
  double flops_one_core = 0;       // FP64 FLOP/s of one thread on the home CPU
  double flops_all_cores = 0;      // summed over one thread per allowed physical core at once
  int cores = 0;                   // threads used for the all-cores figures
  double bandwidth_one_core = 0;   // bytes/s of a STREAM triad from one thread (24 B/element)
  double bandwidth_all_cores = 0;  // the same with one thread per allowed physical core
  std::vector<KindBandwidth> bandwidth_by_kind;  // per kind of core; empty with one kind
  Spread timer_wakeup_us;          // how much later than asked a 50 us clock_nanosleep returns
  Spread futex_wakeup_us;          // FUTEX_WAKE on one CPU to the woken thread running on another
  double context_switch_us = 0;    // one switch between two threads sharing the home CPU
  std::string measured_at;         // UTC, ISO 8601
  double seconds = 0;              // how long the measurement took
  bool cached = false;             // read from the cache rather than measured by this run
  std::string key;                 // what identifies the machine in the cache
  CpuSpeeds cpu_speeds;            // each allowed CPU's speeds (host/cpu_model.h), cached too
  // Why the figures may be low: other processes used the CPUs while they were measured (the
  // run's noise rules, host/noise.h); "" when the machine was quiet. Cached with them, and such
  // an entry is measured again by the first run that finds the machine quiet.
  std::string disturbed;
};

// What a kernel of this run reached: its FLOP/s and bytes/s and the cores it ran on.
struct RateSeen {
  std::string name;
  double flop_per_s = 0;
  double bytes_per_s = 0;
  int cores = 1;
};

// Whether the limits cannot be right because a kernel of this run went faster than them: a
// FLOP rate above kFlopsMargin x the peak of its cores, or a byte rate above kBytesMargin x the
// bandwidth of its cores (caches are faster than memory: only a wildly low bandwidth is caught).
// The sentence that says which kernel, or nullopt.
inline constexpr double kFlopsMargin = 1.25;
inline constexpr double kBytesMargin = 50.0;
std::optional<std::string> contradicted_by(const MachineLimits& limits,
                                           const std::vector<RateSeen>& seen);

// The all-cores bandwidth a team on `cpus` can draw: its kind's where every CPU of the team is of
// one kind whose bandwidth was measured, else `all_cores` (the machine's).
double team_bandwidth(const MachineModel& model, const std::vector<KindBandwidth>& by_kind,
                      const std::vector<int>& cpus, double all_cores);

// The summary's machine.limits object, with a short "method" per figure.
nlohmann::json to_json(const MachineLimits& limits);

// nullopt for anything malformed: a missing field, a wrong type, a negative or zero rate.
std::optional<MachineLimits> limits_from_json(const nlohmann::json& json);

// FP64 FLOP/s of the calling thread: the FMA loop of the limits for `seconds` (the 90th
// percentile of the rates of its sub-millisecond rounds). The machine model measures each CPU
// with it.
double fma_flops_per_s(double seconds);

// Measures every figure now (under two seconds on 2 cores): each CPU's speeds first, then the
// rest with the fastest CPU as home. Pins only threads it starts itself.
MachineLimits measure_limits(const exec::Topology& topology);

// The limits of this machine, from <dir>/limits-<hash of the key>.json when that holds this
// machine's key, else measured and written there. dir: $CVPBENCH_CACHE_DIR, else
// $XDG_CACHE_HOME/cvpbench, else $HOME/.cache/cvpbench. The key is the CPU model, the allowed
// CPUs, the kernel release, the vector ISA the FMA loop runs (chosen at run time, fma_peak.h), the
// build flavour and the version. `remeasure` ignores the cache and rewrites it. An entry without
// the per-CPU speeds (written by an older version) is measured again and rewritten. Figures
// measured while other processes used the CPUs are kept flagged (`disturbed`, with a note), used
// while the machine stays busy, and measured again by the first run that finds it quiet; so a
// busy moment does not set this machine's figures for good. A cache that
// cannot be used (corrupt,
// unreadable, a symlink, an unwritable dir) never stops the run: the numbers are measured and
// `note`, when given, gets a sentence saying why (and is cleared otherwise).
MachineLimits machine_limits(const exec::Topology& topology, bool remeasure, std::string* note);

// What other processes do to the machine while its limits are measured. `during` runs the
// measurement and returns why others disturbed it ("" when they did not); `busy_now` says whether
// others are using the CPUs right now (before a disturbed entry is measured again).
struct LoadWatch {
  std::function<std::string(const std::function<void()>&)> during;
  std::function<bool()> busy_now;
};

// The watch of /proc (host/noise.h) over `cpus`: others' processes above 10% of a CPU or steal
// above 3% during the measurement; more than a quarter of a CPU busy over 300 ms before it.
LoadWatch proc_load_watch(const std::vector<int>& cpus);

// As above with the measurement (and the load) supplied, so tests exercise the cache without
// measuring. Without `load` the machine reads as quiet.
MachineLimits machine_limits(const exec::Topology& topology, bool remeasure, std::string* note,
                             const std::function<MachineLimits()>& measure,
                             const LoadWatch& load = {});

}  // namespace cvp::bench

#include "host/cpu_model.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <latch>
#include <set>
#include <thread>

#include "cvp/exec/affinity.h"
#include "cvp/workload.h"
#include "exec/slow_cpu.h"
#include "host/machine_limits.h"
#include "host/elapsed.h"

namespace cvp::bench {
namespace {

const char* const kSpeedsMethod =
    "per allowed CPU: the machine limits' FP64 FMA loop and a clock probe (a chain of dependent "
    "register adds, one per cycle: adds per ns) on one thread pinned to it, the others idle "
    "(alone), then with one pinned thread per allowed core running the same (all busy, once per "
    "SMT depth); 3 interleaved tries of each, medians kept; a CPU read slower alone than all busy "
    "(by over 3%) is read alone once more and keeps the higher median, and is never taken as "
    "slower alone than all busy; capacity = FLOP/s over the home CPU's FLOP/s alone; "
    "probe_noise = median over CPUs of the range of its probes alone over their median";

}  // namespace

const CpuInfo* MachineModel::find(int cpu) const {
  const auto it = std::lower_bound(cpus.begin(), cpus.end(), cpu,
                                   [](const CpuInfo& c, int want) { return c.cpu < want; });
  return it != cpus.end() && it->cpu == cpu ? &*it : nullptr;
}

double MachineModel::team_capacity(const std::vector<int>& team) const {
  // One entry per physical core: its first CPU in the team stands for it (an SMT sibling
  // adds no core of FMA throughput).
  std::set<int> cores_seen;
  std::vector<const CpuInfo*> members;
  std::set<int> unknown_cpus;
  for (const int cpu : team) {
    const CpuInfo* info = measured ? find(cpu) : nullptr;
    if (info == nullptr) {
      unknown_cpus.insert(cpu);
      continue;
    }
    if (cores_seen.insert(info->core).second) members.push_back(info);
  }
  const std::size_t unknown = unknown_cpus.size();
  double sum = static_cast<double>(unknown);
  for (const CpuInfo* info : members) {
    sum += members.size() + unknown == 1 ? info->capacity_alone : info->capacity_all_busy;
  }
  return sum;
}

// --- The clock probe. ----------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAddsPerBlock = 64;
constexpr long kBlocksPerChunk = 512;  // 32768 dependent adds: about 10 us at 3 GHz

// `blocks` x 64 dependent register-register adds (a register operand, not an immediate, which
// some cores fold in the renamer): one per cycle on every out-of-order x86-64 and ARM core.
std::uint64_t add_chain(std::uint64_t x, std::uint64_t one, long blocks) {
#if defined(__x86_64__)
  asm volatile(
      "1:\n\t"
      ".rept 64\n\t"
      "add %[one], %[x]\n\t"
      ".endr\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n"
      : [x] "+r"(x), [n] "+r"(blocks)
      : [one] "r"(one)
      : "cc");
#elif defined(__aarch64__)
  asm volatile(
      "1:\n\t"
      ".rept 64\n\t"
      "add %[x], %[x], %[one]\n\t"
      ".endr\n\t"
      "subs %[n], %[n], #1\n\t"
      "b.ne 1b\n"
      : [x] "+r"(x), [n] "+r"(blocks)
      : [one] "r"(one)
      : "cc");
#else
  // Elsewhere: an empty asm between adds keeps each add, in order, in a register.
  for (long b = 0; b < blocks; ++b) {
    for (int i = 0; i < kAddsPerBlock; ++i) {
      x += one;
      asm volatile("" : "+r"(x));
    }
  }
#endif
  return x;
}

// Keeps the chain's result alive; probes on several CPUs at once store it, hence atomic.
std::atomic<std::uint64_t> g_probe_sink{0};

}  // namespace

double clock_probe_ghz(double seconds) {
  volatile std::uint64_t one_source = 1;  // unknown to the compiler
  const std::uint64_t one = one_source;
  std::uint64_t x = 0;
  std::vector<double> rates;
  const Clock::time_point start = Clock::now();
  constexpr double kAdds = static_cast<double>(kAddsPerBlock) * kBlocksPerChunk;
  while (rates.size() < 3 || seconds_since(start) < seconds) {
    const Clock::time_point chunk = Clock::now();
    x = add_chain(x, one, kBlocksPerChunk);
    const double took = seconds_since(chunk);
    const double added = exec::stretch_on_slow_cpu(took);
    rates.push_back(kAdds / (took + added) * 1e-9);
  }
  g_probe_sink.store(x, std::memory_order_relaxed);
  std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2),
                   rates.end());
  return rates[rates.size() / 2];
}

// --- Measuring each CPU. -------------------------------------------------------------------------

namespace {

constexpr int kTries = 3;
constexpr double kAloneBudgetS = 0.25;    // the FMA loop alone, over all CPUs, per try
constexpr double kAloneMinS = 0.002, kAloneMaxS = 0.03;
constexpr double kBusyFmaS = 0.04;        // per try and SMT depth, all cores at once
constexpr double kProbeShare = 1.0 / 3;   // the clock probe's time against the FMA loop's

struct Reading {
  double flops = 0, ghz = 0;
};

// The FMA loop then the clock probe on the calling thread; the FMA rate stretched as the
// seam's slow CPU stretches any work.
Reading read_here(double fma_s) {
  const Clock::time_point start = Clock::now();
  double flops = fma_flops_per_s(fma_s);
  const double took = seconds_since(start);
  const double added = exec::stretch_on_slow_cpu(took);
  if (took + added > 0) flops *= took / (took + added);
  return {flops, clock_probe_ghz(fma_s * kProbeShare)};
}

// What kTries tries read of each CPU.
struct Tries {
  std::vector<double> flops, ghz;
};

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Runs read_here on one new thread pinned to each of `cpus` at once (a latch starts them
// together); nullopt for a thread that could not be pinned.
std::vector<std::optional<Reading>> read_on(const std::vector<int>& cpus, double fma_s) {
  std::vector<std::optional<Reading>> out(cpus.size());
  std::latch start(static_cast<std::ptrdiff_t>(cpus.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    threads.emplace_back([&, i] {
      const bool pinned = exec::pin_to_cpu(cpus[i]);
      start.arrive_and_wait();
      const Reading r = read_here(fma_s);
      if (pinned) out[i] = r;
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// Each allowed CPU alone, the tries interleaved (CPU 0, 1, ... then again) so that a moment of
// noise touches one try of a CPU, not all of them.
std::map<int, Tries> measure_alone(const std::vector<int>& cpus) {
  const double fma_s = std::clamp(kAloneBudgetS / static_cast<double>(std::max<std::size_t>(cpus.size(), 1)),
                                  kAloneMinS, kAloneMaxS);
  std::map<int, Tries> tries;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    for (int cpu : cpus) {
      if (const auto r = read_on({cpu}, fma_s).front()) {
        tries[cpu].flops.push_back(r->flops);
        tries[cpu].ghz.push_back(r->ghz);
      }
    }
  }
  return tries;
}

// Every CPU with one thread per allowed core busy: pass d runs the d-th CPU of every core (a
// core with fewer CPUs runs its first, to stay busy, and that reading is not kept).
std::map<int, Tries> measure_all_busy(const exec::Topology& t) {
  std::size_t depth = 1;
  for (const auto& core : t.cores) depth = std::max(depth, core.size());
  std::map<int, Tries> tries;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    for (std::size_t d = 0; d < depth; ++d) {
      std::vector<int> team;
      std::vector<bool> keep;
      for (const auto& core : t.cores) {
        team.push_back(core[std::min(d, core.size() - 1)]);
        keep.push_back(d < core.size());
      }
      const auto readings = read_on(team, kBusyFmaS);
      for (std::size_t i = 0; i < team.size(); ++i) {
        if (!keep[i] || !readings[i]) continue;
        tries[team[i]].flops.push_back(readings[i]->flops);
        tries[team[i]].ghz.push_back(readings[i]->ghz);
      }
    }
  }
  return tries;
}

// The median over CPUs of the relative range (max - min) / median of each CPU's probes alone.
double probe_noise_of(const std::map<int, Tries>& alone) {
  std::vector<double> spreads;
  for (const auto& [cpu, tries] : alone) {
    const double mid = median_of(tries.ghz);
    if (tries.ghz.size() < 2 || mid <= 0) continue;
    const auto [lo, hi] = std::minmax_element(tries.ghz.begin(), tries.ghz.end());
    spreads.push_back((*hi - *lo) / mid);
  }
  return median_of(spreads);
}

// A CPU is never slower alone than with every core busy: one that read so by over kHomeTie
// was disturbed alone.
bool short_alone(const CpuSpeed& s) { return s.flops_alone < (1 - kHomeTie) * s.flops_all_busy; }

// Each CPU short alone is read alone once more, keeping the higher median.
void remeasure_short_alone(CpuSpeeds& speeds) {
  std::vector<int> short_cpus;
  for (const CpuSpeed& s : speeds.cpus) {
    if (short_alone(s)) short_cpus.push_back(s.cpu);
  }
  if (short_cpus.empty()) return;
  const std::map<int, Tries> again = measure_alone(short_cpus);
  for (CpuSpeed& s : speeds.cpus) {
    const auto a = again.find(s.cpu);
    if (a == again.end() || median_of(a->second.flops) <= s.flops_alone) continue;
    s.flops_alone = median_of(a->second.flops);
    s.ghz_alone = median_of(a->second.ghz);
  }
}

// One CpuSpeed per CPU of `busy`, its all-busy medians.
std::vector<CpuSpeed> all_busy_speeds(const std::map<int, Tries>& busy) {
  std::vector<CpuSpeed> out;
  for (const auto& [cpu, tries] : busy) {
    CpuSpeed s;
    s.cpu = cpu;
    s.flops_all_busy = median_of(tries.flops);
    s.ghz_all_busy = median_of(tries.ghz);
    out.push_back(s);
  }
  return out;
}

bool shared_core(const CpuSpeed& s) {
  return s.flops_alone > 0 && s.flops_all_busy < kSharedCore * s.flops_alone &&
         s.ghz_alone > 0 && s.ghz_all_busy >= (1 - kHomeTie) * s.ghz_alone;
}

}  // namespace

int confirm_all_busy(CpuSpeeds& speeds, const std::function<std::vector<CpuSpeed>()>& again,
                     int times) {
  int taken = 0;
  while (taken < times && std::any_of(speeds.cpus.begin(), speeds.cpus.end(), shared_core)) {
    ++taken;
    for (const CpuSpeed& later : again()) {
      for (CpuSpeed& s : speeds.cpus) {
        if (s.cpu != later.cpu || later.flops_all_busy <= s.flops_all_busy) continue;
        s.flops_all_busy = later.flops_all_busy;
        s.ghz_all_busy = later.ghz_all_busy;
      }
    }
  }
  return taken;
}

CpuSpeeds measure_cpu_speeds(const exec::Topology& topology) {
  const Clock::time_point start = Clock::now();
  const std::map<int, Tries> alone = measure_alone(topology.allowed);
  const std::map<int, Tries> busy = measure_all_busy(topology);
  CpuSpeeds speeds;
  for (int cpu : topology.allowed) {
    CpuSpeed s;
    s.cpu = cpu;
    if (const auto a = alone.find(cpu); a != alone.end()) {
      s.flops_alone = median_of(a->second.flops);
      s.ghz_alone = median_of(a->second.ghz);
    }
    if (const auto b = busy.find(cpu); b != busy.end()) {
      s.flops_all_busy = median_of(b->second.flops);
      s.ghz_all_busy = median_of(b->second.ghz);
    }
    speeds.cpus.push_back(s);
  }
  remeasure_short_alone(speeds);
  confirm_all_busy(speeds, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // apart in time
    return all_busy_speeds(measure_all_busy(topology));
  }, 3);
  speeds.probe_noise = probe_noise_of(alone);
  speeds.seconds = seconds_since(start);
  return speeds;
}

// --- The cache's part, and sysfs. ----------------------------------------------------------------

nlohmann::json speeds_to_json(const CpuSpeeds& speeds) {
  nlohmann::json cpus = nlohmann::json::array();
  for (const CpuSpeed& s : speeds.cpus) {
    cpus.push_back({{"cpu", s.cpu},
                    {"flops_alone", s.flops_alone},
                    {"flops_all_busy", s.flops_all_busy},
                    {"ghz_alone", s.ghz_alone},
                    {"ghz_all_busy", s.ghz_all_busy}});
  }
  return {{"cpus", cpus}, {"probe_noise", speeds.probe_noise}, {"seconds", speeds.seconds}};
}

namespace {

// A finite number >= 0 (> 0 when `positive`) at json[name], or nullopt.
std::optional<double> number_at(const nlohmann::json& json, const char* name, bool positive) {
  if (!json.is_object()) return std::nullopt;
  const auto it = json.find(name);
  if (it == json.end() || !it->is_number()) return std::nullopt;
  const double x = it->get<double>();
  if (!std::isfinite(x) || x < 0 || (positive && x == 0)) return std::nullopt;
  return x;
}

std::optional<CpuSpeed> speed_from_json(const nlohmann::json& json) {
  const auto cpu = json.is_object() ? json.find("cpu") : json.end();
  if (!json.is_object() || cpu == json.end() || !cpu->is_number_integer()) return std::nullopt;
  const auto fa = number_at(json, "flops_alone", true), fb = number_at(json, "flops_all_busy", true);
  const auto ga = number_at(json, "ghz_alone", true), gb = number_at(json, "ghz_all_busy", true);
  if (!fa || !fb || !ga || !gb) return std::nullopt;
  return CpuSpeed{cpu->get<int>(), *fa, *fb, *ga, *gb};
}

}  // namespace

std::optional<CpuSpeeds> speeds_from_json(const nlohmann::json& json,
                                          const std::vector<int>& allowed) {
  const auto noise = number_at(json, "probe_noise", false);
  const auto seconds = number_at(json, "seconds", false);
  const auto cpus = json.is_object() ? json.find("cpus") : json.end();
  if (!noise || !seconds || cpus == json.end() || !cpus->is_array()) return std::nullopt;
  CpuSpeeds speeds{{}, *noise, *seconds};
  for (const auto& entry : *cpus) {
    const auto s = speed_from_json(entry);
    if (!s) return std::nullopt;
    speeds.cpus.push_back(*s);
  }
  std::vector<int> seen;
  for (const CpuSpeed& s : speeds.cpus) seen.push_back(s.cpu);
  if (seen != allowed) return std::nullopt;  // another set of CPUs, or out of order
  return speeds;
}

std::map<int, double> read_sysfs_capacity(const std::vector<int>& cpus,
                                          const std::string& sysfs_root) {
  std::map<int, double> out;
  for (int cpu : cpus) {
    std::ifstream in(sysfs_root + "/devices/system/cpu/cpu" + std::to_string(cpu) +
                     "/cpu_capacity");
    long long value = -1;
    if (in >> value && value > 0 && value <= 1 << 20) out[cpu] = static_cast<double>(value);
  }
  return out;
}

// --- The model. ----------------------------------------------------------------------------------

namespace {

std::string gflops(double flops) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f GFLOP/s", flops / 1e9);
  return text;
}

std::string kind_words(const CpuInfo& info) {
  return info.kind.empty() ? std::string() : " (a " + info.kind + " core)";
}

// The home CPU (the first, in the topology's order, of those within kHomeTie of the fastest
// alone) and the sentence that says why.
void choose_home(const exec::Topology& t, MachineModel& m) {
  double fastest = 0, slowest = 0;
  for (const CpuInfo& c : m.cpus) fastest = std::max(fastest, c.flops_alone);
  slowest = fastest;
  for (const CpuInfo& c : m.cpus) slowest = std::min(slowest, c.flops_alone);
  m.home_cpu = t.home_cpu();
  for (const auto& core : t.cores) {
    const auto at = std::find_if(core.begin(), core.end(), [&](int cpu) {
      const CpuInfo* info = m.find(cpu);
      return !m.measured || (info && info->flops_alone >= (1 - kHomeTie) * fastest);
    });
    if (at == core.end()) continue;
    m.home_cpu = *at;
    break;
  }
  const CpuInfo* home = m.find(m.home_cpu);
  const std::string cpu = "CPU " + std::to_string(m.home_cpu);
  const std::string kind = home ? kind_words(*home) : "";
  if (m.cpus.size() <= 1) {
    m.home_reason = cpu + " is the only CPU this run may use.";
  } else if (!m.measured) {
    m.home_reason = cpu + kind + " is the first CPU of the first core" +
                    (t.kinds.empty() ? "" : " of the fastest kind") +
                    "; the CPUs' speeds were not measured (--limits off).";
  } else if (slowest >= (1 - kHomeTie) * fastest) {
    m.home_reason = cpu + " is the first CPU of the first core: every allowed CPU is as fast "
                    "alone (within 3%, " + gflops(fastest) + ").";
  } else {
    m.home_reason = cpu + kind + " is the fastest alone (" + gflops(home->flops_alone) +
                    "; the slowest allowed CPU reaches " + fixed(slowest / fastest, 2) +
                    " of the fastest).";
  }
}

// Each allowed CPU with its core and kind, in CPU order.
std::vector<CpuInfo> cpus_of(const exec::Topology& t, const std::map<int, double>& sysfs) {
  std::vector<CpuInfo> cpus;
  for (std::size_t c = 0; c < t.cores.size(); ++c) {
    for (int cpu : t.cores[c]) {
      CpuInfo info;
      info.cpu = cpu;
      info.core = static_cast<int>(c);
      if (const exec::CpuKind* kind = t.kind_of(cpu)) {
        info.kind = kind->name;
        info.kind_rank = kind->rank;
        info.frequency_max_mhz = kind->frequency_max_mhz;
      }
      if (const auto s = sysfs.find(cpu); s != sysfs.end()) info.sysfs_capacity = s->second;
      cpus.push_back(info);
    }
  }
  std::sort(cpus.begin(), cpus.end(), [](const CpuInfo& a, const CpuInfo& b) { return a.cpu < b.cpu; });
  return cpus;
}

// What build_model says of CPUs whose reading alone fell short of their reading with every
// core busy ("" when none did by more than kHomeTie).
std::string raised_note(const std::vector<const CpuSpeed*>& raised) {
  if (raised.empty()) return "";
  std::string which;
  for (const CpuSpeed* s : raised) {
    which += (which.empty() ? "" : ", ") + std::string("CPU ") + std::to_string(s->cpu) + " " +
             gflops(s->flops_alone) + " alone, " + gflops(s->flops_all_busy) + " all busy";
  }
  return which + ": a CPU is never slower alone than with every core busy, so the reading "
         "alone was disturbed and the all-busy rate stands for it; --limits measure on a quiet "
         "machine measures again.";
}

}  // namespace

MachineModel build_model(const exec::Topology& topology, const CpuSpeeds* speeds,
                         const std::map<int, double>& sysfs) {
  MachineModel m;
  m.cpus = cpus_of(topology, sysfs);
  std::map<int, const CpuSpeed*> by_cpu;
  if (speeds) {
    for (const CpuSpeed& s : speeds->cpus) by_cpu[s.cpu] = &s;
  }
  m.measured = speeds != nullptr && !m.cpus.empty() &&
               std::all_of(m.cpus.begin(), m.cpus.end(), [&](const CpuInfo& c) {
                 return by_cpu.count(c.cpu) && by_cpu[c.cpu]->flops_alone > 0 &&
                        by_cpu[c.cpu]->flops_all_busy > 0;
               });
  if (m.measured) {
    m.probe_noise = speeds->probe_noise;
    m.seconds = speeds->seconds;
    std::vector<const CpuSpeed*> raised;
    for (CpuInfo& c : m.cpus) {
      const CpuSpeed& s = *by_cpu[c.cpu];
      c.flops_alone = std::max(s.flops_alone, s.flops_all_busy);
      c.flops_all_busy = s.flops_all_busy;
      c.ghz_alone = s.ghz_alone;
      c.ghz_all_busy = s.ghz_all_busy;
      if (short_alone(s)) raised.push_back(&s);
    }
    m.speeds_note = raised_note(raised);
  }
  choose_home(topology, m);
  const CpuInfo* home = m.find(m.home_cpu);
  for (CpuInfo& c : m.cpus) {
    c.capacity_alone = m.measured && home ? c.flops_alone / home->flops_alone : 1;
    c.capacity_all_busy = m.measured && home ? c.flops_all_busy / home->flops_alone : 1;
  }
  return m;
}

exec::Topology rank_topology(const exec::Topology& topology, MachineModel& model) {
  std::vector<double> speed(topology.cores.size(), 0);
  for (std::size_t c = 0; c < topology.cores.size(); ++c) {
    for (int cpu : topology.cores[c]) {
      const CpuInfo* info = model.find(cpu);
      if (info) speed[c] = std::max(speed[c], model.measured ? info->capacity_all_busy : 1.0);
    }
  }
  // Insertion in order: a core goes before the first core clearly slower than it, so cores
  // within kHomeTie of each other keep the topology's order.
  std::vector<std::size_t> order;
  for (std::size_t c = 0; c < speed.size(); ++c) {
    const auto before = std::find_if(order.begin(), order.end(), [&](std::size_t o) {
      return speed[o] < (1 - kHomeTie) * speed[c];
    });
    order.insert(before, c);
  }
  exec::Topology ranked = topology.ranked(order, model.home_cpu);
  for (std::size_t c = 0; c < ranked.cores.size(); ++c) {
    for (int cpu : ranked.cores[c]) {
      for (CpuInfo& info : model.cpus) {
        if (info.cpu == cpu) info.core = static_cast<int>(c);
      }
    }
  }
  return ranked;
}

nlohmann::json cpus_to_json(const MachineModel& model) {
  const auto figure = [&](double x) { return model.measured ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json cpus = nlohmann::json::array();
  for (const CpuInfo& c : model.cpus) {
    cpus.push_back({{"cpu", c.cpu},
                    {"core", c.core},
                    {"kind", c.kind},
                    {"kind_rank", c.kind_rank},
                    {"frequency_max_mhz", c.frequency_max_mhz > 0 ? nlohmann::json(c.frequency_max_mhz) : nlohmann::json(nullptr)},
                    {"sysfs_capacity", c.sysfs_capacity > 0 ? nlohmann::json(c.sysfs_capacity) : nlohmann::json(nullptr)},
                    {"capacity", c.capacity_alone},
                    {"capacity_all_busy", c.capacity_all_busy},
                    {"flops_alone", figure(c.flops_alone)},
                    {"flops_all_busy", figure(c.flops_all_busy)},
                    {"ghz_alone", figure(c.ghz_alone)},
                    {"ghz_all_busy", figure(c.ghz_all_busy)}});
  }
  return {{"cpus", cpus},
          {"home_cpu", {{"cpu", model.home_cpu}, {"reason", model.home_reason}}},
          {"cpu_speeds",
           {{"measured", model.measured},
            {"cached", model.cached},
            {"seconds", model.measured ? nlohmann::json(model.seconds) : nlohmann::json(nullptr)},
            {"probe_noise", figure(model.probe_noise)},
            {"note", model.speeds_note.empty() ? nlohmann::json(nullptr)
                                                : nlohmann::json(model.speeds_note)},
            {"method", kSpeedsMethod}}}};
}

}  // namespace cvp::bench

// The contention measure: copies of a group's serial point, one on each CPU of a parallel team
// that fell short, run at once against one copy alone on the home CPU. Their summed rate over
// the lone copy's is what the team could reach with no synchronisation at all: below the
// attainable bound, the CPUs slow each other down through what they share (caches, memory
// bandwidth, the power budget), which the FMA loop behind that bound does not touch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/evidence.h"
#include "host/disturbance.h"
#include "harness/interrupt.h"
#include "harness/session.h"
#include "harness/stats.h"
#include "host/resources.h"

namespace cvp::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One copy: its prepared run on one CPU.
struct Copy {
  int cpu = -1;
  std::unique_ptr<exec::Sightings> seen;
  std::unique_ptr<PreparedPoint> run;
  double per_execution_s = 0;  // of the last window
};

// How the copies' windows run: their length, whose clock times them, whether they are judged.
struct Windows {
  double seconds = 0;
  bool manual = false;  // Timing::manual: the executions' own times
  bool judged = true;   // windows disturbed are set aside
};

// Runs every copy at once (each from a thread pinned to its CPU, as the program's own thread
// is during a serial block) from a common start for about `window_s`, each timing the whole
// executions it began within it; each copy's time per execution into per_execution_s. A copy
// that is done goes on executing, untimed, until every copy is: no timed execution runs with
// fewer copies beside it than the others had.
void run_together(std::vector<Copy*>& copies, const Windows& w) {
  std::atomic<int> ready{0}, timing{static_cast<int>(copies.size())};
  std::atomic<bool> go{false};
  std::vector<std::thread> drivers;
  std::vector<std::exception_ptr> errors(copies.size());
  for (std::size_t i = 0; i < copies.size(); ++i) {
    drivers.emplace_back([&, i] {
      Copy& c = *copies[i];
      try {
        exec::pin_to_cpu(c.cpu);
        c.run->resume();
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        const auto start = Clock::now();
        const auto end = start + std::chrono::duration<double>(w.seconds);
        double timed = 0;
        long long done = 0;
        do {
          const auto t0 = Clock::now();
          const Execution e = c.run->execute();
          timed += w.manual ? e.wall_s : std::chrono::duration<double>(Clock::now() - t0).count();
          ++done;
        } while (Clock::now() < end && !interrupted());
        c.per_execution_s = timed / static_cast<double>(done);
        timing.fetch_sub(1);
        while (timing.load() > 0 && !interrupted()) c.run->execute();
        c.run->idle();
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  while (ready.load() < static_cast<int>(copies.size())) std::this_thread::yield();
  go.store(true, std::memory_order_release);
  for (auto& d : drivers) d.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace

bool Session::contention_wanted(const Measurement& m) const {
  const Point& p = m.point;
  if (m.baseline == nullptr || m.baseline == &m || p.mode != Mode::parallel || p.threads < 2 ||
      p.ranks > 1 || p.weak != 1 || !m.error.empty() || !m.verified || m.samples.empty() ||
      !m.baseline->error.empty() || m.baseline->samples.empty()) {
    return false;
  }
  if (m.workload->kind() != Kind::cpu || !m.workload->independent_copies()) return false;
  const std::set<int> distinct(p.cpus.begin(), p.cpus.end());
  if (static_cast<int>(distinct.size()) != p.threads || p.cpus.size() != distinct.size()) return false;
  // Within 3% of what its CPUs' measured speeds allow: nothing to explain.
  double capacity = 0;
  for (double s : p.speeds) capacity += s;
  if (p.speeds.empty()) capacity = p.threads;
  const auto ratios = paired_speedups(m);
  return !ratios.empty() && stats::median(ratios) < 0.97 * capacity;
}

namespace {

// One window of `copies` at once, judged from what the machine counts around it
// (host/disturbance.h): false when steal, a clock that moved, a stop of the process or other
// processes (a tenth of the copies' CPUs or more) disturbed it, so that what others did is not
// read as what the CPUs share. Our own threads' waits for a CPU are the copies' own (the
// hand-offs between a copy's team and the thread driving it), not a disturbance.
bool undisturbed_window(std::vector<Copy*>& copies, const Windows& w) {
  if (!w.judged) {
    run_together(copies, w);
    return !interrupted();
  }
  std::vector<int> cpus;
  for (const Copy* c : copies) cpus.push_back(c->cpu);
  const int stops_before = continued_count();
  const DisturbanceReading before = read_disturbance(cpus);
  const auto usage_before = exec::UsageSnapshot::now();
  run_together(copies, w);
  const auto usage = exec::UsageSnapshot::now() - usage_before;
  const DisturbanceReading after = read_disturbance(cpus);
  const BlockDisturbance judged = judge_block(before, after, usage.wall_s, std::nullopt,
                                              ::sysconf(_SC_CLK_TCK), usage.cpu_s);
  const bool others = judged.others_cpu_s > 0.10 * usage.wall_s * static_cast<double>(cpus.size());
  const bool clock = judged.why.find("clock") != std::string::npos;
  return judged.steal_s <= 0 && !clock && !others && continued_count() == stops_before && !interrupted();
}

// The copies of a serial point: one on each CPU of the team, and the lone one on the home CPU
// (the team's own copy there, or one more).
struct CopySet {
  std::vector<std::unique_ptr<Copy>> all;
  std::vector<Copy*> team;
  Copy* lone = nullptr;
};

CopySet prepare_copies(const Measurement& row, const std::vector<int>& cpus, int home) {
  CopySet set;
  int k = 0;
  const auto add = [&](int cpu) {
    auto c = std::make_unique<Copy>();
    c->cpu = cpu;
    Point p = row.baseline->point;
    p.cpus = {cpu};
    p.copy = ++k;
    c->seen = std::make_unique<exec::Sightings>(1);
    c->run = row.workload->prepare(p, *c->seen, StopToken(&interrupt_flag()));
    if (!c->run) throw std::runtime_error("prepare() returned no run");
    c->run->warm_up();
    c->run->idle();
    set.all.push_back(std::move(c));
    return set.all.back().get();
  };
  for (int cpu : cpus) set.team.push_back(add(cpu));
  for (Copy* c : set.team) {
    if (c->cpu == home) set.lone = c;
  }
  if (set.lone == nullptr) set.lone = add(home);
  return set;
}

// Rounds of a lone window and the copies' window, up to twice `rounds`, until `rounds` were
// undisturbed (or the budget, `left`, has no room for one more): their medians into `out`.
void sample_copies(CopySet& set, const Windows& w, int rounds, const std::function<double()>& left,
                   Contention& out) {
  std::vector<double> ceilings, slowdowns, alone;
  std::vector<std::vector<double>> together(set.team.size());
  std::vector<Copy*> just_lone{set.lone};
  const bool lone_in_team = std::find(set.team.begin(), set.team.end(), set.lone) != set.team.end();
  for (int tried = 0; tried < 2 * rounds && static_cast<int>(ceilings.size()) < rounds && !interrupted();
       ++tried) {
    if (left() < 2 * w.seconds) break;
    const bool lone_ok = undisturbed_window(just_lone, w);
    const double alone_s = set.lone->per_execution_s;
    const bool team_ok = undisturbed_window(set.team, w);
    if (!lone_ok || !team_ok || alone_s <= 0) {
      ++out.disturbed_rounds;
      continue;
    }
    double rate = 0;
    for (std::size_t i = 0; i < set.team.size(); ++i) {
      rate += alone_s / set.team[i]->per_execution_s;
      together[i].push_back(set.team[i]->per_execution_s);
    }
    ceilings.push_back(rate);
    slowdowns.push_back(lone_in_team ? set.lone->per_execution_s / alone_s : 0);
    alone.push_back(alone_s);
  }
  if (ceilings.empty()) {
    out.skipped = interrupted()                ? "not measured: the run was interrupted"
                  : out.disturbed_rounds == 0 ? "not measured: the budget was spent"
                                              : "not measured: all " + std::to_string(out.disturbed_rounds) +
                                                    " rounds were disturbed (other processes, steal or a "
                                                    "clock that moved on the team's CPUs)";
    return;
  }
  out.rounds = static_cast<int>(ceilings.size());
  out.ceiling = stats::median(ceilings);
  out.alone_s = stats::median(alone);
  for (const auto& t : together) out.together_s.push_back(stats::median(t));
  if (lone_in_team) out.home_slowdown = stats::median(slowdowns);
}

}  // namespace

std::map<std::vector<int>, std::vector<Measurement*>> Session::short_teams(const Group& group) const {
  std::map<std::vector<int>, std::vector<Measurement*>> sets;
  for (Measurement* m : group.members) {
    if (!contention_wanted(*m)) continue;
    std::vector<int> cpus = m->point.cpus;
    std::sort(cpus.begin(), cpus.end());
    sets[cpus].push_back(m);
  }
  return sets;
}

double Session::contention_window_s(const Measurement& row) const {
  return std::max(sampling_.block_s, stats::median(row.baseline->wall_s()));
}

double Session::contention_cost_s(const Group& group) const {
  if (sampling_.contention_rounds <= 0) return 0;
  double seconds = 0;
  for (const auto& [cpus, rows] : short_teams(group)) {
    // Each round a lone window and the copies' window; preparing, about two more.
    seconds += (2.0 * sampling_.contention_rounds + 2) * contention_window_s(*rows.front());
  }
  return seconds;
}

void Session::measure_contention(const Group& group) {
  if (sampling_.contention_rounds <= 0) return;
  // Each team of CPUs whose rows fell short, measured once.
  for (auto& [cpus, rows] : short_teams(group)) {
    if (interrupted()) return;
    auto result = std::make_shared<Contention>(measure_copies(*rows.front(), cpus));
    for (Measurement* m : rows) m->contention = result;
  }
}

Contention Session::measure_copies(const Measurement& row, const std::vector<int>& cpus) {
  const Measurement& base = *row.baseline;
  Contention out;
  out.cpus = cpus;
  const int home = base.point.cpus.empty() ? cpus.front() : base.point.cpus.front();
  // Each copy holds the serial point's data: all of them, and the run's own, must fit.
  const std::size_t available = available_memory_bytes();
  const double copies_bytes = base.point.bytes * static_cast<double>(cpus.size() + 1);
  if (available > 0 && copies_bytes > 0.5 * static_cast<double>(available)) {
    out.skipped = "not measured: " + std::to_string(cpus.size() + 1) + " copies of the serial point "
                  "would need more than half the memory available";
    return out;
  }
  const double window_s = contention_window_s(row);
  if (seconds_left() < (2.0 * sampling_.contention_rounds + 2) * window_s) {
    out.skipped = "not measured: the budget was spent";
    return out;
  }
  progress(row.point.group + ": contention, copies on CPUs " + exec::format_cpu_list(cpus), true);
  try {
    CopySet set = prepare_copies(row, cpus, home);
    const Windows windows{window_s, row.workload->timing() == Timing::manual, sampling_.contention_judged};
    sample_copies(set, windows, sampling_.contention_rounds, [this] { return seconds_left(); }, out);
    for (auto& c : set.all) {
      if (const auto why = c->run->verify()) {
        out = Contention{cpus};
        out.skipped = "not measured: a copy's result was wrong (" + *why + ")";
      }
    }
  } catch (const std::exception& e) {
    out = Contention{cpus};
    out.skipped = std::string("not measured: ") + e.what();
  }
  return out;
}

}  // namespace cvp::bench

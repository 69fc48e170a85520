#include "harness/session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <new>
#include <random>
#include <set>
#include <stdexcept>

#include "cvp/exec/evidence.h"
#include "host/disturbance.h"
#include "harness/distributed.h"
#include "harness/interrupt.h"
#include "harness/plan.h"
#include "host/resources.h"
#include "harness/stats.h"

namespace cvp::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

void fail(Measurement& m, const std::string& why) {
  m.verified = false;
  if (m.error.empty()) m.error = why;
}

// What a workload threw when it was not a std::exception.
constexpr const char* kUnknownException = "the workload threw something that is not a std::exception";

// The exception --inject-fault throw:REGEX plants.
std::runtime_error planted_exception() {
  return std::runtime_error("injected fault: a planted exception (--inject-fault throw)");
}

// Busy work on the calling thread for `seconds` (--inject-slowdown): it lengthens the timed
// region as a slower kernel would, on the CPU the driving thread runs on.
void spin_for(double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
  }
}

// A serial baseline: a point measured against no other (its speedups are measured against it).
bool is_baseline(const Measurement& m) { return m.baseline == nullptr || m.baseline == &m; }

// A point of a group while it is sampled: its prepared run and where its team ran.
struct Live {
  Measurement* m = nullptr;
  std::unique_ptr<exec::Sightings> seen;
  std::unique_ptr<PreparedPoint> run;
  bool is_baseline = false;
  bool active = true;
  ClockWatch* clock = nullptr;  // probes the team's CPUs' clock around each block; null: off
  ProbeCost* cost = nullptr;
  double clock_noise = 0;
};

// A workload that could not allocate, in words: which point, and what it needs against what
// the machine had.
std::string out_of_memory(const Point& p) {
  std::string why = "not enough memory for " + p.group + " (" + std::string(exec::to_string(p.mode)) + ", " +
                    std::to_string(p.threads) + " thread" + (p.threads == 1 ? "" : "s") + ")";
  const auto gib = [](double bytes) { return fixed(bytes / (1024.0 * 1024 * 1024), 1) + " GiB"; };
  if (p.bytes > 0) why += ": it needs about " + gib(p.bytes) + " (the bytes one execution touches)";
  if (const std::size_t available = available_memory_bytes(); available > 0) {
    why += std::string(p.bytes > 0 ? " and " : ": ") + gib(static_cast<double>(available)) +
           " are available";
  }
  return why + "; choose a smaller size";
}

// Runs `what` and turns what it throws into the point's failure; false when it threw.
template <typename F>
bool guarded(Measurement& m, F&& what) {
  try {
    what();
    return true;
  } catch (const std::bad_alloc&) {
    fail(m, out_of_memory(m.point));
  } catch (const std::exception& e) {
    fail(m, e.what());
  } catch (...) {
    fail(m, kUnknownException);
  }
  return false;
}

// Prepares a point, warms it up and chooses the executions of its blocks.
bool prepare(Live& live, double block_s) {
  Measurement& m = *live.m;
  return guarded(m, [&] {
    live.seen = std::make_unique<exec::Sightings>(std::max(1, m.point.threads));
    live.run = m.point.all_ranks()
                   ? prepare_distributed(*m.workload, m.point, *live.seen, StopToken(&interrupt_flag()))
                   : m.workload->prepare(m.point, *live.seen, StopToken(&interrupt_flag()));
    if (!live.run) throw std::runtime_error(m.workload->name() + ": prepare() returned no run");
    const bool manual = m.workload->timing() == Timing::manual;
    auto start = Clock::now();
    live.run->warm_up();
    if (m.executions_per_block > 0) return;  // chosen when it was first prepared
    double one = seconds_since(start);
    if (manual || one < block_s) {
      // The warm-up was cold (or did nothing): time one more execution.
      start = Clock::now();
      const Execution e = live.run->execute();
      one = manual ? e.wall_s : seconds_since(start);
    }
    const double per_block = one > 0 ? std::ceil(block_s / one) : 1e6;
    m.executions_per_block = static_cast<long long>(std::clamp(per_block, 1.0, 1e9));
  });
}

// With --trace: one more execution of a point that was measured, recorded span by span, after
// its last block and before its team ends. It is not timed, so recording costs the blocks
// nothing but the check whether to record.
void trace_execution(Live& live) {
  Measurement& m = *live.m;
  if (!live.run || m.trace.recorded || !m.error.empty() || !m.verified || m.samples.empty()) return;
  guarded(m, [&] {
    live.run->resume();
    exec::trace::start();
    PointTrace t;
    try {
      t.begin_ns = exec::trace::now_ns();
      const Execution e = live.run->execute();
      t.end_ns = exec::trace::now_ns();
      t.spans = exec::trace::stop();
      t.recorded = !e.stopped;
    } catch (...) {
      exec::trace::stop();
      throw;
    }
    m.trace = std::move(t);
  });
}

// One block while it runs: its sample, its timed seconds, its executions so far, and whether
// the run was interrupted during it.
struct Block {
  Sample s;
  double timed = 0;
  long long done = 0;
  bool interrupted_now = false;
  std::optional<double> spun_s;  // the team's spinning during the block, where it counts it
};

// A request workload's figures of one execution, summed into its block's sample.
void add_request_figures(Sample& s, const Execution& e) {
  if (!e.request) return;
  RequestFigures& sum = s.request ? *s.request : s.request.emplace();
  sum.c_measured_us += e.request->c_measured_us;
  sum.wait_overshoot_us += e.request->wait_overshoot_us;
  sum.wait_us += e.request->wait_us;
  sum.wait_p50_us += e.request->wait_p50_us;
  sum.wait_p90_us += e.request->wait_p90_us;
  sum.in_flight_mean += e.request->in_flight_mean;
  sum.team_cpu_us += e.request->team_cpu_us;
  sum.own_wait = e.request->own_wait;
}

// The block's request figures as means over its `n` executions; a figure that is not a finite
// number fails the point, as any of its values would.
void average_request_figures(Sample& s, double n, Measurement& m) {
  if (!s.request) return;
  for (const auto& [key, value] : named_figures({}, s.request)) {
    if (!std::isfinite(value / n)) {
      fail(m, m.workload->name() + " reported '" + key + "' = " + std::to_string(value / n) +
                  ", not a finite number");
    }
  }
  s.request->c_measured_us /= n;
  s.request->wait_overshoot_us /= n;
  s.request->wait_us /= n;
  s.request->wait_p50_us /= n;
  s.request->wait_p90_us /= n;
  s.request->in_flight_mean /= n;
  s.request->team_cpu_us /= n;
}

// The block's executions, each checked after it where its own clock leaves the check untimed;
// stops at an interruption.
void execute_block(Live& live, Block& block) {
  Measurement& m = *live.m;
  const bool manual = m.workload->timing() == Timing::manual;
  Sample& s = block.s;
  double& timed = block.timed;
  long long& done = block.done;
  const long long k = m.executions_per_block;
  for (; done < k; ++done) {
    if (interrupted()) {
      block.interrupted_now = true;
      return;
    }
    const auto t0 = Clock::now();
    Execution e = live.run->execute();
    if (e.stopped) {
      block.interrupted_now = true;
      return;
    }
    if (m.slowdown > 0) {
      const double took = manual ? e.wall_s : seconds_since(t0);
      spin_for(took * m.slowdown);
      e.wall_s += took * m.slowdown;
    }
    if (manual) timed += e.wall_s;
    if (m.fault == Fault::thrown) throw planted_exception();
    s.latencies_us.insert(s.latencies_us.end(), e.latencies_us.begin(), e.latencies_us.end());
    for (const auto& [key, value] : e.values) s.values[key] += value;
    add_request_figures(s, e);
    if (manual) {
      // The clock is the execution's own: checking here costs no measured time.
      if (m.fault == Fault::wrong) live.run->corrupt();
      if (const auto why = live.run->verify()) {
        fail(m, *why);
        m.wrong_items += live.run->wrong_items();
      }
    }
  }
}

// What the block's counters and the machine's signals around it say, into its sample.
void record_sample(Live& live, Block& block, const exec::UsageDelta& usage,
                   const DisturbanceReading& before, const DisturbanceReading& after,
                   int stops_before) {
  Measurement& m = *live.m;
  Sample& s = block.s;
  const long long done = block.done;
  const double timed = block.timed;
  const double n = static_cast<double>(std::max<long long>(done, 1));
  average_request_figures(s, n, m);
  for (auto& [key, value] : s.values) {
    value /= n;
    if (!std::isfinite(value)) {
      fail(m, m.workload->name() + " reported '" + key + "' = " + std::to_string(value) +
                  ", not a finite number");
    }
  }
  s.executions = done;
  s.wall_s = timed / n;
  s.cpu_s = usage.cpu_s / n;
  // Spinning is CPU time too, but no work: at most all of the block's CPU time.
  if (block.spun_s) s.spin_s = std::min(*block.spun_s, usage.cpu_s) / n;
  s.cpu_per_wall = usage.cpu_per_wall();
  s.voluntary = static_cast<double>(usage.voluntary_switches) / n;
  s.involuntary = static_cast<double>(usage.involuntary_switches) / n;
  s.cpus_seen = live.seen->cpus();
  s.threads_seen = live.seen->threads();
  s.pin_failures = live.seen->pin_failures();
  s.stopped = continued_count() != stops_before;
  // The point's usual wait for a CPU: the median over its blocks so far, this one included.
  m.run_delays.push_back(run_delay_during(before, after));
  const BlockDisturbance judged = judge_block(before, after, usage.wall_s,
                                              stats::median(m.run_delays), ::sysconf(_SC_CLK_TCK),
                                              usage.cpu_s);
  s.run_delay_s = judged.run_delay_s;
  s.steal_s = judged.steal_s;
  s.others_cpu_s = judged.others_cpu_s;
  s.block_wall_s = usage.wall_s;
  s.pressure_share = judged.pressure_share;
  s.procs_running = judged.procs_running;
  s.disturbed = judged.why;
  if (s.stopped) {
    s.disturbed = "the process was stopped and resumed (SIGSTOP or SIGTSTP, then SIGCONT)" +
                  std::string(s.disturbed.empty() ? "" : "; ") + s.disturbed;
  }
}

// Whether this block is probed: every block while the probes cost under kProbeShareMax of
// the blocks' time, else one in every few (as many as keep them under it).
bool probe_this_block(Live& live) {
  if (live.clock == nullptr) return false;
  ProbeCost& c = *live.cost;
  ++c.blocks;
  if (c.probes >= 4 && c.blocks_s > 0) {
    const double pair_s = 2 * c.probe_s / static_cast<double>(c.probes);
    const double block_s = c.blocks_s / static_cast<double>(c.blocks - 1);
    const auto every = static_cast<std::size_t>(std::ceil(pair_s / (kProbeShareMax * block_s)));
    if (every > 1 && c.blocks % every != 0) return false;
  }
  ++c.probed_blocks;
  return true;
}

// The team's clock around the block: probed outside the timed region, its cost counted; a
// clock that moved beyond the probe's noise disturbs the block.
std::map<int, double> probe_clock(Live& live, bool probed) {
  if (live.clock == nullptr || !probed) return {};
  const auto t0 = Clock::now();
  auto readings = live.clock->probe(live.m->point.cpus);
  live.cost->probe_s += seconds_since(t0);
  ++live.cost->probes;
  return readings;
}

void record_clock(Live& live, Sample& s, const std::map<int, double>& before,
                  const std::map<int, double>& after) {
  if (before.empty() || after.empty()) return;
  s.ghz_before = mean_ghz(before);
  s.ghz_after = mean_ghz(after);
  for (const auto& [cpu, ghz] : before) {
    const auto it = after.find(cpu);
    s.ghz_by_cpu[cpu] = it == after.end() ? ghz : (ghz + it->second) / 2;
  }
  const std::string moved = clock_moved(before, after, live.clock_noise);
  if (!moved.empty()) s.disturbed += (s.disturbed.empty() ? "" : "; ") + moved;
}

// The counters and energy before a block, when the run reads them (host/meters.h).
std::optional<BlockMeters::Reading> read_meters(BlockMeters* meters) {
  if (meters == nullptr) return std::nullopt;
  return meters->read();
}

// What the block counted and used since `before`, per execution, into its sample.
void add_metered(BlockMeters* meters, const std::optional<BlockMeters::Reading>& before, Block& block) {
  if (meters == nullptr || !before) return;
  const auto metered = meters->during(*before, meters->read(), static_cast<double>(block.done));
  block.s.counters = metered.counts;
  block.s.energy = metered.energy;
}

// One block of the point: its executions timed, its result checked, its disturbances judged.
// Returns false when the point failed or the run was interrupted.
bool measure_block(Live& live, int round, BlockMeters* meters) {
  Measurement& m = *live.m;
  const Point& p = m.point;
  const bool manual = m.workload->timing() == Timing::manual;
  Block block;
  block.s.round = round;
  const bool ok = guarded(m, [&] {
    live.run->resume();
    live.seen->reset();
    const int stops_before = continued_count();
    const auto block_start = Clock::now();
    const bool probed = probe_this_block(live);
    const auto clock_before = probe_clock(live, probed);
    const DisturbanceReading before = read_disturbance(p.cpus);
    const auto spun_before = live.run->spun_s();
    const auto usage_before = exec::UsageSnapshot::now();
    const auto meters_before = read_meters(meters);
    const auto start = Clock::now();
    execute_block(live, block);
    if (block.interrupted_now) return;
    if (!manual) block.timed = seconds_since(start);
    live.run->settle();
    add_metered(meters, meters_before, block);
    const auto usage = exec::UsageSnapshot::now() - usage_before;
    const auto spun_after = live.run->spun_s();
    if (spun_before && spun_after) block.spun_s = *spun_after - *spun_before;
    const DisturbanceReading after = read_disturbance(p.cpus);
    if (!manual) {
      if (m.fault == Fault::wrong) live.run->corrupt();
      if (const auto why = live.run->verify()) fail(m, *why);
    }
    const auto clock_after = probe_clock(live, probed);
    record_sample(live, block, usage, before, after, stops_before);
    record_clock(live, block.s, clock_before, clock_after);
    live.cost->blocks_s += seconds_since(block_start);
  });
  if (!ok || !m.verified) return false;
  if (block.interrupted_now) return false;
  if (!guarded(m, [&] { live.run->idle(); })) return false;
  ++m.rounds;
  (block.s.disturbed.empty() ? m.samples : m.excluded).push_back(std::move(block.s));
  return true;
}

}  // namespace

std::vector<double> Measurement::wall_s() const {
  std::vector<double> v;
  v.reserve(samples.size());
  for (const auto& s : samples) v.push_back(s.wall_s);
  return v;
}

std::vector<double> paired_speedups(const Measurement& m) {
  std::vector<double> ratios;
  if (!m.baseline) return ratios;
  const Measurement& b = *m.baseline;
  const double work = m.point.work > 0 ? m.point.work : 1.0;
  const double base_work = b.point.work > 0 ? b.point.work : 1.0;
  std::map<int, double> base_by_round;
  for (const auto& s : b.samples) base_by_round[s.round] = s.wall_s / base_work;
  for (const auto& s : m.samples) {
    const auto it = base_by_round.find(s.round);
    if (it == base_by_round.end() || s.wall_s <= 0) continue;
    ratios.push_back(it->second / (s.wall_s / work));
  }
  return ratios;
}

Precision relative_precision(const std::vector<double>& values) {
  Precision p;
  if (values.empty()) return p;
  const double mid = stats::median(values);
  const auto ci = stats::median_ci(values);
  p.half_width = mid > 0 ? (ci.high - ci.low) / 2 / mid : 0;
  p.enough = ci.coverage >= 0.95;
  return p;
}

Session::Session(std::vector<Point> points, const std::vector<Workload*>& workloads,
                 Sampling sampling, const std::vector<FaultInjection>& faults,
                 const std::vector<SlowdownOption>& slowdowns)
    : sampling_(sampling), tty_(isatty(STDERR_FILENO) != 0) {
  if (sampling_.clock_probe) clock_ = std::make_unique<ClockWatch>();
  std::vector<std::pair<Fault, Pattern>> patterns;
  for (const auto& f : faults) {
    patterns.emplace_back(f.kind == FaultKind::thrown ? Fault::thrown : Fault::wrong,
                          Pattern("--inject-fault", f.pattern));
  }
  std::vector<std::pair<double, Pattern>> slower;
  for (const auto& s : slowdowns) slower.emplace_back(s.fraction, Pattern("--inject-slowdown", s.pattern));
  measurements_.reserve(points.size());
  for (auto& p : points) {
    Measurement m;
    for (Workload* w : workloads) {
      if (w->name() == p.workload) m.workload = w;
    }
    if (!m.workload) throw std::logic_error("no workload named " + p.workload);
    const std::string name = p.name();
    for (const auto& [fault, re] : patterns) {
      if (m.fault == Fault::none && re.found_in(name)) m.fault = fault;
    }
    for (const auto& [fraction, re] : slower) {
      if (m.slowdown == 0 && re.found_in(name)) m.slowdown = fraction;
    }
    m.point = std::move(p);
    measurements_.push_back(std::move(m));
  }
  std::vector<const Point*> all;
  for (const auto& m : measurements_) all.push_back(&m.point);
  for (auto& m : measurements_) {
    if (const Point* base = baseline_of(all, m.point)) {
      for (const auto& other : measurements_) {
        if (&other.point == base) m.baseline = &other;
      }
    }
  }
}

void Session::progress(const std::string& what, bool force) {
  const double t = now_s();
  if (!force && last_progress_ >= 0 && t - last_progress_ < (tty_ ? 0.1 : 1.0)) return;
  last_progress_ = t;
  const double spent = t - started_;
  const std::size_t total = measurements_.size();
  // What is left: the budget when a precision target drives the sampling, else the pace so far.
  // Either way the budget bounds it, so the figure moves with the clock.
  double eta = std::max(0.0, seconds_left());
  if (sampling_.precision <= 0 && points_done_ > 0) {
    eta = std::min(eta, spent / static_cast<double>(points_done_) *
                            static_cast<double>(total - points_done_));
  }
  std::fprintf(stderr, "%s[%zu/%zu] %-70s about %.0f s left%s", tty_ ? "\r\033[K" : "",
               std::min(points_done_, total), total, what.c_str(), eta, tty_ ? "" : "\n");
  std::fflush(stderr);
}

double Session::first_round_cost(const Group& group) const {
  double seconds = 0;
  for (const Measurement* m : group.members) {
    double execution = 0;
    if (sampling_.flops_per_s > 0) execution = std::max(execution, m->point.flop / sampling_.flops_per_s);
    if (sampling_.bytes_per_s > 0) execution = std::max(execution, m->point.bytes / sampling_.bytes_per_s);
    // A warm-up and a timed execution, then one block (at least one execution).
    seconds += 2 * execution + std::max(sampling_.block_s, execution);
  }
  return seconds;
}

double Session::seconds_left() const {
  return sampling_.budget_s - std::chrono::duration<double>(Clock::now() - sampling_.started).count();
}

bool Session::needs_more(const Measurement& m, bool to_target) const {
  const bool baseline = is_baseline(m);
  // A point counts its pairs (a disturbed block of either side leaves its round unpaired),
  // unless its baseline failed and there can be none.
  const bool pairs = !baseline && m.baseline->error.empty() && m.baseline->verified;
  const std::size_t have = pairs ? paired_speedups(m).size() : m.samples.size();
  if (static_cast<int>(have) < sampling_.min_rounds) return true;
  if (!to_target || sampling_.precision <= 0) return false;
  const Precision p = relative_precision(baseline ? m.wall_s() : paired_speedups(m));
  return !(p.enough && p.half_width <= sampling_.precision);
}

double Session::sample_group(Group& group, bool to_target, double allowance) {
  std::vector<Live> live(group.members.size());
  const bool has_points = group.members.size() > 1;
  // Who still samples: a point short of its blocks or its target; a baseline while any of its
  // points does (or, alone, while it is short itself).
  const auto wanted = [&](const Live& l) {
    if (!l.m->error.empty() || !l.m->verified) return false;
    if (l.is_baseline && has_points) {
      return static_cast<int>(l.m->samples.size()) < sampling_.min_rounds ||
             std::any_of(live.begin(), live.end(), [&](const Live& o) {
               return !o.is_baseline && o.m->error.empty() && o.m->verified && needs_more(*o.m, to_target);
             });
    }
    return needs_more(*l.m, to_target);
  };
  for (std::size_t i = 0; i < group.members.size(); ++i) {
    live[i].m = group.members[i];
    live[i].is_baseline = is_baseline(*group.members[i]);
    live[i].clock = clock_.get();
    live[i].cost = &probe_cost_;
    live[i].clock_noise = sampling_.clock_noise;
  }
  const auto group_start = Clock::now();
  for (auto& l : live) {
    l.active = wanted(l);
    if (!l.active) continue;
    progress(l.m->point.name() + ": preparing", false);
    l.active = prepare(l, sampling_.block_s);
    if (!l.active) l.run.reset();
  }
  // Preparing counts against the group's share; a round starts only when one more like the
  // last would still end within it (the minimum's first round always runs, so that every point
  // is measured at least once).
  double spent = seconds_since(group_start);
  double last_round = 0;
  int rounds_here = 0;
  const auto rounds_left = [&] {
    return group.next_round < sampling_.max_rounds ||
           (spent < sampling_.min_redo_s && group.next_round < 10 * sampling_.max_rounds);
  };
  while (rounds_left() && !interrupted()) {
    std::vector<Live*> order;
    for (auto& l : live) {
      if (l.active && !wanted(l)) {
        l.active = false;
        if (sampling_.trace) trace_execution(l);
        l.run.reset();
      }
      if (l.active) order.push_back(&l);
    }
    if (order.empty()) break;
    if ((to_target || rounds_here > 0) && spent + last_round > allowance) break;
    std::shuffle(order.begin(), order.end(), rng_);
    const auto round_start = Clock::now();
    for (Live* l : order) {
      if (interrupted()) break;
      if (!measure_block(*l, group.next_round, sampling_.meters.get())) {
        l->active = false;
        l->run.reset();
      }
    }
    last_round = seconds_since(round_start);
    spent += last_round;
    ++rounds_here;
    ++group.next_round;
    int short_points = 0;
    for (const auto& l : live) short_points += l.active && !l.is_baseline && needs_more(*l.m, true);
    progress(group.members.front()->point.group + ": round " + std::to_string(group.next_round) +
                 (to_target ? " (to the precision target)" : "") + ", " +
                 std::to_string(short_points) + " point(s) short of the target",
             false);
  }
  if (sampling_.trace && !interrupted()) {
    for (auto& l : live) trace_execution(l);
  }
  return spent;  // the teams end here, before the next group starts
}

std::vector<Session::Group> Session::make_groups() {
  // Groups: each baseline with the points measured against it, in plan order, baseline first.
  std::vector<Group> groups;
  std::map<const Measurement*, std::size_t> group_of;
  for (auto& m : measurements_) {
    const Measurement* key = m.baseline ? m.baseline : &m;
    auto it = group_of.find(key);
    if (it == group_of.end()) {
      it = group_of.emplace(key, groups.size()).first;
      groups.emplace_back();
    }
    groups[it->second].members.push_back(&m);
  }
  for (auto& g : groups) {
    std::stable_partition(g.members.begin(), g.members.end(), [](const Measurement* m) {
      return is_baseline(*m);
    });
  }
  return groups;
}

void Session::give_up_on(Group& group) {
  for (Measurement* m : group.members) {
    m->unmeasured = true;
    m->error = "not measured: the run had spent its budget (--budget " +
               fixed(sampling_.budget_s, 0) + " s) before this point's turn; a larger "
               "--budget, fewer points (--filter) or a quieter machine would measure it";
  }
}

void Session::forget_beaten_rates(const Group& group) {
  // Rates a kernel has just beaten are not the machine's (a wrong cache of limits): weigh
  // the groups left by their blocks alone.
  for (const Measurement* m : group.members) {
    if (m->samples.empty()) continue;
    const double t = stats::median(m->wall_s());
    if (t <= 0) continue;
    const double cores = m->point.mode == Mode::parallel ? std::max(1, m->point.threads) : 1;
    if ((sampling_.flops_per_s > 0 && m->point.flop / t > 1.25 * cores * sampling_.flops_per_s) ||
        (sampling_.bytes_per_s > 0 && m->point.bytes / t > 50 * cores * sampling_.bytes_per_s)) {
      sampling_.flops_per_s = sampling_.bytes_per_s = 0;
    }
  }
}

void Session::sample_minimum(Schedule& schedule) {
  std::vector<Group>& groups = schedule.groups;
  std::vector<double>& minimum_share = schedule.minimum_share;
  // First every point's minimum of blocks, group after group, each within what is left of the
  // budget less what the groups after it need: one round of each by the limits, or, when more,
  // the time per point the groups before took (preparing, checking and the blocks the limits do
  // not foresee: a request's waits, a large array's first touch). Without the second, the last
  // groups of a short budget got nothing when the first overran their estimate.
  const double phase_start = now_s();
  std::size_t points_before = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (interrupted()) break;
    if (seconds_left() < -0.1 * sampling_.budget_s) {
      give_up_on(groups[i]);
      points_done_ += groups[i].members.size();
      points_before += groups[i].members.size();
      continue;
    }
    const double per_point = points_before > 0
                                 ? (now_s() - phase_start) / static_cast<double>(points_before) : 0;
    double reserve = 0;
    for (std::size_t j = i + 1; j < groups.size(); ++j) {
      reserve += std::max(first_round_cost(groups[j]),
                          per_point * static_cast<double>(groups[j].members.size()));
    }
    minimum_share[i] = std::max(0.0, seconds_left() - reserve);
    sample_group(groups[i], false, minimum_share[i]);
    // Its teams short after their minimum: the contention measure, within what the groups
    // after it leave (the time per point of the groups after counts it).
    if (!interrupted() && seconds_left() - reserve > contention_cost_s(groups[i])) {
      measure_contention(groups[i]);
    }
    points_done_ += groups[i].members.size();
    points_before += groups[i].members.size();
    forget_beaten_rates(groups[i]);
  }
}

void Session::say_busy() {
  for (const std::string& said : {busy_report(), budget_report()}) {
    if (said.empty() || interrupted()) continue;
    std::fprintf(stderr, "%snote: %s\n", tty_ ? "\r\033[K" : "", said.c_str());
    std::fflush(stderr);
  }
}

std::vector<Session::Need> Session::needs_to_target(const std::vector<Group>& groups) const {
  // What is left of the budget goes where it buys the most rows at the target: each group's
  // cost is estimated from its points' spread so far (a median's CI narrows as 1/sqrt(pairs):
  // a point at half-width h after n pairs needs about n (h / target)^2) and the time of one of
  // its rounds; the cheapest groups per short point go first, each with its estimate and half
  // as much again (at most its points' share of what is left), and what a group leaves unspent
  // passes on. Groups still short of their minimum are left out: the budget could not buy it.
  std::vector<Need> needs;
  if (sampling_.precision > 0) {
    for (std::size_t i = 0; i < groups.size(); ++i) {
      Need need{i};
      int rounds = 0;
      double round_s = 0;
      bool below_minimum = false;
      for (const Measurement* m : groups[i].members) {
        if (!m->error.empty() || !m->verified) continue;
        below_minimum = below_minimum || needs_more(*m, false);
        const double block_s = m->samples.empty() ? 0 : stats::median(m->wall_s()) *
                                                            static_cast<double>(m->executions_per_block);
        const bool baseline = is_baseline(*m);
        if (baseline && groups[i].members.size() > 1) {
          round_s += block_s;
          continue;
        }
        if (!needs_more(*m, true)) continue;
        ++need.short_points;
        round_s += block_s;
        const auto values = baseline ? m->wall_s() : paired_speedups(*m);
        const double h = relative_precision(values).half_width;
        const double n = static_cast<double>(values.size());
        const double ratio = h / sampling_.precision;
        rounds = std::max(rounds, static_cast<int>(std::ceil(std::max(n * ratio * ratio, n + 1) - n)));
      }
      need.cost_s = round_s * rounds;
      if (need.short_points > 0 && !below_minimum) needs.push_back(need);
    }
    std::stable_sort(needs.begin(), needs.end(), [](const Need& a, const Need& b) {
      return a.cost_s / static_cast<double>(a.short_points) <
             b.cost_s / static_cast<double>(b.short_points);
    });
  }
  return needs;
}

void Session::sample_to_target(Schedule& schedule, const std::vector<Need>& needs) {
  std::vector<Group>& groups = schedule.groups;
  std::vector<double>& allowance = schedule.allowance;
  std::size_t short_left = 0;
  for (const Need& need : needs) short_left += need.short_points;
  for (const Need& need : needs) {
    const double left = seconds_left();
    if (interrupted() || left <= 0) break;
    // No group takes more than its points' share of what is left: an estimate that was too
    // low (a spread that grows as it is sampled) cannot starve the groups after it.
    const double fair = left * static_cast<double>(need.short_points) /
                        static_cast<double>(std::max<std::size_t>(short_left, 1));
    short_left -= need.short_points;
    const double share = std::min(fair, 1.5 * need.cost_s);
    allowance[need.group] = share;
    sample_group(groups[need.group], true, share);
  }
}

void Session::record_targets(const Schedule& schedule) {
  const std::vector<Group>& groups = schedule.groups;
  const std::vector<double>& minimum_share = schedule.minimum_share;
  const std::vector<double>& allowance = schedule.allowance;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    for (Measurement* m : groups[i].members) {
      if (m->samples.empty() && m->error.empty() && m->verified && interrupted()) {
        m->interrupted_runs = std::max(m->interrupted_runs, 1);
      }
      if (!m->error.empty() || !m->verified) continue;
      m->short_of_minimum = needs_more(*m, false);
      m->target_met = !needs_more(*m, true);
      const bool baseline = is_baseline(*m);
      if (baseline && groups[i].members.size() > 1) m->target_met = true;  // no speedup to sample
      if (m->target_met) continue;
      if (interrupted()) {
        m->target_missed = "the run was interrupted";
      } else if (m->short_of_minimum) {
        m->target_missed = shortfall(*m, minimum_share[i], groups[i].next_round);
      } else if (groups[i].next_round >= sampling_.max_rounds) {
        m->target_missed = "the rounds ran out (" + std::to_string(groups[i].next_round) + ")";
      } else {
        m->target_missed = allowance[i] > 0
                               ? "its group's share of the budget (" + fixed(allowance[i], 1) + " s) was spent"
                               : "the budget (" + fixed(sampling_.budget_s, 0) +
                                     " s) was spent on the minimum blocks and on groups nearer "
                                     "their target";
      }
    }
  }
}

void Session::run() {
  started_ = now_s();
  rng_.seed(sampling_.seed);
  Schedule schedule;
  schedule.groups = make_groups();
  schedule.minimum_share.assign(schedule.groups.size(), 0);
  schedule.allowance.assign(schedule.groups.size(), 0);
  sample_minimum(schedule);
  say_busy();
  sample_to_target(schedule, needs_to_target(schedule.groups));
  record_targets(schedule);
  const double total = now_s() - started_;
  std::fprintf(stderr, "%s[%zu/%zu] %s in %.1f s\n", tty_ ? "\r\033[K" : "",
               std::min(points_done_, measurements_.size()), measurements_.size(),
               interrupted() ? "stopped (interrupted)" : "done", total);
  std::fflush(stderr);
}

std::string Session::shortfall(const Measurement& m, double share_s, int rounds) const {
  const bool baseline = is_baseline(m);
  const bool pairs = !baseline && m.baseline->error.empty() && m.baseline->verified;
  const std::size_t have = pairs ? paired_speedups(m).size() : m.samples.size();
  std::string why = std::to_string(have) + " of " + std::to_string(sampling_.min_rounds) +
                    (pairs ? " pairs" : " undisturbed blocks");
  if (rounds >= sampling_.max_rounds) {
    why += " in " + std::to_string(rounds) + " rounds";
  } else {
    why += " in its share of the budget (" + fixed(share_s, 1) + " s of --budget " +
           fixed(sampling_.budget_s, 0) + " s)";
  }
  // What set its blocks (and its baseline's: a pair needs both) aside, by kind.
  std::map<std::string, int> kinds;
  std::size_t blocks = m.samples.size() + m.excluded.size();
  for (const Measurement* side : {&m, pairs ? m.baseline : nullptr}) {
    if (side == nullptr) continue;
    if (side != &m) blocks += side->samples.size() + side->excluded.size();
    for (const Sample& s : side->excluded) ++kinds[disturbance_kind(s)];
  }
  if (kinds.empty()) return why + ": every block it ran counted; its blocks took longer than its share";
  int disturbed = 0;
  for (const auto& [kind, count] : kinds) disturbed += count;
  why += ": " + std::to_string(disturbed) + " of " + std::to_string(blocks) +
         (pairs ? " blocks (its own and its baseline's)" : " blocks") + " were disturbed (";
  bool first = true;
  for (const auto& [kind, count] : kinds) {
    why += (first ? "" : "; ") + kind + ": " + std::to_string(count);
    first = false;
  }
  return why + ")";
}

Session::Tally Session::tally() const {
  Tally t;
  for (const Measurement& m : measurements_) {
    t.blocks += m.samples.size() + m.excluded.size();
    t.disturbed += m.excluded.size();
    if (m.error.empty() && m.verified && needs_more(m, false)) ++t.short_points;
    for (const auto* set : {&m.samples, &m.excluded}) {
      for (const Sample& s : *set) {
        if (s.others_cpu_s < 0 || s.block_wall_s <= 0) continue;
        t.others += s.others_cpu_s;
        t.capacity += s.block_wall_s * static_cast<double>(std::max<std::size_t>(m.point.cpus.size(), 1));
      }
    }
  }
  return t;
}

std::string Session::budget_report() const {
  const Tally t = tally();
  if (t.busy() || t.short_points == 0) return "";
  return std::to_string(t.short_points) + " point(s) are short of their " +
         std::to_string(sampling_.min_rounds) + " pairs on a machine that was not busy: --budget " +
         fixed(sampling_.budget_s, 0) + " s is too small for this plan here; a larger --budget or "
         "fewer points (--filter) would give each its minimum (each says what it got in its notes).";
}

std::string Session::busy_report() const {
  // Busy: the target then costs many more rounds. Points short of their minimum on a machine
  // that was not are the budget's (budget_report), not the machine's.
  const Tally t = tally();
  if (!t.busy()) return "";
  std::string load;
  {
    std::ifstream in("/proc/loadavg");
    double one = -1;
    if (in >> one && one >= 0) {
      load += "load average " + fixed(one, 1) + " on " +
              std::to_string(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))) + " CPUs";
    }
    std::ifstream pressure("/proc/pressure/cpu");
    std::string word;
    while (pressure >> word) {
      if (word.compare(0, 6, "avg10=") == 0) {
        load += std::string(load.empty() ? "" : ", ") + "CPU pressure " + word.substr(6) + "%";
        break;
      }
    }
    if (t.capacity > 0) {
      load += std::string(load.empty() ? "" : ", ") + "other processes took " +
              fixed(100 * t.others / t.capacity, 0) + "% of the CPUs we measured on";
    }
  }
  std::string text = "the machine is busy" + (load.empty() ? std::string() : " (" + load + ")") + ": " +
                     std::to_string(t.disturbed) + " of " + std::to_string(t.blocks) +
                     " blocks were disturbed";
  if (t.short_points > 0) {
    text += " and " + std::to_string(t.short_points) + " point(s) are short of their " +
            std::to_string(sampling_.min_rounds) + " pairs";
  }
  text += ". The run keeps to its budget (--budget " + fixed(sampling_.budget_s, 0) +
          " s) and reports what each point reached; a quieter machine, a larger --budget or "
          "fewer points (--filter) would help.";
  return text;
}

std::map<std::string, double> named_figures(const std::map<std::string, double>& values,
                                            const std::optional<RequestFigures>& request) {
  std::map<std::string, double> named = values;
  if (request) {
    named["c_measured_us"] = request->c_measured_us;
    if (request->own_wait) {  // the handler's waits as measured
      named["wait_us"] = request->wait_us;
      named["wait_p50_us"] = request->wait_p50_us;
      named["wait_p90_us"] = request->wait_p90_us;
    } else {  // the engine's: w_us asked for, and how far past it they woke
      named["wait_overshoot_us"] = request->wait_overshoot_us;
    }
  }
  return named;
}

bool harness_figure_name(const std::string& name, const std::string& unit) {
  static const std::set<std::string> names{
      // named_figures() and the counters of counters_of()
      "c_measured_us", "wait_overshoot_us", "wait_us", "wait_p50_us", "wait_p90_us",
      "cpu_per_wall", "cpu_s", "cpus_seen", "threads_seen", "pinned", "ctx_voluntary",
      "ctx_involuntary", "run_delay_ms",
      // the fields of a benchmark.json run, beside which Google Benchmark writes its counters
      "name", "family_index", "per_family_instance_index", "run_name", "run_type",
      "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
      "time_unit", "aggregate_name", "aggregate_unit", "error_occurred", "error_message", "label",
      "bytes_per_second", "items_per_second"};
  return names.count(name) > 0 || name == unit + "/s";
}

const char* disturbance_kind(const Sample& s) {
  if (s.stopped) return "the process was stopped and resumed";
  if (s.steal_s > 0) return "the hypervisor stole CPU time";
  if (s.disturbed.find("clock") != std::string::npos) return "a CPU's clock moved";
  return "other work kept our threads waiting for a CPU";
}

namespace {

using RawRun = benchmark::BenchmarkReporter::Run;

// The counters benchmark.json carries for a reader of the raw file.
benchmark::UserCounters counters_of(const Measurement& m, const Sample& s) {
  benchmark::UserCounters c;
  const bool pinned = exec::pinned_as_intended(s.cpus_seen, m.point.cpus, s.pin_failures);
  c["cpu_per_wall"] = s.cpu_per_wall;
  c["cpu_s"] = s.cpu_s;
  c["cpus_seen"] = static_cast<double>(s.cpus_seen.size());
  c["threads_seen"] = s.threads_seen;
  c["pinned"] = pinned ? 1 : 0;
  c["ctx_voluntary"] = s.voluntary;
  c["ctx_involuntary"] = s.involuntary;
  c["run_delay_ms"] = s.run_delay_s * 1e3;
  // Work per second: FLOP/s, bytes/s, requests/s.
  c[m.workload->unit().name + "/s"] = s.wall_s > 0 ? m.point.work / s.wall_s : 0.0;
  // The workload's own per-execution values (a kernel's counters), as Google Benchmark's
  // state.counters would be; never in place of one of the harness's.
  for (const auto& [key, value] : s.values) c.insert({key, benchmark::Counter(value)});
  return c;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double stddev_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double mu = mean_of(v);
  double sq = 0;
  for (double x : v) sq += (x - mu) * (x - mu);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

}  // namespace

std::vector<RawRun> Session::raw_runs() const {
  std::vector<RawRun> out;
  std::int64_t family = 0;
  for (const auto& m : measurements_) {
    RawRun base;
    base.run_name.function_name = m.point.name();
    base.run_name.time_type = m.workload->timing() == Timing::manual ? "manual_time" : "real_time";
    base.family_index = family++;
    base.per_family_instance_index = 0;
    base.time_unit = benchmark::kMillisecond;
    base.threads = 1;
    base.repetitions = static_cast<std::int64_t>(std::max<std::size_t>(m.samples.size(), 1));
    base.repetition_index = 0;
    if (!m.error.empty() || !m.verified || m.samples.empty()) {
      RawRun r = base;
      r.error_occurred = true;
      r.error_message = !m.error.empty() ? m.error
                        : m.interrupted_runs > 0 ? std::string(kInterruptedMessage)
                                                 : std::string("no undisturbed block was measured");
      r.iterations = 0;
      out.push_back(r);
      continue;
    }
    const double k = static_cast<double>(m.executions_per_block);
    std::vector<double> real, cpu;
    std::map<std::string, std::vector<double>> counters;
    for (std::size_t i = 0; i < m.samples.size(); ++i) {
      const Sample& s = m.samples[i];
      RawRun r = base;
      r.repetition_index = static_cast<std::int64_t>(i);
      r.iterations = m.executions_per_block;
      r.real_accumulated_time = s.wall_s * k;
      r.cpu_accumulated_time = s.cpu_s * k;
      r.counters = counters_of(m, s);
      real.push_back(r.real_accumulated_time);
      cpu.push_back(r.cpu_accumulated_time);
      for (const auto& [name, counter] : r.counters) counters[name].push_back(counter.value);
      out.push_back(r);
    }
    if (m.samples.size() < 2) continue;
    // The aggregates as Google Benchmark computes them: statistics of the repetitions'
    // accumulated times, rescaled to one execution; the cv as a fraction.
    struct Stat {
      const char* name;
      double (*of)(const std::vector<double>&);
      bool percentage;
    };
    const Stat stats_list[] = {
        {"mean", mean_of, false},
        {"median", [](const std::vector<double>& v) { return stats::median(v); }, false},
        {"stddev", stddev_of, false},
        // 0 / 0 for a counter that is 0 in every block, as Google Benchmark computes it: the
        // strict reporter then leaves the value out.
        {"cv", [](const std::vector<double>& v) { return stddev_of(v) / mean_of(v); }, true},
    };
    for (const auto& st : stats_list) {
      RawRun r = base;
      r.run_type = RawRun::RT_Aggregate;
      r.aggregate_name = st.name;
      r.aggregate_unit = st.percentage ? benchmark::kPercentage : benchmark::kTime;
      r.repetition_index = RawRun::no_repetition_index;
      r.iterations = static_cast<benchmark::IterationCount>(m.samples.size());
      const double rescale = st.percentage ? 1.0 : static_cast<double>(m.samples.size()) / k;
      r.real_accumulated_time = st.of(real) * rescale;
      r.cpu_accumulated_time = st.of(cpu) * rescale;
      for (const auto& [name, values] : counters) r.counters[name] = st.of(values);
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace cvp::bench

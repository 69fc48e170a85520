#include "session.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <stdexcept>

#include "cvp/exec/evidence.h"
#include "interrupt.h"

namespace cvp::bench {
namespace {

// Marks this call of a benchmark failed (or interrupted). Google Benchmark 1.7 requires every
// repetition of a benchmark to report the same iteration count, errors included, and a run
// skipped before its loop started reports 0: so a skip before the loop enters it first.
void skip(benchmark::State& st, const char* message, bool loop_started) {
  if (loop_started) {
    st.SkipWithError(message);
    return;
  }
  for (auto _ : st) {
    st.SkipWithError(message);
    break;
  }
}

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

// The counters benchmark.json carries for a reader of the raw file; the summary reads the
// same figures from the Call, not back from these.
void set_counters(benchmark::State& st, const Measurement& m, const Sample& s) {
  const bool pinned = exec::pinned_as_intended(s.cpus_seen, m.point.cpus, s.pin_failures);
  st.counters["cpu_per_wall"] = s.cpu_per_wall;
  st.counters["cpu_s"] = s.cpu_s;
  st.counters["cpus_seen"] = static_cast<double>(s.cpus_seen.size());
  st.counters["threads_seen"] = s.threads_seen;
  st.counters["pinned"] = pinned ? 1 : 0;
  st.counters["ctx_voluntary"] = s.voluntary;
  st.counters["ctx_involuntary"] = s.involuntary;
  if (s.stopped) st.counters["stopped_during_timing"] = 1;
  // Work per second over the timed executions: FLOP/s, bytes/s, requests/s.
  st.counters[m.workload->unit().name + "/s"] =
      benchmark::Counter(m.point.work, benchmark::Counter::kIsIterationInvariantRate);
}

// The body of every benchmark: prepare (untimed), warm up (untimed), the timed loop, the check
// against the serial answer (untimed), and one Call with everything the loop saw.
void run_point(benchmark::State& st, Session& session, Measurement& m) {
  if (interrupted()) {
    skip(st, kInterruptedMessage, false);
    return;
  }
  const Point& p = m.point;
  const bool manual = m.workload->timing() == Timing::manual;
  exec::Sightings seen(std::max(1, p.threads));
  std::unique_ptr<Run> run;
  try {
    run = m.workload->prepare(p, seen);
    if (!run) throw std::runtime_error(m.workload->name() + ": prepare() returned no run");
  } catch (const std::exception& e) {
    fail(m, e.what());
    skip(st, e.what(), false);
    return;
  } catch (...) {
    fail(m, kUnknownException);
    skip(st, kUnknownException, false);
    return;
  }
  const auto start = exec::UsageSnapshot::now();
  bool looping = false;
  try {
    run->warm_up();
    seen.reset();
    const int stops_before = continued_count();
    Sample s;
    std::size_t executions = 0;
    double timed = 0;
    const auto before = exec::UsageSnapshot::now();
    looping = true;
    for (auto _ : st) {
      if (interrupted()) {
        st.SkipWithError(kInterruptedMessage);
        break;
      }
      Execution e = run->execute();
      if (e.stopped) {
        st.SkipWithError(kInterruptedMessage);
        break;
      }
      if (manual) {
        st.SetIterationTime(e.wall_s);
        timed += e.wall_s;
      }
      if (m.fault == Fault::thrown) throw planted_exception();
      ++executions;
      s.latencies_us.insert(s.latencies_us.end(), e.latencies_us.begin(), e.latencies_us.end());
      for (const auto& [key, value] : e.values) s.values[key] += value;
      if (manual) {
        // The clock is the execution's own: checking here costs no measured time.
        if (m.fault == Fault::wrong) run->corrupt();
        if (const std::string why = run->verify(); !why.empty()) {
          fail(m, why);
          m.wrong_items += run->wrong_items();
        }
      }
    }
    if (st.error_occurred()) return;
    const auto usage = exec::UsageSnapshot::now() - before;
    if (!manual) {
      timed = usage.wall_s;
      if (m.fault == Fault::wrong) run->corrupt();
      if (const std::string why = run->verify(); !why.empty()) fail(m, why);
    }
    const double n = static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
    for (auto& [key, value] : s.values) {
      value /= static_cast<double>(std::max<std::size_t>(executions, 1));
      if (!std::isfinite(value)) fail(m, m.workload->name() + " reported '" + key + "' = " + std::to_string(value) + ", not a finite number");
    }
    s.cpu_s = usage.cpu_s / n;
    s.cpu_per_wall = usage.cpu_per_wall();
    s.voluntary = static_cast<double>(usage.voluntary_switches) / n;
    s.involuntary = static_cast<double>(usage.involuntary_switches) / n;
    s.cpus_seen = seen.cpus();
    s.threads_seen = seen.threads();
    s.pin_failures = seen.pin_failures();
    s.stopped = continued_count() != stops_before;
    set_counters(st, m, s);
    if (!m.verified) {
      st.SkipWithError(m.error.c_str());
    } else {
      m.calls.push_back({st.iterations(), std::move(s)});
    }
    session.note_call(m, (exec::UsageSnapshot::now() - start).wall_s, timed);
  } catch (const std::exception& e) {
    fail(m, e.what());
    skip(st, e.what(), looping);
  } catch (...) {
    fail(m, kUnknownException);
    skip(st, kUnknownException, looping);
  }
}

}  // namespace

std::vector<double> Measurement::wall_s() const {
  std::vector<double> v;
  v.reserve(samples.size());
  for (const auto& s : samples) v.push_back(s.wall_s);
  return v;
}

Session::Session(std::vector<Point> points, const std::vector<Workload*>& workloads,
                 int repetitions, double min_time_s, const std::vector<FaultInjection>& faults)
    : repetitions_(repetitions), min_time_s_(min_time_s), tty_(isatty(STDERR_FILENO) != 0) {
  std::vector<std::pair<Fault, Pattern>> patterns;
  for (const auto& f : faults) {
    patterns.emplace_back(f.kind == "throw" ? Fault::thrown : Fault::wrong,
                          Pattern("--inject-fault", f.pattern));
  }
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
    m.point = std::move(p);
    measurements_.push_back(std::move(m));
  }
}

void Session::register_all() {
  for (auto& m : measurements_) {
    Measurement* measurement = &m;
    benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(
        m.point.name().c_str(),
        [this, measurement](benchmark::State& st) { run_point(st, *this, *measurement); });
    if (m.workload->timing() == Timing::manual) {
      b->UseManualTime();
    } else {
      b->UseRealTime();
    }
    b->Unit(benchmark::kMillisecond);
  }
}

void Session::note_call(Measurement& m, double seconds, double timed_seconds) {
  // Google Benchmark grows the iteration count of a point's first repetition until the timed
  // part lasts min_time, then runs every later repetition once with that count.
  seconds_done_ += seconds;
  if (m.repetitions_done == 0 && timed_seconds < min_time_s_) {
    // Still estimating the iteration count.
  } else if (m.repetitions_done < repetitions_) {
    ++m.repetitions_done;
    ++reps_done_;
  }
  const int total = static_cast<int>(measurements_.size()) * repetitions_;
  const int left = std::max(0, total - reps_done_);
  const double eta = reps_done_ > 0 ? seconds_done_ / reps_done_ * left : 0;
  std::fprintf(stderr, "%s[%d/%d] %-70s about %.0f s left%s", tty_ ? "\r\033[K" : "",
               std::min(reps_done_, total), total, m.point.name().c_str(), eta, tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Session::finish_progress(double seconds, bool interrupted) {
  const int total = static_cast<int>(measurements_.size()) * repetitions_;
  if (interrupted) {
    std::fprintf(stderr, "%s[%d/%d] stopped (interrupted) after %.1f s\n", tty_ ? "\r\033[K" : "",
                 std::min(reps_done_, total), total, seconds);
    return;
  }
  std::fprintf(stderr, "%s[%d/%d] done in %.1f s\n", tty_ ? "\r\033[K" : "", total, total,
               seconds);
}

CollectingReporter::CollectingReporter(Session& session) {
  for (auto& m : session.measurements()) by_name_[m.point.name()] = &m;
}

bool CollectingReporter::ReportContext(const Context&) { return true; }

void CollectingReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.run_type != Run::RT_Iteration) continue;
    const auto it = by_name_.find(run.run_name.function_name);
    if (it == by_name_.end()) continue;
    Measurement& m = *it->second;
    if (run.error_occurred && run.error_message == kInterruptedMessage) {
      ++m.interrupted_runs;  // not measured, not failed
      continue;
    }
    if (run.error_occurred) {
      fail(m, run.error_message);
      continue;
    }
    // The next call with the reported iteration count; calls before it only chose the count.
    while (m.calls_filed < m.calls.size() && m.calls[m.calls_filed].iterations != run.iterations) {
      ++m.calls_filed;
    }
    if (m.calls_filed == m.calls.size()) {
      fail(m, "a reported repetition has no recorded call (internal error)");
      continue;
    }
    Sample s = std::move(m.calls[m.calls_filed++].sample);
    s.wall_s = run.real_accumulated_time / static_cast<double>(std::max<benchmark::IterationCount>(run.iterations, 1));
    (s.stopped ? m.excluded : m.samples).push_back(std::move(s));
  }
}

}  // namespace cvp::bench

#include "session.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <tuple>

#include "cvp/exec/evidence.h"
#include "matmul/matmul.h"
#include "interrupt.h"
#if CVP_HAVE_IO
#include "requests/request_runner.h"
#endif

namespace cvp::bench {
namespace {

// Inputs and the serial answer for one matrix size, made once, outside every timed region.
struct MatmulData {
  matmul::Problem problem;
  double reference = 0;  // checksum of the serial answer
};

MatmulData& matmul_data(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<MatmulData>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<MatmulData>();
    slot->problem = matmul::make_problem(n);
    auto& p = slot->problem;
    matmul::multiply(p.a.data(), p.b.data(), p.c.data(), n);
    slot->reference = matmul::checksum(p.c.data(), n);
  }
  return *slot;
}

// How many tasks one product is split into: two per worker, so a worker slowed by a neighbour
// on its core can hand work to the others, while tasks stay large enough (rows that are whole
// register tiles) for each to reuse the packed B from cache.
std::size_t tasks_for(int threads) { return 2 * static_cast<std::size_t>(std::max(threads, 1)); }

// Boundaries of `tasks` nearly equal ranges of [0, total), in multiples of `unit` where possible.
std::vector<std::size_t> task_bounds(std::size_t total, std::size_t unit, std::size_t tasks) {
  const std::size_t units = (total + unit - 1) / unit;
  tasks = std::max<std::size_t>(1, std::min(tasks, units));
  std::vector<std::size_t> bounds(tasks + 1);
  for (std::size_t i = 0; i <= tasks; ++i) bounds[i] = std::min(total, (i * units / tasks) * unit);
  bounds.back() = total;
  return bounds;
}

void merge_cpus(std::vector<int>& into, const std::vector<int>& more) {
  std::set<int> all(into.begin(), into.end());
  all.insert(more.begin(), more.end());
  into.assign(all.begin(), all.end());
}

void record_evidence(benchmark::State& st, Measurement& m, exec::Sightings& seen,
                     const exec::UsageDelta& usage, double iterations) {
  const auto cpus = seen.cpus();
  merge_cpus(m.cpus_seen, cpus);
  m.threads_seen = std::max(m.threads_seen, seen.threads());
  m.pin_failures += seen.pin_failures();
  const bool pinned = exec::pinned_as_intended(cpus, m.point.cpus, seen.pin_failures());
  st.counters["cpu_per_wall"] = usage.cpu_per_wall();
  st.counters["cpu_s"] = usage.cpu_s / iterations;
  st.counters["cpus_seen"] = static_cast<double>(cpus.size());
  st.counters["threads_seen"] = seen.threads();
  st.counters["pinned"] = pinned ? 1 : 0;
  st.counters["ctx_voluntary"] = static_cast<double>(usage.voluntary_switches) / iterations;
  st.counters["ctx_involuntary"] = static_cast<double>(usage.involuntary_switches) / iterations;
}

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

// The exception --inject-fault throw:REGEX plants.
std::runtime_error planted_exception() {
  return std::runtime_error("injected fault: a planted exception (--inject-fault throw)");
}

void run_matmul(benchmark::State& st, Session& session, const std::string& name) {
  if (interrupted()) {
    skip(st, kInterruptedMessage, false);
    return;
  }
  Measurement& m = *session.find(name);
  const Point& p = m.point;
  const std::string fault = session.fault_for(name);
  const bool plant_exception = fault == "throw";
  const bool plant_wrong_result = fault == "wrong";
  MatmulData& data = matmul_data(p.n);
  auto& prob = data.problem;
  std::unique_ptr<exec::Executor> executor;
  try {
    executor = exec::make_executor(*exec::parse_backend(p.backend), p.cpus);
  } catch (const std::exception& e) {
    skip(st, e.what(), false);
    return;
  }
  // One product = two phases over the team: pack B once (by column slivers), then compute C
  // (by row blocks), so no task repeats another's packing.
  const auto bounds = task_bounds(p.n, matmul::row_tile(), tasks_for(p.threads));
  const auto sliver_bounds = task_bounds(matmul::packed_b_slivers(p.n), 1, tasks_for(p.threads));
  const std::size_t n = p.n;
  const exec::Task pack = [&](std::size_t i) {
    matmul::pack_b_slivers(prob.b.data(), n, prob.packed_b.data(), sliver_bounds[i],
                           sliver_bounds[i + 1]);
  };
  const exec::Task compute = [&](std::size_t i) {
    matmul::multiply_rows_packed(prob.a.data(), prob.packed_b.data(), prob.c.data(), n,
                                 bounds[i], bounds[i + 1]);
  };
  auto product = [&] {
    executor->run(sliver_bounds.size() - 1, pack);
    executor->run(bounds.size() - 1, compute);
  };
  std::fill(prob.c.begin(), prob.c.end(), std::numeric_limits<double>::quiet_NaN());

  const auto start = exec::UsageSnapshot::now();
  bool looping = false;
  try {
    product();  // warm-up: threads started and pinned, caches filled
    executor->sightings().reset();
    const int stops_before = continued_count();
    const auto before = exec::UsageSnapshot::now();
    looping = true;
    for (auto _ : st) {
      if (interrupted()) {
        st.SkipWithError(kInterruptedMessage);
        break;
      }
      product();
      if (plant_exception) throw planted_exception();
    }
    if (st.error_occurred()) return;
    const auto usage = exec::UsageSnapshot::now() - before;
    record_evidence(st, m, executor->sightings(), usage, static_cast<double>(st.iterations()));
    if (continued_count() != stops_before) st.counters[kStoppedCounter] = 1;
    if (plant_wrong_result) prob.c[prob.c.size() / 2] += 1.0;  // planted wrong result
    st.counters["FLOP/s"] = benchmark::Counter(matmul::flops(n),
                                               benchmark::Counter::kIsIterationInvariantRate);
    if (matmul::checksum(prob.c.data(), n) != data.reference) {
      m.verified = false;
      if (m.error.empty()) m.error = "result differs from the serial answer";
      st.SkipWithError("result differs from the serial answer");
    }
    session.note_call(p, (exec::UsageSnapshot::now() - start).wall_s, usage.wall_s);
  } catch (const std::exception& e) {
    m.verified = false;
    if (m.error.empty()) m.error = e.what();
    skip(st, e.what(), looping);
  }
}

#if CVP_HAVE_IO
// The fingerprints of the serial handling of a request set, computed once per (c, seed, count),
// outside every timed region: every response of every run is compared against them.
const std::vector<std::uint64_t>& reference_for(const io::RequestConfig& config) {
  using Key = std::tuple<double, std::uint64_t, std::size_t>;
  static std::map<Key, std::vector<std::uint64_t>> cache;
  const Key key{config.c_us, config.seed, config.requests};
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, io::reference_fingerprints(config)).first;
  return it->second;
}

void run_requests(benchmark::State& st, Session& session, const std::string& name) {
  if (interrupted()) {
    skip(st, kInterruptedMessage, false);
    return;
  }
  Measurement& m = *session.find(name);
  const Point& p = m.point;
  const std::string fault = session.fault_for(name);
  const bool plant_exception = fault == "throw";
  const bool plant_wrong_result = fault == "wrong";
  const io::IoBackend backend =
      p.backend == "eventloop" ? io::IoBackend::eventloop : io::IoBackend::threads;
  io::RequestConfig config = p.io;
  config.recheck = 0;  // every response is checked against the reference below instead
  config.stop = &interrupt_flag();
  exec::Sightings seen;
  const auto start = exec::UsageSnapshot::now();
  double measured = 0;
  bool looping = false;
  try {
    const std::vector<std::uint64_t>& reference = reference_for(config);
    const int stops_before = continued_count();
    const auto before = exec::UsageSnapshot::now();
    looping = true;
    for (auto _ : st) {
      if (interrupted()) {
        st.SkipWithError(kInterruptedMessage);
        break;
      }
      io::RequestRun run = io::run_requests(config, backend, p.cpus, seen);
      if (run.stopped) {
        st.SkipWithError(kInterruptedMessage);
        break;
      }
      st.SetIterationTime(run.wall_s);
      if (plant_exception) throw planted_exception();
      if (plant_wrong_result && !run.fingerprints.empty()) {
        run.fingerprints[run.fingerprints.size() / 2] ^= 0x100;  // planted wrong result
      }
      measured += run.wall_s;
      m.latencies_us.insert(m.latencies_us.end(), run.latencies_us.begin(),
                            run.latencies_us.end());
      m.c_measured_us.push_back(run.cpu_us_per_request);
      m.overshoot_us.push_back(run.wait_overshoot_us);
      // The full check, outside the clock (manual time is the run's own wall time): every
      // response against the serial handling's, plus the duplicates and wrong ids the run
      // itself counted (its count of missing responses is part of the comparison).
      const std::size_t missing = static_cast<std::size_t>(
          std::count(run.fingerprints.begin(), run.fingerprints.end(), std::uint64_t{0}));
      const std::size_t in_run = run.errors >= missing ? run.errors - missing : run.errors;
      const std::size_t wrong = in_run + io::count_mismatches(run.fingerprints, reference);
      m.io_errors += wrong;
      if (wrong > 0) {
        m.verified = false;
        if (m.error.empty()) {
          m.error = std::to_string(wrong) + " of " + std::to_string(p.io.requests) +
                    " responses differ from the serial handling's (wrong, missing or "
                    "duplicated)";
        }
      }
    }
    if (st.error_occurred()) return;
    const auto usage = exec::UsageSnapshot::now() - before;
    record_evidence(st, m, seen, usage, static_cast<double>(st.iterations()));
    if (continued_count() != stops_before) st.counters[kStoppedCounter] = 1;
    st.counters["requests/s"] =
        benchmark::Counter(static_cast<double>(p.io.requests) * static_cast<double>(st.iterations()) /
                           std::max(measured, 1e-12));
    if (!m.verified) st.SkipWithError(m.error.c_str());
    session.note_call(p, (exec::UsageSnapshot::now() - start).wall_s, measured);
  } catch (const std::exception& e) {
    m.verified = false;
    if (m.error.empty()) m.error = e.what();
    skip(st, e.what(), looping);
  }
}
#endif

}  // namespace

Session::Session(std::vector<Point> points, int repetitions, double min_time_s,
                 const std::vector<FaultInjection>& faults)
    : repetitions_(repetitions), min_time_s_(min_time_s), tty_(isatty(STDERR_FILENO) != 0) {
  for (const auto& f : faults) faults_.emplace_back(f.kind, Pattern("--inject-fault", f.pattern));
  measurements_.reserve(points.size());
  for (auto& p : points) {
    index_[p.name()] = measurements_.size();
    Measurement m;
    m.point = std::move(p);
    measurements_.push_back(std::move(m));
  }
}

std::string Session::fault_for(const std::string& name) const {
  for (const auto& [kind, re] : faults_) {
    if (re.found_in(name)) return kind;
  }
  return "";
}

Measurement* Session::find(const std::string& name) {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &measurements_[it->second];
}

void Session::register_all() {
  for (const auto& m : measurements_) {
    const std::string name = m.point.name();
    benchmark::internal::Benchmark* b = nullptr;
    if (m.point.kind == Kind::cpu) {
      b = benchmark::RegisterBenchmark(name.c_str(), [this, name](benchmark::State& st) {
        run_matmul(st, *this, name);
      });
      b->UseRealTime();
    } else {
#if CVP_HAVE_IO
      b = benchmark::RegisterBenchmark(name.c_str(), [this, name](benchmark::State& st) {
        run_requests(st, *this, name);
      });
      b->UseManualTime();
#else
      continue;
#endif
    }
    b->Unit(benchmark::kMillisecond);
  }
}

void Session::note_call(const Point& point, double seconds, double timed_seconds) {
  // Google Benchmark grows the iteration count of a point's first repetition until the timed
  // part lasts min_time, then runs every later repetition once with that count.
  seconds_done_ += seconds;
  Measurement& m = *find(point.name());
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
               std::min(reps_done_, total), total, point.name().c_str(), eta, tty_ ? "" : "\n");
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

bool CollectingReporter::ReportContext(const Context&) { return true; }

void CollectingReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.run_type != Run::RT_Iteration) continue;
    // Names carry Google Benchmark's suffixes (e.g. /real_time); the point's name is the prefix.
    std::string name = run.benchmark_name();
    Measurement* m = nullptr;
    while (!(m = session_.find(name))) {
      const auto slash = name.rfind('/');
      if (slash == std::string::npos) break;
      name.resize(slash);
    }
    if (!m) continue;
    if (run.error_occurred && run.error_message == kInterruptedMessage) {
      ++m->interrupted_runs;  // not measured, not failed
      continue;
    }
    if (run.error_occurred) {
      m->verified = false;
      if (m->error.empty()) m->error = run.error_message;
      continue;
    }
    const double iterations = static_cast<double>(std::max<benchmark::IterationCount>(run.iterations, 1));
    auto counter = [&](const char* key) {
      const auto it = run.counters.find(key);
      return it == run.counters.end() ? 0.0 : static_cast<double>(it->second);
    };
    if (counter(kStoppedCounter) > 0) {
      m->stopped_wall_s.push_back(run.real_accumulated_time / iterations);
      continue;
    }
    m->wall_s.push_back(run.real_accumulated_time / iterations);
    m->cpu_s.push_back(counter("cpu_s"));
    m->cpu_per_wall.push_back(counter("cpu_per_wall"));
    m->voluntary.push_back(counter("ctx_voluntary"));
    m->involuntary.push_back(counter("ctx_involuntary"));
  }
}

}  // namespace cvp::bench

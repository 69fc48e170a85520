// Validation, setup, the per-request steps both backends share, the merge of their tallies,
// and the serial reference.
#include "exec/requests/request_engine.h"

#include <time.h>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

#include "cvp/exec/affinity.h"
#include "exec/slow_cpu.h"
#include "cvp/exec/trace.h"

namespace cvp::exec {

RequestHandler::~RequestHandler() = default;

void RequestHandler::wait(std::size_t) {
  throw std::logic_error("the handler's wait is blocking (WaitOwner::blocking), but it does not "
                         "override wait(id)");
}

void RequestHandler::async_wait(std::size_t, asio::io_context&, WaitDone) {
  throw std::logic_error("the handler's wait is asynchronous (WaitOwner::async), but it does not "
                         "override async_wait(id, io, done)");
}

namespace detail {

void handler_wait_here(RequestHandler& handler, WaitOwner owner, std::size_t id,
                       asio::io_context& io, const std::function<void(const std::function<void()>&)>& timed) {
  if (owner == WaitOwner::blocking) {
    timed([&] { handler.wait(id); });
    return;
  }
  if (io.stopped()) io.restart();
  // Set by the completion, which `io` runs on this thread below: no lock.
  bool done = false;
  std::exception_ptr error;
  timed([&] {
    handler.async_wait(id, io, [&done, &error](std::exception_ptr e) {
      if (done) return;  // called twice: the first call counts
      error = e;
      done = true;
    });
  });
  while (!done) {
    if (io.run_one() == 0) {
      throw std::logic_error("request " + std::to_string(id) +
                             ": async_wait() left nothing for its io_context to run, and never "
                             "called done()");
    }
  }
  if (error) std::rethrow_exception(error);
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

// Samples of c' per run at most; beyond that, measuring every request only adds system calls.
constexpr std::size_t kCpuSamples = 1024;

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double to_us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

void validate(const RequestConfig& config, exec::Backend backend,
              const std::vector<int>& worker_cpus) {
  if (backend != exec::Backend::threads && backend != exec::Backend::eventloop) {
    throw std::invalid_argument("requests run on the threads or eventloop backend, not " +
                                std::string(exec::to_string(backend)) +
                                " (a backend that runs tasks)");
  }
  if (config.in_flight < 1) {
    throw std::invalid_argument("in_flight must be at least 1, not " +
                                std::to_string(config.in_flight));
  }
  if (config.requests < static_cast<std::size_t>(config.in_flight)) {
    throw std::invalid_argument("requests (" + std::to_string(config.requests) +
                                ") must be at least in_flight (" +
                                std::to_string(config.in_flight) + ")");
  }
  if (worker_cpus.empty()) throw std::invalid_argument("worker_cpus must name at least one CPU");
  if (!(config.w_us >= 0) || !std::isfinite(config.w_us)) {
    throw std::invalid_argument("w_us must be a finite number >= 0");
  }
  if (backend == exec::Backend::eventloop && config.wait == WaitOwner::blocking) {
    throw std::invalid_argument("the handler's wait blocks its thread (WaitOwner::blocking), which "
                                "would stall an event loop and every request on it: run it on "
                                "threads, or make its wait asynchronous (async_wait)");
  }
}

}  // namespace

RunContext::RunContext(const RequestConfig& config, RequestHandler& handler,
                       exec::Sightings& sightings)
    : config_(config),
      handler_(handler),
      sightings_(sightings),
      size_(config.requests),
      cpu_stride_(std::max<std::size_t>(1, config.requests / kCpuSamples)),
      fingerprints_(config.requests, 0) {}

Clock::duration RunContext::wait_for(std::size_t id) const {
  double us = config_.w_us;
  if (config_.distribution == WaitDistribution::exponential) {
    const std::uint64_t bits = mix(config_.seed * 0x9e3779b97f4a7c15ull + mix(id + 1));
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1)
    us = -config_.w_us * std::log1p(-u);
  }
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::micro>(us));
}

Worker::Worker(RunContext& context, Tally& tally, int slot)
    : context_(context), tally_(tally), slot_(slot) {
  // What one read of the thread CPU clock adds to a window it bounds: median of empty windows.
  std::vector<std::int64_t> empty(15);
  for (auto& e : empty) {
    const std::int64_t t0 = thread_cpu_ns();
    e = thread_cpu_ns() - t0;
  }
  std::nth_element(empty.begin(), empty.begin() + 7, empty.end());
  clock_cost_ns_ = empty[7];
}

void Worker::begin(std::size_t id, InFlight& request) {
  request.id = id;
  request.start = Clock::now();
  request.sampled = id % context_.cpu_stride() == 0;
  context_.sightings().note(slot_);
  const std::int64_t t0 = request.sampled ? thread_cpu_ns() : 0;
  {
    const exec::trace::Scope span(exec::trace::SpanKind::cpu, "before wait", id, slot_);
    run_stretched([&] { context_.handler().before_wait(id); });
  }
  if (request.sampled) request.cpu_ns = thread_cpu_ns() - t0 - clock_cost_ns_;
}

void Worker::wait_here(InFlight& request, asio::io_context& io) {
  RequestHandler& handler = context_.handler();
  request.wait_cpu_ns = 0;
  switch (context_.wait_owner()) {
    case WaitOwner::engine:
      request.requested = context_.wait_for(request.id);
      request.wait_start = Clock::now();
      sleep_until(request.wait_start + request.requested);
      break;
    case WaitOwner::blocking:
    case WaitOwner::async:
      request.requested = {};
      request.wait_start = Clock::now();
      handler_wait_here(handler, context_.wait_owner(), request.id, io,
                        [&](auto&& call) { timed_wait_call(request, call); });
      break;
  }
  request.woke = Clock::now();
}

void Worker::finish(InFlight& request) {
  const Clock::duration waited = request.woke - request.wait_start;
  if (context_.wait_owner() == WaitOwner::engine) tally_.overshoot_us += to_us(waited - request.requested);
  const double wait_us = std::max(0.0, to_us(waited) - static_cast<double>(request.wait_cpu_ns) * 1e-3);
  tally_.wait_us += wait_us;
  if (request.sampled) tally_.sampled_waits_us.push_back(wait_us);
  ++tally_.waits;
  if (exec::trace::recording()) {
    exec::trace::Span wait;
    wait.kind = exec::trace::SpanKind::wait;
    wait.name = "wait";
    wait.index = request.id;
    wait.worker = slot_;
    wait.begin_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(request.wait_start.time_since_epoch()).count();
    wait.end_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(request.woke.time_since_epoch()).count();
    exec::trace::record(wait);
  }
  const std::int64_t t0 = request.sampled ? thread_cpu_ns() : 0;
  std::uint64_t fingerprint = 0;
  {
    const exec::trace::Scope span(exec::trace::SpanKind::cpu, "after wait", request.id, slot_);
    run_stretched([&] { fingerprint = context_.handler().after_wait(request.id); });
  }
  if (request.sampled) {
    request.cpu_ns += thread_cpu_ns() - t0 - clock_cost_ns_ + request.wait_cpu_ns;
    tally_.cpu_us += static_cast<double>(request.cpu_ns) * 1e-3;
    ++tally_.cpu_samples;
  }
  context_.sightings().note(slot_);
  // The check in the run: one response per id. A fingerprint of 0 is no response and leaves
  // the slot empty (counted as missing after the run); whether a response is right is the
  // comparison with the serial handling's, after the clock stops.
  std::uint64_t& slot = context_.response_slot(request.id);
  if (slot != 0) {
    ++tally_.duplicates;
  } else {
    slot = fingerprint;
  }
  ++tally_.processed;
  tally_.latencies_us.push_back(to_us(Clock::now() - request.start));
}

void become_worker(int cpu, exec::Sightings& sightings) {
  // The executors' own pinning (Executor::pin_worker does the same): one call, a failure counted.
  if (!exec::pin_to_cpu(cpu)) sightings.note_pin_failure();
#if defined(__linux__)
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
}

void sleep_until(Clock::time_point deadline) {
#if defined(__linux__)
  // libstdc++'s steady_clock is CLOCK_MONOTONIC; an absolute deadline does not drift when a
  // sleep is interrupted and restarted.
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch());
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
#else
  std::this_thread::sleep_until(deadline);
#endif
}

}  // namespace detail

RequestRun run_requests(const RequestConfig& config, RequestHandler& handler,
                        exec::Backend backend, const std::vector<int>& worker_cpus,
                        exec::Sightings& sightings) {
  detail::validate(config, backend, worker_cpus);
  detail::RunContext context(config, handler, sightings);
  std::vector<detail::Tally> tallies;

  RequestRun run;
  run.wall_s = backend == exec::Backend::threads
                   ? detail::run_threads(context, config.in_flight, worker_cpus, tallies)
                   : detail::run_eventloops(context, config.in_flight, worker_cpus, tallies);

  double cpu_us = 0;
  double thread_cpu_us = 0;
  double overshoot_us = 0;
  double wait_us = 0;
  std::vector<double> sampled_waits;
  std::size_t waits = 0;
  std::size_t completed = 0;
  for (const auto& t : tallies) completed += t.latencies_us.size();
  run.latencies_us.reserve(completed);
  for (auto& t : tallies) {
    if (t.failure) std::rethrow_exception(t.failure);
    run.latencies_us.insert(run.latencies_us.end(), t.latencies_us.begin(), t.latencies_us.end());
    run.processed += t.processed;
    run.errors += t.duplicates;
    cpu_us += t.cpu_us;
    thread_cpu_us += t.thread_cpu_us;
    run.cpu_samples += t.cpu_samples;
    overshoot_us += t.overshoot_us;
    wait_us += t.wait_us;
    sampled_waits.insert(sampled_waits.end(), t.sampled_waits_us.begin(), t.sampled_waits_us.end());
    waits += t.waits;
  }
  if (run.cpu_samples > 0) {
    run.cpu_us_per_request = std::max(0.0, cpu_us / static_cast<double>(run.cpu_samples));
  }
  if (run.processed > 0) {
    run.team_cpu_us_per_request = thread_cpu_us / static_cast<double>(run.processed);
  }
  if (waits > 0) {
    if (config.wait == WaitOwner::engine) run.wait_overshoot_us = overshoot_us / static_cast<double>(waits);
    run.wait_us = wait_us / static_cast<double>(waits);
  }
  if (!sampled_waits.empty()) {
    const auto at = [&](double q) {
      const auto k = static_cast<std::size_t>(q * static_cast<double>(sampled_waits.size() - 1));
      std::nth_element(sampled_waits.begin(), sampled_waits.begin() + static_cast<std::ptrdiff_t>(k),
                       sampled_waits.end());
      return sampled_waits[k];
    };
    run.wait_p50_us = at(0.5);
    run.wait_p90_us = at(0.9);
  }

  // Missing responses; an interrupted run leaves some unmade, which is not an error of its own.
  run.stopped = context.stopped();
  if (!run.stopped) {
    for (const std::uint64_t f : context.fingerprints()) {
      if (f == 0) ++run.errors;
    }
  }
  run.fingerprints = context.take_fingerprints();
  return run;
}

std::vector<std::uint64_t> serial_fingerprints(RequestHandler& handler, std::size_t requests,
                                               WaitOwner wait) {
  std::vector<std::uint64_t> out;
  out.reserve(requests);
  asio::io_context io{1};  // for a handler's asynchronous waits
  for (std::size_t id = 0; id < requests; ++id) {
    handler.before_wait(id);
    if (wait != WaitOwner::engine) {
      detail::handler_wait_here(handler, wait, id, io, [](const std::function<void()>& call) { call(); });
    }
    out.push_back(handler.after_wait(id));
  }
  return out;
}

std::size_t count_mismatches(const std::vector<std::uint64_t>& fingerprints,
                             const std::vector<std::uint64_t>& reference) {
  const std::size_t n = std::max(fingerprints.size(), reference.size());
  std::size_t wrong = 0;
  for (std::size_t id = 0; id < n; ++id) {
    if (id >= fingerprints.size() || id >= reference.size() || fingerprints[id] == 0 ||
        fingerprints[id] != reference[id]) {
      ++wrong;
    }
  }
  return wrong;
}

}  // namespace cvp::exec

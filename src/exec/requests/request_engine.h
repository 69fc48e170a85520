// What both request backends share: the run's state and response slots, one worker's tally,
// and the per-request steps around the wait. Internal to the cvpbench library (cvp::exec).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <latch>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

#include "cvp/exec/evidence.h"
#include "cvp/exec/requests.h"

namespace cvp::exec::detail {

using Clock = std::chrono::steady_clock;

// One run's shared state. The next id is the only thing workers contend on. Each response is
// kept as its fingerprint in the slot of its id, written only by the worker that took the id,
// so slots need no lock and the run allocates nothing to keep them.
class RunContext {
 public:
  RunContext(const RequestConfig& config, RequestHandler& handler, exec::Sightings& sightings);

  // Takes the next unhandled id; false when all have been taken.
  bool take(std::size_t& id) {
    if (config_.stop.stop_requested()) {
      stopped_.store(true, std::memory_order_relaxed);
      return false;
    }
    id = next_.fetch_add(1, std::memory_order_relaxed);
    return id < size_;
  }

  // The wait request `id` makes: fixed, or exponential with mean w_us, deterministic per id.
  Clock::duration wait_for(std::size_t id) const;
  // Who waits: the engine (wait_for), or the handler.
  WaitOwner wait_owner() const { return config_.wait; }

  RequestHandler& handler() { return handler_; }
  // 0 until the response to `id` is stored.
  std::uint64_t& response_slot(std::size_t id) { return fingerprints_[id]; }
  const std::vector<std::uint64_t>& fingerprints() const { return fingerprints_; }
  std::vector<std::uint64_t> take_fingerprints() { return std::move(fingerprints_); }
  // Whether config.stop ended the run early.
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }
  std::size_t size() const { return size_; }
  // c' is measured on requests whose id is a multiple of this (the clock costs a system call).
  std::size_t cpu_stride() const { return cpu_stride_; }
  exec::Sightings& sightings() { return sightings_; }

 private:
  const RequestConfig& config_;
  RequestHandler& handler_;
  exec::Sightings& sightings_;
  std::size_t size_;
  std::size_t cpu_stride_;
  std::vector<std::uint64_t> fingerprints_;
  alignas(64) std::atomic<std::size_t> next_{0};
  std::atomic<bool> stopped_{false};
};

// What one worker (a thread, or an event loop and its coroutines) saw; never shared while
// the run is going.
struct Tally {
  std::vector<double> latencies_us;
  double cpu_us = 0;
  std::size_t cpu_samples = 0;
  double overshoot_us = 0;
  double wait_us = 0;                  // every wait's, summed
  std::vector<double> sampled_waits_us;  // the waits of the requests whose c' is measured
  std::size_t waits = 0;
  std::size_t processed = 0;
  std::size_t duplicates = 0;
  double thread_cpu_us = 0;  // the worker thread's CPU time from the team's release to its end
  Clock::time_point finished{};
  std::exception_ptr failure;
};

// A request between its two CPU parts, and its wait: asked for (the engine's; zero for the
// handler's), from `wait_start` to `woke`, of which `wait_cpu_ns` was the handler's own CPU.
struct InFlight {
  std::size_t id = 0;
  Clock::time_point start{};
  std::int64_t cpu_ns = 0;
  bool sampled = false;
  Clock::duration requested{};
  Clock::time_point wait_start{};
  Clock::time_point woke{};
  std::int64_t wait_cpu_ns = 0;
};

// The calling thread's CPU time, in nanoseconds.
std::int64_t thread_cpu_ns();

// Request `id`'s wait by the handler on the calling thread: its blocking wait(), or its
// async_wait() on `io`, which this runs until done() is called (std::logic_error when nothing
// is left to run first; an error passed to done() is thrown). `timed(call)` makes the handler's
// call, timing it as the caller wants.
void handler_wait_here(RequestHandler& handler, WaitOwner owner, std::size_t id,
                       asio::io_context& io,
                       const std::function<void(const std::function<void()>&)>& timed);

// The per-request steps of one worker thread. Construct it on the thread that runs the steps:
// it measures what reading that thread's CPU clock costs, to take it out of c'. `slot` is the
// worker's slot in the run's Sightings (thread t: t; loop l: l), the only one it notes, so that
// workers do not write the same cache lines.
class Worker {
 public:
  Worker(RunContext& context, Tally& tally, int slot);

  // Starts request `id`: notes the CPU, runs the handler's before_wait (the first CPU part).
  void begin(std::size_t id, InFlight& request);

  // Its wait on this thread, timed into `request`: the engine's sleep, the handler's blocking
  // wait(), or the handler's async_wait() on `io` (this thread's own), run until it is done.
  void wait_here(InFlight& request, asio::io_context& io);

  // Times a handler's wait call made here (wait() or the start of async_wait()): its thread
  // CPU time, which counts in c', not in the wait.
  template <class Call>
  void timed_wait_call(InFlight& request, Call&& call) {
    const std::int64_t t0 = thread_cpu_ns();
    call();
    request.wait_cpu_ns = std::max<std::int64_t>(0, thread_cpu_ns() - t0 - clock_cost_ns_);
  }

  // Finishes it after its wait: runs after_wait (the second CPU part), notes the CPU, stores
  // the response's fingerprint, records latency, the wait and its overshoot.
  void finish(InFlight& request);

 private:
  RunContext& context_;
  Tally& tally_;
  int slot_;
  std::int64_t clock_cost_ns_ = 0;
};

// Prepares the calling thread to be a worker: pins it to `cpu` as the executors' workers are
// pinned (a failure is counted in `sightings`) and sets its timer slack to 1 ns so that waits
// end when they should.
void become_worker(int cpu, exec::Sightings& sightings);

// Blocks the calling thread until `deadline` (absolute, on the steady clock).
void sleep_until(Clock::time_point deadline);

// Starts a team of `n` threads with `start(i)` (which appends thread i to `team`), waits until
// every one is `ready`, releases them together through `go` and joins them; returns the moment
// they were released. When a thread cannot be created, `abandon(started)` lets the threads that
// did start know they will run no request (and counts `ready` down for those that did not), then
// the started ones are released and joined before the failure is rethrown, so no joinable
// thread is destroyed.
template <class Start, class Abandon>
Clock::time_point run_team(std::vector<std::thread>& team, std::size_t n, std::latch& ready,
                           std::latch& go, Start start, Abandon abandon) {
  try {
    for (std::size_t i = 0; i < n; ++i) start(i);
  } catch (...) {
    abandon(team.size());
    go.count_down();
    for (auto& t : team) t.join();
    throw;
  }
  ready.wait();
  const Clock::time_point released = Clock::now();
  go.count_down();
  for (auto& t : team) t.join();
  return released;
}

// The backends. Each returns the wall time from the start of the first request until the last
// has finished, and fills one Tally per worker.
double run_threads(RunContext& context, int in_flight, const std::vector<int>& worker_cpus,
                   std::vector<Tally>& tallies);
double run_eventloops(RunContext& context, int in_flight, const std::vector<int>& worker_cpus,
                      std::vector<Tally>& tallies);

// Diagnostic for the event loop: one coroutine per entry of delays_us, all started at once on
// one event loop (on the calling thread), each waiting its delay with the engine's timer wait.
// Returns the indices in the order their waits completed.
std::vector<std::size_t> timer_wake_order(const std::vector<double>& delays_us);

}  // namespace cvp::exec::detail

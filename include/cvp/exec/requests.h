// The request engine: runs any request handler serially, with K requests in flight on one core,
// or in parallel, on blocking threads or on event loops, and measures it.
//
// A handler is a request's CPU work split in two around a wait it cannot compute through (a
// database, a remote service, a disk): before_wait() before it, after_wait() after it. The
// wait is the engine's (a blocking sleep or an event-loop timer of w_us) or the handler's own
// real I/O (RequestConfig::wait): blocking in wait(), on threads, or completion-based in
// async_wait(), on both backends. The engine owns everything else: who takes which request,
// where each worker runs (pinned, with evidence), the clocks (each wait measured), and the check
// that every request got exactly one response. Unlike the task backends (executor.h), a request
// run starts and joins its own team, so it times itself: RequestRun::wall_s leaves the team's
// start and join out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"

namespace asio {
class io_context;  // Asio's (standalone, header-only): include <asio.hpp> to use it
}  // namespace asio

namespace cvp::exec {

// Who waits between a request's two CPU parts.
enum class WaitOwner {
  engine,    // the engine: a sleep on threads, a timer on an event loop, of RequestConfig::w_us
  blocking,  // the handler's wait(id), which blocks its thread: threads only
  async,     // the handler's async_wait(id, io, done), completion-based: threads and event loops
};

// One kind of request, ids 0 .. requests-1. Requests with different ids are handled at the same
// time by different workers; both calls for one id are made by the worker that took it,
// before_wait() first. A handler therefore keeps whatever one request carries across its wait
// in a slot per id that it sized up front (when it was made), and shares nothing mutable
// between ids. Both calls are timed and counted in the measured CPU per request (c'); make
// inputs (request texts, tables) in the constructor, outside every clock.
class RequestHandler {
 public:
  virtual ~RequestHandler();
  // Called by the worker that took request `id`, before its wait: the CPU part (parse, compute).
  virtual void before_wait(std::size_t id) = 0;
  // After the wait: the second CPU part (respond); returns a fingerprint of the response (a hash
  // of its text, say), never 0, compared with the serial handling's (serial_fingerprints).
  virtual std::uint64_t after_wait(std::size_t id) = 0;

  // The handler's own waits, for a RequestConfig::wait other than engine. Each wait is measured
  // (wall time, less the thread CPU time spent in the call itself, which counts in c') and the
  // bound uses what was measured. The reference (serial_fingerprints) makes these waits too.
  //
  // WaitOwner::blocking: waits for request `id` on the worker's thread (an fdatasync, a blocking
  // read) and returns when it is over; an error is thrown. Default: throws std::logic_error.
  virtual void wait(std::size_t id);
  // WaitOwner::async: starts request `id`'s wait on `io` and returns at once; the operation's
  // completion calls done(nullptr), or done(the error) when it failed, exactly once, from a
  // handler that `io` runs. On an event loop `io` is the loop's own context, which the other
  // requests in flight on that loop share; on threads each worker thread runs its own. Either
  // ends with its run: what the handler makes on `io` (a timer, a socket) must be gone by then,
  // or belong to the context itself (an asio service of it, as examples/echo keeps its open
  // connections). Default: throws std::logic_error.
  using WaitDone = std::function<void(std::exception_ptr)>;
  virtual void async_wait(std::size_t id, asio::io_context& io, WaitDone done);
};

enum class WaitDistribution { fixed, exponential };

struct RequestConfig {
  WaitOwner wait = WaitOwner::engine;  // who waits; w_us and distribution are the engine's
  double w_us = 1000;    // the engine's wait per request, microseconds (the mean if exponential)
  WaitDistribution distribution = WaitDistribution::fixed;
  std::size_t requests = 1000;  // total requests in one run: ids 0 .. requests-1
  int in_flight = 1;            // K: requests in flight at once
  std::uint64_t seed = 1;       // draws the exponential waits, deterministically per id
  // Once it asks to stop, workers take no new requests: the run ends early with `stopped` set
  // and the responses not made missing (an interrupted run, not a wrong one). Checked per
  // request.
  StopToken stop;
};

struct RequestRun {
  double wall_s = 0;                 // from releasing the started workers to the last response
  std::vector<double> latencies_us;  // one per completed request: id taken to response made
  std::size_t processed = 0;         // responses produced
  // Duplicated responses, and missing ones (never made, or a fingerprint of 0) unless stopped.
  // Wrong ones are found by comparing `fingerprints` with serial_fingerprints().
  std::size_t errors = 0;
  double cpu_us_per_request = 0;     // measured c': thread CPU time of before_wait + after_wait
  // The workers' threads' CPU time per response, from the team's release to each worker's end:
  // c' and everything else they spent (the engine, switching between them, the kernel's work
  // on their behalf), and nothing of the process's other threads.
  double team_cpu_us_per_request = 0;
  double wait_overshoot_us = 0;      // mean of (actual wait - requested wait); 0: handler's waits
  // Each wait as measured: from its start to the request's resumption, less the thread CPU time
  // of a handler's wait() or async_wait() call. The mean over every request; the median and
  // 90th percentile over the requests whose c' was measured.
  double wait_us = 0;
  double wait_p50_us = 0;
  double wait_p90_us = 0;
  std::size_t cpu_samples = 0;       // requests whose CPU time was measured for c' (evenly spaced)
  bool stopped = false;              // config.stop ended the run before every request was taken
  // after_wait()'s fingerprint of every response, indexed by request id (0: no response), for
  // the check against serial_fingerprints() outside the timed region.
  std::vector<std::uint64_t> fingerprints;
};

// Runs config.requests requests through `handler` with config.in_flight in flight, on one of
// the two backends that run requests:
// exec::Backend::threads: in_flight threads, thread t pinned to
//          worker_cpus[t % worker_cpus.size()], each handling one request at a time with a
//          blocking wait (serial = 1 thread, K = 1).
// exec::Backend::eventloop: one Asio event loop thread per entry of worker_cpus (at most
//          in_flight loops), pinned there, the in_flight requests spread evenly over the loops
//          as coroutines, waits as timers or the handler's async_wait() on the loop's context
//          (a handler whose wait blocks is refused: it would stall the loop).
// Workers pin themselves as the executors' workers do (exec::pin_to_cpu; a failure is counted
// in `sightings`). Every request notes its CPU in `sightings` at its start and end, in the slot
// of its worker (thread t notes slot t, loop l slot l: size it to the team, in_flight threads
// or min(in_flight, worker_cpus.size()) loops, so no two workers share a slot).
// The first exception the handler throws is rethrown here once every worker has stopped.
// REQUIRES: backend is threads or eventloop, in_flight >= 1, requests >= in_flight,
//           !worker_cpus.empty(), w_us finite and >= 0, not a blocking wait on the eventloop.
// Throws std::invalid_argument when the REQUIRES do not hold, before any thread starts.
RequestRun run_requests(const RequestConfig& config, RequestHandler& handler,
                        exec::Backend backend, const std::vector<int>& worker_cpus,
                        exec::Sightings& sightings);

// The reference a run is checked against: for each id in 0 .. requests-1, before_wait then
// after_wait on the calling thread, with the handler's own wait between them where `wait` says
// the handler waits (its responses may depend on what it waited for: a server's reply), and
// without the engine's waits. Costs `requests` handlings of CPU (and of the handler's waits):
// compute it once, outside every timed region (a fresh handler, or one whose runs are over).
std::vector<std::uint64_t> serial_fingerprints(RequestHandler& handler, std::size_t requests,
                                               WaitOwner wait = WaitOwner::engine);

// How many of `fingerprints` differ from `reference` (a missing response, 0, counts too;
// entries past either vector's end count as differing).
std::size_t count_mismatches(const std::vector<std::uint64_t>& fingerprints,
                             const std::vector<std::uint64_t>& reference);

}  // namespace cvp::exec

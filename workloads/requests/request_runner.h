// Runs the simulated request-handling workload (workloads/requests) serially, concurrently on
// one core and in parallel, with blocking threads or with event loops.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cvp/exec/evidence.h"
#include "cvp/exec/executor.h"

namespace cvp::io {

enum class WaitDistribution { fixed, exponential };

struct RequestConfig {
  double c_us = 50;      // CPU work per request, microseconds (calibrated)
  double w_us = 1000;    // backend wait per request, microseconds (mean if exponential)
  WaitDistribution distribution = WaitDistribution::fixed;
  std::size_t requests = 1000;  // total requests in one run
  int in_flight = 1;            // K: requests in flight at once
  std::uint64_t seed = 1;
  // Responses recomputed from scratch after the run, outside the timed region (evenly spaced
  // ids); every response when >= requests. In the run each response is checked cheaply (its id).
  std::size_t recheck = 256;
  // When set and true, workers take no new requests: the run ends early with `stopped` set and
  // the responses not made missing (an interrupted run, not a wrong one). Checked per request.
  const std::atomic<bool>* stop = nullptr;
};

struct RequestRun {
  double wall_s = 0;
  std::vector<double> latencies_us;  // one per completed request
  std::size_t processed = 0;         // responses produced
  std::size_t errors = 0;            // wrong, duplicated or missing responses
  double cpu_us_per_request = 0;     // measured c': thread CPU time of parse+compute+respond
  double wait_overshoot_us = 0;      // mean of (actual wait - requested wait)
  std::uint64_t rounds = 0;          // CPU-work rounds per request: requests::rounds_for(c_us)
  std::size_t cpu_samples = 0;       // requests whose CPU time was measured for c' (evenly spaced)
  bool stopped = false;              // config.stop ended the run before every request was taken
  // The fingerprint of every response, indexed by request id (0: no response), for a full
  // check against reference_fingerprints() outside the timed region.
  std::vector<std::uint64_t> fingerprints;
};

// The fingerprints of the serial handling of the same requests (same seed, c rounds and request
// count): for each id, parse + compute + respond on the calling thread, without waits.
// Costs about config.requests x c of CPU: compute it once, outside every timed region.
std::vector<std::uint64_t> reference_fingerprints(const RequestConfig& config);

// How many of `fingerprints` differ from `reference` (a missing response, 0, counts too;
// entries past either vector's end count as differing).
std::size_t count_mismatches(const std::vector<std::uint64_t>& fingerprints,
                             const std::vector<std::uint64_t>& reference);

// Calibrates the CPU-work step so that c_us holds on this machine; call once at start-up,
// on the CPU the measurements will use. Safe to call again.
void calibrate();

// Runs config.requests requests with config.in_flight in flight, on one of the two backends
// that run requests:
// exec::Backend::threads: in_flight threads, thread t pinned to
//          worker_cpus[t % worker_cpus.size()], each handling one request at a time with a
//          blocking wait (serial = 1 thread, K = 1).
// exec::Backend::eventloop: one event loop thread per entry of worker_cpus (at most in_flight
//          loops), pinned there, the in_flight requests spread evenly over the loops as
//          coroutines, waits as timers.
// Every request notes its CPU in `sightings` at its start and end, in the slot of its worker
// (thread t notes slot t, loop l slot l: size it to the team, in_flight threads or
// min(in_flight, worker_cpus.size()) loops, so no two workers share a slot); pin failures are
// counted there too.
// REQUIRES: backend is threads or eventloop, in_flight >= 1, requests >= in_flight,
//           !worker_cpus.empty().
// Throws std::invalid_argument when the REQUIRES do not hold or c_us or w_us is negative.
RequestRun run_requests(const RequestConfig& config, exec::Backend backend,
                        const std::vector<int>& worker_cpus, exec::Sightings& sightings);

// Diagnostic for the event loop: one coroutine per entry of delays_us, all started at once on
// one event loop (on the calling thread), each waiting its delay with the runner's timer wait.
// Returns the indices in the order their waits completed.
std::vector<std::size_t> timer_wake_order(const std::vector<double>& delays_us);

}  // namespace cvp::io

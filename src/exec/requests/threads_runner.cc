// Thread per request in flight: K threads, each handling one request at a time and blocking
// through its wait (the engine's sleep, the handler's wait(), or the handler's async_wait() run
// to its end on the thread's own io_context), so the kernel's scheduler does the interleaving.
#include <algorithm>
#include <atomic>
#include <latch>
#include <thread>

#include "exec/requests/request_engine.h"

namespace cvp::exec::detail {

double run_threads(RunContext& context, int in_flight, const std::vector<int>& worker_cpus,
                   std::vector<Tally>& tallies) {
  const auto k = static_cast<std::size_t>(in_flight);
  tallies.assign(k, Tally{});
  std::latch ready(in_flight);
  std::latch go(1);
  std::atomic<bool> abandoned{false};  // set when the team could not be made
  std::vector<std::thread> team;
  team.reserve(k);
  auto work = [&](std::size_t t) {
      Tally& tally = tallies[t];
      std::int64_t cpu0 = -1;
      try {
        become_worker(worker_cpus[t % worker_cpus.size()], context.sightings());
        tally.latencies_us.reserve(2 * context.size() / k + 16);
        Worker worker(context, tally, static_cast<int>(t));
        ready.count_down();
        go.wait();
        if (abandoned.load(std::memory_order_relaxed)) return;
        cpu0 = thread_cpu_ns();
        InFlight request;
        // This thread's own context, for a handler whose waits are asynchronous (run here
        // until each is done); unused otherwise.
        asio::io_context io{1};
        std::size_t id = 0;
        while (context.take(id)) {
          worker.begin(id, request);
          worker.wait_here(request, io);
          worker.finish(request);
        }
      } catch (...) {
        tally.failure = std::current_exception();
      }
      if (cpu0 >= 0) tally.thread_cpu_us = static_cast<double>(thread_cpu_ns() - cpu0) * 1e-3;
      tally.finished = Clock::now();
  };
  const Clock::time_point start = run_team(
      team, k, ready, go, [&](std::size_t t) { team.emplace_back(work, t); },
      [&](std::size_t started) {
        abandoned.store(true, std::memory_order_relaxed);
        ready.count_down(static_cast<std::ptrdiff_t>(k - started));
      });
  Clock::time_point end = start;
  for (const auto& t : tallies) end = std::max(end, t.finished);
  return std::chrono::duration<double>(end - start).count();
}

}  // namespace cvp::exec::detail

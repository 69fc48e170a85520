// Event loops: one Asio io_context per worker CPU, run by one pinned thread; the requests in
// flight are coroutines on those loops and their waits are timers (or the handler's own
// asynchronous operations on the loop's context), so one thread interleaves many requests
// without the kernel switching threads. (The fuzz build, whose clang lacks the
// coroutines, compiles eventloop_stub.cc instead.)
#include <algorithm>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "exec/requests/request_engine.h"

namespace cvp::exec::detail {
namespace {

// One loop: its context (told it is run by one thread), its worker's tally and steps.
struct Loop {
  asio::io_context io{1};
  Tally tally;
  std::size_t slots = 0;     // request slots (coroutines) spawned on it
  std::size_t finished = 0;  // and ended, normally or by an error
  std::optional<Worker> worker;  // made on the loop's own thread
};

// The engine's timer wait: completes at `deadline` on the steady clock.
auto wait_until(asio::steady_timer& timer, Clock::time_point deadline) {
  timer.expires_at(deadline);
  return timer.async_wait(asio::use_awaitable);
}

// Request `id`'s wait by the handler's async_wait() on this loop's context, as an operation a
// coroutine awaits: done() posts the coroutine's resumption to the loop (an error it passes is
// thrown there). The suspended coroutine is no work of the context's own: were done() never
// called and nothing else left to run, the loop ends, and the run says which requests were
// never resumed, instead of waiting for ever.
template <class Token>
auto async_handler_wait(RunContext& context, Loop& loop, InFlight& request, Token&& token) {
  return asio::async_initiate<Token, void(std::exception_ptr)>(
      [&context, &loop, &request](auto completion) {
        using Completion = decltype(completion);
        auto pending = std::make_shared<std::optional<Completion>>(std::move(completion));
        asio::io_context& io = loop.io;
        const auto done = [pending, &io](std::exception_ptr e) {
          if (!pending->has_value()) return;  // called twice: the first call counts
          Completion resume = std::move(**pending);
          pending->reset();
          asio::post(io, [resume = std::move(resume), e]() mutable { std::move(resume)(e); });
        };
        // An initiation must not throw (Asio would terminate): what async_wait() throws ends
        // the wait with that error instead.
        try {
          loop.worker->timed_wait_call(request, [&] { context.handler().async_wait(request.id, io, done); });
        } catch (...) {
          done(std::current_exception());
        }
      },
      token);
}

// One request slot: handles requests one after another until none are left.
asio::awaitable<void> serve(RunContext& context, Loop& loop) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  InFlight request;
  std::size_t id = 0;
  while (context.take(id)) {
    loop.worker->begin(id, request);
    request.wait_cpu_ns = 0;
    if (context.wait_owner() == WaitOwner::async) {
      request.requested = {};
      request.wait_start = Clock::now();
      co_await async_handler_wait(context, loop, request, asio::use_awaitable);
    } else {
      request.requested = context.wait_for(id);
      request.wait_start = Clock::now();
      co_await wait_until(timer, request.wait_start + request.requested);
    }
    request.woke = Clock::now();
    loop.worker->finish(request);
  }
}

asio::awaitable<void> wait_and_record(Clock::time_point deadline, std::size_t index,
                                      std::vector<std::size_t>& order) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  co_await wait_until(timer, deadline);
  order.push_back(index);
}

}  // namespace

double run_eventloops(RunContext& context, int in_flight, const std::vector<int>& worker_cpus,
                      std::vector<Tally>& tallies) {
  const std::size_t n_loops = std::min(worker_cpus.size(), static_cast<std::size_t>(in_flight));
  std::vector<std::unique_ptr<Loop>> loops;
  for (std::size_t l = 0; l < n_loops; ++l) loops.push_back(std::make_unique<Loop>());
  for (int j = 0; j < in_flight; ++j) {
    Loop& loop = *loops[static_cast<std::size_t>(j) % n_loops];
    // Not yet running: co_spawn only queues the coroutine on the loop.
    ++loop.slots;
    asio::co_spawn(loop.io, serve(context, loop), [&loop](std::exception_ptr e) {
      ++loop.finished;
      if (e && !loop.tally.failure) loop.tally.failure = e;
    });
  }

  std::latch ready(static_cast<std::ptrdiff_t>(n_loops));
  std::latch go(1);
  std::vector<std::thread> threads;
  threads.reserve(n_loops);
  auto start_loop = [&](std::size_t l) {
    threads.emplace_back([&, l] {
      Loop& loop = *loops[l];
      try {
        become_worker(worker_cpus[l], context.sightings());
        loop.tally.latencies_us.reserve(2 * context.size() / n_loops + 16);
        loop.worker.emplace(context, loop.tally, static_cast<int>(l));
      } catch (...) {
        loop.tally.failure = std::current_exception();
      }
      ready.count_down();
      go.wait();
      if (loop.worker) {
        const std::int64_t cpu0 = thread_cpu_ns();
        try {
          loop.io.run();
          if (loop.finished < loop.slots && !loop.tally.failure) {
            throw std::logic_error(
                std::to_string(loop.slots - loop.finished) +
                " request(s) in flight were never resumed: the handler's async_wait() did not "
                "call done() for them, and nothing was left for the event loop to run");
          }
        } catch (...) {
          if (!loop.tally.failure) loop.tally.failure = std::current_exception();
        }
        loop.tally.thread_cpu_us = static_cast<double>(thread_cpu_ns() - cpu0) * 1e-3;
      }
      loop.tally.finished = Clock::now();
    });
  };
  // A thread the system would not create: the loops already started (they have not run a
  // request) lose their worker, so they run none.
  const auto abandon = [&](std::size_t started) {
    for (std::size_t l = started; l < n_loops; ++l) {
      loops[l]->tally.failure = std::current_exception();
      ready.count_down();
    }
    ready.wait();  // the started loops have finished setting up
    for (std::size_t l = 0; l < started; ++l) loops[l]->worker.reset();
  };
  const Clock::time_point start = run_team(threads, n_loops, ready, go, start_loop, abandon);

  Clock::time_point end = start;
  tallies.clear();
  for (auto& loop : loops) {
    end = std::max(end, loop->tally.finished);
    tallies.push_back(std::move(loop->tally));
  }
  return std::chrono::duration<double>(end - start).count();
}

std::vector<std::size_t> timer_wake_order(const std::vector<double>& delays_us) {
  asio::io_context io{1};
  std::vector<std::size_t> order;
  order.reserve(delays_us.size());
  const Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < delays_us.size(); ++i) {
    const auto delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::micro>(delays_us[i]));
    asio::co_spawn(io, wait_and_record(start + delay, i, order), asio::detached);
  }
  io.run();
  return order;
}

}  // namespace cvp::exec::detail

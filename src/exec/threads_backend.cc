// std::thread backend: a persistent team of threads() - 1 threads, each pinned once at start to
// its slot's CPU (slots 1 ..), and the calling thread, which takes slot 0 for the length of each
// run (pinned to its CPU, its own mask given back after), as OpenMP's master thread does. Every
// slot takes the next task from a shared counter, so each holds a task in flight while tasks
// remain.
//
// Waiting: the workers sleep between runs. A worker spinning for the next run would be cheaper
// to start (20-50 us less per run in a VM) but would break the CPU time the harness reads:
// getrusage counts a thread's CPU when it leaves its CPU or at a scheduler tick, so a worker
// that never leaves its CPU during a block is counted up to a tick (4 ms) late, and a 5 ms
// block's CPU time read a third to a half short (the task clock, which is exact, read x1.3 to
// x1.9 of it). The caller, whose own CPU time is read exactly, spins a short while (kSpin) for
// the last worker when it has a CPU of its own, instead of sleeping and being woken.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"

namespace cvp::exec {
namespace {

constexpr std::chrono::microseconds kSpin{200};

// Spins until done() or for kSpin, whichever is first; true when done() held.
template <class Done>
bool spin_until(const Done& done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  do {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#endif
    }
  } while (std::chrono::steady_clock::now() < until);
  return done();
}

bool cpus_distinct(const std::vector<int>& cpus) {
  return std::set<int>(cpus.begin(), cpus.end()).size() == cpus.size();
}

class ThreadsExecutor final : public Executor {
 public:
  ThreadsExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::threads, std::move(worker_cpus), sightings),
        spin_(cpus_distinct(this->worker_cpus())) {
    workers_.reserve(static_cast<std::size_t>(threads()));
    try {
      for (int w = 1; w < threads(); ++w) workers_.emplace_back([this, w] { work(w); });
    } catch (...) {
      // A thread the system would not create (a thread or memory limit): stop the ones made,
      // so that no joinable thread is destroyed (std::terminate), and report the failure.
      stop();
      throw;
    }
  }

  ~ThreadsExecutor() override { stop(); }

  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    start_.notify_all();
    for (auto& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

 protected:
  void dispatch(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body,
                Schedule schedule) override {
    const ScopedAffinityRestore restore;
    pin_worker(0);
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      fixed_ = schedule == Schedule::fixed;
      n_tasks_ = n_tasks;
      next_.store(0);
      remaining_.store(threads() - 1, std::memory_order_relaxed);
      ++generation_;
    }
    start_.notify_all();
    take_tasks(0, body, n_tasks, fixed_);
    const auto all_done = [this] { return remaining_.load(std::memory_order_acquire) == 0; };
    if (!spin_ || !spin_until(all_done)) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, all_done);
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    body_ = nullptr;
  }

 private:
  void take_tasks(int w, const std::function<void(int, std::size_t)>& body, std::size_t n,
                  bool fixed) {
    if (fixed) {
      const auto team = static_cast<std::size_t>(threads());
      for (std::size_t i = static_cast<std::size_t>(w); i < n; i += team) body(w, i);
    } else {
      for (std::size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) body(w, i);
    }
  }

  void work(int w) {
    pin_worker(w);
    std::uint64_t seen_generation = 0;
    for (;;) {
      const std::function<void(int, std::size_t)>* body = nullptr;
      std::size_t n = 0;
      bool fixed = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
        if (stopping_) return;
        seen_generation = generation_;
        body = body_;
        n = n_tasks_;
        fixed = fixed_;
      }
      take_tasks(w, *body, n, fixed);
      // The lock orders this worker's last task before the caller's wake-up, spinning or not.
      const std::lock_guard<std::mutex> lock(mutex_);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  const std::function<void(int, std::size_t)>* body_ = nullptr;
  std::size_t n_tasks_ = 0;
  bool fixed_ = false;
  std::atomic<std::size_t> next_{0};
  std::atomic<int> remaining_{0};            // workers (slots 1 ..) still in this run
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  const bool spin_;                          // every slot has a CPU of its own
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_threads_executor(std::vector<int> worker_cpus,
                                                Sightings* sightings) {
  return std::make_unique<ThreadsExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

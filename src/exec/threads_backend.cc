// std::thread backend: a persistent team, each worker pinned once at start; workers take the
// next task from a shared counter, so every worker holds a task in flight while tasks remain.
//
// Two ways of waiting, chosen from the team's CPUs:
// - Every worker on a CPU of its own (serial, parallel): the calling thread is worker 0, pinned
//   to its CPU for the run, and the others wait for the next run spinning for up to kSpin before
//   they sleep. A run then wakes no thread when runs follow each other (a sleeping thread's
//   wake-up costs 10 to 50 us in a VM, a percent or more of a 3 ms run), and the caller waits for
//   the last worker spinning on its own CPU. settle() sends spinners to sleep at once.
// - Workers sharing a CPU (concurrent, oversubscribed), or a system that cannot pin (the
//   workers could then share one): a spinner would take the CPU from the task it waits for, so
//   every worker sleeps between runs and the caller sleeps until the last one is done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"

namespace cvp::exec {
namespace {

constexpr std::chrono::microseconds kSpin{200};

bool distinct(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  return std::adjacent_find(cpus.begin(), cpus.end()) == cpus.end();
}

// Spins until `ready()` or for kSpin, adding the nanoseconds spun to `spun`; whether it became
// ready.
template <typename Ready>
bool spin_until(Ready&& ready, std::atomic<std::int64_t>& spun) {
  if (ready()) return true;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + kSpin;
  bool done = false;
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (ready()) {
      done = true;
      break;
    }
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) break;
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - start);
  spun.fetch_add(ns.count(), std::memory_order_relaxed);
  return done || ready();
}

class ThreadsExecutor final : public Executor {
 public:
  ThreadsExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::threads, std::move(worker_cpus), sightings),
        spin_(distinct(this->worker_cpus()) && affinity_supported()) {
    const int first = spin_ ? 1 : 0;  // with spin_, the caller is worker 0
    workers_.reserve(static_cast<std::size_t>(threads() - first));
    try {
      for (int w = first; w < threads(); ++w) workers_.emplace_back([this, w] { work(w); });
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
      quiet_.store(true, std::memory_order_relaxed);
    }
    start_.notify_all();
    for (auto& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

  // Spinning workers sleep now; returns once every worker sleeps.
  void settle() override {
    if (!spin_ || workers_.empty()) return;
    std::unique_lock<std::mutex> lock(mutex_);
    quiet_.store(true, std::memory_order_relaxed);
    asleep_.wait(lock, [this] { return sleepers_ == workers_.size() || stopping_; });
  }

  void idle() override { settle(); }

  std::optional<double> spun_s() const override {
    return static_cast<double>(spun_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }

 protected:
  void dispatch(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body,
                Schedule schedule) override {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      fixed_ = schedule == Schedule::fixed;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      remaining_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      quiet_.store(false, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      if (sleepers_ > 0) start_.notify_all();
    }
    if (spin_) {
      {
        const ScopedAffinityRestore restore;
        pin_worker(0);
        run_tasks(0, body, n_tasks, schedule == Schedule::fixed);
      }
      if (spin_until([this] { return remaining_.load(std::memory_order_acquire) == 0; },
                     spun_ns_)) {
        return;
      }
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
  }

 private:
  void run_tasks(int w, const std::function<void(int, std::size_t)>& body, std::size_t n,
                 bool fixed) {
    if (fixed) {
      const auto team = static_cast<std::size_t>(threads());
      for (std::size_t i = static_cast<std::size_t>(w); i < n; i += team) body(w, i);
    } else {
      for (std::size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) body(w, i);
    }
  }

  // What a worker reads of one run.
  struct Run {
    const std::function<void(int, std::size_t)>* body = nullptr;
    std::size_t n = 0;
    bool fixed = false;
  };

  // Waits for a run newer than `seen` (spinning first when the team may), then reads it and its
  // generation into `run` and `seen` under the one lock it takes: false when stopping.
  bool wait_for_run(std::uint64_t& seen, Run& run) {
    if (spin_) {
      spin_until([&] {
        return generation_.load(std::memory_order_acquire) != seen ||
               quiet_.load(std::memory_order_relaxed);
      }, spun_ns_);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [&] {
      return stopping_ || generation_.load(std::memory_order_relaxed) != seen;
    };
    if (!ready()) {
      ++sleepers_;
      asleep_.notify_all();
      start_.wait(lock, ready);
      --sleepers_;
    }
    if (stopping_) return false;
    seen = generation_.load(std::memory_order_relaxed);
    run = {body_, n_tasks_, fixed_};
    return true;
  }

  void work(int w) {
    pin_worker(w);
    std::uint64_t seen = 0;
    Run run;
    while (wait_for_run(seen, run)) {
      run_tasks(w, *run.body, run.n, run.fixed);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        const std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  const bool spin_;
  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  std::condition_variable asleep_;
  const std::function<void(int, std::size_t)>* body_ = nullptr;  // guarded by mutex_
  std::size_t n_tasks_ = 0;                                       // guarded by mutex_
  bool fixed_ = false;                                            // guarded by mutex_
  std::atomic<std::size_t> next_{0};
  std::atomic<int> remaining_{0};
  std::atomic<std::uint64_t> generation_{0};  // written under mutex_
  std::atomic<bool> quiet_{false};            // settle(): spinners go to sleep
  // Every spin's length, added before the spinner sleeps or works: complete once settle() returns.
  std::atomic<std::int64_t> spun_ns_{0};
  std::size_t sleepers_ = 0;                  // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_threads_executor(std::vector<int> worker_cpus,
                                                Sightings* sightings) {
  return std::make_unique<ThreadsExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

// std::thread backend: a persistent team, each worker pinned once at start; workers take the
// next task from a shared counter, so every worker holds a task in flight while tasks remain.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cvp/exec/executor.h"

namespace cvp::exec {
namespace {

class ThreadsExecutor final : public Executor {
 public:
  ThreadsExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::threads, std::move(worker_cpus), sightings) {
    workers_.reserve(static_cast<std::size_t>(threads()));
    try {
      for (int w = 0; w < threads(); ++w) workers_.emplace_back([this, w] { work(w); });
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
    std::unique_lock<std::mutex> lock(mutex_);
    body_ = &body;
    fixed_ = schedule == Schedule::fixed;
    n_tasks_ = n_tasks;
    next_.store(0);
    remaining_ = threads();
    ++generation_;
    start_.notify_all();
    done_.wait(lock, [this] { return remaining_ == 0; });
    body_ = nullptr;
  }

 private:
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
      if (fixed) {
        const auto team = static_cast<std::size_t>(threads());
        for (std::size_t i = static_cast<std::size_t>(w); i < n; i += team) (*body)(w, i);
      } else {
        for (std::size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) (*body)(w, i);
      }
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (--remaining_ == 0) done_.notify_one();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  const std::function<void(int, std::size_t)>* body_ = nullptr;
  std::size_t n_tasks_ = 0;
  bool fixed_ = false;
  std::atomic<std::size_t> next_{0};
  int remaining_ = 0;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_threads_executor(std::vector<int> worker_cpus,
                                                Sightings* sightings) {
  return std::make_unique<ThreadsExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

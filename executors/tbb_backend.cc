// oneTBB backend: an arena sized to the team, a global_control that lets the scheduler supply
// that many threads (the default is the number of allowed CPUs, too few for concurrent or
// oversubscribed teams), and an arena observer that pins each thread to its slot's CPU as it
// joins. The calling thread takes a slot too and is pinned for the duration of run().
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"

namespace cvp::exec {
namespace {

class TbbExecutor;

class PinningObserver final : public tbb::task_scheduler_observer {
 public:
  PinningObserver(tbb::task_arena& arena, std::function<void(int)> pin)
      : tbb::task_scheduler_observer(arena), pin_(std::move(pin)) {
    observe(true);
  }
  ~PinningObserver() override { observe(false); }

  void on_scheduler_entry(bool is_worker) override {
    if (is_worker) pin_(tbb::this_task_arena::current_thread_index());
  }

 private:
  std::function<void(int)> pin_;
};

class TbbExecutor final : public Executor {
 public:
  TbbExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::tbb, std::move(worker_cpus), sightings),
        control_(tbb::global_control::max_allowed_parallelism,
                 static_cast<std::size_t>(threads())),
        arena_(threads(), 1),
        observer_(arena_, [this](int slot) { pin_slot(slot); }) {}

 protected:
  void dispatch(std::size_t n_tasks,
                const std::function<void(int, std::size_t)>& body) override {
    const ScopedAffinityRestore restore;
    arena_.execute([&] {
      pin_slot(tbb::this_task_arena::current_thread_index());
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, n_tasks, 1),
          [&](const tbb::blocked_range<std::size_t>& r) {
            const int slot = tbb::this_task_arena::current_thread_index();
            for (std::size_t i = r.begin(); i != r.end(); ++i) body(slot, i);
          },
          tbb::simple_partitioner());
    });
  }

 private:
  void pin_slot(int slot) {
    if (slot < 0 || slot >= threads()) {
      sightings().note_pin_failure();
      return;
    }
    pin_worker(slot);
  }

  tbb::global_control control_;
  tbb::task_arena arena_;
  PinningObserver observer_;
};

}  // namespace

std::unique_ptr<Executor> make_tbb_executor(std::vector<int> worker_cpus, Sightings* sightings) {
  return std::make_unique<TbbExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

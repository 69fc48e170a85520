// oneTBB backend: an arena sized to the team, a global_control that lets the scheduler supply
// that many threads (the default is the number of allowed CPUs, too few for concurrent or
// oversubscribed teams), and an arena observer that pins each thread to its slot's CPU as it
// joins. The calling thread takes a slot too and is pinned for the duration of run().
//
// Several teams may be alive at once (the harness prepares a baseline and its points together
// and measures them in turns). oneTBB obeys the smallest of the live global_controls of
// max_allowed_parallelism, so each team holding its own would starve the larger teams of
// workers; instead one control, sized to the largest live team, is shared. Each arena still
// admits only its own team.
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

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

// The one global_control of the process's TBB teams: the largest live team's size.
class WorkerSupply {
 public:
  explicit WorkerSupply(std::size_t team) : team_(team) {
    const std::lock_guard<std::mutex> lock(mutex());
    sizes().insert(team_);
    resize();
  }
  ~WorkerSupply() {
    const std::lock_guard<std::mutex> lock(mutex());
    sizes().erase(sizes().find(team_));
    resize();
  }
  WorkerSupply(const WorkerSupply&) = delete;
  WorkerSupply& operator=(const WorkerSupply&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::multiset<std::size_t>& sizes() {
    static std::multiset<std::size_t> s;
    return s;
  }
  static std::unique_ptr<tbb::global_control>& control() {
    static std::unique_ptr<tbb::global_control> c;
    return c;
  }
  static std::size_t& current() {
    static std::size_t n = 0;
    return n;
  }
  // The new control is made before the old one goes, so the limit never falls to the default.
  static void resize() {
    const std::size_t wanted = sizes().empty() ? 0 : *sizes().rbegin();
    if (wanted == current()) return;
    std::unique_ptr<tbb::global_control> next;
    if (wanted > 0) {
      next = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                   wanted);
    }
    control().reset();
    control() = std::move(next);
    current() = wanted;
  }
  std::size_t team_;
};

class PinningObserver final : public tbb::task_scheduler_observer {
 public:
  PinningObserver(tbb::task_arena& arena, std::function<void(int)> pin,
                  std::function<void()> release)
      : tbb::task_scheduler_observer(arena), pin_(std::move(pin)), release_(std::move(release)) {
    observe(true);
  }
  ~PinningObserver() override { observe(false); }

  void on_scheduler_entry(bool is_worker) override {
    if (is_worker) pin_(tbb::this_task_arena::current_thread_index());
  }
  // A worker leaving the arena goes back to the pool that every arena draws from.
  void on_scheduler_exit(bool is_worker) override {
    if (is_worker) release_();
  }

 private:
  std::function<void(int)> pin_;
  std::function<void()> release_;
};

class TbbExecutor final : public Executor {
 public:
  TbbExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::tbb, std::move(worker_cpus), sightings),
        supply_(static_cast<std::size_t>(threads())),
        arena_(std::make_unique<Arena>(*this)) {}

  // A new arena, its workers yet to come: the old one's go back to oneTBB's pool.
  void idle() override {
    arena_.reset();
    arena_ = std::make_unique<Arena>(*this);
  }

 protected:
  void dispatch(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body,
                Schedule schedule) override {
    const ScopedAffinityRestore restore;
    if (schedule == Schedule::fixed) {
      dispatch_fixed(n_tasks, body);
      return;
    }
    arena_->arena.execute([&] {
      pin_slot(tbb::this_task_arena::current_thread_index());
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, n_tasks, 1),
          [&](const tbb::blocked_range<std::size_t>& r) {
            const int slot = tbb::this_task_arena::current_thread_index();
            const ChunkPin pin(*this, slot);
            for (std::size_t i = r.begin(); i != r.end(); ++i) body(slot, i);
          },
          tbb::simple_partitioner());
    });
  }

 private:
  // A worker runs each chunk pinned to its slot's CPU and leaves it unpinned: oneTBB may put it
  // to sleep, or lend it to another team's arena, as soon as the chunk ends, and a sleeping
  // worker pinned to a core that the next team's caller keeps busy would be woken there and
  // wait for the scheduler (the entry observer pins it too, but only when it enters an arena).
  class ChunkPin {
   public:
    ChunkPin(TbbExecutor& team, int slot) : team_(team), worker_(slot != 0) {
      if (worker_) team_.pin_slot(slot);
    }
    ~ChunkPin() {
      if (worker_) team_.release_worker();
    }
    ChunkPin(const ChunkPin&) = delete;
    ChunkPin& operator=(const ChunkPin&) = delete;

   private:
    TbbExecutor& team_;
    bool worker_;
  };

  // Task i belongs to arena slot i mod T. One chunk per slot is offered to the scheduler; the
  // thread that runs a chunk claims the tasks of its own slot, once. Tasks of a slot whose
  // thread never ran a chunk are run afterwards by the caller, so every task runs exactly once.
  void dispatch_fixed(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body) {
    const auto team = static_cast<std::size_t>(threads());
    std::vector<std::atomic<bool>> claimed(team);
    auto run_slot = [&](int slot) {
      for (std::size_t i = static_cast<std::size_t>(slot); i < n_tasks; i += team) body(slot, i);
    };
    arena_->arena.execute([&] {
      pin_slot(tbb::this_task_arena::current_thread_index());
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, team, 1),
          [&](const tbb::blocked_range<std::size_t>&) {
            const int slot = tbb::this_task_arena::current_thread_index();
            if (slot >= 0 && static_cast<std::size_t>(slot) < team &&
                !claimed[static_cast<std::size_t>(slot)].exchange(true)) {
              const ChunkPin pin(*this, slot);
              run_slot(slot);
            }
          },
          tbb::static_partitioner());
    });
    for (std::size_t s = 0; s < team; ++s) {
      if (!claimed[s].exchange(true)) run_slot(static_cast<int>(s));
    }
  }

  void pin_slot(int slot) {
    if (slot < 0 || slot >= threads()) {
      sightings().note_pin_failure();
      return;
    }
    pin_worker(slot);
  }

  WorkerSupply supply_;
  // The team's arena, initialized before it is used, and the observer that pins its workers.
  struct Arena {
    explicit Arena(TbbExecutor& team)
        : arena(team.threads(), 1),
          observer(arena, [&team](int slot) { team.pin_slot(slot); },
                   [&team] { team.release_worker(); }) {
      arena.initialize();
    }
    tbb::task_arena arena;
    PinningObserver observer;
  };
  std::unique_ptr<Arena> arena_;
};

}  // namespace

std::unique_ptr<Executor> make_tbb_executor(std::vector<int> worker_cpus, Sightings* sightings) {
  return std::make_unique<TbbExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

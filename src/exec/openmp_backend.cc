// OpenMP backend: a team of exactly threads() threads; each pins itself inside the parallel
// region (environment variables such as OMP_PROC_BIND are read once at start-up and cannot
// follow a mode that changes per benchmark) and stays pinned from run to run until the team's
// idle(). Threads take the next task from a shared counter, like the std::thread backend.
#include <omp.h>

#include <atomic>
#include <stdexcept>

#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"

namespace cvp::exec {
namespace {

class OpenMPExecutor final : public Executor {
 public:
  OpenMPExecutor(std::vector<int> worker_cpus, Sightings* sightings)
      : Executor(Backend::openmp, std::move(worker_cpus), sightings) {}

  // The pool's threads leave this team's CPUs (see release_worker): one region in which each
  // thread but the caller gives its pin back.
  void idle() override {
    if (threads() < 2) return;
    omp_set_dynamic(0);
#pragma omp parallel num_threads(threads())
    {
      if (omp_get_thread_num() != 0 && t_pinned_cpu != -1) {
        release_worker();
        t_pinned_cpu = -1;
      }
    }
  }

 protected:
  void dispatch(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body,
                Schedule schedule) override {
    const ScopedAffinityRestore restore;  // the calling thread is the team's thread 0
    omp_set_dynamic(0);
    const int team = threads();
    std::atomic<int> team_size{0};
    std::atomic<std::size_t> next{0};
#pragma omp parallel num_threads(team)
    {
      const int w = omp_get_thread_num();
      // No barrier (an omp single would be one: a sleep and a wake-up per run under PASSIVE).
      if (w == 0) team_size.store(omp_get_num_threads(), std::memory_order_relaxed);
      // A pool thread stays on its CPU from run to run until idle(): pinning it anew each run
      // cost two system calls per thread per run.
      if (w == 0) {
        pin_worker(0);
      } else if (const int cpu = worker_cpus()[static_cast<std::size_t>(w)]; t_pinned_cpu != cpu) {
        t_pinned_cpu = pin_worker(w) ? cpu : -1;  // a failed pin is tried again next run
      }
      if (schedule == Schedule::fixed) {
        const auto step = static_cast<std::size_t>(team);
        for (std::size_t i = static_cast<std::size_t>(w); i < n_tasks; i += step) body(w, i);
      } else {
        for (std::size_t i = next.fetch_add(1); i < n_tasks; i = next.fetch_add(1)) body(w, i);
      }
    }
    if (team_size.load() != team) {
      // The runtime refused the team size (e.g. OMP_THREAD_LIMIT): results would be mislabelled.
      throw std::runtime_error("OpenMP gave " + std::to_string(team_size.load()) +
                               " threads instead of " + std::to_string(team));
    }
  }

 private:
  // The CPU this pool thread was pinned to by the last team that ran it, -1 once released.
  static thread_local int t_pinned_cpu;
};

thread_local int OpenMPExecutor::t_pinned_cpu = -1;

}  // namespace

std::unique_ptr<Executor> make_openmp_executor(std::vector<int> worker_cpus, Sightings* sightings) {
  return std::make_unique<OpenMPExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

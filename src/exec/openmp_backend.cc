// OpenMP backend: a team of exactly threads() threads; each pins itself inside the parallel
// region (environment variables such as OMP_PROC_BIND are read once at start-up and cannot
// follow a mode that changes per benchmark). Threads take the next task from a shared counter,
// like the std::thread backend.
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
#pragma omp single
      team_size.store(omp_get_num_threads(), std::memory_order_relaxed);
      pin_worker(w);
      if (schedule == Schedule::fixed) {
        const auto step = static_cast<std::size_t>(team);
        for (std::size_t i = static_cast<std::size_t>(w); i < n_tasks; i += step) body(w, i);
      } else {
        for (std::size_t i = next.fetch_add(1); i < n_tasks; i = next.fetch_add(1)) body(w, i);
      }
      if (w != 0) release_worker();  // thread 0 is the caller: its mask comes back below
    }
    if (team_size.load() != team) {
      // The runtime refused the team size (e.g. OMP_THREAD_LIMIT): results would be mislabelled.
      throw std::runtime_error("OpenMP gave " + std::to_string(team_size.load()) +
                               " threads instead of " + std::to_string(team));
    }
  }
};

}  // namespace

std::unique_ptr<Executor> make_openmp_executor(std::vector<int> worker_cpus, Sightings* sightings) {
  return std::make_unique<OpenMPExecutor>(std::move(worker_cpus), sightings);
}

}  // namespace cvp::exec

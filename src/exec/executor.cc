#include "cvp/exec/executor.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "cvp/exec/affinity.h"
#include "cvp/exec/trace.h"
#include "exec/slow_cpu.h"

namespace cvp::exec {

std::unique_ptr<Executor> make_threads_executor(std::vector<int> worker_cpus,
                                                Sightings* sightings);
std::unique_ptr<Executor> make_openmp_executor(std::vector<int> worker_cpus,
                                               Sightings* sightings);
std::unique_ptr<Executor> make_tbb_executor(std::vector<int> worker_cpus, Sightings* sightings);

std::string_view to_string(Mode mode) { return name_of(mode, kModeNames); }

std::string_view to_string(Backend backend) { return name_of(backend, kBackendNames); }

std::optional<Mode> parse_mode(std::string_view text) { return value_named<Mode>(text, kModeNames); }

std::optional<Backend> parse_backend(std::string_view text) {
  return value_named<Backend>(text, kBackendNames);
}

const std::vector<Backend>& task_backends() {
  static const std::vector<Backend> backends{Backend::threads, Backend::openmp, Backend::tbb};
  return backends;
}

const std::vector<Backend>& every_backend() {
  static const std::vector<Backend> backends{Backend::threads, Backend::openmp, Backend::tbb,
                                             Backend::eventloop};
  return backends;
}

Executor::Executor(Backend backend, std::vector<int> worker_cpus, Sightings* sightings)
    : release_cpus_(thread_affinity()),
      backend_(backend),
      worker_cpus_(std::move(worker_cpus)),
      own_sightings_(sightings == nullptr
                         ? std::make_unique<Sightings>(static_cast<int>(worker_cpus_.size()))
                         : nullptr),
      sightings_(sightings == nullptr ? own_sightings_.get() : sightings) {}

void Executor::release_worker() const {
  if (!release_cpus_.empty()) set_thread_affinity(release_cpus_);
}

bool Executor::pin_worker(int worker) {
  if (pin_to_cpu(worker_cpus_[static_cast<std::size_t>(worker)])) return true;
  sightings_->note_pin_failure();
  return false;
}

void Executor::run(std::size_t n_tasks, const Task& task, Schedule schedule) {
  std::mutex error_mutex;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  Sightings& seen = *sightings_;
  dispatch(n_tasks, [&](int worker, std::size_t i) {
    if (failed.load(std::memory_order_relaxed)) return;
    seen.note(worker);
    try {
      const trace::Scope span(trace::SpanKind::task, "task", i, worker);
      run_stretched([&] { task(i); });
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
    seen.note(worker);
  }, schedule);
  if (error) std::rethrow_exception(error);
}

std::unique_ptr<Executor> make_executor(Backend backend, std::vector<int> worker_cpus,
                                        Sightings* sightings) {
  if (backend == Backend::eventloop) {
    throw std::invalid_argument("the eventloop backend runs requests, not tasks");
  }
  if (worker_cpus.empty()) throw std::invalid_argument("an executor needs at least one worker");
  switch (backend) {
    case Backend::threads: return make_threads_executor(std::move(worker_cpus), sightings);
    case Backend::openmp: return make_openmp_executor(std::move(worker_cpus), sightings);
    case Backend::tbb: return make_tbb_executor(std::move(worker_cpus), sightings);
    case Backend::eventloop: break;  // refused above
  }
  throw std::invalid_argument("unknown backend");
}

}  // namespace cvp::exec

// One kernel, many ways of executing it.
//
// An Executor runs task(0) .. task(n-1) on a fixed team of workers, each pinned to the CPU the
// mode chose for it: serial is a team of one, concurrent is K workers on one CPU, parallel is
// one worker per core. Backends differ only in the machinery (std::thread, OpenMP, oneTBB).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cvp/exec/evidence.h"
#include "cvp/exec/names.h"

namespace cvp::exec {

// serial: one worker on the home CPU; concurrent: K workers interleaved on the home CPU; parallel:
// workers on distinct cores of this machine; distributed: R ranks of an MPI run (mpirun), each
// with its own team on its share of its host's cores (cvp/dist.h).
enum class Mode { serial, concurrent, parallel, distributed };
// The machinery a measurement runs on. threads, openmp and tbb run tasks (make_executor);
// eventloop runs requests only (Asio event loops, cvp::exec::run_requests in cvp/exec/requests.h),
// as threads does too.
enum class Backend { threads, openmp, tbb, eventloop };

inline constexpr std::array<std::string_view, 4> kModeNames{"serial", "concurrent", "parallel",
                                                            "distributed"};
inline constexpr std::array<std::string_view, 4> kBackendNames{"threads", "openmp", "tbb",
                                                               "eventloop"};
std::string_view to_string(Mode mode);
std::string_view to_string(Backend backend);
std::optional<Mode> parse_mode(std::string_view text);
// Any of every_backend() by its name.
std::optional<Backend> parse_backend(std::string_view text);
// The backends that run tasks, those make_executor makes: {threads, openmp, tbb}.
const std::vector<Backend>& task_backends();
// Every backend: task_backends() and then eventloop.
const std::vector<Backend>& every_backend();

// Whether the user asked the run to stop (Ctrl-C, SIGTERM, SIGHUP): handed to each prepared
// point, which a long execution may poll to end early. A default token never asks.
class StopToken {
 public:
  StopToken() = default;
  explicit StopToken(const std::atomic<bool>* flag) : flag_(flag) {}
  bool stop_requested() const {
    return flag_ != nullptr && flag_->load(std::memory_order_relaxed);
  }

 private:
  const std::atomic<bool>* flag_ = nullptr;
};

using Task = std::function<void(std::size_t)>;

// One pause of a spin-wait: tells the CPU (and a hypervisor watching for spinning vCPUs) that
// the thread waits, and lets a sibling hyper-thread run.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How tasks are given to workers. dynamic: from a shared counter (or oneTBB's work stealing),
// so a worker slowed by a neighbour takes fewer. fixed: task i to worker i mod T, the same
// worker in every run, so a worker can first touch the memory its tasks will use (oneTBB
// cannot bind a task to a thread: each arena slot takes its tasks when it joins, and the
// caller runs those of a slot that did not join).
enum class Schedule { dynamic, fixed };

class Executor {
 public:
  virtual ~Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs task(i) exactly once for every i in [0, n_tasks) and returns when all have finished.
  // Workers take tasks in order from a shared counter (threads, OpenMP), so each holds one in
  // flight while tasks remain; oneTBB's scheduler distributes by work stealing. The first
  // exception a task throws is rethrown here after every task has finished or been skipped.
  // REQUIRES: not called concurrently on the same executor.
  void run(std::size_t n_tasks, const Task& task, Schedule schedule = Schedule::dynamic);

  // Between uses, while other teams run: give pooled threads back to their runtime's pool
  // (oneTBB keeps its workers in a team's arena after a run; another team's arena would wait
  // for them). Call outside any timed region. Default: nothing.
  virtual void idle() {}
  // After a run, before the process's CPU time is read: workers that spin while they wait for
  // the next run (the std::thread backend's, where each has a CPU of its own) sleep now, and
  // this returns once they do. The kernel brings a running thread's CPU time up to date only at
  // a tick or when it stops running, so a reading taken while a worker spins can miss up to a
  // tick of it. Call outside any timed region. Default: nothing.
  virtual void settle() {}
  // The wall seconds this team's threads (the caller's included) have spun, in all, while they
  // waited for a task or for the rest of the team: CPU time that did no work, which the
  // process's CPU time counts as busy. Read after settle() for a complete count. nullopt where
  // the team cannot tell (OpenMP's and oneTBB's runtimes spin out of sight); the std::thread
  // team counts every spin.
  virtual std::optional<double> spun_s() const { return std::nullopt; }

  Backend backend() const { return backend_; }
  int threads() const { return static_cast<int>(worker_cpus_.size()); }
  const std::vector<int>& worker_cpus() const { return worker_cpus_; }

  // Where tasks ran since the last reset, and pin failures of the workers: the caller's
  // Sightings when make_executor was given one, else the executor's own (one slot per worker).
  Sightings& sightings() { return *sightings_; }

 protected:
  // Records into `sightings` when not null (it must outlive the executor), else into its own.
  Executor(Backend backend, std::vector<int> worker_cpus, Sightings* sightings);

  // Backend hook: call body(worker, i) for every task, worker being the team slot running it
  // (in [0, threads()); the Sightings slot the task notes).
  virtual void dispatch(std::size_t n_tasks, const std::function<void(int, std::size_t)>& body,
                        Schedule schedule) = 0;

  // Pins the calling thread to worker slot `worker`'s CPU, counting a failure in sightings;
  // whether it was pinned.
  bool pin_worker(int worker);
  // Gives a pooled thread (an OpenMP or oneTBB worker, shared by every team of its runtime)
  // back the CPUs it had before any team pinned it, when it leaves this team. A worker left
  // pinned to one team's core could later be woken for another team while that core is busy,
  // and wait there for the scheduler instead of running on its own core.
  void release_worker() const;

 private:
  std::vector<int> release_cpus_;  // the creating thread's CPUs
  Backend backend_;
  std::vector<int> worker_cpus_;
  std::unique_ptr<Sightings> own_sightings_;  // null when the caller's is used
  Sightings* sightings_;
};

// A team of worker_cpus.size() workers; worker w is pinned to worker_cpus[w], and each task
// notes slot w of the Sightings in use at its start and end. With `sightings` the executor
// records there (the caller keeps it, and it must outlive the executor; size it to the team so
// that no two workers share a slot); without, it owns one of worker_cpus.size() slots.
// REQUIRES: !worker_cpus.empty().
// Throws std::invalid_argument for an empty team, and for Backend::eventloop (which runs
// requests, not tasks).
std::unique_ptr<Executor> make_executor(Backend backend, std::vector<int> worker_cpus,
                                        Sightings* sightings = nullptr);

}  // namespace cvp::exec

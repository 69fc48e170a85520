// The shortest way to measure your own code: a task-split kernel described with lambdas, no
// class to write.
//
//   std::vector<int> image;
//   return cvp::run_program(argc, argv, cvp::tasks("mandel")
//       .sizes({512, 1024})
//       .unit("pixels", "Mpixel/s", 1e6)
//       .work([](long long n) { return double(n) * double(n); })
//       .prepare([&](long long n) { image.assign(n * n, 0); })
//       .run([&](std::size_t task, std::size_t tasks, long long n) { rows(image, n, task, tasks); })
//       .checksum([&](long long) { return std::accumulate(image.begin(), image.end(), 0.0); }));
//
// The kernel's state lives in what the lambdas capture: prepare(n) makes it for size n, outside
// every timed region; run(task, tasks, n) does task `task` of `tasks` (tasks may run at once,
// so each touches only its own part); checksum(n) summarises the last execution and must equal
// the serial execution's (bit for bit, or within tolerance()). The library runs one point at a
// time, so the captured state is shared by the points of a size. Everything else is a
// TaskWorkload's (cvp/cvpbench.h): the modes, backends, checks and bounds.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cvp/cvpbench.h"
#include "cvp/measure.h"

namespace cvp {

class TaskBuilder {
 public:
  explicit TaskBuilder(std::string name);

  // The sizes swept (default {1}) and those of --quick (default: the first size).
  TaskBuilder& sizes(std::vector<long long> values);
  TaskBuilder& quick_sizes(std::vector<long long> values);
  // The size parameter's name in benchmark names and its flag (--NAME-PARAM); default "n".
  TaskBuilder& param(std::string name);
  // The unit of work and how its rate is shown; default {"items", "items/s", 1}.
  TaskBuilder& unit(std::string name, std::string rate_unit, double rate_scale = 1);
  TaskBuilder& kind(Kind value);
  TaskBuilder& description(std::string text);
  // Units of work of one execution of size n; default n.
  TaskBuilder& work(std::function<double(long long n)> units);
  // FP64 operations and bytes of one execution, for the roofline and the memory bound. Optional.
  TaskBuilder& flop(std::function<double(long long n)> count);
  TaskBuilder& bytes(std::function<double(long long n)> count);
  // Makes the inputs of size n, untimed. Optional.
  TaskBuilder& prepare(std::function<void(long long n)> make);
  // Task `task` of `tasks` of one execution of size n. Required.
  TaskBuilder& run(std::function<void(std::size_t task, std::size_t tasks, long long n)> body);
  // The checksum of the last execution. Required.
  TaskBuilder& checksum(std::function<double(long long n)> sum);
  // Accepts a checksum within this relative tolerance of the serial one (default 0: exact).
  TaskBuilder& tolerance(double relative);
  TaskBuilder& tasks_per_worker(int count);

  // The workload; throws std::invalid_argument (one sentence naming what is missing) when
  // run() or checksum() was not given.
  std::unique_ptr<Workload> build() const;
  operator std::unique_ptr<Workload>() const { return build(); }

 private:
  TaskWorkload::Spec spec_;
  std::function<void(long long)> prepare_;
  std::function<void(std::size_t, std::size_t, long long)> run_;
  std::function<double(long long)> checksum_;
};

// A builder for the task-split workload `name`.
TaskBuilder tasks(std::string name);

// run_program (cvp/cvpbench.h) for one built workload.
int run_program(int argc, char** argv, const TaskBuilder& workload);

// measure (cvp/measure.h) for one built workload.
Results measure(const TaskBuilder& workload, const std::vector<std::string>& args = {});

}  // namespace cvp

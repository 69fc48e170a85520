// TaskBuilder (include/cvp/tasks.h): a TaskWorkload whose kernel is the user's lambdas.
#include "cvp/tasks.h"

#include <cstdio>
#include <stdexcept>
#include <utility>

namespace cvp {
namespace {

// The kernel of one size over the builder's lambdas; the state is what they capture.
class LambdaKernel final : public TaskKernel {
 public:
  LambdaKernel(long long n, std::function<void(std::size_t, std::size_t, long long)> run,
               std::function<double(long long)> checksum)
      : n_(n), run_(std::move(run)), checksum_(std::move(checksum)) {}
  void run(std::size_t task, std::size_t tasks) override { run_(task, tasks, n_); }
  double checksum() const override { return checksum_(n_); }

 private:
  long long n_;
  std::function<void(std::size_t, std::size_t, long long)> run_;
  std::function<double(long long)> checksum_;
};

}  // namespace

TaskBuilder::TaskBuilder(std::string name) {
  spec_.name = std::move(name);
  spec_.unit = {"items", "items/s", 1};
  spec_.sizes = {1};
  spec_.work = [](long long n) { return static_cast<double>(n); };
}

TaskBuilder& TaskBuilder::sizes(std::vector<long long> values) { spec_.sizes = std::move(values); return *this; }
TaskBuilder& TaskBuilder::quick_sizes(std::vector<long long> values) { spec_.quick_sizes = std::move(values); return *this; }
TaskBuilder& TaskBuilder::param(std::string name) { spec_.param = std::move(name); return *this; }
TaskBuilder& TaskBuilder::unit(std::string name, std::string rate_unit, double rate_scale) {
  spec_.unit = {std::move(name), std::move(rate_unit), rate_scale};
  return *this;
}
TaskBuilder& TaskBuilder::kind(Kind value) { spec_.kind = value; return *this; }
TaskBuilder& TaskBuilder::description(std::string text) { spec_.description = std::move(text); return *this; }
TaskBuilder& TaskBuilder::work(std::function<double(long long)> units) { spec_.work = std::move(units); return *this; }
TaskBuilder& TaskBuilder::flop(std::function<double(long long)> count) { spec_.flop = std::move(count); return *this; }
TaskBuilder& TaskBuilder::bytes(std::function<double(long long)> count) { spec_.bytes = std::move(count); return *this; }
TaskBuilder& TaskBuilder::prepare(std::function<void(long long)> make) { prepare_ = std::move(make); return *this; }
TaskBuilder& TaskBuilder::run(std::function<void(std::size_t, std::size_t, long long)> body) {
  run_ = std::move(body);
  return *this;
}
TaskBuilder& TaskBuilder::checksum(std::function<double(long long)> sum) { checksum_ = std::move(sum); return *this; }
TaskBuilder& TaskBuilder::tolerance(double relative) { spec_.tolerance = relative; return *this; }
TaskBuilder& TaskBuilder::tasks_per_worker(int count) { spec_.tasks_per_worker = count; return *this; }

std::unique_ptr<Workload> TaskBuilder::build() const {
  if (!run_) throw std::invalid_argument("tasks(\"" + spec_.name + "\"): run() was not given: it is the work to measure");
  if (!checksum_) {
    throw std::invalid_argument("tasks(\"" + spec_.name + "\"): checksum() was not given: every "
                                "execution is checked against the serial one");
  }
  TaskWorkload::Spec spec = spec_;
  spec.make = [prepare = prepare_, run = run_, sum = checksum_](long long n) -> std::unique_ptr<TaskKernel> {
    if (prepare) prepare(n);
    return std::make_unique<LambdaKernel>(n, run, sum);
  };
  return std::make_unique<TaskWorkload>(std::move(spec));
}

TaskBuilder tasks(std::string name) { return TaskBuilder(std::move(name)); }

int run_program(int argc, char** argv, const TaskBuilder& workload) {
  std::vector<std::unique_ptr<Workload>> workloads;
  try {
    workloads.push_back(workload.build());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "cvpbench: failed: %s\n", e.what());
    return 1;
  }
  return run_program(argc, argv, std::move(workloads));
}

Results measure(const TaskBuilder& workload, const std::vector<std::string>& args) {
  std::vector<std::unique_ptr<Workload>> workloads;
  workloads.push_back(workload.build());
  return measure(std::move(workloads), args);
}

}  // namespace cvp

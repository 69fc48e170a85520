// TaskBuilder (include/cvp/tasks.h): a TaskWorkload whose kernel is the user's lambdas.
#include "cvp/tasks.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "api/task_names.h"
#include "util/text.h"

namespace cvp {
namespace {

// The kernel of one combination of args over the builder's lambdas; the state is what they
// capture.
class LambdaKernel final : public TaskKernel {
 public:
  using Counters = std::vector<std::pair<std::string, std::function<double(const Args&)>>>;
  LambdaKernel(Args args, std::function<void(std::size_t, std::size_t, const Args&)> run,
               std::function<double(const Args&)> checksum, Counters counters)
      : args_(std::move(args)),
        run_(std::move(run)),
        checksum_(std::move(checksum)),
        counters_(std::move(counters)) {}
  void run(std::size_t task, std::size_t tasks) override { run_(task, tasks, args_); }
  double checksum() const override { return checksum_(args_); }
  std::map<std::string, double> counters() const override {
    std::map<std::string, double> values;
    for (const auto& [name, value] : counters_) values[name] = value(args_);
    return values;
  }

 private:
  Args args_;
  std::function<void(std::size_t, std::size_t, const Args&)> run_;
  std::function<double(const Args&)> checksum_;
  Counters counters_;
};

}  // namespace

TaskBuilder::TaskBuilder(std::string name) {
  spec_.name = std::move(name);
  spec_.unit = {"items", "items/s", 1};
  spec_.sizes = {1};
  spec_.work = [](const Args& args) { return static_cast<double>(args[0]); };
}

TaskBuilder& TaskBuilder::sizes(std::vector<long long> values) {
  spec_.sizes = std::move(values);
  one_parameter_given_ = true;
  return *this;
}
TaskBuilder& TaskBuilder::quick_sizes(std::vector<long long> values) {
  spec_.quick_sizes = std::move(values);
  one_parameter_given_ = true;
  return *this;
}
TaskBuilder& TaskBuilder::param(std::string name) {
  spec_.param = std::move(name);
  one_parameter_given_ = true;
  return *this;
}
TaskBuilder& TaskBuilder::params(std::vector<std::string> names) { names_ = std::move(names); return *this; }
namespace {

// The first problem of a product's lists (one empty, or more combinations than a workload
// plans), for build() to say; nullopt when none.
std::optional<std::string> product_problem(const char* call,
                                           const std::vector<std::vector<long long>>& values) {
  double count = 1;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].empty()) {
      return std::string(call) + "'s list " + std::to_string(i) + " is empty: a product with an "
             "empty list has no combination";
    }
    count *= static_cast<double>(values[i].size());
  }
  if (count > static_cast<double>(kMaxCombinations)) {
    return std::string(call) + " makes " + fixed(count, 0) + " combinations: at most " +
           std::to_string(kMaxCombinations);
  }
  return std::nullopt;
}

}  // namespace

TaskBuilder& TaskBuilder::product(const std::vector<std::vector<long long>>& values) {
  if (const auto why = product_problem("product()", values)) {
    if (problem_.empty()) problem_ = *why;
    return *this;
  }
  for (auto& p : product_of(values)) points_.push_back(std::move(p));
  return *this;
}
TaskBuilder& TaskBuilder::args(std::vector<long long> combination) {
  points_.push_back(std::move(combination));
  return *this;
}
TaskBuilder& TaskBuilder::quick_product(const std::vector<std::vector<long long>>& values) {
  if (const auto why = product_problem("quick_product()", values)) {
    if (problem_.empty()) problem_ = *why;
    return *this;
  }
  for (auto& p : product_of(values)) quick_points_.push_back(std::move(p));
  return *this;
}
TaskBuilder& TaskBuilder::quick_args(std::vector<long long> combination) {
  quick_points_.push_back(std::move(combination));
  return *this;
}
TaskBuilder& TaskBuilder::unit(std::string name, std::string rate_unit, double rate_scale) {
  spec_.unit = {std::move(name), std::move(rate_unit), rate_scale};
  return *this;
}
TaskBuilder& TaskBuilder::kind(Kind value) { spec_.kind = value; return *this; }
TaskBuilder& TaskBuilder::description(std::string text) { spec_.description = std::move(text); return *this; }
TaskBuilder& TaskBuilder::tolerance(double relative) { spec_.tolerance = relative; return *this; }
TaskBuilder& TaskBuilder::tasks_per_worker(int count) { spec_.tasks_per_worker = count; return *this; }

void TaskBuilder::note(const char* callback, bool one_number) {
  const auto known = std::find(one_number_.begin(), one_number_.end(), callback);
  if (one_number && known == one_number_.end()) one_number_.emplace_back(callback);
  // counter() may be called for several counters: any one of them taking a number counts.
  if (!one_number && known != one_number_.end() && std::string(callback) != "counter()") {
    one_number_.erase(known);
  }
}

std::unique_ptr<Workload> TaskBuilder::build() const {
  const std::string who = "tasks(\"" + spec_.name + "\"): ";
  if (!problem_.empty()) throw std::invalid_argument(who + problem_);
  if (!run_) throw std::invalid_argument(who + "run() was not given: it is the work to measure");
  if (!checksum_) {
    throw std::invalid_argument(who + "checksum() was not given: every execution is checked "
                                "against the serial one");
  }
  TaskWorkload::Spec spec = spec_;
  if (!names_.empty()) {
    if (one_parameter_given_) {
      throw std::invalid_argument(who + "sizes(), quick_sizes() and param() are for one "
                                  "parameter: with params(), give the points with product() or args()");
    }
    if (points_.empty()) {
      throw std::invalid_argument(who + "params() names " + std::to_string(names_.size()) +
                                  " parameters: give their values with product() or args()");
    }
    for (const auto* points : {&points_, &quick_points_}) {
      for (const auto& p : *points) {
        if (p.size() == names_.size()) continue;
        std::string values;
        for (long long v : p) values += (values.empty() ? "" : ", ") + std::to_string(v);
        throw std::invalid_argument(who + (points == &points_ ? "" : "quick_") +
                                    "product() or " + (points == &points_ ? "" : "quick_") +
                                    "args() gives (" + values + "): " + std::to_string(p.size()) +
                                    (p.size() == 1 ? " value" : " values") + " for the " + std::to_string(names_.size()) +
                                    " parameters (" + bench::join(names_, ", ") + ")");
      }
    }
    if (names_.size() > 1 && !one_number_.empty()) {
      throw std::invalid_argument(who + one_number_.front() + " takes one number, but " +
                                  not_one_number(names_));
    }
    spec.sizes.clear();
    for (const auto& name : names_) spec.params.push_back({name, {}, {}});
    spec.args = points_;
    spec.quick_args = quick_points_;
  } else if (!points_.empty() || !quick_points_.empty()) {
    throw std::invalid_argument(who + "product() and args() give values to the parameters "
                                "params() names: call params({...}) too");
  }
  std::set<std::string> counter_names;
  for (const auto& [name, value] : counters_) {
    if (const auto problem = task_counter_problem(name, spec.unit.name)) {
      throw std::invalid_argument(who + "counter() " + *problem);
    }
    if (!counter_names.insert(name).second) {
      throw std::invalid_argument(who + "counter() names '" + name +
                                  "' twice: each counter needs a name of its own");
    }
    if (!value) throw std::invalid_argument(who + "counter() '" + name + "' has no function");
  }
  spec.make = [prepare = prepare_, run = run_, sum = checksum_,
               counters = counters_](const Args& args) -> std::unique_ptr<TaskKernel> {
    if (prepare) prepare(args);
    return std::make_unique<LambdaKernel>(args, run, sum, counters);
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

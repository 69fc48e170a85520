// TaskWorkload (include/cvp/cvpbench.h): a kernel split into tasks, run by an executor of the
// point's backend, checked against the checksum of its serial execution.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "cvp/cvpbench.h"

namespace cvp {
namespace {

class TaskRun final : public PreparedPoint {
 public:
  TaskRun(std::unique_ptr<TaskKernel> kernel, std::unique_ptr<exec::Executor> team,
          std::size_t tasks, double reference, exec::Schedule schedule)
      : kernel_(std::move(kernel)),
        team_(std::move(team)),
        tasks_(tasks),
        reference_(reference),
        schedule_(schedule) {
    team_->run(tasks_, [this](std::size_t i) { kernel_->touch(i, tasks_); }, schedule_);
  }

  Execution execute() override {
    spoiled_ = false;
    team_->run(tasks_, task_, schedule_);
    return {};
  }

  std::optional<std::string> verify() override {
    double got = kernel_->checksum();
    // A kernel without a corrupt() of its own: the check sees its checksum spoiled instead.
    if (spoiled_) got = got == 0 ? 1 : -got;
    if (got == reference_) return std::nullopt;
    if (std::isnan(got) || std::isnan(reference_)) {
      return "the checksum is NaN, which equals nothing: the result cannot be checked";
    }
    std::ostringstream why;
    why.precision(17);
    why << "result differs from the serial answer (checksum " << got << ", serial "
        << reference_ << ")";
    return why.str();
  }

  void corrupt() override {
    const double before = kernel_->checksum();
    kernel_->corrupt();
    const double after = kernel_->checksum();
    spoiled_ = after == before || (std::isnan(after) && std::isnan(before));
  }
  void idle() override { team_->idle(); }

 private:
  std::unique_ptr<TaskKernel> kernel_;
  std::unique_ptr<exec::Executor> team_;
  std::size_t tasks_;
  double reference_;
  exec::Schedule schedule_;
  bool spoiled_ = false;  // corrupt() changed nothing: verify() must fail anyway
  const exec::Task task_ = [this](std::size_t i) { kernel_->run(i, tasks_); };
};

// The size a point was planned with, under the spec's name for it.
struct SizeParams final : PointParams {
  SizeParams(std::string param, long long size) : name(std::move(param)), n(size) {}
  nlohmann::json to_json(const Point&) const override { return {{name, n}}; }
  std::string name;
  long long n;
};

}  // namespace

// The spec is checked when the program starts using it (add_options, inside run_program), so
// that a mistake in it is one message and exit code 1, not an exception out of main().
TaskWorkload::TaskWorkload(Spec spec) : spec_(std::move(spec)) {}

void TaskWorkload::check_spec() {
  std::string problem;
  if (spec_.name.empty()) problem = "has no name";
  else if (!spec_.make || !spec_.work) problem = "needs make() and work()";
  else if (spec_.sizes.empty()) problem = "has no sizes";
  for (long long n : spec_.sizes) {
    if (n < 1 && problem.empty()) problem = "has a size below 1 (" + std::to_string(n) + ")";
  }
  for (long long n : spec_.quick_sizes) {
    if (n < 1 && problem.empty()) problem = "has a quick size below 1 (" + std::to_string(n) + ")";
  }
  if (spec_.param.empty() && problem.empty()) problem = "has no parameter name";
  if (!problem.empty()) {
    throw std::invalid_argument("TaskWorkload '" + spec_.name + "' " + problem);
  }
  if (spec_.flag.empty()) spec_.flag = "--" + spec_.name + "-" + spec_.param;
  if (spec_.quick_sizes.empty()) spec_.quick_sizes = {spec_.sizes.front()};
}

void TaskWorkload::add_options(Flags& flags) {
  check_spec();
  std::string defaults, quick;
  for (long long s : spec_.sizes) defaults += (defaults.empty() ? "" : ",") + std::to_string(s);
  for (long long s : spec_.quick_sizes) quick += (quick.empty() ? "" : ",") + std::to_string(s);
  flags.integers(spec_.flag, &sizes_,
                 spec_.name + ": sizes " + spec_.param + " (default " + defaults + "; quick " +
                     quick + ")",
                 [](long long n) -> std::optional<std::string> {
                   if (n < 1) return "a size must be at least 1.";
                   return std::nullopt;
                 });
}

std::vector<Point> TaskWorkload::plan(const PlanContext& context) {
  const auto& sizes = !sizes_.empty() ? sizes_ : context.quick() ? spec_.quick_sizes : spec_.sizes;
  std::vector<Point> points;
  for (long long n : sizes) {
    if (spec_.fits) {
      if (const auto why = spec_.fits(n, context.memory_bytes())) {
        throw UsageError(spec_.flag + " " + std::to_string(n) + ": " + *why);
      }
    }
    Point base;
    base.workload = spec_.name;
    base.group = spec_.name + "/" + spec_.param + ":" + std::to_string(n);
    base.params = std::make_shared<SizeParams>(spec_.param, n);
    base.work = spec_.work(n);
    if (spec_.flop) base.flop = spec_.flop(n);
    if (spec_.bytes) base.bytes = spec_.bytes(n);
    for (auto& p : context.task_sweep(base, backends())) points.push_back(std::move(p));
  }
  return points;
}

long long TaskWorkload::size_of(const Point& point) const {
  return point.params_as<SizeParams>().n;
}

std::unique_ptr<TaskKernel> TaskWorkload::make_kernel(long long n) const {
  auto kernel = spec_.make(n);
  if (!kernel) throw std::runtime_error(spec_.name + ": make() returned no kernel");
  return kernel;
}

double TaskWorkload::serial_checksum(long long n) {
  for (const auto& [size, sum] : checksums_) {
    if (size == n) return sum;
  }
  // The serial answer: one task over everything, on the calling thread.
  auto kernel = make_kernel(n);
  kernel->touch(0, 1);
  kernel->run(0, 1);
  const double sum = kernel->checksum();
  checksums_.emplace_back(n, sum);
  return sum;
}

std::unique_ptr<PreparedPoint> TaskWorkload::prepare(const Point& point,
                                                    exec::Sightings& sightings,
                                                    StopToken /*stop*/) {
  const long long n = size_of(point);
  const double reference = serial_checksum(n);
  auto team = exec::make_executor(point.backend, point.cpus, &sightings);
  // Split to fit the workers' measured speeds when they differ (a dynamic schedule only: a
  // fixed one gives task i to worker i mod T whatever the split).
  const std::size_t tasks =
      spec_.fixed_schedule
          ? static_cast<std::size_t>(std::max(1, spec_.tasks_per_worker)) *
                static_cast<std::size_t>(std::max(1, point.threads))
          : balanced_tasks(point.speeds, point.threads, spec_.tasks_per_worker);
  return std::make_unique<TaskRun>(
      make_kernel(n), std::move(team), tasks, reference,
      spec_.fixed_schedule ? exec::Schedule::fixed : exec::Schedule::dynamic);
}

std::string TaskWorkload::group_title(const Point& point) const {
  return spec_.name + " " + spec_.param + "=" + std::to_string(size_of(point));
}

}  // namespace cvp

// TaskWorkload (include/cvp/cvpbench.h): a kernel split into tasks, run by an executor of the
// point's backend, checked against the checksum of its serial execution.
#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "cvp/cvpbench.h"

namespace cvp {
namespace {

class TaskRun final : public PreparedPoint {
 public:
  // The serial answer the checksums are compared with: its value, the tasks it was split
  // into and how to compare.
  struct Reference {
    double checksum = 0;
    std::size_t tasks = 1;
    double tolerance = 0;
    std::function<bool(double, double)> equal;
  };

  TaskRun(std::unique_ptr<TaskKernel> kernel, std::unique_ptr<exec::Executor> team,
          std::size_t tasks, Reference reference, exec::Schedule schedule)
      : kernel_(std::move(kernel)),
        team_(std::move(team)),
        tasks_(tasks),
        reference_(std::move(reference)),
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
    const double want = reference_.checksum;
    if (std::isnan(got) || std::isnan(want)) {
      return "the checksum is NaN, which equals nothing: the result cannot be checked";
    }
    if (matches(got)) return std::nullopt;
    const double relative = want != 0 ? std::abs(got - want) / std::abs(want) : std::abs(got - want);
    std::ostringstream why;
    why.precision(17);
    why << "result differs from the serial answer: checksum " << got << " with " << tasks_
        << (tasks_ == 1 ? " task" : " tasks") << " against " << want << " with "
        << reference_.tasks << (reference_.tasks == 1 ? " task" : " tasks");
    why.precision(2);
    why << " (relative difference " << relative << ")";
    if (reference_.equal) {
      why << "; the spec's equal() said no";
    } else if (reference_.tolerance > 0) {
      why << ", beyond the spec's tolerance " << reference_.tolerance;
    } else if (relative < 1e-9) {
      why << "; a checksum that changes with the split (floating-point partial sums) needs "
             "Spec::tolerance or Spec::equal";
    }
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
  bool matches(double got) const {
    const double want = reference_.checksum;
    if (reference_.equal) return reference_.equal(got, want);
    if (got == want) return true;
    return reference_.tolerance > 0 && std::abs(got - want) <= reference_.tolerance * std::abs(want);
  }

  std::size_t tasks_;
  Reference reference_;
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

namespace {

// The first problem of a TaskWorkload's spec, naming its field; nullopt when it can run.
std::optional<std::string> spec_problem(const TaskWorkload::Spec& spec) {
  if (spec.name.empty()) return "Spec::name is empty: it begins every benchmark name";
  if (!spec.make) return "Spec::make is not set: it makes the problem of each size";
  if (!spec.work) return "Spec::work is not set: it counts the units of work of each size";
  if (spec.sizes.empty()) return "Spec::sizes is empty: give at least one size";
  for (long long n : spec.sizes) {
    if (n < 1) return "Spec::sizes holds " + std::to_string(n) + ": a size must be at least 1";
  }
  for (long long n : spec.quick_sizes) {
    if (n < 1) return "Spec::quick_sizes holds " + std::to_string(n) + ": a size must be at least 1";
  }
  if (spec.param.empty()) return "Spec::param is empty: it names the size in benchmark names";
  if (spec.tasks_per_worker < 1) {
    return "Spec::tasks_per_worker is " + std::to_string(spec.tasks_per_worker) +
           ": each worker needs at least 1 task";
  }
  if (spec.unit.name.empty()) return "Spec::unit.name is empty: name the unit of work (\"frames\", \"cells\")";
  if (spec.unit.rate_unit.empty()) return "Spec::unit.rate_unit is empty: name the rate (\"frames/s\")";
  if (!(spec.unit.rate_scale > 0) || !std::isfinite(spec.unit.rate_scale)) {
    return "Spec::unit.rate_scale must be a number above 0";
  }
  if (!(spec.tolerance >= 0) || !std::isfinite(spec.tolerance)) {
    return "Spec::tolerance must be 0 (bit for bit) or a relative tolerance above 0";
  }
  return std::nullopt;
}

}  // namespace

void TaskWorkload::check_spec() {
  if (const auto problem = spec_problem(spec_)) {
    throw std::invalid_argument("TaskWorkload '" + spec_.name + "': " + *problem);
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
    if (!(base.work > 0) || !std::isfinite(base.work)) {
      throw std::invalid_argument("TaskWorkload '" + spec_.name + "': Spec::work(" + std::to_string(n) +
                                  ") gave " + std::to_string(base.work) +
                                  ": an execution's work must be a number above 0");
    }
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
  // The serial answer: the serial point's split, its tasks in order on the calling thread.
  auto kernel = make_kernel(n);
  const std::size_t tasks = serial_tasks();
  for (std::size_t i = 0; i < tasks; ++i) kernel->touch(i, tasks);
  for (std::size_t i = 0; i < tasks; ++i) kernel->run(i, tasks);
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
  TaskRun::Reference checked{reference, serial_tasks(), spec_.tolerance, spec_.equal};
  return std::make_unique<TaskRun>(
      make_kernel(n), std::move(team), tasks, std::move(checked),
      spec_.fixed_schedule ? exec::Schedule::fixed : exec::Schedule::dynamic);
}

std::size_t TaskWorkload::serial_tasks() const {
  return static_cast<std::size_t>(std::max(1, spec_.tasks_per_worker));
}

std::string TaskWorkload::group_title(const Point& point) const {
  return spec_.name + " " + spec_.param + "=" + std::to_string(size_of(point));
}

}  // namespace cvp

// TaskWorkload (include/cvp/cvpbench.h): a kernel split into tasks, run by an executor of the
// point's backend, checked against the checksum of its serial execution.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "api/task_names.h"
#include "cvp/cvpbench.h"
#include "cvp/dist.h"
#include "harness/session.h"
#include "util/text.h"

namespace cvp {

std::string not_one_number(const std::vector<std::string>& names) {
  if (names.empty()) return "the args hold no value: a callback of one number has none to read";
  return "the workload has " + std::to_string(names.size()) + " parameters (" +
         bench::join(names, ", ") + "): take `const cvp::Args&` and read args[\"" +
         names.front() + "\"]";
}

std::vector<std::vector<long long>> product_of(const std::vector<std::vector<long long>>& lists) {
  std::vector<std::vector<long long>> out{{}};
  for (const auto& list : lists) {
    std::vector<std::vector<long long>> longer;
    for (const auto& head : out) {
      for (long long v : list) {
        longer.push_back(head);
        longer.back().push_back(v);
      }
    }
    out = std::move(longer);
  }
  return out;
}

std::optional<std::string> task_counter_problem(const std::string& name, const std::string& unit) {
  if (name.empty()) return "names a counter \"\": give each counter a name";
  if (bench::harness_figure_name(name, unit)) {
    return "names a counter '" + name + "', a figure the harness writes itself: choose another name";
  }
  // Rates (FLOP/s, bytes/s, items/s) are read as a benchmark's throughput by the tools.
  if (name.size() >= 2 && name.compare(name.size() - 2, 2, "/s") == 0) {
    return "names a counter '" + name + "', a rate as readers take a benchmark's throughput to be: "
           "name the count, not its rate";
  }
  return std::nullopt;
}

Args::Args(std::vector<std::string> names, std::vector<long long> values)
    : names_(std::move(names)), values_(std::move(values)) {
  if (names_.size() != values_.size()) {
    throw std::invalid_argument("cvp::Args: " + std::to_string(names_.size()) + " names for " +
                                std::to_string(values_.size()) + " values");
  }
  for (std::size_t i = 0; i < names_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (names_[i] == names_[j]) throw std::invalid_argument("cvp::Args: '" + names_[i] + "' names two values");
    }
  }
}

long long Args::operator[](std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return values_[i];
  }
  throw std::out_of_range("no parameter is named '" + std::string(name) + "': the parameters are " +
                          (names_.empty() ? std::string("none") : bench::join(names_, ", ")));
}

long long Args::operator[](std::size_t i) const {
  if (i >= values_.size()) {
    throw std::out_of_range("no parameter " + std::to_string(i) + ": the args hold " +
                            std::to_string(values_.size()) + " (" + bench::join(names_, ", ") + ")");
  }
  return values_[i];
}

Args::operator long long() const {
  if (values_.size() != 1) throw std::logic_error(not_one_number(names_));
  return values_.front();
}

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

  // This rank's share of a distributed point: its tasks are [first, first + count) of all
  // `tasks`; the other ranks run the rest. A point on one machine runs them all.
  struct Share {
    std::size_t first = 0;
    std::size_t count = 0;
    bool distributed = false;
  };

  TaskRun(std::unique_ptr<TaskKernel> kernel, std::unique_ptr<exec::Executor> team,
          std::size_t tasks, Reference reference, exec::Schedule schedule, std::string unit,
          Share share)
      : kernel_(std::move(kernel)),
        team_(std::move(team)),
        tasks_(tasks),
        share_(share.distributed ? share : Share{0, tasks, false}),
        reference_(std::move(reference)),
        schedule_(schedule),
        unit_(std::move(unit)) {
    team_->run(tasks_, [this](std::size_t i) { kernel_->touch(i, tasks_); }, schedule_);
  }

  // The kernel's counters are named once, untimed, before they are measured: the names the
  // warm-up execution gave (counters() is read once per execution, never in between).
  void warm_up() override {
    const Execution e = execute();
    for (const auto& [name, value] : e.values) {
      if (const auto problem = task_counter_problem(name, unit_)) {
        throw std::invalid_argument("TaskKernel::counters() " + *problem);
      }
    }
  }

  Execution execute() override {
    spoiled_ = false;
    team_->run(share_.count, task_, schedule_);
    // The execution ends when every rank's share has: its time is the slowest rank's.
    if (share_.distributed) world_.barrier();
    Execution e;
    e.values = kernel_->counters();
    return e;
  }

  std::optional<std::string> verify() override {
    // A rank's kernel holds only its own share's results: the other ranks' tasks are run here,
    // untimed, so that its checksum covers the whole answer and checks the share it computed.
    if (share_.distributed) {
      const std::size_t others = tasks_ - share_.count;
      team_->run(others, [this](std::size_t i) {
        kernel_->run(i < share_.first ? i : i + share_.count, tasks_);
      }, schedule_);
    }
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
  void settle() override { team_->settle(); }
  std::optional<double> spun_s() const override { return team_->spun_s(); }

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
  Share share_;
  dist::Group world_ = dist::Group::world();
  Reference reference_;
  exec::Schedule schedule_;
  std::string unit_;  // the workload's unit of work, whose rate names a counter of its own
  bool spoiled_ = false;  // corrupt() changed nothing: verify() must fail anyway
  const exec::Task task_ = [this](std::size_t i) { kernel_->run(share_.first + i, tasks_); };
};

// The values a point was planned with, under the spec's names for them.
struct ArgsParams final : PointParams {
  explicit ArgsParams(Args values) : args(std::move(values)) {}
  nlohmann::json to_json(const Point&) const override {
    nlohmann::json out = nlohmann::json::object();
    for (std::size_t i = 0; i < args.size(); ++i) out[args.names()[i]] = args[i];
    return out;
  }
  Args args;
};

}  // namespace

// The spec is checked when the program starts using it (add_options, inside run_program), so
// that a mistake in it is one message and exit code 1, not an exception out of main().
TaskWorkload::TaskWorkload(Spec spec) : spec_(std::move(spec)) {}

namespace {

// "(512, 10)"
std::string tuple_text(const std::vector<long long>& values) {
  std::string text;
  for (long long v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
  return "(" + text + ")";
}

// A parameter's name must fit NAME/PARAM:VALUE and --NAME-PARAM: it starts with a letter or '_'.
bool usable_param_name(const std::string& name) {
  return !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// The segments every benchmark name ends with, and the request count readers strip from names:
// a parameter of one of these names would read as them.
bool reserved_param_name(const std::string& name) {
  return name == "mode" || name == "backend" || name == "threads" || name == "requests";
}

// The first problem of Spec::params, Spec::args and Spec::quick_args; nullopt when none.
std::optional<std::string> params_problem(const TaskWorkload::Spec& spec) {
  if (spec.params.empty()) {
    if (!spec.args.empty() || !spec.quick_args.empty()) {
      return std::string(spec.args.empty() ? "Spec::quick_args" : "Spec::args") +
             " is given without Spec::params: name the parameters its values are for";
    }
    return std::nullopt;
  }
  if (!spec.sizes.empty() || !spec.quick_sizes.empty() || !spec.flag.empty()) {
    return std::string(!spec.sizes.empty() ? "Spec::sizes" : !spec.quick_sizes.empty() ? "Spec::quick_sizes" : "Spec::flag") +
           " is for a workload of one parameter: with Spec::params, give each parameter's values there";
  }
  std::set<std::string> seen;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < spec.params.size(); ++i) {
    const auto& p = spec.params[i];
    const std::string field = "Spec::params[" + std::to_string(i) + "]";
    if (!usable_param_name(p.name)) {
      return field + ".name '" + p.name + "' cannot name a parameter in NAME/PARAM:VALUE and " +
             "--NAME-PARAM: begin with a letter or '_', then letters, digits, '_' or '-'";
    }
    if (reserved_param_name(p.name)) {
      return field + ".name '" + p.name + "' is a segment of every benchmark name (mode, backend, " +
             "threads) or the request count readers take from names (requests): choose another";
    }
    if (!seen.insert(p.name).second) {
      return field + ".name '" + p.name + "' names two parameters: each needs a name of its own";
    }
    names.push_back(p.name);
    if (p.values.empty() && spec.args.empty()) {
      return field + ".values (" + p.name + ") is empty: give its values, or every combination " +
             "in Spec::args";
    }
    for (const auto* list : {&p.values, &p.quick_values}) {
      for (long long v : *list) {
        if (v < 0) {
          return field + (list == &p.values ? ".values" : ".quick_values") + " (" + p.name +
                 ") holds " + std::to_string(v) + ": a parameter's value must be at least 0";
        }
      }
    }
  }
  const std::string all = "(" + bench::join(names, ", ") + ")";
  for (const auto* list : {&spec.args, &spec.quick_args}) {
    const std::string field = list == &spec.args ? "Spec::args" : "Spec::quick_args";
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& combination = (*list)[i];
      if (combination.size() != names.size()) {
        return field + "[" + std::to_string(i) + "] " + tuple_text(combination) + " has " +
               std::to_string(combination.size()) +
               (combination.size() == 1 ? " value" : " values") + " for the " +
               std::to_string(names.size()) + " parameters " + all;
      }
      for (long long v : combination) {
        if (v < 0) {
          return field + "[" + std::to_string(i) + "] " + tuple_text(combination) + " holds " +
                 std::to_string(v) + ": a parameter's value must be at least 0";
        }
      }
    }
  }
  return std::nullopt;
}

// The first problem of a TaskWorkload's spec, naming its field; nullopt when it can run.
std::optional<std::string> spec_problem(const TaskWorkload::Spec& spec) {
  if (spec.name.empty()) return "Spec::name is empty: it begins every benchmark name";
  if (!spec.make) return "Spec::make is not set: it makes the problem of each size";
  if (!spec.work) return "Spec::work is not set: it counts the units of work of each size";
  if (const auto problem = params_problem(spec)) return problem;
  if (spec.params.empty()) {
    if (spec.sizes.empty()) return "Spec::sizes is empty: give at least one size";
    for (long long n : spec.sizes) {
      if (n < 1) return "Spec::sizes holds " + std::to_string(n) + ": a size must be at least 1";
    }
    for (long long n : spec.quick_sizes) {
      if (n < 1) return "Spec::quick_sizes holds " + std::to_string(n) + ": a size must be at least 1";
    }
    if (spec.param.empty()) return "Spec::param is empty: it names the size in benchmark names";
  }
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

// The distinct values at position `i` of the combinations, in order of first appearance.
std::vector<long long> distinct_at(const std::vector<std::vector<long long>>& combinations,
                                   std::size_t i) {
  std::vector<long long> out;
  for (const auto& c : combinations) {
    if (std::find(out.begin(), out.end(), c[i]) == out.end()) out.push_back(c[i]);
  }
  return out;
}

// "100000" for one parameter, "n=512, sweeps=10" for several.
std::string args_text(const Args& args) {
  if (args.size() == 1) return std::to_string(args[0]);
  std::string text;
  for (std::size_t i = 0; i < args.size(); ++i) {
    text += (i == 0 ? "" : ", ") + args.names()[i] + "=" + std::to_string(args[i]);
  }
  return text;
}

}  // namespace

void TaskWorkload::check_spec() {
  if (const auto problem = spec_problem(spec_)) {
    throw std::invalid_argument("TaskWorkload '" + spec_.name + "': " + *problem);
  }
  names_.clear();
  flags_.clear();
  if (spec_.params.empty()) {
    // One parameter, named and flagged as before parameters could be several.
    if (spec_.flag.empty()) spec_.flag = "--" + spec_.name + "-" + spec_.param;
    if (spec_.quick_sizes.empty()) spec_.quick_sizes = {spec_.sizes.front()};
    names_ = {spec_.param};
    flags_ = {spec_.flag};
    defaults_ = product_of({spec_.sizes});
    quick_ = product_of({spec_.quick_sizes});
    return;
  }
  std::vector<std::vector<long long>> values;
  bool any_quick = false;
  for (const auto& p : spec_.params) {
    names_.push_back(p.name);
    flags_.push_back("--" + spec_.name + "-" + p.name);
    values.push_back(p.values);
    any_quick = any_quick || !p.quick_values.empty();
  }
  double count = 1;
  for (const auto& v : values) count *= static_cast<double>(v.size());
  if (spec_.args.empty() && count > static_cast<double>(kMaxCombinations)) {
    throw std::invalid_argument("TaskWorkload '" + spec_.name + "': Spec::params make " +
                                fixed(count, 0) + " combinations: at most " +
                                std::to_string(kMaxCombinations));
  }
  defaults_ = !spec_.args.empty() ? spec_.args : product_of(values);
  if (!spec_.quick_args.empty()) {
    quick_ = spec_.quick_args;
  } else if (any_quick) {
    std::vector<std::vector<long long>> axes;
    for (std::size_t i = 0; i < spec_.params.size(); ++i) {
      const auto& q = spec_.params[i].quick_values;
      axes.push_back(!q.empty() ? q : std::vector<long long>{distinct_at(defaults_, i).front()});
    }
    quick_ = product_of(axes);
  } else {
    quick_ = {defaults_.front()};
  }
}

void TaskWorkload::add_options(Flags& flags) {
  check_spec();
  given_.assign(names_.size(), {});
  const bool one = spec_.params.empty();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const auto listed = [i](const std::vector<std::vector<long long>>& combinations) {
      std::vector<std::string> items;
      for (long long v : distinct_at(combinations, i)) items.push_back(std::to_string(v));
      return bench::join(items, ",");
    };
    const std::string defaults = listed(defaults_), quick = listed(quick_);
    flags.integers(flags_[i], &given_[i],
                   spec_.name + (one ? ": sizes " : ": values of ") + names_[i] + " (default " +
                       defaults + "; quick " + quick + ")",
                   [one](long long n) -> std::optional<std::string> {
                     if (one && n < 1) return "a size must be at least 1.";
                     if (n < 0) return "a parameter's value must be at least 0.";
                     return std::nullopt;
                   });
  }
}

std::vector<std::vector<long long>> TaskWorkload::combinations(bool quick) const {
  const auto& standard = quick ? quick_ : defaults_;
  const bool flagged = std::any_of(given_.begin(), given_.end(), [](const auto& g) { return !g.empty(); });
  if (!flagged) return standard;
  // The flags' values, and each other parameter's values in the combinations they replace.
  std::vector<std::vector<long long>> axes;
  double count = 1;
  std::vector<std::string> flags;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    axes.push_back(!given_[i].empty() ? given_[i] : distinct_at(standard, i));
    count *= static_cast<double>(axes.back().size());
    if (!given_[i].empty()) flags.push_back(flags_[i]);
  }
  if (count > static_cast<double>(kMaxCombinations)) {
    throw UsageError(bench::join(flags, " and ") + " make " + fixed(count, 0) + " combinations of " +
                     spec_.name + "'s parameters: at most " + std::to_string(kMaxCombinations));
  }
  return product_of(axes);
}

std::vector<Point> TaskWorkload::plan(const PlanContext& context) {
  if (names_.empty()) check_spec();  // planned without add_options (a test's own plan)
  if (given_.size() != names_.size()) given_.assign(names_.size(), {});
  std::vector<Point> points;
  std::set<std::vector<long long>> planned;
  for (const auto& values : combinations(context.quick())) {
    if (!planned.insert(values).second) continue;
    const Args args(names_, values);
    // A callback of the spec that cannot read these args (one written for one number, a name
    // that is not a parameter) is a mistake of the spec: one sentence naming the callback.
    const auto call = [&](const char* field, const auto& callback) {
      try {
        return callback();
      } catch (const std::logic_error& e) {
        throw std::invalid_argument("TaskWorkload '" + spec_.name + "': Spec::" + field + "(" +
                                    args_text(args) + "): " + e.what());
      }
    };
    if (spec_.fits) {
      const auto why = call("fits", [&] { return spec_.fits(args, context.memory_bytes()); });
      if (why) {
        std::string flags;
        for (std::size_t i = 0; i < values.size(); ++i) {
          flags += (i == 0 ? "" : " ") + flags_[i] + " " + std::to_string(values[i]);
        }
        throw UsageError(flags + ": " + *why);
      }
    }
    Point base;
    base.workload = spec_.name;
    base.group = spec_.name;
    for (std::size_t i = 0; i < values.size(); ++i) {
      base.group += "/" + names_[i] + ":" + std::to_string(values[i]);
    }
    base.params = std::make_shared<ArgsParams>(args);
    base.work = call("work", [&] { return spec_.work(args); });
    if (!(base.work > 0) || !std::isfinite(base.work)) {
      const std::string why = "Spec::work(" + args_text(args) + ") gave " + fixed(base.work, 1) +
                              ": an execution's work must be a number above 0";
      // Values the command line chose: the command line is what to change.
      if (std::any_of(given_.begin(), given_.end(), [](const auto& g) { return !g.empty(); })) {
        std::string flags;
        for (std::size_t i = 0; i < values.size(); ++i) {
          flags += (i == 0 ? "" : " ") + flags_[i] + " " + std::to_string(values[i]);
        }
        throw UsageError(flags + ": " + spec_.name + "'s " + why);
      }
      throw std::invalid_argument("TaskWorkload '" + spec_.name + "': " + why);
    }
    if (spec_.flop) base.flop = call("flop", [&] { return spec_.flop(args); });
    if (spec_.bytes) base.bytes = call("bytes", [&] { return spec_.bytes(args); });
    std::vector<Point> sweep = context.task_sweep(base, backends());
    for (auto& p : context.distributed_sweep(base)) sweep.push_back(std::move(p));
    // Weak scaling: the first parameter (the problem's size) x P.
    const auto grow = [&](Point& p, int workers) {
      std::vector<long long> grown = values;
      grown[0] *= workers;
      const Args scaled(names_, grown);
      if (spec_.fits) {
        if (const auto why = call("fits", [&] { return spec_.fits(scaled, context.memory_bytes()); })) {
          throw UsageError("--scaling weak: " + flags_[0] + " " + std::to_string(grown[0]) + " (" +
                           std::to_string(values[0]) + " x " + std::to_string(workers) + "): " + *why);
        }
      }
      p.params = std::make_shared<ArgsParams>(scaled);
      p.work = call("work", [&] { return spec_.work(scaled); });
      if (spec_.flop) p.flop = call("flop", [&] { return spec_.flop(scaled); });
      if (spec_.bytes) p.bytes = call("bytes", [&] { return spec_.bytes(scaled); });
    };
    for (auto& p : context.scaled(std::move(sweep), grow)) points.push_back(std::move(p));
  }
  return points;
}

long long TaskWorkload::size_of(const Point& point) const { return args_of(point)[0]; }

const Args& TaskWorkload::args_of(const Point& point) const {
  return point.params_as<ArgsParams>().args;
}

std::unique_ptr<TaskKernel> TaskWorkload::make_kernel(const Args& args) const {
  auto kernel = spec_.make(args);
  if (!kernel) throw std::runtime_error(spec_.name + ": make() returned no kernel");
  return kernel;
}

double TaskWorkload::serial_checksum(const Args& args) {
  for (const auto& [values, sum] : checksums_) {
    if (values == args.values()) return sum;
  }
  // The serial answer: the serial point's split, its tasks in order on the calling thread.
  auto kernel = make_kernel(args);
  const std::size_t tasks = serial_tasks();
  for (std::size_t i = 0; i < tasks; ++i) kernel->touch(i, tasks);
  for (std::size_t i = 0; i < tasks; ++i) kernel->run(i, tasks);
  const double sum = kernel->checksum();
  checksums_.emplace_back(args.values(), sum);
  return sum;
}

std::unique_ptr<PreparedPoint> TaskWorkload::prepare(const Point& point,
                                                    exec::Sightings& sightings,
                                                    StopToken /*stop*/) {
  const Args& args = args_of(point);
  const double reference = serial_checksum(args);
  auto team = exec::make_executor(point.backend, point.cpus, &sightings);
  const TaskSplit tasks = *split(point);
  TaskRun::Reference checked{reference, serial_tasks(), spec_.tolerance, spec_.equal};
  // Distributed: every rank splits its share as above, and the shares are the ranks' in order.
  TaskRun::Share share;
  std::size_t all = tasks.tasks;
  if (point.mode == Mode::distributed && dist::ranks() > 1) {
    all = tasks.tasks * static_cast<std::size_t>(dist::ranks());
    share = {tasks.tasks * static_cast<std::size_t>(dist::rank()), tasks.tasks, true};
  }
  return std::make_unique<TaskRun>(make_kernel(args), std::move(team), all, std::move(checked),
                                   tasks.schedule, spec_.unit.name, share);
}

std::optional<TaskSplit> TaskWorkload::split(const Point& point) const {
  // Split to fit the workers' measured speeds when they differ (a dynamic schedule only: a
  // fixed one gives task i to worker i mod T whatever the split).
  if (spec_.fixed_schedule) {
    return TaskSplit{static_cast<std::size_t>(std::max(1, spec_.tasks_per_worker)) *
                         static_cast<std::size_t>(std::max(1, point.threads)),
                     exec::Schedule::fixed};
  }
  return TaskSplit{balanced_tasks(point.speeds, point.threads, spec_.tasks_per_worker),
                   exec::Schedule::dynamic};
}

std::size_t TaskWorkload::serial_tasks() const {
  return static_cast<std::size_t>(std::max(1, spec_.tasks_per_worker));
}

std::string TaskWorkload::group_title(const Point& point) const {
  const Args& args = args_of(point);
  std::string title = spec_.name;
  for (std::size_t i = 0; i < args.size(); ++i) {
    title += " " + args.names()[i] + "=" + std::to_string(args[i]);
  }
  return title;
}

}  // namespace cvp

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
//
// Several parameters, as Google Benchmark's ArgsProduct and Args (examples/jacobi):
//
//   cvp::tasks("jacobi")
//       .params({"n", "sweeps"})
//       .product({{512, 1024}, {4, 16}})        // or .args({512, 4}).args({1024, 16})
//       .work([](const cvp::Args& a) { return double(a["n"]) * double(a["n"]) * double(a["sweeps"]); })
//       .run([&](std::size_t task, std::size_t tasks, const cvp::Args& a) { ... })
//       .counter("updates", [&](const cvp::Args&) { return double(updates.exchange(0)); })
//
// The callbacks take the point's const cvp::Args& (a["n"], a[0]); one taking `long long n`
// reads a workload's only parameter, and build() refuses it, in one sentence, where there are
// several. Benchmarks read NAME/n:512/sweeps:4/..., summary.json's params {"n": 512,
// "sweeps": 4}, and each parameter has its flag, --NAME-n and --NAME-sweeps. A parameter's name
// begins with a letter or '_' and is not one the names already carry (mode, backend, threads,
// requests); a workload plans at most kMaxCombinations (1024) combinations, from its product or
// from the flags. A generic lambda ([](const auto& a)) takes the Args. A counter is a figure of
// each execution (Execution::values), read once after each (the warm-up's included) inside the
// timed region, so it must hand over what the kernel kept, not compute it; its name is not a
// rate ("/s") nor a figure the harness writes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cvp/cvpbench.h"
#include "cvp/measure.h"

namespace cvp {

namespace detail {

// The last parameter's type of a call operator or function (void when it has none).
template <typename T>
struct last_parameter {
  using type = void;
};
template <typename R, typename... A>
struct last_parameter<R(A...)> {
  using type = std::conditional_t<sizeof...(A) == 0, void,
                                  std::tuple_element_t<sizeof...(A) == 0 ? 0 : sizeof...(A) - 1,
                                                       std::tuple<A..., void>>>;
};
template <typename R, typename... A>
struct last_parameter<R(A...) noexcept> : last_parameter<R(A...)> {};
template <typename R, typename... A>
struct last_parameter<R (*)(A...)> : last_parameter<R(A...)> {};
template <typename R, typename... A>
struct last_parameter<R (*)(A...) noexcept> : last_parameter<R(A...)> {};
template <typename R, typename C, typename... A>
struct last_parameter<R (C::*)(A...)> : last_parameter<R(A...)> {};
template <typename R, typename C, typename... A>
struct last_parameter<R (C::*)(A...) const> : last_parameter<R(A...)> {};
template <typename R, typename C, typename... A>
struct last_parameter<R (C::*)(A...) noexcept> : last_parameter<R(A...)> {};
template <typename R, typename C, typename... A>
struct last_parameter<R (C::*)(A...) const noexcept> : last_parameter<R(A...)> {};

// Whether callable F takes the point as one number (`long long n`) rather than as cvp::Args: its
// one call operator's (or function's) last parameter is not Args. A generic lambda (a template
// call operator) takes Args.
template <typename F, typename = void>
struct takes_one_number : std::false_type {};
template <typename F>
struct takes_one_number<F, std::void_t<decltype(&F::operator())>>
    : std::bool_constant<!std::is_same_v<
          std::remove_cvref_t<typename last_parameter<decltype(&F::operator())>::type>, Args>> {};
template <typename F>
  requires std::is_function_v<std::remove_pointer_t<F>>
struct takes_one_number<F, void>
    : std::bool_constant<!std::is_same_v<
          std::remove_cvref_t<typename last_parameter<std::remove_pointer_t<F>>::type>, Args>> {};

}  // namespace detail

class TaskBuilder {
 public:
  explicit TaskBuilder(std::string name);

  // One parameter, the size: the sizes swept (default {1}) and those of --quick (default: the
  // first size), its name in benchmark names and its flag (--NAME-PARAM; default "n").
  TaskBuilder& sizes(std::vector<long long> values);
  TaskBuilder& quick_sizes(std::vector<long long> values);
  TaskBuilder& param(std::string name);
  // Several parameters, as Google Benchmark's Args and ArgsProduct: their names (benchmarks
  // read NAME/n:512/sweeps:10/..., flags --NAME-n, --NAME-sweeps), then the points: product()
  // adds every combination of one value of each list, the first list outermost; args() adds
  // one combination (call it again for more). quick_product() and quick_args() are the points
  // of --quick (default: the first point).
  TaskBuilder& params(std::vector<std::string> names);
  TaskBuilder& product(const std::vector<std::vector<long long>>& values);
  TaskBuilder& args(std::vector<long long> combination);
  TaskBuilder& quick_product(const std::vector<std::vector<long long>>& values);
  TaskBuilder& quick_args(std::vector<long long> combination);
  // The unit of work and how its rate is shown; default {"items", "items/s", 1}.
  TaskBuilder& unit(std::string name, std::string rate_unit, double rate_scale = 1);
  TaskBuilder& kind(Kind value);
  TaskBuilder& description(std::string text);

  // Every callback below takes the point's `const cvp::Args&`; one taking `long long n`
  // reads the one parameter (build() refuses it in a workload of several).
  //
  // Units of work of one execution; default: the first parameter's value.
  template <typename F>
    requires std::is_invocable_r_v<double, F&, const Args&>
  TaskBuilder& work(F units) {
    note("work()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    spec_.work = std::move(units);
    return *this;
  }
  // FP64 operations and bytes of one execution, for the roofline and the memory bound. Optional.
  template <typename F>
    requires std::is_invocable_r_v<double, F&, const Args&>
  TaskBuilder& flop(F count) {
    note("flop()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    spec_.flop = std::move(count);
    return *this;
  }
  template <typename F>
    requires std::is_invocable_r_v<double, F&, const Args&>
  TaskBuilder& bytes(F count) {
    note("bytes()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    spec_.bytes = std::move(count);
    return *this;
  }
  // Makes the inputs of these args, untimed. Optional.
  template <typename F>
    requires std::is_invocable_v<F&, const Args&>
  TaskBuilder& prepare(F make) {
    note("prepare()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    prepare_ = std::move(make);
    return *this;
  }
  // Task `task` of `tasks` of one execution. Required.
  template <typename F>
    requires std::is_invocable_v<F&, std::size_t, std::size_t, const Args&>
  TaskBuilder& run(F body) {
    note("run()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    run_ = std::move(body);
    return *this;
  }
  // The checksum of the last execution. Required.
  template <typename F>
    requires std::is_invocable_r_v<double, F&, const Args&>
  TaskBuilder& checksum(F sum) {
    note("checksum()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    checksum_ = std::move(sum);
    return *this;
  }
  // A figure of each execution, as Google Benchmark's state.counters: value(args) is called
  // after every execution, inside the timed region, so it must return a number the kernel kept
  // ("cells" it updated), not compute one. It becomes Execution::values[name]: averaged per
  // block into summary.json's `values`, the console's notes, benchmark.json's counters and
  // Result::values. Names are unique, non-empty and not the harness's own ("cpu_s").
  template <typename F>
    requires std::is_invocable_r_v<double, F&, const Args&>
  TaskBuilder& counter(std::string name, F value) {
    note("counter()", detail::takes_one_number<std::remove_cvref_t<F>>::value);
    counters_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Accepts a checksum within this relative tolerance of the serial one (default 0: exact).
  TaskBuilder& tolerance(double relative);
  TaskBuilder& tasks_per_worker(int count);

  // The workload; throws std::invalid_argument (one sentence naming what is wrong) when run()
  // or checksum() was not given, when the points do not fit params(), or when a callback
  // takes one number in a workload of several parameters.
  std::unique_ptr<Workload> build() const;
  operator std::unique_ptr<Workload>() const { return build(); }

 private:
  void note(const char* callback, bool one_number);

  TaskWorkload::Spec spec_;
  bool one_parameter_given_ = false;  // sizes(), quick_sizes() or param() was called
  std::vector<std::string> names_;
  std::vector<std::vector<long long>> points_, quick_points_;
  std::string problem_;  // the first mistake of a product() call, for build() to say
  std::vector<std::string> one_number_;  // the callbacks that take one number
  std::function<void(const Args&)> prepare_;
  std::function<void(std::size_t, std::size_t, const Args&)> run_;
  std::function<double(const Args&)> checksum_;
  std::vector<std::pair<std::string, std::function<double(const Args&)>>> counters_;
};

// A builder for the task-split workload `name`.
TaskBuilder tasks(std::string name);

// run_program (cvp/cvpbench.h) for one built workload.
int run_program(int argc, char** argv, const TaskBuilder& workload);

// measure (cvp/measure.h) for one built workload.
Results measure(const TaskBuilder& workload, const std::vector<std::string>& args = {});

}  // namespace cvp

// Several parameters per TaskWorkload (cvp::Args, Spec::params, Spec::args, the builder's
// params/product/args) and per-execution counters (TaskKernel::counters, TaskBuilder::counter).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cvp/cvpbench.h"
#include "cvp/measure.h"
#include "cvp/tasks.h"
#include "cli/options.h"
#include "harness/plan.h"

namespace task_params_test {  // named: a unity build compiles several test files as one

using namespace cvp;

const exec::Topology two_cores = exec::make_topology({{0}, {1}}, false);

// The plan of `w` with the command line `args`.
std::vector<Point> plan_with(Workload& w, std::vector<std::string> args) {
  args.insert(args.begin(), "cvpbench");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  const auto parsed = bench::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                two_cores, {&w});
  if (!parsed.options) throw std::runtime_error("no options");
  return bench::make_plan({&w}, *parsed.options, two_cores);
}

// The groups of the serial points on threads, in plan order.
std::vector<std::string> serial_groups(const std::vector<Point>& points) {
  std::vector<std::string> groups;
  for (const auto& p : points) {
    if (p.mode == Mode::serial && p.backend == Backend::threads) groups.push_back(p.group);
  }
  return groups;
}

// Whatever the sentence, or "" when it builds, parses and plans.
std::string refusal(const TaskBuilder& builder, std::vector<std::string> args = {}) {
  try {
    auto w = builder.build();
    plan_with(*w, std::move(args));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A grid of n x n cells swept `sweeps` times; each cell's value is a function of its index
// and the sweeps only, so the checksum does not depend on the split.
TaskBuilder grid() {
  auto cells = std::make_shared<std::vector<double>>();
  return tasks("grid")
      .params({"n", "sweeps"})
      .work([](const Args& a) { return double(a["n"]) * double(a["n"]) * double(a["sweeps"] + 1); })
      .prepare([cells](const Args& a) { cells->assign(static_cast<std::size_t>(a["n"] * a["n"]), 0.0); })
      .run([cells](std::size_t task, std::size_t tasks, const Args& a) {
        const std::size_t size = cells->size();
        for (std::size_t i = task * size / tasks; i < (task + 1) * size / tasks; ++i) {
          (*cells)[i] = double(i % 7) * double(a["sweeps"]);
        }
      })
      .checksum([cells](const Args&) {
        double s = 0;
        for (double v : *cells) s += v;
        return s;
      });
}

TEST(TaskArgs, ReadsValuesByNameAndPositionAndRefusesWithOneSentence) {
  const Args two({"n", "sweeps"}, {512, 10});
  EXPECT_EQ(two["n"], 512);
  EXPECT_EQ(two[std::string("sweeps")], 10);
  EXPECT_EQ(two[std::string_view("sweeps")], 10);
  EXPECT_EQ(two[0], 512);
  EXPECT_EQ(two[std::size_t{1}], 10);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_EQ(two.names(), (std::vector<std::string>{"n", "sweeps"}));
  EXPECT_EQ(two.values(), (std::vector<long long>{512, 10}));
  try {
    (void)two["m"];
    ADD_FAILURE() << "a missing name was read";
  } catch (const std::out_of_range& e) {
    EXPECT_EQ(std::string(e.what()), "no parameter is named 'm': the parameters are n, sweeps");
  }
  EXPECT_THROW((void)two[2], std::out_of_range);
  try {
    const long long n = two;
    ADD_FAILURE() << n;
  } catch (const std::logic_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "the workload has 2 parameters (n, sweeps): take `const cvp::Args&` and read args[\"n\"]");
  }
  const long long one = Args({"n"}, {7});
  EXPECT_EQ(one, 7);
  EXPECT_THROW(Args({"n"}, {1, 2}), std::invalid_argument);
}

TEST(TaskParams, APlanOfTwoParametersIsTheirProductFirstOutermost) {
  auto w = grid().product({{64, 128}, {1, 3}}).build();
  const auto points = plan_with(*w, {});
  EXPECT_EQ(serial_groups(points),
            (std::vector<std::string>{"grid/n:64/sweeps:1", "grid/n:64/sweeps:3",
                                      "grid/n:128/sweeps:1", "grid/n:128/sweeps:3"}));
  const Point& first = points.front();
  EXPECT_EQ(first.params_json(), (nlohmann::json{{"n", 64}, {"sweeps", 1}}));
  EXPECT_EQ(w->group_title(first), "grid n=64 sweeps=1");
  EXPECT_EQ(first.work, 64.0 * 64.0 * 2);
  EXPECT_EQ(first.name(), "grid/n:64/sweeps:1/mode:serial/backend:threads/threads:1");
  // --quick: the first point, or the quick product when there is one.
  EXPECT_EQ(serial_groups(plan_with(*w, {"--quick"})), (std::vector<std::string>{"grid/n:64/sweeps:1"}));
  auto quick = grid().product({{64, 128}, {1, 3}}).quick_product({{16}, {2, 4}}).build();
  EXPECT_EQ(serial_groups(plan_with(*quick, {"--quick"})),
            (std::vector<std::string>{"grid/n:16/sweeps:2", "grid/n:16/sweeps:4"}));
}

TEST(TaskParams, ExplicitArgsArePlannedInTheirOrder) {
  auto w = grid().args({128, 5}).args({64, 2}).quick_args({8, 1}).build();
  EXPECT_EQ(serial_groups(plan_with(*w, {})),
            (std::vector<std::string>{"grid/n:128/sweeps:5", "grid/n:64/sweeps:2"}));
  EXPECT_EQ(serial_groups(plan_with(*w, {"--quick"})), (std::vector<std::string>{"grid/n:8/sweeps:1"}));
  const auto points = plan_with(*w, {});
  EXPECT_EQ(points.front().params_json(), (nlohmann::json{{"n", 128}, {"sweeps", 5}}));
  EXPECT_EQ(w->group_title(points.front()), "grid n=128 sweeps=5");
}

TEST(TaskParams, AFlagReplacesOneParametersValues) {
  auto w = grid().product({{64, 128}, {1, 3}}).build();
  EXPECT_EQ(serial_groups(plan_with(*w, {"--grid-sweeps", "7"})),
            (std::vector<std::string>{"grid/n:64/sweeps:7", "grid/n:128/sweeps:7"}));
  EXPECT_EQ(serial_groups(plan_with(*w, {"--grid-n", "32"})),
            (std::vector<std::string>{"grid/n:32/sweeps:1", "grid/n:32/sweeps:3"}));
  EXPECT_EQ(serial_groups(plan_with(*w, {"--grid-n", "32,16", "--grid-sweeps", "0"})),
            (std::vector<std::string>{"grid/n:32/sweeps:0", "grid/n:16/sweeps:0"}));
  // With --quick, the other parameter keeps its quick values.
  EXPECT_EQ(serial_groups(plan_with(*w, {"--quick", "--grid-n", "32"})),
            (std::vector<std::string>{"grid/n:32/sweeps:1"}));
  // Explicit args: the other parameter's distinct values, in order.
  auto listed = grid().args({128, 5}).args({64, 2}).args({32, 5}).build();
  EXPECT_EQ(serial_groups(plan_with(*listed, {"--grid-n", "8"})),
            (std::vector<std::string>{"grid/n:8/sweeps:5", "grid/n:8/sweeps:2"}));
  EXPECT_NE(refusal(grid().product({{64}, {1}}), {"--grid-n", "-1"}).find("--grid-n -1: a parameter's value must be at least 0"),
            std::string::npos);
}

// The one-parameter form keeps its names, flag, params and titles.
TEST(TaskParams, OneSizeKeepsItsNamesAndFlag) {
  auto w = grid().params({}).sizes({20, 30}).work([](long long n) { return 2.0 * double(n); })
               .prepare([](long long) {})
               .run([](std::size_t, std::size_t, long long) {})
               .checksum([](long long) { return 0.0; })
               .build();
  const auto points = plan_with(*w, {});
  EXPECT_EQ(serial_groups(points), (std::vector<std::string>{"grid/n:20", "grid/n:30"}));
  EXPECT_EQ(points.front().params_json(), (nlohmann::json{{"n", 20}}));
  EXPECT_EQ(w->group_title(points.front()), "grid n=20");
  EXPECT_EQ(points.front().work, 40.0);  // a long long lambda reads the one size
  EXPECT_EQ(serial_groups(plan_with(*w, {"--grid-n", "5"})), (std::vector<std::string>{"grid/n:5"}));
  EXPECT_NE(refusal(grid().params({}).sizes({1}), {"--grid-n", "0"}).find("a size must be at least 1"),
            std::string::npos);
}

// A kernel of a long long lambda: it runs and checks as before.
TEST(TaskParams, ALongLongLambdaStillRunsItsPoints) {
  auto squares = std::make_shared<std::vector<double>>();
  auto w = tasks("sq")
               .sizes({1000})
               .prepare([squares](long long n) { squares->assign(static_cast<std::size_t>(n), 0.0); })
               .run([squares](std::size_t task, std::size_t tasks, long long n) {
                 const auto size = static_cast<std::size_t>(n);
                 for (std::size_t i = task * size / tasks; i < (task + 1) * size / tasks; ++i) {
                   (*squares)[i] = double(i) * double(i);
                 }
               })
               .checksum([squares](long long n) {
                 double s = 0;
                 for (double v : *squares) s += v;
                 return s + double(n);
               })
               .build();
  for (const auto& p : plan_with(*w, {})) {
    if (p.mode != Mode::parallel || p.threads != 2) continue;
    exec::Sightings seen(2);
    auto run = w->prepare(p, seen, StopToken());
    run->warm_up();
    run->execute();
    EXPECT_EQ(run->verify(), std::nullopt);
    EXPECT_EQ(squares->size(), 1000u);
    return;
  }
  ADD_FAILURE() << "no parallel point of 2 threads";
}

TEST(TaskParams, ALongLongLambdaInAWorkloadOfTwoParametersIsOneSentence) {
  const std::string sentence =
      "the workload has 2 parameters (n, sweeps): take `const cvp::Args&` and read args[\"n\"]";
  // The builder refuses it when it builds, for each callback.
  EXPECT_EQ(refusal(grid().product({{8}, {1}}).run([](std::size_t, std::size_t, long long) {})),
            "tasks(\"grid\"): run() takes one number, but " + sentence);
  EXPECT_EQ(refusal(grid().product({{8}, {1}}).work([](long long n) { return double(n); })),
            "tasks(\"grid\"): work() takes one number, but " + sentence);
  EXPECT_EQ(refusal(grid().product({{8}, {1}}).checksum([](long long) { return 0.0; })),
            "tasks(\"grid\"): checksum() takes one number, but " + sentence);
  EXPECT_EQ(refusal(grid().product({{8}, {1}}).prepare([](long long) {})),
            "tasks(\"grid\"): prepare() takes one number, but " + sentence);
  EXPECT_EQ(refusal(grid().product({{8}, {1}})), "");
  EXPECT_EQ(refusal(grid().params({"n"}).args({8}).run([](std::size_t, std::size_t, long long) {})
                        .checksum([](long long) { return 0.0; })
                        .work([](long long n) { return double(n); })),
            "");  // one parameter: a number is enough
  // The class form: Spec::work of a number fails the plan with the sentence; measure() throws
  // it and run_program() exits with 1.
  const auto spec = [] {
    TaskWorkload::Spec s;
    s.name = "pair";
    s.params = {{"n", {8}, {}}, {"sweeps", {1}, {}}};
    s.work = [](long long n) { return double(n); };
    s.make = [](const Args&) -> std::unique_ptr<TaskKernel> { return nullptr; };
    return s;
  };
  TaskWorkload w(spec());
  try {
    plan_with(w, {});
    ADD_FAILURE() << "planned";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "TaskWorkload 'pair': Spec::work(n=8, sweeps=1): " + sentence);
  }
  std::vector<std::unique_ptr<Workload>> list;
  list.push_back(std::make_unique<TaskWorkload>(spec()));
  EXPECT_THROW(measure(std::move(list), {"--quick"}), std::invalid_argument);
  std::vector<std::unique_ptr<Workload>> program;
  program.push_back(std::make_unique<TaskWorkload>(spec()));
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);  // run_program restarts itself without it
  std::vector<std::string> args{"program", "--list"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  EXPECT_EQ(run_program(2, argv.data(), std::move(program)), 1);
  // make() of a number fails the point with the sentence, not the program.
  auto made = spec();
  made.work = [](const Args& a) { return double(a["n"]); };
  made.make = [](long long) -> std::unique_ptr<TaskKernel> { return nullptr; };
  TaskWorkload late(made);
  const auto points = plan_with(late, {});
  exec::Sightings seen(1);
  try {
    late.prepare(points.front(), seen, StopToken());
    ADD_FAILURE() << "prepared";
  } catch (const std::logic_error& e) {
    EXPECT_EQ(std::string(e.what()), sentence);
  }
}

TaskWorkload::Spec pair_spec() {
  TaskWorkload::Spec s;
  s.name = "pair";
  s.params = {{"n", {8, 16}, {}}, {"sweeps", {0, 1}, {}}};
  s.work = [](const Args& a) { return double(a["n"]) + 1; };
  s.make = [](const Args&) -> std::unique_ptr<TaskKernel> { return nullptr; };
  return s;
}

std::string spec_refusal(TaskWorkload::Spec spec) {
  TaskWorkload w(std::move(spec));
  try {
    plan_with(w, {});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Each sentence fires on its mistake, and not on the good spec next to it.
TEST(TaskParams, RefusesASpecsParametersNamingTheField) {
  EXPECT_EQ(spec_refusal(pair_spec()), "");
  const auto with = [](auto change) {
    auto s = pair_spec();
    change(s);
    return spec_refusal(s);
  };
  const auto fires = [](const std::string& got, const std::string& part) {
    EXPECT_NE(got.find(part), std::string::npos) << got;
  };
  fires(with([](auto& s) { s.params[0].name = ""; }), "Spec::params[0].name '' cannot name a parameter");
  fires(with([](auto& s) { s.params[1].name = "a b"; }), "Spec::params[1].name 'a b' cannot name a parameter");
  fires(with([](auto& s) { s.params[1].name = "a/b"; }), "then letters, digits, '_' or '-'");
  fires(with([](auto& s) { s.params[1].name = "-n"; }), "begin with a letter or '_'");
  fires(with([](auto& s) { s.params[1].name = "2d"; }), "begin with a letter or '_'");
  for (const char* reserved : {"mode", "backend", "threads", "requests"}) {
    fires(with([&](auto& s) { s.params[1].name = reserved; }),
          "Spec::params[1].name '" + std::string(reserved) + "' is a segment of every benchmark name");
  }
  EXPECT_EQ(with([](auto& s) { s.params[1].name = "_k"; }), "");
  EXPECT_EQ(with([](auto& s) { s.params[1].name = "sweep_count-2"; }), "");
  fires(with([](auto& s) { s.params[1].name = "n"; }), "Spec::params[1].name 'n' names two parameters");
  fires(with([](auto& s) { s.params[1].values.clear(); }), "Spec::params[1].values (sweeps) is empty");
  EXPECT_EQ(with([](auto& s) { s.params[1].values.clear(); s.args = {{8, 2}}; }), "");
  fires(with([](auto& s) { s.params[0].values = {8, -1}; }), "Spec::params[0].values (n) holds -1");
  fires(with([](auto& s) { s.params[0].quick_values = {-2}; }), "Spec::params[0].quick_values (n) holds -2");
  EXPECT_EQ(with([](auto& s) { s.params[0].quick_values = {0}; }), "");
  fires(with([](auto& s) { s.args = {{8, 1}, {64}}; }),
        "Spec::args[1] (64) has 1 value for the 2 parameters (n, sweeps)");
  fires(with([](auto& s) { s.quick_args = {{8, 1, 2}}; }),
        "Spec::quick_args[0] (8, 1, 2) has 3 values for the 2 parameters (n, sweeps)");
  fires(with([](auto& s) { s.args = {{8, -3}}; }), "Spec::args[0] (8, -3) holds -3");
  EXPECT_EQ(with([](auto& s) { s.args = {{8, 0}}; s.quick_args = {{1, 1}}; }), "");
  fires(with([](auto& s) { s.sizes = {8}; }), "Spec::sizes is for a workload of one parameter");
  fires(with([](auto& s) { s.flag = "--pair-size"; }), "Spec::flag is for a workload of one parameter");
  fires(with([](auto& s) { s.params.clear(); s.sizes = {8}; s.args = {{8}}; }),
        "Spec::args is given without Spec::params");
  EXPECT_EQ(with([](auto& s) { s.params.clear(); s.sizes = {8}; }), "");
  fires(with([](auto& s) { s.params.clear(); s.sizes = {0}; }), "Spec::sizes holds 0: a size must be at least 1");
}

TEST(TaskParams, RefusesABuildersParametersAndCountersWithOneSentence) {
  const auto fires = [](const std::string& got, const std::string& part) {
    EXPECT_NE(got.find(part), std::string::npos) << got;
  };
  fires(refusal(grid()), "tasks(\"grid\"): params() names 2 parameters: give their values with product() or args()");
  fires(refusal(grid().params({}).args({1})), "call params({...}) too");
  fires(refusal(grid().product({{8}, {1}}).sizes({8})), "sizes(), quick_sizes() and param() are for one parameter");
  fires(refusal(grid().args({8, 1}).args({1, 2, 3})),
        "tasks(\"grid\"): product() or args() gives (1, 2, 3): 3 values for the 2 parameters (n, sweeps)");
  fires(refusal(grid().args({8, 1}).quick_product({{8}})),
        "quick_product() or quick_args() gives (8): 1 value for the 2 parameters");
  const auto counted = [](std::string a, std::string b) {
    return grid().product({{8}, {1}}).unit("cells", "cells/s")
        .counter(std::move(a), [](const Args&) { return 1.0; })
        .counter(std::move(b), [](const Args&) { return 2.0; });
  };
  EXPECT_EQ(refusal(counted("updates", "rows")), "");
  fires(refusal(counted("", "rows")), "counter() names a counter \"\": give each counter a name");
  fires(refusal(counted("cpu_s", "rows")), "counter() names a counter 'cpu_s', a figure the harness writes itself");
  fires(refusal(counted("rows", "cells/s")), "counter() names a counter 'cells/s'");
  fires(refusal(counted("rows", "rows")), "counter() names 'rows' twice");
  fires(refusal(counted("rows", "FLOP/s")), "counter() names a counter 'FLOP/s', a rate");
  EXPECT_EQ(refusal(counted("rows", "per_s")), "");
  // A product with an empty list has no combination; one of more than kMaxCombinations is refused.
  fires(refusal(grid().product({{}, {1}})), "product()'s list 0 is empty");
  fires(refusal(grid().product({{8}, {1}}).quick_product({{8}, {}})), "quick_product()'s list 1 is empty");
  std::vector<long long> many(100);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<long long>(i + 1);
  fires(refusal(grid().product({many, many})), "product() makes 10000 combinations: at most 1024");
  EXPECT_EQ(refusal(grid().product({many, {1, 2}})), "");
}

// A generic lambda takes the args (cvp::Args), however its body reads them: even `a["n"]`,
// which a `long long a` would also compile (as "n"[a]).
TEST(TaskParams, AGenericLambdaTakesTheArgs) {
  auto cells = std::make_shared<std::vector<double>>();
  const auto generic = tasks("generic")
      .params({"n", "sweeps"})
      .product({{8, 16}, {1}})
      .work([](auto a) { return double(a["n"]) * double(a["sweeps"]); })
      .prepare([cells](const auto& a) { cells->assign(static_cast<std::size_t>(a["n"]), 1.0); })
      .run([cells](std::size_t, std::size_t, const auto&) {})
      .checksum([cells](auto) { return double(cells->size()); })
      .counter("cells", [cells](const auto& a) { return double(a["n"]) + double(cells->size()); });
  EXPECT_EQ(refusal(generic), "");
  auto w = generic.build();
  const auto points = plan_with(*w, {});
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(points.front().work, 8.0);
}

// Flags that make too many combinations, or values the workload's work() refuses, are the
// command line's mistake: UsageError (exit 2), naming the flags.
TEST(TaskParams, FlagsBeyondTheWorkloadAreTheCommandLinesMistake) {
  const auto usage = [](const TaskBuilder& b, std::vector<std::string> args) -> std::string {
    auto w = b.build();
    try {
      plan_with(*w, std::move(args));
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  };
  const auto two = grid().product({{8}, {1}});
  std::string list;
  for (int i = 1; i <= 40; ++i) list += (i == 1 ? "" : ",") + std::to_string(i);
  const std::string many = usage(two, {"--grid-n", list, "--grid-sweeps", list});
  EXPECT_NE(many.find("--grid-n and --grid-sweeps make 1600 combinations of grid's parameters: at most 1024"),
            std::string::npos) << many;
  EXPECT_EQ(usage(two, {"--grid-n", list, "--grid-sweeps", "1,2"}), "");
  const std::string zero = usage(tasks("zero").params({"n", "m"}).product({{8}, {1}})
                                     .work([](const Args& a) { return double(a["n"]); })
                                     .run([](std::size_t, std::size_t, const Args&) {})
                                     .checksum([](const Args&) { return 1.0; }),
                                 {"--zero-n", "0"});
  EXPECT_NE(zero.find("--zero-n 0 --zero-m 1: zero's Spec::work(n=0, m=1) gave 0.0"), std::string::npos)
      << zero;
}

TEST(TaskArgs, RefusesTwoValuesOfOneName) {
  EXPECT_THROW(Args({"n", "n"}, {1, 2}), std::invalid_argument);
  EXPECT_EQ(fixed(1e300, 1), "1e+300");
  EXPECT_EQ(fixed(-2.5e18, 0), "-2.5e+18");
  EXPECT_EQ(fixed(123456.789, 1), "123456.8");
}

// The counter of each execution reaches Execution::values, and measure()'s Result::values.
TEST(TaskParams, ACounterReachesTheExecutionAndTheResult) {
  auto done = std::make_shared<std::atomic<long long>>(0);
  auto builder = grid().args({40, 3}).counter("cells", [done](const Args&) {
    return static_cast<double>(done->exchange(0));
  });
  // Each task counts the cells it wrote; the counter hands the execution's count over.
  builder.run([done](std::size_t task, std::size_t tasks, const Args& a) {
    const auto size = static_cast<std::size_t>(a["n"] * a["n"]);
    done->fetch_add(static_cast<long long>((task + 1) * size / tasks - task * size / tasks));
  });
  auto w = builder.build();
  for (const auto& p : plan_with(*w, {})) {
    if (p.mode != Mode::parallel || p.threads != 2) continue;
    exec::Sightings seen(2);
    auto run = w->prepare(p, seen, StopToken());
    run->warm_up();
    const Execution e = run->execute();
    ASSERT_EQ(e.values.count("cells"), 1u);
    EXPECT_EQ(e.values.at("cells"), 1600.0);
  }
  const auto results = measure(builder, {"--quick", "--threads", "1", "--backend", "threads",
                                         "--repetitions", "3", "--precision", "0", "--limits",
                                         "off", "--min-time", "0.002"});
  ASSERT_FALSE(results.rows.empty());
  for (const auto& r : results.rows) {
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.group, "grid/n:40/sweeps:3");
    ASSERT_EQ(r.values.count("cells"), 1u) << r.name;
    EXPECT_EQ(r.values.at("cells"), 1600.0);
  }
  EXPECT_EQ(results.summary["results"][0]["values"]["cells"], 1600.0);
  EXPECT_EQ(results.summary["results"][0]["params"], (nlohmann::json{{"n", 40}, {"sweeps", 3}}));
}

// A kernel of the class form: its counters() are read the same way, and a name the harness
// uses itself fails the point when it is warmed up.
class Counted final : public TaskKernel {
 public:
  explicit Counted(std::string name) : name_(std::move(name)) {}
  void run(std::size_t, std::size_t) override { runs_.fetch_add(1); }
  double checksum() const override { return 0; }
  std::map<std::string, double> counters() const override {
    return {{name_, static_cast<double>(runs_.exchange(0))}};
  }

 private:
  std::string name_;
  mutable std::atomic<int> runs_{0};
};

TEST(TaskParams, AKernelsCountersAreReadAfterEachExecution) {
  const auto spec = [](std::string name) {
    TaskWorkload::Spec s;
    s.name = "counted";
    s.sizes = {1};
    s.work = [](long long) { return 1.0; };
    s.make = [name](long long) { return std::make_unique<Counted>(name); };
    return s;
  };
  TaskWorkload good(spec("tasks_run"));
  for (const auto& p : plan_with(good, {})) {
    if (p.mode != Mode::parallel || p.threads != 2) continue;
    exec::Sightings seen(2);
    auto run = good.prepare(p, seen, StopToken());
    run->warm_up();
    EXPECT_EQ(run->execute().values.at("tasks_run"), 4.0);  // 2 tasks per worker, 2 workers
  }
  TaskWorkload bad(spec("threads"));
  const auto points = plan_with(bad, {});
  exec::Sightings seen(1);
  auto run = bad.prepare(points.front(), seen, StopToken());
  try {
    run->warm_up();
    ADD_FAILURE() << "warmed up";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TaskKernel::counters() names a counter 'threads'"),
              std::string::npos) << e.what();
  }
}

// A TaskWorkload says how it splits a point: tasks_per_worker x threads on equal speeds, more
// (balanced_tasks) where the workers' speeds differ, all from a shared counter.
TEST(TaskSplit, FollowsTheWorkersSpeeds) {
  auto w = grid().args({64, 1}).tasks_per_worker(2).build();
  const auto points = plan_with(*w, {"--threads", "2"});
  const auto parallel = std::find_if(points.begin(), points.end(), [](const Point& q) {
    return q.mode == Mode::parallel && q.threads == 2;
  });
  ASSERT_NE(parallel, points.end());
  Point p = *parallel;
  ASSERT_EQ(p.mode, Mode::parallel);
  ASSERT_EQ(p.threads, 2);
  auto split = w->split(p);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->tasks, 4u);
  EXPECT_EQ(split->schedule, exec::Schedule::dynamic);
  p.speeds = {1.0, 0.5};
  split = w->split(p);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->tasks, 6u);
  EXPECT_DOUBLE_EQ(split_speedup(p.speeds, *split), 1.5);
}

}  // namespace task_params_test

// The harness and the reporters know no workload by name: a workload declared here, in the
// test, gets its rows, speedups, bounds, verdicts and summary entries from its declarations.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cvp/cvpbench.h"
#include "options.h"
#include "plan.h"
#include "session.h"
#include "summary.h"

namespace {

using namespace cvp;

// A workload of an unknown kind and unit, with a bound of its own.
class Toy final : public Workload {
 public:
  std::string name() const override { return "toy"; }
  Kind kind() const override { return Kind::memory; }
  WorkUnit unit() const override { return {"widgets", "kilowidgets/s", 1e3}; }
  std::vector<Point> plan(const PlanContext& context) override {
    Point base;
    base.group = "toy/size:7";
    base.params = {{"size", 7}};
    base.work = 500;
    return context.task_sweep(base, {Backend::threads});
  }
  std::unique_ptr<Run> prepare(const Point&, exec::Sightings&) override { return nullptr; }
  double bound(const Row& row) const override {
    return row.point->mode == Mode::parallel ? 1.5 : 1.0;
  }
  std::string bound_model() const override { return "one and a half"; }
  std::vector<std::string> verdicts(const VerdictContext& context) const override {
    return {"toy: " + std::to_string(context.rows.size()) + " rows"};
  }
};

const exec::Topology two_cores = exec::make_topology({{0}, {1}}, false);

std::vector<Point> toy_plan(Toy& toy) {
  bench::Options o;
  o.quick = true;
  return bench::make_plan({&toy}, o, two_cores);
}

bench::Sample sample(double wall_s) {
  bench::Sample s;
  s.wall_s = wall_s;
  s.cpus_seen = {0};
  s.threads_seen = 1;
  s.values["depth"] = 3;
  return s;
}

TEST(Harness, AnUnknownWorkloadIsPlannedNamedAndSummarisedFromItsDeclarations) {
  Toy toy;
  const auto points = toy_plan(toy);
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(points.front().name(), "toy/size:7/mode:serial/backend:threads/threads:1");
  bench::Session session(points, {&toy}, 3, 0.01);
  for (auto& m : session.measurements()) {
    const double wall = m.point.mode == Mode::serial ? 0.2 : 0.1;  // every team twice as fast
    for (int i = 0; i < 3; ++i) m.samples.push_back(sample(wall));
    if (m.point.mode == Mode::parallel) {
      for (auto& s : m.samples) s.cpus_seen = {0, 1};
    }
  }
  const auto rows = bench::summarise(session.measurements());
  ASSERT_EQ(rows.size(), points.size());
  for (const auto& r : rows) {
    ASSERT_TRUE(r.ok) << r.point->name();
    // 500 widgets per execution in 0.1 s: 5 kilowidgets/s.
    EXPECT_DOUBLE_EQ(r.throughput, r.point->mode == Mode::serial ? 2.5 : 5.0);
    EXPECT_DOUBLE_EQ(r.bound, r.point->mode == Mode::parallel ? 1.5 : 1.0);
    if (r.point->mode != Mode::serial) {
      EXPECT_DOUBLE_EQ(r.speedup, 2.0);
      EXPECT_DOUBLE_EQ(r.efficiency, 2.0 / r.bound);
    }
    EXPECT_DOUBLE_EQ(r.values.at("depth"), 3.0);
  }
  EXPECT_EQ(bench::verdicts(rows, 2), std::vector<std::string>{"toy: " + std::to_string(rows.size()) + " rows"});
  const auto doc = bench::summary_json(rows, nlohmann::json::object(), bench::Options{}, {});
  ASSERT_EQ(doc["workloads"].size(), 1u);
  EXPECT_EQ(doc["workloads"][0]["kind"], "memory");
  EXPECT_EQ(doc["workloads"][0]["unit"]["rate"], "kilowidgets/s");
  const auto& first = doc["results"][0];
  EXPECT_EQ(first["kind"], "memory");
  EXPECT_EQ(first["group"], "toy/size:7");
  EXPECT_EQ(first["work"]["unit"], "widgets");
  EXPECT_EQ(first["work"]["per_execution"], 500.0);
  EXPECT_EQ(first["throughput"]["unit"], "kilowidgets/s");
  EXPECT_EQ(first["bound_model"], "one and a half");
  EXPECT_EQ(first["values"]["depth"], 3.0);
  EXPECT_FALSE(first.contains("io"));
}

TEST(Harness, SpeedupsAreTakenPerUnitOfWork) {
  Toy toy;
  auto points = toy_plan(toy);
  bench::Session session(points, {&toy}, 3, 0.01);
  for (auto& m : session.measurements()) {
    // Parallel points do twice the work in the same time as serial: speedup 2, not 1.
    if (m.point.mode == Mode::parallel) m.point.work = 1000;
    for (int i = 0; i < 3; ++i) m.samples.push_back(sample(0.2));
  }
  for (const auto& r : bench::summarise(session.measurements())) {
    if (r.point->mode == Mode::parallel) {
      EXPECT_DOUBLE_EQ(r.speedup, 2.0) << r.point->name();
    }
    if (r.point->mode == Mode::concurrent) {
      EXPECT_DOUBLE_EQ(r.speedup, 1.0) << r.point->name();
    }
  }
}

// Google Benchmark calls a body several times while it chooses the iteration count and
// reports only the last; each reported repetition must be filed with its own call.
TEST(Harness, TheReporterFilesEachReportedRepetitionWithItsOwnCall) {
  Toy toy;
  auto points = toy_plan(toy);
  points.resize(1);
  bench::Session session(points, {&toy}, 3, 0.01);
  auto& m = session.measurements()[0];
  // Calls: two that chose the count (1 and 4 iterations), then three repetitions of 9.
  for (auto [iterations, depth] : std::vector<std::pair<int, double>>{{1, -1}, {4, -1}, {9, 10}, {9, 20}, {9, 30}}) {
    bench::Call c;
    c.iterations = iterations;
    c.sample = sample(0);
    c.sample.values["depth"] = depth;
    m.calls.push_back(c);
  }
  bench::CollectingReporter reporter(session);
  std::vector<benchmark::BenchmarkReporter::Run> runs(3);
  for (int i = 0; i < 3; ++i) {
    runs[i].run_name.function_name = m.point.name();
    runs[i].run_type = benchmark::BenchmarkReporter::Run::RT_Iteration;
    runs[i].iterations = 9;
    runs[i].real_accumulated_time = 0.9 * (i + 1);
  }
  reporter.ReportRuns(runs);
  ASSERT_EQ(m.samples.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(m.samples[i].values.at("depth"), 10.0 * (i + 1));   // not the -1 calls
    EXPECT_DOUBLE_EQ(m.samples[i].wall_s, 0.1 * (i + 1));                // per execution
  }
  EXPECT_TRUE(m.verified);
  // A fourth reported repetition with no call of its own is an error, not a reused sample.
  runs.resize(1);
  reporter.ReportRuns(runs);
  EXPECT_FALSE(m.verified);
  EXPECT_EQ(m.samples.size(), 3u);
}

// A task kernel whose result depends on the split: the serial checksum catches it.
class SplitDependent final : public TaskKernel {
 public:
  // Wrong on purpose: the result is the number of tasks the work was split into.
  void run(std::size_t, std::size_t tasks) override { tasks_.store(tasks); }
  double checksum() const override { return static_cast<double>(tasks_.load()); }
  void corrupt() override { tasks_ += 1; }

 private:
  std::atomic<std::size_t> tasks_{0};
};

class Exact final : public TaskKernel {
 public:
  explicit Exact(long long n) : out_(static_cast<std::size_t>(n)) {}
  void run(std::size_t task, std::size_t tasks) override {
    for (std::size_t i = task * out_.size() / tasks; i < (task + 1) * out_.size() / tasks; ++i) {
      out_[i] = static_cast<double>(i * i);
    }
  }
  double checksum() const override {
    double s = 0;
    for (double v : out_) s += v;
    return s;
  }
  void corrupt() override { out_[0] += 1; }

 private:
  std::vector<double> out_;
};

std::unique_ptr<Run> task_run(TaskWorkload& w, int threads) {
  bench::Options o;
  auto points = bench::make_plan({&w}, o, two_cores);
  for (const auto& p : points) {
    if (p.mode == Mode::parallel && p.threads == threads) {
      static exec::Sightings seen(4);
      return w.prepare(p, seen);
    }
  }
  return nullptr;
}

TEST(TaskWorkload, ChecksTheResultAgainstTheSerialExecution) {
  TaskWorkload::Spec spec;
  spec.name = "exact";
  spec.sizes = {1000};
  spec.work = [](long long n) { return static_cast<double>(n); };
  spec.make = [](long long n) { return std::make_unique<Exact>(n); };
  TaskWorkload exact(spec);
  auto run = task_run(exact, 2);
  ASSERT_TRUE(run);
  run->warm_up();
  run->execute();
  EXPECT_EQ(run->verify(), "");
  run->corrupt();
  EXPECT_NE(run->verify(), "");

  spec.name = "split";
  spec.make = [](long long) { return std::make_unique<SplitDependent>(); };
  TaskWorkload split(spec);
  auto wrong = task_run(split, 2);
  ASSERT_TRUE(wrong);
  wrong->execute();
  EXPECT_NE(wrong->verify().find("differs from the serial answer"), std::string::npos);
}

}  // namespace

namespace {

// A workload the harness must refuse or fail cleanly.
class Broken final : public Workload {
 public:
  explicit Broken(std::string name, double work = 1, double bound = 1)
      : name_(std::move(name)), work_(work), bound_(bound) {}
  std::string name() const override { return name_; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"things", "things/s", 1}; }
  std::vector<Point> plan(const PlanContext& context) override {
    Point base;
    base.group = name_ + "/x:1";
    base.work = work_;
    return context.task_sweep(base, {Backend::threads});
  }
  std::unique_ptr<Run> prepare(const Point&, exec::Sightings&) override { return nullptr; }
  double bound(const Row&) const override { return bound_; }

 private:
  std::string name_;
  double work_, bound_;
};

int run_with(std::vector<std::unique_ptr<Workload>> workloads, std::vector<std::string> args) {
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);  // run_program restarts itself without it
  args.insert(args.begin(), "program");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return run_program(static_cast<int>(args.size()), argv.data(), workloads);
}

TEST(Program, RefusesWorkloadsItCannotTellApart) {
  std::vector<std::unique_ptr<Workload>> two;
  two.push_back(std::make_unique<Broken>("same"));
  two.push_back(std::make_unique<Broken>("same"));
  EXPECT_EQ(run_with(std::move(two), {"--list"}), 1);
  std::vector<std::unique_ptr<Workload>> null;
  null.push_back(nullptr);
  EXPECT_EQ(run_with(std::move(null), {"--list"}), 1);
  EXPECT_EQ(run_with({}, {"--list"}), 1);
  std::vector<std::unique_ptr<Workload>> slash;
  slash.push_back(std::make_unique<Broken>("a/b"));
  EXPECT_EQ(run_with(std::move(slash), {"--list"}), 1);
  std::vector<std::unique_ptr<Workload>> fine;
  fine.push_back(std::make_unique<Broken>("fine"));
  EXPECT_EQ(run_with(std::move(fine), {"--list"}), 0);
}

TEST(Program, RefusesWorkWithoutMeaning) {
  for (double work : {0.0, -5.0, std::nan("")}) {
    std::vector<std::unique_ptr<Workload>> w;
    w.push_back(std::make_unique<Broken>("w", work));
    EXPECT_EQ(run_with(std::move(w), {"--list"}), 1) << work;
  }
  TaskWorkload::Spec spec;  // no name, no sizes
  std::vector<std::unique_ptr<Workload>> w;
  w.push_back(std::make_unique<TaskWorkload>(spec));
  EXPECT_EQ(run_with(std::move(w), {"--list"}), 1);
}

TEST(Harness, AnUnusableBoundFailsTheRowInsteadOfBreakingTheSummary) {
  Broken nan_bound("nb", 1, std::nan(""));
  bench::Options o;
  o.quick = true;
  bench::Session session(bench::make_plan({&nan_bound}, o, two_cores), {&nan_bound}, 3, 0.01);
  for (auto& m : session.measurements()) {
    for (int i = 0; i < 3; ++i) m.samples.push_back(sample(0.1));
  }
  const auto rows = bench::summarise(session.measurements());
  for (const auto& r : rows) {
    EXPECT_FALSE(r.ok);
    EXPECT_NE(bench::row_error(r).find("bound"), std::string::npos);
  }
  const auto doc = bench::summary_json(rows, nlohmann::json::object(), o, {});
  EXPECT_EQ(doc["errors"].size(), rows.size());
  EXPECT_EQ(doc["results"][0]["bound"], 0.0);  // a number, as the schema requires
}

}  // namespace

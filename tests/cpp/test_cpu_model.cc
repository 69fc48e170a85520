// The machine model (host/cpu_model.h): kinds from hwloc XML topologies of hybrid machines, the
// home CPU and the plan on them, Linux's cpu_capacity from a fake sysfs tree, team capacity,
// the cached speeds, the --inject-slow-cpu seam and its refusals.
#include <gtest/gtest.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "builtin.h"
#include "cli/options.h"
#include "cvp/exec/affinity.h"
#include "cvp/exec/executor.h"
#include "cvp/exec/topology.h"
#include "cvp/workload.h"
#include "exec/slow_cpu.h"
#include "harness/plan.h"
#include "host/cpu_model.h"

namespace {

namespace fs = std::filesystem;
using namespace cvp;
using bench::CpuSpeed;
using bench::CpuSpeeds;
using bench::MachineModel;

const std::string kHybridXml = std::string(CVP_TEST_DATA_DIR) + "/hybrid-6p8e.xml";

exec::Topology hybrid() { return exec::topology_from_xml(kHybridXml); }

// Speeds for every allowed CPU: `p` FLOP/s on the P cores (CPUs 0-11), `e` on the E cores;
// all busy 0.9 of alone.
CpuSpeeds speeds_of(const exec::Topology& t, double p, double e) {
  CpuSpeeds s;
  for (int cpu : t.allowed) {
    const double alone = cpu < 12 ? p : e;
    s.cpus.push_back({cpu, alone, 0.9 * alone, alone / 25e9, 0.9 * alone / 25e9});
  }
  s.probe_noise = 0.01;
  s.seconds = 0.5;
  return s;
}


TEST(HybridTopology, KindsComeFromHwlocsCpuKinds) {
  const exec::Topology t = hybrid();
  EXPECT_EQ(t.allowed_logical(), 20);
  EXPECT_EQ(t.allowed_cores(), 14);
  ASSERT_EQ(t.kinds.size(), 2u);
  EXPECT_EQ(t.kinds[0].name, "P");
  EXPECT_EQ(t.kinds[0].core_type, "IntelCore");
  EXPECT_DOUBLE_EQ(t.kinds[0].frequency_max_mhz, 5100);
  EXPECT_EQ(t.kinds[0].cpus.size(), 12u);
  EXPECT_EQ(t.kinds[1].name, "E");
  EXPECT_DOUBLE_EQ(t.kinds[1].frequency_max_mhz, 3900);
  EXPECT_GT(t.kinds[0].rank, t.kinds[1].rank);
  EXPECT_EQ(t.fastest_kind_cores(), 6);
  EXPECT_EQ(t.kinds_label({0, 13}), "P+E");
  EXPECT_EQ(t.kinds_label({12, 13}), "E");
  // The P cores come first, so the first core is a P core.
  for (int c = 0; c < 6; ++c) EXPECT_EQ(t.kind_of(t.cores[c].front())->name, "P");
  EXPECT_EQ(t.home_cpu(), 0);
}

TEST(HybridTopology, OneKindSaysNothingAboutKinds) {
  const exec::Topology t = bench::restrict_topology(hybrid(), {12, 13, 14, 15});
  EXPECT_TRUE(t.kinds.empty());
  EXPECT_EQ(t.kinds_label({12, 13}), "");
  EXPECT_TRUE(exec::make_topology({{0}, {1}}, false).kinds.empty());
}

TEST(HybridTopology, AnUnreadableFileIsOneSentence) {
  EXPECT_THROW(exec::topology_from_xml("/nonexistent/topology.xml"), std::runtime_error);
  const fs::path bad = fs::temp_directory_path() / ("cvp-bad-" + std::to_string(::getpid()) + ".xml");
  std::ofstream(bad) << "<topology><not closed";
  try {
    exec::topology_from_xml(bad.string());
    ADD_FAILURE() << "a broken file was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
  fs::remove(bad);
}

TEST(HybridModel, TheHomeCpuIsAPCoreAndEcoresHaveHalfTheCapacity) {
  const exec::Topology t = hybrid();
  const CpuSpeeds speeds = speeds_of(t, 100e9, 50e9);
  MachineModel m = bench::build_model(t, &speeds, {});
  ASSERT_TRUE(m.measured);
  EXPECT_EQ(m.home_cpu, 0);
  EXPECT_NE(m.home_reason.find("CPU 0"), std::string::npos) << m.home_reason;
  EXPECT_NE(m.home_reason.find("P core"), std::string::npos) << m.home_reason;
  EXPECT_DOUBLE_EQ(m.find(13)->capacity_alone, 0.5);
  EXPECT_DOUBLE_EQ(m.find(13)->capacity_all_busy, 0.45);
  EXPECT_EQ(m.find(13)->kind, "E");
  EXPECT_EQ(m.find(1)->kind, "P");
  EXPECT_DOUBLE_EQ(m.find(1)->frequency_max_mhz, 5100);
  // Two P cores (SMT siblings count once) and one E core, all busy.
  EXPECT_NEAR(m.team_capacity({0, 1, 2, 12}), 0.9 + 0.9 + 0.45, 1e-12);
  EXPECT_DOUBLE_EQ(m.team_capacity({12}), 0.5);  // one core: its capacity alone
  const exec::Topology ranked = bench::rank_topology(t, m);
  EXPECT_EQ(ranked.home_cpu(), 0);
  for (int c = 0; c < 6; ++c) EXPECT_LT(ranked.cores[c].front(), 12);
}

TEST(HybridModel, AFasterCoreBecomesHomeAndLeadsTheParallelTeams) {
  const exec::Topology t = hybrid();
  CpuSpeeds speeds = speeds_of(t, 100e9, 50e9);
  for (CpuSpeed& s : speeds.cpus) {
    if (s.cpu == 4 || s.cpu == 5) s.flops_alone = s.flops_all_busy = 120e9;  // a boosted core
  }
  MachineModel m = bench::build_model(t, &speeds, {});
  EXPECT_EQ(m.home_cpu, 4);
  EXPECT_NE(m.home_reason.find("fastest alone"), std::string::npos) << m.home_reason;
  const exec::Topology ranked = bench::rank_topology(t, m);
  EXPECT_EQ(ranked.home_cpu(), 4);
  EXPECT_EQ(ranked.parallel_cpus(1), std::vector<int>{4});
  EXPECT_EQ(m.find(4)->core, 0);  // the model's core indices follow the ranked topology
}

TEST(HybridModel, CpusWithinNoiseOfEachOtherKeepTheFirstCpuAsHome) {
  const exec::Topology t = exec::make_topology({{0}, {1}, {2}}, false);
  CpuSpeeds speeds;
  speeds.cpus = {{0, 99e9, 98e9, 3.5, 3.5}, {1, 100e9, 99e9, 3.5, 3.5}, {2, 98.5e9, 98e9, 3.5, 3.5}};
  MachineModel m = bench::build_model(t, &speeds, {});
  EXPECT_EQ(m.home_cpu, 0);
  EXPECT_NE(m.home_reason.find("as fast"), std::string::npos) << m.home_reason;
  const exec::Topology ranked = bench::rank_topology(t, m);
  EXPECT_EQ(ranked.cores, t.cores);  // nothing reordered for noise
  // A CPU clearly slower (CPU 0 at 0.5) gives the home to the next.
  speeds.cpus[0].flops_alone = speeds.cpus[0].flops_all_busy = 50e9;
  m = bench::build_model(t, &speeds, {});
  EXPECT_EQ(m.home_cpu, 1);
  EXPECT_EQ(bench::rank_topology(t, m).parallel_cpus(3), (std::vector<int>{1, 2, 0}));
}

// A fresh VM read both CPUs at 89.7 GFLOP/s alone and 106 all busy (the reading alone was
// disturbed): its teams' bounds read x2.37 on two cores. A CPU is never slower alone.
TEST(HybridModel, AReadingAloneBelowAllBusyIsRaisedToItAndSaidOnce) {
  const exec::Topology t = exec::make_topology({{0}, {1}}, false);
  CpuSpeeds speeds;
  speeds.cpus = {{0, 89.7e9, 106.2e9, 3.54, 3.58}, {1, 89.1e9, 106.3e9, 3.57, 3.58}};
  MachineModel m = bench::build_model(t, &speeds, {});
  EXPECT_NEAR(m.find(0)->flops_alone, 106.2e9, 1);
  EXPECT_LE(m.find(0)->capacity_all_busy, m.find(0)->capacity_alone);
  EXPECT_LE(m.team_capacity({0, 1}), 2.0 * (1 + bench::kHomeTie));
  EXPECT_NE(m.speeds_note.find("CPU 0 89.7 GFLOP/s alone, 106.2 GFLOP/s all busy"), std::string::npos)
      << m.speeds_note;
  EXPECT_NE(m.speeds_note.find("CPU 1"), std::string::npos) << m.speeds_note;
  EXPECT_TRUE(bench::cpus_to_json(m)["cpu_speeds"]["note"].is_string());
  // A/A: readings alone at or above all busy (or short by less than the tie) are kept as read
  // and nothing is said.
  speeds.cpus = {{0, 107e9, 106e9, 3.6, 3.6}, {1, 105.5e9, 107e9, 3.6, 3.6}};
  m = bench::build_model(t, &speeds, {});
  EXPECT_TRUE(m.speeds_note.empty()) << m.speeds_note;
  EXPECT_DOUBLE_EQ(m.find(0)->flops_alone, 107e9);
  EXPECT_DOUBLE_EQ(m.find(1)->flops_alone, 107e9);  // raised, silently, within the tie
  EXPECT_TRUE(bench::cpus_to_json(m)["cpu_speeds"]["note"].is_null());
}

TEST(HybridModel, UnmeasuredTheHomeIsTheFirstCpuOfTheFastestKind) {
  const exec::Topology t = hybrid();
  const MachineModel m = bench::build_model(t, nullptr, {});
  EXPECT_FALSE(m.measured);
  EXPECT_EQ(m.home_cpu, 0);
  EXPECT_NE(m.home_reason.find("not measured"), std::string::npos) << m.home_reason;
  EXPECT_DOUBLE_EQ(m.find(15)->capacity_all_busy, 1.0);
  EXPECT_DOUBLE_EQ(m.team_capacity({0, 12, 13}), 3.0);  // 1 for each
  const nlohmann::json j = bench::cpus_to_json(m);
  EXPECT_TRUE(j["cpus"][0]["flops_alone"].is_null());
  EXPECT_EQ(j["home_cpu"]["cpu"], 0);
  EXPECT_FALSE(j["cpu_speeds"]["measured"].get<bool>());
}

TEST(HybridPlan, ParallelPointsHavePOnlyPPlusEAndAllLogicalCpus) {
  const exec::Topology t = hybrid();
  const PlanContext context(t, /*quick=*/true, {}, {}, std::nullopt);
  Point base;
  base.group = "x";
  const std::vector<Point> points = context.task_sweep(base, {Backend::threads});
  std::map<int, const Point*> parallel;
  for (const Point& p : points) {
    if (p.mode == Mode::parallel) parallel[p.threads] = &p;
    if (p.mode != Mode::parallel) {
      EXPECT_EQ(p.cpus.front(), 0) << p.name();
    }
  }
  ASSERT_TRUE(parallel.count(6) && parallel.count(14) && parallel.count(20));
  EXPECT_EQ(parallel[6]->kinds, "P");
  for (int cpu : parallel[6]->cpus) EXPECT_LT(cpu, 12);
  EXPECT_EQ(parallel[6]->cores, 6);
  EXPECT_EQ(parallel[14]->kinds, "P+E");
  EXPECT_EQ(parallel[14]->cores, 14);
  EXPECT_EQ(parallel[20]->kinds, "P+E");
  EXPECT_EQ(parallel[20]->placement, Placement::smt);
  const std::set<int> all(parallel[20]->cpus.begin(), parallel[20]->cpus.end());
  EXPECT_EQ(all.size(), 20u);
  // One kind: no P-only point and no labels.
  const exec::Topology alike = exec::make_topology({{0}, {1}, {2}, {3}}, false);
  const PlanContext plain(alike, true, {}, {}, std::nullopt);
  for (const Point& p : plain.task_sweep(base, {Backend::threads})) EXPECT_EQ(p.kinds, "");
}

TEST(Sysfs, CpuCapacityIsReadFromTheTreeGiven) {
  const fs::path root = fs::temp_directory_path() / ("cvp-sysfs-" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (const auto& [cpu, text] : std::vector<std::pair<int, std::string>>{
           {0, "1024\n"}, {1, "512\n"}, {3, "garbage\n"}}) {
    const fs::path dir = root / "devices" / "system" / "cpu" / ("cpu" + std::to_string(cpu));
    fs::create_directories(dir);
    std::ofstream(dir / "cpu_capacity") << text;
  }
  const auto capacity = bench::read_sysfs_capacity({0, 1, 2, 3}, root.string());
  EXPECT_EQ(capacity, (std::map<int, double>{{0, 1024}, {1, 512}}));
  const exec::Topology t = exec::make_topology({{0}, {1}, {2}, {3}}, false);
  const MachineModel m = bench::build_model(t, nullptr, capacity);
  EXPECT_DOUBLE_EQ(m.find(1)->sysfs_capacity, 512);
  EXPECT_TRUE(bench::cpus_to_json(m)["cpus"][2]["sysfs_capacity"].is_null());
  fs::remove_all(root);
}

// Two CPUs of 10 GFLOP/s and 3 GHz alone; all busy as given.
CpuSpeeds two_cpus(double busy0, double ghz0, double busy1, double ghz1) {
  CpuSpeeds s;
  s.cpus = {{0, 10e9, busy0, 3.0, ghz0}, {1, 10e9, busy1, 3.0, ghz1}};
  return s;
}

// An FMA rate all busy that fell by half with the clock unchanged is measured again, and a
// later, higher reading replaces it; one whose clock fell with it (boost), or that did not fall
// (the A/A), is not measured again; a sharing that lasts stays after the tries.
TEST(AllBusy, AFallWithoutTheClockIsMeasuredAgainAndAPassingOneIsReplaced) {
  int calls = 0;
  const auto later = [&](double busy) {
    return [&calls, busy] {
      ++calls;
      return std::vector<CpuSpeed>{{0, 0, busy, 0, 3.0}, {1, 0, busy, 0, 3.0}};
    };
  };
  CpuSpeeds passing = two_cpus(5e9, 3.0, 5e9, 3.0);  // both halved, clocks held
  EXPECT_EQ(bench::confirm_all_busy(passing, later(9.9e9), 3), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(passing.cpus[0].flops_all_busy, 9.9e9);
  EXPECT_DOUBLE_EQ(passing.cpus[1].flops_all_busy, 9.9e9);

  calls = 0;
  CpuSpeeds lasting = two_cpus(5e9, 3.0, 10e9, 3.0);  // CPU 0 shares its core for good
  EXPECT_EQ(bench::confirm_all_busy(lasting, later(5e9), 3), 3);
  EXPECT_EQ(calls, 3);
  EXPECT_DOUBLE_EQ(lasting.cpus[0].flops_all_busy, 5e9);
  EXPECT_DOUBLE_EQ(lasting.cpus[1].flops_all_busy, 10e9);  // never lowered by a later reading

  calls = 0;
  CpuSpeeds boost = two_cpus(7e9, 2.1, 7e9, 2.1);  // the clock fell as much as the rate
  EXPECT_EQ(bench::confirm_all_busy(boost, later(10e9), 3), 0);
  CpuSpeeds quiet = two_cpus(9.8e9, 3.0, 10e9, 2.95);
  EXPECT_EQ(bench::confirm_all_busy(quiet, later(10e9), 3), 0);
  EXPECT_EQ(calls, 0);
  EXPECT_DOUBLE_EQ(quiet.cpus[0].flops_all_busy, 9.8e9);
}

TEST(SpeedsJson, RoundTripsAndRefusesWhatDoesNotFit) {
  const exec::Topology t = exec::make_topology({{0}, {1}}, false);
  CpuSpeeds s;
  s.cpus = {{0, 1e11, 9e10, 3.5, 3.4}, {1, 5e10, 4e10, 1.7, 1.6}};
  s.probe_noise = 0.004;
  s.seconds = 0.6;
  const auto back = bench::speeds_from_json(bench::speeds_to_json(s), t.allowed);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->cpus.size(), 2u);
  EXPECT_DOUBLE_EQ(back->cpus[1].ghz_all_busy, 1.6);
  EXPECT_DOUBLE_EQ(back->probe_noise, 0.004);
  EXPECT_FALSE(bench::speeds_from_json(bench::speeds_to_json(s), {0, 1, 2}));  // other CPUs
  nlohmann::json broken = bench::speeds_to_json(s);
  broken["cpus"][0].erase("flops_all_busy");
  EXPECT_FALSE(bench::speeds_from_json(broken, t.allowed));
  broken = bench::speeds_to_json(s);
  broken["cpus"][1]["ghz_alone"] = -1;
  EXPECT_FALSE(bench::speeds_from_json(broken, t.allowed));
  EXPECT_FALSE(bench::speeds_from_json(nlohmann::json(), t.allowed));
  EXPECT_FALSE(bench::speeds_from_json("text", t.allowed));
}

// Restores the seam whatever a test does.
struct SlowCpusReset {
  ~SlowCpusReset() { exec::set_slow_cpus({}); }
};

// How much longer than its own time each task of a team of one worker pinned to `cpu` keeps
// the worker: the median over 20 tasks of (start of the next task - its start) / its own
// time. A moment the worker is preempted lengthens a task and its stretch alike.
double stretch_of_tasks_on(int cpu) {
  using Clock = std::chrono::steady_clock;
  constexpr std::size_t kTasks = 21;
  std::vector<Clock::time_point> starts(kTasks);
  std::vector<double> own(kTasks);
  auto team = exec::make_executor(Backend::threads, {cpu});
  team->run(kTasks, [&](std::size_t i) {
    starts[i] = Clock::now();
    const auto end = starts[i] + std::chrono::milliseconds(1);
    while (Clock::now() < end) {
    }
    own[i] = std::chrono::duration<double>(Clock::now() - starts[i]).count();
  });
  std::vector<double> ratios;
  for (std::size_t i = 0; i + 1 < kTasks; ++i) {
    ratios.push_back(std::chrono::duration<double>(starts[i + 1] - starts[i]).count() / own[i]);
  }
  std::sort(ratios.begin(), ratios.end());
  return ratios[ratios.size() / 2];
}

TEST(SlowCpu, TasksOnASlowedCpuTakeLongerAndOthersDoNot) {
  const SlowCpusReset reset;
  const std::vector<int> allowed = exec::allowed_cpus();
  const int cpu = allowed.front();
  EXPECT_LT(stretch_of_tasks_on(cpu), 1.3);  // A/A: nothing slowed
  exec::set_slow_cpus({{cpu, 100}});
  EXPECT_DOUBLE_EQ(exec::slow_cpu_percent(cpu), 100);
  EXPECT_GT(stretch_of_tasks_on(cpu), 1.7);  // twice its time, less the clock's overhead
  if (allowed.size() > 1) {
    EXPECT_LT(stretch_of_tasks_on(allowed[1]), 1.3);  // another CPU is not slowed
  }
  exec::set_slow_cpus({});
  EXPECT_DOUBLE_EQ(exec::stretch_on_slow_cpu(1.0), 0.0);
}

TEST(SlowCpu, TheMeasuredCapacityOfASlowedCpuIsAboutHalf) {
  const SlowCpusReset reset;
  const exec::Topology t = exec::detect_topology();
  if (t.allowed_logical() < 2) GTEST_SKIP() << "needs two CPUs";
  const int slow = t.allowed[1];
  exec::set_slow_cpus({{slow, 100}});
  const CpuSpeeds speeds = bench::measure_cpu_speeds(t);
  EXPECT_LT(speeds.seconds, 2.0);
  const MachineModel m = bench::build_model(t, &speeds, {});
  EXPECT_NE(m.home_cpu, slow);
  EXPECT_NEAR(m.find(slow)->capacity_alone, 0.5, 0.1);
  EXPECT_NEAR(m.find(slow)->ghz_alone / m.find(m.home_cpu)->ghz_alone, 0.5, 0.1);
}

struct BadSlowCpu {
  std::vector<std::string> args;
  std::string message;
};

class SlowCpuRejects : public testing::TestWithParam<BadSlowCpu> {};

TEST_P(SlowCpuRejects, WithOneClearSentence) {
  auto owned = workloads::builtin();
  std::vector<Workload*> all;
  for (auto& w : owned) all.push_back(w.get());
  std::vector<std::string> args = GetParam().args;
  args.insert(args.begin(), "cvpbench");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  const exec::Topology t = exec::make_topology({{0}, {1}}, false);
  try {
    bench::parse_command_line(static_cast<int>(argv.size()), argv.data(), t, all);
    ADD_FAILURE() << "accepted";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(GetParam().message), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Catalogue, SlowCpuRejects,
    testing::Values(BadSlowCpu{{"--inject-slow-cpu", "2:50"}, "CPU 2 is not one this run may use"},
                    BadSlowCpu{{"--cpus", "0", "--inject-slow-cpu", "1:50"}, "not one this run"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:0"}, "above 0 and at most 1000"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:1001"}, "above 0 and at most 1000"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:-5"}, "CPU:PCT"},
                    BadSlowCpu{{"--inject-slow-cpu", "1"}, "CPU:PCT"},
                    BadSlowCpu{{"--inject-slow-cpu", "x:50"}, "CPU:PCT"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:fast"}, "CPU:PCT"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:50,1:20"}, "more than once"},
                    BadSlowCpu{{"--inject-slow-cpu", "1:50,"}, "an empty item"}));

TEST(SlowCpuOption, IsParsedAsAListOrRepeated) {
  auto owned = workloads::builtin();
  std::vector<Workload*> all;
  for (auto& w : owned) all.push_back(w.get());
  const char* argv[] = {"cvpbench", "--inject-slow-cpu", "1:100,0:12.5"};
  const exec::Topology t = exec::make_topology({{0}, {1}}, false);
  const auto parsed = bench::parse_command_line(3, argv, t, all);
  ASSERT_TRUE(parsed.options);
  ASSERT_EQ(parsed.options->slow_cpus.size(), 2u);
  EXPECT_EQ(parsed.options->slow_cpus[0].cpu, 0);
  EXPECT_DOUBLE_EQ(parsed.options->slow_cpus[0].percent, 12.5);
  EXPECT_EQ(parsed.options->slow_cpus[1].cpu, 1);
}

}  // namespace

// The machine limits: their JSON form, the per-machine cache (with a stub measurement, so every
// cache path runs in milliseconds) and the sanity of one real measurement.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cvp/exec/topology.h"
#include "cvp/isa.h"
#include "host/fma_peak.h"
#include "host/machine_limits.h"

namespace {

namespace fs = std::filesystem;
using namespace cvp::bench;

MachineLimits sample_limits() {
  MachineLimits m;
  m.flops_one_core = 64e9;
  m.flops_all_cores = 128e9;
  m.cores = 2;
  m.bandwidth_one_core = 25e9;
  m.bandwidth_all_cores = 30e9;
  m.timer_wakeup_us = {8.5, 40.25};
  m.futex_wakeup_us = {12.0, 55.5};
  m.context_switch_us = 1.75;
  m.measured_at = "2026-01-31T12:00:00Z";
  m.seconds = 1.25;
  m.key = "cpu=test";
  m.cpu_speeds.cpus = {{0, 64e9, 63e9, 3.5, 3.4}, {1, 32e9, 31e9, 1.75, 1.7}};
  m.cpu_speeds.probe_noise = 0.005;
  m.cpu_speeds.seconds = 0.5;
  return m;
}

void expect_same_figures(const MachineLimits& a, const MachineLimits& b) {
  EXPECT_EQ(a.flops_one_core, b.flops_one_core);
  EXPECT_EQ(a.flops_all_cores, b.flops_all_cores);
  EXPECT_EQ(a.cores, b.cores);
  EXPECT_EQ(a.bandwidth_one_core, b.bandwidth_one_core);
  EXPECT_EQ(a.bandwidth_all_cores, b.bandwidth_all_cores);
  EXPECT_EQ(a.timer_wakeup_us.median, b.timer_wakeup_us.median);
  EXPECT_EQ(a.timer_wakeup_us.p99, b.timer_wakeup_us.p99);
  EXPECT_EQ(a.futex_wakeup_us.median, b.futex_wakeup_us.median);
  EXPECT_EQ(a.futex_wakeup_us.p99, b.futex_wakeup_us.p99);
  EXPECT_EQ(a.context_switch_us, b.context_switch_us);
  EXPECT_EQ(a.measured_at, b.measured_at);
  EXPECT_EQ(a.seconds, b.seconds);
  EXPECT_EQ(a.key, b.key);
}

// The per-CPU speeds, which the cache keeps beside the limits.
void expect_same_speeds(const MachineLimits& a, const MachineLimits& b) {
  ASSERT_EQ(a.cpu_speeds.cpus.size(), b.cpu_speeds.cpus.size());
  for (std::size_t i = 0; i < a.cpu_speeds.cpus.size(); ++i) {
    EXPECT_EQ(a.cpu_speeds.cpus[i].cpu, b.cpu_speeds.cpus[i].cpu);
    EXPECT_EQ(a.cpu_speeds.cpus[i].flops_alone, b.cpu_speeds.cpus[i].flops_alone);
    EXPECT_EQ(a.cpu_speeds.cpus[i].flops_all_busy, b.cpu_speeds.cpus[i].flops_all_busy);
    EXPECT_EQ(a.cpu_speeds.cpus[i].ghz_alone, b.cpu_speeds.cpus[i].ghz_alone);
    EXPECT_EQ(a.cpu_speeds.cpus[i].ghz_all_busy, b.cpu_speeds.cpus[i].ghz_all_busy);
  }
  EXPECT_EQ(a.cpu_speeds.probe_noise, b.cpu_speeds.probe_noise);
}

TEST(LimitsJson, RoundTrips) {
  const MachineLimits m = sample_limits();
  const nlohmann::json j = to_json(m);
  EXPECT_TRUE(j["method"]["flops_per_s"].is_string());
  EXPECT_TRUE(j["method"]["futex_wakeup_us"].is_string());
  const auto back = limits_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back);
  expect_same_figures(*back, m);
  EXPECT_FALSE(back->cached);
}

// The bandwidth of each kind of core travels with the limits; an entry of one kind has none, and
// a torn or nonsensical one makes the whole entry malformed (measured again).
TEST(LimitsJson, KeepsTheBandwidthOfEachKind) {
  MachineLimits m = sample_limits();
  EXPECT_TRUE(limits_from_json(to_json(m))->bandwidth_by_kind.empty());
  m.bandwidth_by_kind = {{"P", {0, 2}, 30e9, 55e9}, {"E", {4, 5, 6}, 12e9, 20e9}};
  const nlohmann::json j = to_json(m);
  const auto back = limits_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->bandwidth_by_kind.size(), 2u);
  EXPECT_EQ(back->bandwidth_by_kind[1].kind, "E");
  EXPECT_EQ(back->bandwidth_by_kind[1].cpus, (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(back->bandwidth_by_kind[0].all_cores, 55e9);
  EXPECT_EQ(back->bandwidth_by_kind[1].one_core, 12e9);
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"kind", ""}, {"kind", 3}, {"cpus", nlohmann::json::array()}, {"cpus", {-1}},
           {"one_core", 0}, {"all_cores", "fast"}}) {
    nlohmann::json bad = j;
    bad["bandwidth_by_kind"][0][field] = value;
    EXPECT_FALSE(limits_from_json(bad)) << field << " = " << value.dump();
  }
  nlohmann::json torn = j;
  torn["bandwidth_by_kind"][1].erase("all_cores");
  EXPECT_FALSE(limits_from_json(torn));
  torn = j;
  torn["bandwidth_by_kind"] = "P";
  EXPECT_FALSE(limits_from_json(torn));
}

// A team of one kind of core draws its kind's bandwidth; a mixed team, an unknown CPU or a
// machine of one kind, the machine's.
TEST(LimitsBandwidth, ATeamOfOneKindDrawsItsKinds) {
  MachineModel model;
  model.measured = true;
  for (int cpu = 0; cpu < 4; ++cpu) {
    CpuInfo c;
    c.cpu = cpu;
    c.core = cpu;
    c.kind = cpu < 2 ? "P" : "E";
    model.cpus.push_back(c);
  }
  const std::vector<KindBandwidth> by_kind = {{"P", {0, 1}, 30e9, 50e9}, {"E", {2, 3}, 10e9, 18e9}};
  EXPECT_EQ(team_bandwidth(model, by_kind, {0, 1}, 60e9), 50e9);
  EXPECT_EQ(team_bandwidth(model, by_kind, {3}, 60e9), 18e9);
  EXPECT_EQ(team_bandwidth(model, by_kind, {0, 2}, 60e9), 60e9);
  EXPECT_EQ(team_bandwidth(model, by_kind, {0, 9}, 60e9), 60e9);
  EXPECT_EQ(team_bandwidth(model, {}, {0, 1}, 60e9), 60e9);
  for (auto& c : model.cpus) c.kind.clear();
  EXPECT_EQ(team_bandwidth(model, by_kind, {0, 1}, 60e9), 60e9);
}

// On a machine with two kinds (this machine's two CPUs, told they are a P and an E core), each
// kind's triad is measured on its own cores; with one kind, none is.
TEST(LimitsMeasurement, MeasuresEachKindsBandwidth) {
  cvp::exec::Topology t = cvp::exec::detect_topology();
  if (t.cores.size() < 2) GTEST_SKIP() << "needs 2 cores";
  t.kinds = {{"P", 2, "", 0, {t.cores[0].front()}}, {"E", 1, "", 0, {t.cores[1].front()}}};
  const MachineLimits m = measure_limits(t);
  ASSERT_EQ(m.bandwidth_by_kind.size(), 2u);
  EXPECT_EQ(m.bandwidth_by_kind[0].kind, "P");
  EXPECT_EQ(m.bandwidth_by_kind[0].cpus, (std::vector<int>{t.cores[0].front()}));
  EXPECT_EQ(m.bandwidth_by_kind[1].cpus, (std::vector<int>{t.cores[1].front()}));
  for (const auto& k : m.bandwidth_by_kind) {
    EXPECT_TRUE(std::isfinite(k.one_core) && k.one_core > 0);
    EXPECT_TRUE(std::isfinite(k.all_cores) && k.all_cores > 0);
  }
  EXPECT_TRUE(limits_from_json(to_json(m)));
  EXPECT_TRUE(measure_limits(cvp::exec::detect_topology()).bandwidth_by_kind.empty());
}

// Limits a kernel of the run went faster than cannot be the machine's: a cache with a 1 MFLOP/s
// peak or a 1 KB/s bandwidth is caught; limits that hold (and a triad in cache, which may beat
// memory bandwidth by a few times) are not.
TEST(LimitsCheck, AKernelFasterThanThePeakContradictsTheLimits) {
  MachineLimits l;
  l.flops_one_core = 50e9;
  l.flops_all_cores = 95e9;
  l.bandwidth_one_core = 10e9;
  l.bandwidth_all_cores = 15e9;
  const std::vector<RateSeen> ok = {{"matmul serial", 45e9, 1e9, 1},
                                    {"matmul parallel", 90e9, 2e9, 2},
                                    {"triad in cache", 0, 80e9, 1}};
  EXPECT_FALSE(contradicted_by(l, ok));
  MachineLimits wrong = l;
  wrong.flops_one_core = 1e6;
  const auto flops = contradicted_by(wrong, ok);
  ASSERT_TRUE(flops);
  EXPECT_NE(flops->find("matmul serial reached 45 GFLOP/s on one core"), std::string::npos) << *flops;
  wrong = l;
  wrong.bandwidth_all_cores = 1e3;
  const auto bytes = contradicted_by(wrong, ok);
  ASSERT_TRUE(bytes);
  EXPECT_NE(bytes->find("matmul parallel moved"), std::string::npos) << *bytes;
  // The all-cores figures judge a team, the one-core figures a single thread.
  EXPECT_TRUE(contradicted_by(l, {{"team", 120e9, 0, 2}}));
  EXPECT_FALSE(contradicted_by(l, {{"team", 90e9, 0, 2}}));
  EXPECT_TRUE(contradicted_by(l, {{"one", 90e9, 0, 1}}));
}

TEST(LimitsJson, MalformedIsRejected) {
  const nlohmann::json good = to_json(sample_limits());
  auto with = [&](const nlohmann::json::json_pointer& where, const nlohmann::json& value) {
    nlohmann::json j = good;
    j[where] = value;
    return limits_from_json(j);
  };
  auto without = [&](const nlohmann::json::json_pointer& where) {
    nlohmann::json j = good;
    j[where.parent_pointer()].erase(where.back());
    return limits_from_json(j);
  };
  using P = nlohmann::json::json_pointer;
  EXPECT_FALSE(limits_from_json(nlohmann::json()));
  EXPECT_FALSE(limits_from_json(nlohmann::json::array()));
  EXPECT_FALSE(limits_from_json(nlohmann::json::parse("{\"x\":", nullptr, false)));
  EXPECT_FALSE(without(P("/flops_per_s/one_core")));
  EXPECT_FALSE(without(P("/timer_wakeup_us/p99")));
  EXPECT_FALSE(without(P("/key")));
  EXPECT_FALSE(with(P("/flops_per_s/all_cores"), "fast"));
  EXPECT_FALSE(with(P("/context_switch_us"), "1.5"));
  EXPECT_FALSE(with(P("/cached"), 1));
  EXPECT_FALSE(with(P("/measured_at"), 20260131));
  EXPECT_FALSE(with(P("/bandwidth_bytes_per_s/one_core"), -25e9));
  EXPECT_FALSE(with(P("/bandwidth_bytes_per_s/all_cores"), 0));
  EXPECT_FALSE(with(P("/futex_wakeup_us/median"), -1));
  EXPECT_FALSE(with(P("/seconds"), -0.5));
  EXPECT_FALSE(with(P("/flops_per_s/cores"), 0));
  EXPECT_FALSE(with(P("/flops_per_s/cores"), 1.5));
  EXPECT_FALSE(with(P("/timer_wakeup_us/p99"), nullptr));  // how a NaN is written
  EXPECT_TRUE(with(P("/timer_wakeup_us/median"), 0));       // on time is a latency of zero
}

// Sets an environment variable for one scope, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class LimitsCache : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cvp-limits-" + std::to_string(::getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // machine_limits with the stub measurement, counting the calls.
  MachineLimits limits(bool remeasure = false) {
    note_ = "stale";
    return machine_limits(topology_, remeasure, &note_, [this] {
      ++measured_;
      MachineLimits m = sample_limits();
      m.flops_one_core += measured_;  // each measurement tells itself apart
      return m;
    });
  }
  // The same on a machine whose load the test sets: `others_` is what other processes do
  // during a measurement ("" when nothing), `busy_now_` whether they are busy when a run starts.
  MachineLimits limits_under_load(bool remeasure = false) {
    cvp::bench::LoadWatch watch;
    watch.during = [this](const std::function<void()>& run) {
      run();
      return others_;
    };
    watch.busy_now = [this] {
      ++looked_;
      return busy_now_;
    };
    note_ = "stale";
    return machine_limits(topology_, remeasure, &note_, [this] {
      ++measured_;
      MachineLimits m = sample_limits();
      m.flops_one_core += measured_;
      return m;
    }, watch);
  }
  // The one cache file in `dir`, or "" when there is none.
  static fs::path cache_file(const fs::path& dir) {
    fs::path found;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("limits-", 0) == 0 && entry.path().extension() == ".json") {
        EXPECT_TRUE(found.empty()) << "two cache files";
        found = entry.path();
      }
    }
    return found;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static int files_in(const fs::path& dir) {
    int n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++n;
    return n;
  }

  fs::path root_;
  cvp::exec::Topology topology_ = cvp::exec::make_topology({{0}, {1}}, false);
  std::string note_;
  int measured_ = 0;
  std::string others_;
  bool busy_now_ = false;
  int looked_ = 0;
};

TEST_F(LimitsCache, MeasuresOnceThenReads) {
  const fs::path dir = root_ / "new" / "cache";  // created on the first write
  ScopedEnv env("CVPBENCH_CACHE_DIR", dir.string());
  const MachineLimits first = limits();
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(measured_, 1);
  EXPECT_EQ(note_, "");
  EXPECT_NE(first.key.find("cpu=synthetic"), std::string::npos);
  // The ISA the FMA loop runs now, chosen at run time: a forced narrower path is another entry.
  EXPECT_NE(first.key.find(std::string(";isa=") + cvp::bench::fma_isa() + ";"), std::string::npos)
      << first.key;
  const fs::path file = cache_file(dir);
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(files_in(dir), 1) << "no temporary file left behind";
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::others_write, fs::perms::none);

  const MachineLimits second = limits();
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(measured_, 1);
  EXPECT_EQ(note_, "");
  expect_same_figures(second, first);
  expect_same_speeds(second, first);
}

TEST_F(LimitsCache, RemeasureIgnoresAndRewritesTheCache) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const MachineLimits again = limits(/*remeasure=*/true);
  EXPECT_FALSE(again.cached);
  EXPECT_EQ(measured_, 2);
  const MachineLimits read_back = limits();
  EXPECT_TRUE(read_back.cached);
  EXPECT_EQ(read_back.flops_one_core, again.flops_one_core);
}

// Figures measured while others used the CPUs are kept, flagged, while the machine stays busy,
// and measured again by the first quiet run; a quiet entry is never looked at again.
TEST_F(LimitsCache, LimitsMeasuredUnderLoadAreMeasuredAgainOnceQuiet) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  others_ = "other processes used CPU (cc1plus 97% of a CPU)";
  const MachineLimits busy = limits_under_load();
  EXPECT_EQ(busy.disturbed, others_);
  EXPECT_NE(note_.find("measured while other processes used CPU (cc1plus 97% of a CPU): they may "
                       "read low"), std::string::npos) << note_;
  EXPECT_EQ(nlohmann::json::parse(read(cache_file(root_)))["disturbed"], others_);
  EXPECT_EQ(cvp::bench::to_json(busy)["disturbed"], others_);

  busy_now_ = true;  // still busy: the flagged entry stands, not measured under load again
  const MachineLimits stands = limits_under_load();
  EXPECT_TRUE(stands.cached);
  EXPECT_EQ(measured_, 1);
  EXPECT_EQ(looked_, 1);
  EXPECT_EQ(stands.disturbed, others_);
  EXPECT_NE(note_.find("busy now too"), std::string::npos) << note_;

  busy_now_ = false;
  others_.clear();  // quiet: measured again, and the quiet figures replace the flagged ones
  const MachineLimits quiet = limits_under_load();
  EXPECT_FALSE(quiet.cached);
  EXPECT_EQ(measured_, 2);
  EXPECT_EQ(quiet.disturbed, "");
  EXPECT_NE(note_.find("and the machine is quiet now; measured afresh and rewrote it"),
            std::string::npos) << note_;
  EXPECT_TRUE(nlohmann::json::parse(read(cache_file(root_)))["disturbed"].is_null());

  busy_now_ = true;  // a quiet entry is read whatever the load now, without looking at it
  const MachineLimits read_back = limits_under_load();
  EXPECT_TRUE(read_back.cached);
  EXPECT_EQ(measured_, 2);
  EXPECT_EQ(looked_, 2);
  EXPECT_EQ(note_, "");
  EXPECT_EQ(read_back.flops_one_core, quiet.flops_one_core);
}

// --limits measure under load keeps its figures (flagged) even over a quiet entry: asked for.
TEST_F(LimitsCache, RemeasureUnderLoadIsKeptFlagged) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits_under_load();
  others_ = "the hypervisor took 9.0% of the CPUs (steal)";
  const MachineLimits again = limits_under_load(/*remeasure=*/true);
  EXPECT_EQ(again.disturbed, others_);
  EXPECT_EQ(nlohmann::json::parse(read(cache_file(root_)))["disturbed"], others_);
}

TEST_F(LimitsCache, AFlagThatIsNotTextIsACorruptEntry) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  nlohmann::json entry = nlohmann::json::parse(read(file));
  entry["disturbed"] = 3;
  std::ofstream(file) << entry.dump();
  limits();
  EXPECT_EQ(measured_, 2);
  EXPECT_NE(note_.find("was corrupt"), std::string::npos) << note_;
}

TEST_F(LimitsCache, AnotherMachinesEntryIsMeasuredOver) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  nlohmann::json other = nlohmann::json::parse(read(file));
  other["key"] = "cpu=another";
  std::ofstream(file) << other.dump();
  const MachineLimits m = limits();
  EXPECT_FALSE(m.cached);
  EXPECT_EQ(measured_, 2);
  EXPECT_EQ(note_, "");
  EXPECT_TRUE(limits().cached);
}

TEST_F(LimitsCache, AnEntryWithoutPerCpuSpeedsIsMeasuredOverWithANote) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  nlohmann::json old = nlohmann::json::parse(read(file));
  ASSERT_TRUE(old.contains("cpu_speeds"));
  old.erase("cpu_speeds");  // as an older version wrote it
  std::ofstream(file) << old.dump();
  const MachineLimits m = limits();
  EXPECT_FALSE(m.cached);
  EXPECT_EQ(measured_, 2);
  EXPECT_NE(note_.find("per-CPU speeds"), std::string::npos) << note_;
  EXPECT_EQ(m.cpu_speeds.cpus.size(), 2u);
  EXPECT_TRUE(nlohmann::json::parse(read(file)).contains("cpu_speeds")) << "rewritten whole";
  const MachineLimits again = limits();  // and read back the next time
  EXPECT_TRUE(again.cached);
  expect_same_figures(again, m);
  expect_same_speeds(again, m);
}

TEST_F(LimitsCache, CorruptFileIsMeasuredOverAndReplaced) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  std::ofstream(file) << "{\"flops_one_core\": {\"value\": 1";
  const MachineLimits m = limits();
  EXPECT_FALSE(m.cached);
  EXPECT_EQ(measured_, 2);
  EXPECT_NE(note_.find("corrupt"), std::string::npos) << note_;
  const auto replaced = limits_from_json(nlohmann::json::parse(read(file), nullptr, false));
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->flops_one_core, m.flops_one_core);
}

TEST_F(LimitsCache, SymlinkIsNeitherFollowedNorReplaced) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  const fs::path target = root_ / "elsewhere.json";
  fs::rename(file, target);  // a valid entry: reading through the link would be a cache hit
  const std::string before = read(target);
  fs::create_symlink(target, file);

  for (bool remeasure : {false, true}) {
    const MachineLimits m = limits(remeasure);
    EXPECT_FALSE(m.cached);
    EXPECT_FALSE(note_.empty());
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(file)));
    EXPECT_EQ(read(target), before);
  }
  EXPECT_EQ(measured_, 3);
}

TEST_F(LimitsCache, DirectoryAtTheCachePathIsLeftAlone) {
  ScopedEnv env("CVPBENCH_CACHE_DIR", root_.string());
  limits();
  const fs::path file = cache_file(root_);
  fs::remove(file);
  fs::create_directory(file);
  EXPECT_FALSE(limits().cached);
  EXPECT_FALSE(note_.empty());
  EXPECT_TRUE(fs::is_directory(file));
}

TEST_F(LimitsCache, UnwritableDirStillMeasures) {
  const fs::path blocker = root_ / "a-file";
  std::ofstream(blocker) << "not a directory";
  ScopedEnv env("CVPBENCH_CACHE_DIR", (blocker / "cache").string());
  MachineLimits m;
  EXPECT_NO_THROW(m = limits());
  EXPECT_FALSE(m.cached);
  EXPECT_EQ(measured_, 1);
  EXPECT_NE(note_.find("could not be written"), std::string::npos) << note_;
  EXPECT_EQ(read(blocker), "not a directory");
}

TEST_F(LimitsCache, FallsBackToXdgThenHome) {
  ScopedEnv unset_dir("CVPBENCH_CACHE_DIR", "");
  {
    ScopedEnv xdg("XDG_CACHE_HOME", (root_ / "xdg").string());
    limits();
    EXPECT_FALSE(cache_file(root_ / "xdg" / "cvpbench").empty());
  }
  ScopedEnv xdg("XDG_CACHE_HOME", "");
  ScopedEnv home("HOME", (root_ / "home").string());
  limits();
  EXPECT_FALSE(cache_file(root_ / "home" / ".cache" / "cvpbench").empty());
}

TEST(LimitsMeasurement, FiguresAreSane) {
  const cvp::exec::Topology topology = cvp::exec::detect_topology();
  const MachineLimits m = measure_limits(topology);
  for (double v : {m.flops_one_core, m.flops_all_cores, m.bandwidth_one_core,
                   m.bandwidth_all_cores, m.timer_wakeup_us.median, m.timer_wakeup_us.p99,
                   m.futex_wakeup_us.median, m.futex_wakeup_us.p99, m.context_switch_us,
                   m.seconds}) {
    EXPECT_TRUE(std::isfinite(v) && v > 0) << v;
  }
  EXPECT_EQ(m.cores, topology.allowed_cores());
  EXPECT_GE(m.flops_all_cores, m.flops_one_core * 0.5);
  EXPECT_LT(m.context_switch_us, 1000);
  EXPECT_GE(m.timer_wakeup_us.p99, m.timer_wakeup_us.median);
  EXPECT_GE(m.futex_wakeup_us.p99, m.futex_wakeup_us.median);
  EXPECT_FALSE(m.cached);
  EXPECT_FALSE(m.measured_at.empty());
  EXPECT_TRUE(limits_from_json(to_json(m))) << to_json(m).dump(2);
  ASSERT_EQ(m.cpu_speeds.cpus.size(), topology.allowed.size());
  for (const auto& s : m.cpu_speeds.cpus) {
    EXPECT_TRUE(s.flops_alone > 0 && s.flops_all_busy > 0 && s.ghz_alone > 0 && s.ghz_all_busy > 0);
  }
  EXPECT_LT(m.cpu_speeds.seconds, 2.0);
}

TEST(FmaPeak, UsesTheChosenPathAndMeasuresARate) {
  const cvp::Isa isa = cvp::chosen_isa();
  const std::string expected = isa == cvp::Isa::avx512 ? "AVX-512"
                               : isa == cvp::Isa::avx2 ? "AVX2"
                                                       : "generic";
  EXPECT_EQ(cvp::bench::fma_isa(), expected);
  // Any CPU of this century does more than 0.1 GFLOP/s and less than 1 PFLOP/s on one core.
  const double rate = cvp::bench::fma_flops(0.02);
  EXPECT_GT(rate, 1e8);
  EXPECT_LT(rate, 1e15);
}

}  // namespace

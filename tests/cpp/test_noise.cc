// Noise readings (/proc/loadavg, /proc/stat, /proc/PID/stat) and the cgroup CPU quota, read
// from fake trees so that every branch is checked on any machine.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "host/disturbance.h"
#include "host/machine.h"
#include "host/resources.h"
#include "host/noise.h"

namespace {

namespace fs = std::filesystem;
using namespace cvp::bench;

class FakeTree : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cvp-noise-" + std::to_string(::getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& relative, const std::string& text) {
    const fs::path p = root_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

using Noise = FakeTree;
using CgroupQuota = FakeTree;

TEST_F(Noise, QuietMachineIsNotNoisy) {
  write("loadavg", "0.10 0.20 0.30 1/100 42\n");
  write("stat", "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 50 0 50 500 0 0 0 0 0 0\n"
                "cpu1 50 0 50 500 0 0 0 0 0 0\nintr 1\n");
  write("17/stat", "17 (sshd) S 1 17 17 0 -1 4194560 0 0 0 0 10 5 0 0 20 0 1 0 1 1 1\n");
  const NoiseSnapshot before = take_noise_snapshot(root());
  ASSERT_TRUE(before.load_avg);
  EXPECT_DOUBLE_EQ((*before.load_avg)[0], 0.10);
  ASSERT_EQ(before.processes.count(17), 1u);
  EXPECT_EQ(before.processes.at(17).first, "sshd");
  EXPECT_EQ(before.processes.at(17).second, 15u);
  NoiseSnapshot after = before;
  after.when = before.when + std::chrono::seconds(10);
  after.cpu_ticks[0] = {before.cpu_ticks.at(0).first + 1000, 0};
  after.cpu_ticks[1] = {before.cpu_ticks.at(1).first + 1000, 0};
  after.processes[17].second += 10;  // 10 ticks in 10 s at 100 Hz: 1 % of a CPU
  const NoiseReport r = assess_noise(before, after, {0, 1}, 100, 0.05);
  EXPECT_FALSE(r.noisy) << (r.reasons.empty() ? "" : r.reasons[0]);
  ASSERT_TRUE(r.steal_percent);
  EXPECT_DOUBLE_EQ(*r.steal_percent, 0.0);
  ASSERT_EQ(r.busy.size(), 1u);
  EXPECT_NEAR(r.busy[0].cpu_percent, 1.0, 1e-9);
  EXPECT_FALSE(noise_json(r)["noisy"].get<bool>());
}

TEST_F(Noise, LoadStealAndBusyProcessesAreReasons) {
  write("loadavg", "3.50 2.00 1.00 5/300 99\n");
  write("stat", "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 50 0 50 500 0 0 0 20 0 0\n");
  write("21/stat", "21 (my (odd) name) R 1 21 21 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 1 1 1\n");
  const NoiseSnapshot before = take_noise_snapshot(root());
  EXPECT_EQ(before.processes.at(21).first, "my (odd) name");
  NoiseSnapshot after = before;
  after.when = before.when + std::chrono::seconds(2);
  after.cpu_ticks[0] = {before.cpu_ticks.at(0).first + 200, before.cpu_ticks.at(0).second + 20};
  after.processes[21].second += 100;             // 100 ticks in 2 s: 50 % of a CPU
  after.processes[33] = {"newcomer", 60};         // started during the run: 30 %
  const NoiseReport r = assess_noise(before, after, {0}, 100, 0.8);
  EXPECT_TRUE(r.noisy);
  ASSERT_EQ(r.reasons.size(), 3u);
  EXPECT_NE(r.reasons[0].find("80% of a CPU"), std::string::npos);
  EXPECT_NE(r.reasons[1].find("steal 10.0%"), std::string::npos);
  EXPECT_NE(r.reasons[2].find("my (odd) name 50%"), std::string::npos);
  EXPECT_NE(r.reasons[2].find("newcomer 30%"), std::string::npos);
  ASSERT_EQ(r.busy.size(), 2u);
  EXPECT_EQ(r.busy[0].name, "my (odd) name");
}

TEST_F(Noise, MissingProcFilesGiveNoReadings) {
  const NoiseSnapshot s = take_noise_snapshot(root() + "/absent");
  EXPECT_FALSE(s.load_avg);
  EXPECT_TRUE(s.cpu_ticks.empty());
  const NoiseReport r = assess_noise(s, s, {0}, 100);
  EXPECT_FALSE(r.noisy);
  EXPECT_FALSE(r.steal_percent);
  EXPECT_TRUE(noise_json(r)["load_avg_before"].is_null());
}

TEST_F(Noise, BusyCpusFromIdleTicks) {
  NoiseSnapshot a, b;
  a.cpu_ticks[0] = {1000, 0};
  a.idle_ticks[0] = 900;
  a.cpu_ticks[1] = {1000, 0};
  a.idle_ticks[1] = 900;
  b.cpu_ticks[0] = {1100, 0};
  b.idle_ticks[0] = 925;  // 75 of 100 ticks busy
  b.cpu_ticks[1] = {1100, 0};
  b.idle_ticks[1] = 1000;  // idle throughout
  EXPECT_NEAR(*busy_cpus(a, b, {0, 1}), 0.75, 1e-12);
  EXPECT_NEAR(*busy_cpus(a, b, {1}), 0.0, 1e-12);
  EXPECT_FALSE(busy_cpus(a, b, {7}));
  EXPECT_TRUE(assess_noise(a, b, {0, 1}, 100, *busy_cpus(a, b, {0, 1})).noisy);
  EXPECT_FALSE(assess_noise(a, b, {1}, 100, *busy_cpus(a, b, {1})).noisy);
}

TEST_F(Noise, ReadsThisMachine) {
  const NoiseSnapshot s = take_noise_snapshot();
  EXPECT_TRUE(s.load_avg);
  EXPECT_TRUE(s.cpu_ticks.count(-1));
  EXPECT_FALSE(s.processes.empty());
  EXPECT_EQ(s.processes.count(static_cast<int>(::getpid())), 0u);  // not ourselves
}

TEST_F(CgroupQuota, Version2TakesTheSmallestOnThePath) {
  write("a/cpu.max", "150000 100000\n");
  write("a/b/cpu.max", "max 100000\n");
  const auto q = cgroup_cpu_quota("0::/a/b\n", root());
  ASSERT_TRUE(q);
  EXPECT_DOUBLE_EQ(*q, 1.5);
  write("a/b/cpu.max", "50000 100000\n");
  EXPECT_DOUBLE_EQ(*cgroup_cpu_quota("0::/a/b\n", root()), 0.5);
}

TEST_F(CgroupQuota, Version2WithoutQuota) {
  write("cpu.max", "max 100000\n");
  EXPECT_FALSE(cgroup_cpu_quota("0::/\n", root()));
  EXPECT_FALSE(cgroup_cpu_quota("", root()));
}

TEST_F(CgroupQuota, Version1) {
  write("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "200000\n");
  write("cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
  write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const auto q = cgroup_cpu_quota("4:memory:/docker/x\n3:cpu,cpuacct:/docker/x\n0::/\n", root());
  ASSERT_TRUE(q);
  EXPECT_DOUBLE_EQ(*q, 2.0);
  EXPECT_FALSE(cgroup_cpu_quota("3:cpu,cpuacct:/\n", root()));
  EXPECT_FALSE(cgroup_cpu_quota("3:cpuacct:/docker/x\n", root()));  // no cpu controller there
}

// --- per-block disturbances (host/disturbance.h) -----------------------------------------

class Disturbance : public FakeTree {
 protected:
  // Two threads of ours with their run delays (ns), CPU lines with steal ticks, and a clock.
  void state(long long delay_a, long long delay_b, int steal0, int steal1, int khz1) {
    write("proc/self/task/100/schedstat", "5000 " + std::to_string(delay_a) + " 7\n");
    write("proc/self/task/101/schedstat", "5000 " + std::to_string(delay_b) + " 9\n");
    write("proc/stat", "cpu  1 2 3 4 5 6 7 " + std::to_string(steal0 + steal1) +
                           " 0 0\ncpu0 1 2 3 4 5 6 7 " + std::to_string(steal0) +
                           " 0 0\ncpu1 1 2 3 4 5 6 7 " + std::to_string(steal1) +
                           " 0 0\nintr 1\n");
    write("sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "3000000\n");
    write("sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", std::to_string(khz1) + "\n");
  }
  DisturbanceReading read(std::vector<int> cpus) {
    return read_disturbance(cpus, root() + "/proc", root() + "/sys");
  }
};

TEST_F(Disturbance, AQuietBlockIsNotDisturbed) {
  state(1'000'000, 0, 3, 4, 3'000'000);
  const auto before = read({0, 1});
  EXPECT_TRUE(before.run_delay_known);
  EXPECT_DOUBLE_EQ(before.run_delay_s, 1e-3);
  EXPECT_EQ(before.steal_ticks, 7u);
  EXPECT_EQ(before.khz.size(), 2u);
  state(1'200'000, 100'000, 3, 4, 3'000'000);  // 0.3 ms of waiting in a 100 ms block
  const auto d = judge_block(before, read({0, 1}), 0.1, 0.0, 100);
  EXPECT_NEAR(d.run_delay_s, 0.3e-3, 1e-12);
  EXPECT_EQ(d.why, "");
}

TEST_F(Disturbance, WaitingForACpuBeyondTheUsualIsADisturbance) {
  state(0, 0, 0, 0, 3'000'000);
  const auto before = read({0});
  state(3'000'000, 0, 0, 0, 3'000'000);  // 3 ms of a 100 ms block
  const auto after = read({0});
  EXPECT_NE(judge_block(before, after, 0.1, 0.0, 100).why.find("waited 3.00 ms"), std::string::npos);
  // A team that waits 3 ms by design (more threads than cores) is not disturbed by it.
  EXPECT_EQ(judge_block(before, after, 0.1, 3e-3, 100).why, "");
}

TEST_F(Disturbance, StolenTicksOnTheBlocksCpusAreADisturbanceOthersAreNot) {
  state(0, 0, 10, 20, 3'000'000);
  const auto before0 = read({0});
  state(0, 0, 10, 25, 3'000'000);  // 5 ticks stolen from CPU 1 only
  EXPECT_EQ(judge_block(before0, read({0}), 0.1, 0.0, 100).why, "");
  state(0, 0, 10, 20, 3'000'000);
  const auto before1 = read({1});
  state(0, 0, 10, 25, 3'000'000);
  const auto d = judge_block(before1, read({1}), 0.1, 0.0, 100);
  EXPECT_DOUBLE_EQ(d.steal_s, 0.05);
  EXPECT_NE(d.why.find("stole 50 ms"), std::string::npos);
}

// The load of other processes: busy ticks of the block's CPUs less our own CPU time, CPU
// pressure (PSI "some") and the runnable tasks; none of them sets a block aside by itself.
TEST_F(Disturbance, OtherProcessesCpuPressureAndRunnableTasksAreRead) {
  write("proc/stat", "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 100 0 50 900 0 0 0 0 0 0\n"
                     "cpu1 10 0 0 990 0 0 0 0 0 0\nintr 1\nctxt 5\nprocs_running 3\n");
  write("proc/pressure/cpu", "some avg10=12.00 avg60=3.00 avg300=1.00 total=1000000\n"
                             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  const auto before = read({0});
  EXPECT_TRUE(before.busy_known);
  EXPECT_EQ(before.busy_ticks, 150u);  // user + system of CPU 0, not its idle, not CPU 1's
  EXPECT_TRUE(before.pressure_known);
  EXPECT_EQ(before.procs_running, 3);
  // 100 ms: CPU 0 busy 8 ticks (80 ms), 30 ms of it ours; some task waited 40 ms.
  write("proc/stat", "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 106 0 52 902 0 0 0 0 0 0\n"
                     "cpu1 10 0 0 1000 0 0 0 0 0 0\nintr 1\nprocs_running 5\n");
  write("proc/pressure/cpu", "some avg10=40.00 avg60=3.00 avg300=1.00 total=1040000\n");
  const auto d = judge_block(before, read({0}), 0.1, 0.0, 100, 0.03);
  EXPECT_NEAR(d.others_cpu_s, 0.05, 1e-12);
  EXPECT_NEAR(d.pressure_share, 0.4, 1e-12);
  EXPECT_EQ(d.procs_running, 5);
  EXPECT_EQ(d.why, "");
  // Our own CPU time above the CPU's busy time (ticks are coarse) is never a negative share.
  EXPECT_DOUBLE_EQ(judge_block(before, read({0}), 0.1, 0.0, 100, 0.5).others_cpu_s, 0.0);
  // Without /proc/pressure (no PSI) and without per-CPU lines, they are unknown, not zero.
  const auto bare = read_disturbance({0}, root() + "/nothing", root() + "/nothing");
  EXPECT_FALSE(bare.busy_known);
  EXPECT_FALSE(bare.pressure_known);
  EXPECT_EQ(bare.procs_running, -1);
  const auto unknown = judge_block(bare, bare, 0.1, 0.0, 100, 0.03);
  EXPECT_LT(unknown.others_cpu_s, 0);
  EXPECT_LT(unknown.pressure_share, 0);
}

TEST_F(Disturbance, AClockThatMovesIsADisturbanceAndAMissingOneIsUnknown) {
  state(0, 0, 0, 0, 3'000'000);
  const auto before = read({0, 1});
  state(0, 0, 0, 0, 2'000'000);
  EXPECT_NE(judge_block(before, read({0, 1}), 0.1, 0.0, 100).why.find("3000 to 2000 MHz"),
            std::string::npos);
  const auto bare = read_disturbance({0}, root() + "/nothing", root() + "/nothing");
  EXPECT_FALSE(bare.run_delay_known);
  EXPECT_FALSE(bare.steal_known);
  EXPECT_TRUE(bare.khz.empty());
  EXPECT_EQ(judge_block(bare, bare, 0.1, 0.0, 100).why, "");
}

}  // namespace


// Energy per block (host/energy.h) from a fake powercap tree written here: which zones are read,
// the joules of a block with and without a wrap of the counter, the reason given once when
// nothing is readable, and the row figures (joules per unit of work, the energy ratio beside the
// speedup) that follow.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "host/energy.h"
#include "host/meters.h"
#include "report/meter_figures.h"

namespace {

namespace fs = std::filesystem;
using namespace cvp;

// A powercap tree under a temporary folder: zones with a name, a counter and its range.
class FakePowercap {
 public:
  FakePowercap() : root_(fs::temp_directory_path() / ("cvp-powercap-" + std::to_string(::getpid()) + "-" +
                                                       std::to_string(counter_++))) {
    fs::create_directories(root_ / "class" / "powercap");
  }
  ~FakePowercap() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakePowercap(const FakePowercap&) = delete;
  FakePowercap& operator=(const FakePowercap&) = delete;

  void zone(const std::string& dir, const std::string& name, std::uint64_t uj, std::uint64_t range) {
    const fs::path z = root_ / "class" / "powercap" / dir;
    fs::create_directories(z);
    write(z / "name", name);
    write(z / "max_energy_range_uj", std::to_string(range));
    set(dir, uj);
  }
  // Rewrites the counter in place (the reader keeps the file open).
  void set(const std::string& dir, std::uint64_t uj) {
    write(root_ / "class" / "powercap" / dir / "energy_uj", std::to_string(uj));
  }
  std::string root() const { return root_.string(); }
  fs::path path(const std::string& dir) const { return root_ / "class" / "powercap" / dir; }

 private:
  static void write(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::trunc);
    out << text << "\n";
  }
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(Energy, ACounterThatWrappedCountsOnceAcrossItsRange) {
  EXPECT_EQ(bench::microjoules_between(100, 350, 1000), 250u);
  EXPECT_EQ(bench::microjoules_between(900, 150, 1000), 250u);  // 100 to the range, then 150
  EXPECT_EQ(bench::microjoules_between(900, 150, 0), 0u);       // range unknown: no guess
}

// Packages and their cores are read; the platform (psys), other parts and the mmio copy of a
// package are not.
TEST(Energy, ReadsPackagesAndCoresOnly) {
  FakePowercap tree;
  tree.zone("intel-rapl:0", "package-0", 1000, 1'000'000);
  tree.zone("intel-rapl:0:0", "core", 500, 1'000'000);
  tree.zone("intel-rapl:0:1", "dram", 7, 1'000'000);
  tree.zone("intel-rapl:1", "psys", 9, 1'000'000);
  tree.zone("intel-rapl-mmio:0", "package-0", 3, 1'000'000);
  const bench::EnergyReader reader(tree.root());
  ASSERT_TRUE(reader.readable()) << reader.why_not();
  ASSERT_EQ(reader.zones().size(), 2u);
  EXPECT_EQ(reader.zones()[0].name, "package-0");
  EXPECT_EQ(reader.zones()[1].domain, bench::EnergyDomain::core);
}

// A block's joules per execution, summed over two packages, one of which wrapped.
TEST(Energy, ABlockUsesTheJoulesBetweenItsReadingsPerExecution) {
  FakePowercap tree;
  tree.zone("intel-rapl:0", "package-0", 999'000'000, 1'000'000'000);
  tree.zone("intel-rapl:0:0", "core", 10'000'000, 1'000'000'000);
  tree.zone("intel-rapl:1", "package-1", 5'000'000, 1'000'000'000);
  const bench::EnergyReader reader(tree.root());
  ASSERT_EQ(reader.zones().size(), 3u);
  const auto before = reader.read();
  tree.set("intel-rapl:0", 3'000'000);      // wrapped: 1 J to the range, then 3 J
  tree.set("intel-rapl:0:0", 12'000'000);   // 2 J
  tree.set("intel-rapl:1", 9'000'000);      // 4 J
  const auto block = reader.during(before, reader.read(), 4);
  ASSERT_TRUE(block.package_j);
  EXPECT_DOUBLE_EQ(*block.package_j, (4.0 + 4.0) / 4);
  EXPECT_DOUBLE_EQ(*block.core_j, 2.0 / 4);
}

// Nothing to read: why, in one sentence, once (machine.energy), and no energy in any block.
TEST(Energy, NothingReadableSaysWhyOnce) {
  const bench::EnergyReader absent("/nonexistent-sys");
  EXPECT_FALSE(absent.readable());
  EXPECT_NE(absent.why_not().find("no powercap energy counters"), std::string::npos) << absent.why_not();
  const auto json = bench::energy_json(absent, -1);
  EXPECT_EQ(json["readable"], false);
  EXPECT_EQ(json["why"], absent.why_not());
  EXPECT_TRUE(absent.during(absent.read(), absent.read(), 1).empty());

  FakePowercap only_psys;
  only_psys.zone("intel-rapl:0", "psys", 1, 10);
  EXPECT_NE(bench::EnergyReader(only_psys.root()).why_not().find("no RAPL package zone"), std::string::npos);

  // A counter that cannot be read (a folder where the file should be, as an unreadable file
  // would be to a user other than root) names the file.
  FakePowercap unreadable;
  unreadable.zone("intel-rapl:0", "package-0", 1, 10);
  fs::remove(unreadable.path("intel-rapl:0") / "energy_uj");
  fs::create_directory(unreadable.path("intel-rapl:0") / "energy_uj");
  const bench::EnergyReader refused(unreadable.root());
  EXPECT_FALSE(refused.readable());
  EXPECT_NE(refused.why_not().find("cannot be read"), std::string::npos) << refused.why_not();
}

// The perf power PMU of a fake sysfs tree (bus/event_source/devices/power): its type, cpumask
// and events, each with its .scale.
void power_pmu(const FakePowercap& tree, const std::string& cpumask,
               const std::vector<std::pair<std::string, std::string>>& events) {
  const fs::path pmu = fs::path(tree.root()) / "bus" / "event_source" / "devices" / "power";
  fs::create_directories(pmu / "events");
  std::ofstream(pmu / "type") << "23\n";
  std::ofstream(pmu / "cpumask") << cpumask << "\n";
  for (const auto& [event, config] : events) {
    std::ofstream(pmu / "events" / event) << config << "\n";
    std::ofstream(pmu / "events" / (event + ".scale")) << "2.3283064365386962890625e-10\n";
  }
}

// Counters a test sets: each opened event is a pipe whose reads return the counts written.
class FakePerf {
 public:
  // The read ends belong to the reader, which closes them.
  ~FakePerf() {
    for (const auto& [key, fds] : pipes_) ::close(fds.second);
  }
  bench::PerfOpener opener(int refuse_errno = 0) {
    return [this, refuse_errno](std::uint32_t type, std::uint64_t config, int cpu) {
      if (refuse_errno != 0) {
        errno = refuse_errno;
        return -1;
      }
      opened.push_back({type, config, cpu});
      int fds[2];
      if (::pipe(fds) != 0) return -1;
      pipes_[{config, cpu}] = {fds[0], fds[1]};
      push(config, cpu, 0);  // the reader's first read, at opening
      return fds[0];
    };
  }
  // The next count event `config` on `cpu` reads.
  void push(std::uint64_t config, int cpu, std::uint64_t count) {
    const int fd = pipes_.at({config, cpu}).second;
    ASSERT_EQ(::write(fd, &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  }
  struct Opened {
    std::uint32_t type;
    std::uint64_t config;
    int cpu;
  };
  std::vector<Opened> opened;

 private:
  std::map<std::pair<std::uint64_t, int>, std::pair<int, int>> pipes_;
};

// No powercap: the power PMU's package and core events are opened on each CPU of its cpumask,
// scaled to joules by their .scale; an event it does not describe (energy-ram) is not read.
TEST(Energy, ReadsThePerfPowerEventsWherePowercapIsAbsent) {
  FakePowercap tree;
  fs::remove_all(fs::path(tree.root()) / "class");
  power_pmu(tree, "0,64", {{"energy-pkg", "event=0x02"}, {"energy-cores", "event=0x01"},
                           {"energy-ram", "event=0x03"}});
  FakePerf perf;
  const bench::EnergyReader reader(tree.root(), perf.opener());
  ASSERT_TRUE(reader.readable()) << reader.why_not();
  EXPECT_EQ(reader.source(), bench::EnergySource::perf);
  ASSERT_EQ(reader.zones().size(), 4u);
  EXPECT_EQ(reader.zones()[0].name, "energy-pkg@cpu0");
  EXPECT_EQ(reader.zones()[1].name, "energy-pkg@cpu64");
  EXPECT_EQ(reader.zones()[2].domain, bench::EnergyDomain::core);
  ASSERT_EQ(perf.opened.size(), 4u);
  EXPECT_EQ(perf.opened[0].type, 23u);
  EXPECT_EQ(perf.opened[0].config, 2u);
  EXPECT_EQ(perf.opened[1].cpu, 64);
  const double scale = 2.3283064365386962890625e-10;
  const std::uint64_t joule = 4294967296;  // counts of 1 J at that scale
  perf.push(2, 0, 10 * joule);
  perf.push(2, 64, 20 * joule);
  perf.push(1, 0, 1 * joule);
  perf.push(1, 64, 1 * joule);
  const auto before = reader.read();
  perf.push(2, 0, 16 * joule);   // 6 J
  perf.push(2, 64, 22 * joule);  // 2 J
  perf.push(1, 0, 3 * joule);    // 2 J
  perf.push(1, 64, 2 * joule);   // 1 J
  const auto block = reader.during(before, reader.read(), 2);
  ASSERT_TRUE(block.package_j && block.core_j);
  EXPECT_NEAR(*block.package_j, 8.0 / 2, 1e-9);
  EXPECT_NEAR(*block.core_j, 3.0 / 2, 1e-9);
  EXPECT_NEAR(reader.zones()[0].joules_per_count, scale, 1e-24);
  const auto json = bench::energy_json(reader, 1.0);
  EXPECT_EQ(json["source"], "perf power events (RAPL)");
}

// Powercap, where readable, is read instead of the PMU; a PMU that refuses says why with the
// powercap's reason, and an absent or malformed one says that.
TEST(Energy, PerfPowerEventsAreTheFallbackAndSayWhyTheyFail) {
  FakePowercap both;
  both.zone("intel-rapl:0", "package-0", 1000, 1'000'000);
  power_pmu(both, "0", {{"energy-pkg", "event=0x02"}});
  FakePerf unused;
  const bench::EnergyReader powercap(both.root(), unused.opener());
  EXPECT_EQ(powercap.source(), bench::EnergySource::powercap);
  EXPECT_TRUE(unused.opened.empty());

  FakePowercap forbidden;
  fs::remove_all(fs::path(forbidden.root()) / "class");
  power_pmu(forbidden, "0", {{"energy-pkg", "event=0x02"}});
  FakePerf refusing;
  const bench::EnergyReader refused(forbidden.root(), refusing.opener(EACCES));
  EXPECT_FALSE(refused.readable());
  EXPECT_EQ(refused.why_not().rfind("no powercap energy counters", 0), 0u) << refused.why_not();
  EXPECT_NE(refused.why_not().find("the perf power events cannot be read: energy-pkg on CPU 0: forbidden"),
            std::string::npos) << refused.why_not();

  FakePowercap malformed;
  fs::remove_all(fs::path(malformed.root()) / "class");
  power_pmu(malformed, "zero", {{"energy-pkg", "event=0x02"}});
  FakePerf never;
  const bench::EnergyReader bad(malformed.root(), never.opener());
  EXPECT_FALSE(bad.readable());
  EXPECT_NE(bad.why_not().find("has no readable type or cpumask"), std::string::npos) << bad.why_not();
  EXPECT_TRUE(never.opened.empty());

  FakePowercap other_form;
  fs::remove_all(fs::path(other_form.root()) / "class");
  power_pmu(other_form, "0-1", {{"energy-pkg", "config=0x02"}});
  FakePerf none;
  const bench::EnergyReader unknown(other_form.root(), none.opener());
  EXPECT_FALSE(unknown.readable());
  EXPECT_NE(unknown.why_not().find("offers no energy-pkg or energy-cores event"), std::string::npos)
      << unknown.why_not();

  const bench::EnergyReader absent("/nonexistent-sys");
  EXPECT_NE(absent.why_not().find("no perf power events"), std::string::npos) << absent.why_not();
}

// The console header says once what cannot be read, with why.
TEST(Energy, TheHeaderSaysOnceWhatCannotBeRead) {
  bench::BlockMeters meters(bench::open_process_counters(), std::make_unique<bench::EnergyReader>("/nonexistent-sys"));
  const auto lines = meters.header_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].rfind("energy: not readable: no powercap energy counters", 0), 0u) << lines[1];
  EXPECT_EQ(lines[0].rfind("counters per block: ", 0), 0u) << lines[0];
}

// Joules per unit of work and the ratio to serial's beside the speedup.
TEST(Energy, ARowSaysHowMuchFasterForHowMuchEnergy) {
  std::vector<bench::Sample> serial(3), parallel(3);
  for (auto& s : serial) s.energy.package_j = 2.0;    // per execution of 1000 units
  for (auto& s : parallel) s.energy.package_j = 2.6;
  const auto base = bench::row_energy(serial), row = bench::row_energy(parallel);
  EXPECT_NEAR(*bench::energy_ratio(row, base, 1000, 1000), 1.3, 1e-12);
  const auto json = bench::energy_json(row, &base, 1000, 1000);
  EXPECT_NEAR(json["package_j_per_unit"].get<double>(), 2.6e-3, 1e-15);
  EXPECT_NEAR(json["ratio_to_baseline"].get<double>(), 1.3, 1e-12);
  EXPECT_TRUE(json["core_j"].is_null());
  const auto notes = bench::meter_notes({}, row, nullptr, &base, 1000, 1000, 1.9, "FLOP");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "x1.90 faster for x1.30 the energy");
  // The serial row itself: its joules per unit.
  EXPECT_EQ(bench::meter_notes({}, base, nullptr, nullptr, 1000, 0, 0, "FLOP")[0], "2.00 mJ/FLOP");
  // No energy read: nothing in the row at all.
  EXPECT_TRUE(bench::energy_json(bench::row_energy(std::vector<bench::Sample>(2)), nullptr, 1000, 0).is_null());
}

}  // namespace

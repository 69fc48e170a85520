// The clock of a team's CPUs around each block of a point: a short dependent-add chain
// (clock_probe_ghz, host/cpu_model.h) run at once on a thread pinned to each of the team's CPUs,
// before the block and after it, outside the timed region. It needs no cpufreq, so it reads the
// clock in virtual machines too. A block whose clock moved beyond the probe's noise is
// disturbed; each row reports the clock its workers ran at, and the diagnosis compares it with
// its serial baseline's (the `clock` cause).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cvp::bench {

// One chain's length per CPU per probe (clock_probe_ghz keeps the median of its chunks, so a
// chunk the scheduler interrupted does not count), so a probe costs about 30 us and a wake-up per CPU.
inline constexpr double kClockChainSeconds = 8e-6;
inline constexpr int kClockChains = 1;
// How far a CPU's clock may move between a block's start and end before the block counts as
// disturbed, at least (or 4 x the probe's own spread when that is larger): a virtual CPU's
// short probes vary by some 6% between blocks on a busy host.
inline constexpr double kClockMovedShare = 0.10;

// Probe threads, one per CPU asked for, pinned and parked between probes.
class ClockWatch {
 public:
  ClockWatch();
  ~ClockWatch();
  ClockWatch(const ClockWatch&) = delete;
  ClockWatch& operator=(const ClockWatch&) = delete;

  // The clock of each distinct CPU of `cpus` now, in GHz, probed at once. A CPU whose thread
  // could not be pinned there is left out.
  std::map<int, double> probe(const std::vector<int>& cpus);

 private:
  struct Prober;
  Prober& prober(int cpu);
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int, std::unique_ptr<Prober>> probers_;
  unsigned long generation_ = 0;
  int pending_ = 0;
  bool quit_ = false;
};

// Why a block is disturbed by its clock ("" when it is not): a CPU whose clock after the block
// differs from before it by more than kClockMovedShare (or 4 x `noise`, relative).
std::string clock_moved(const std::map<int, double>& before, const std::map<int, double>& after,
                        double noise);

// The mean of the readings, 0 when there are none.
double mean_ghz(const std::map<int, double>& readings);

}  // namespace cvp::bench

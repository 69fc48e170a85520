#include "host/clock_watch.h"

#include <algorithm>
#include <cmath>

#include "cvp/exec/affinity.h"
#include "host/cpu_model.h"
#include "cvp/workload.h"
#include "util/text.h"

namespace cvp::bench {

struct ClockWatch::Prober {
  int cpu = 0;
  bool pinned = false;
  unsigned long wanted = 0;  // the generation this prober is asked to probe in
  double ghz = 0;
  std::thread thread;
};

ClockWatch::ClockWatch() = default;

ClockWatch::~ClockWatch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  for (auto& [cpu, p] : probers_) {
    if (p->thread.joinable()) p->thread.join();
  }
}

ClockWatch::Prober& ClockWatch::prober(int cpu) {
  auto& slot = probers_[cpu];
  if (slot) return *slot;
  slot = std::make_unique<Prober>();
  Prober* p = slot.get();
  p->cpu = cpu;
  p->thread = std::thread([this, p] {
    const bool pinned = exec::pin_to_cpu(p->cpu);
    unsigned long done = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    p->pinned = pinned;
    for (;;) {
      cv_.wait(lock, [&] { return quit_ || p->wanted > done; });
      if (quit_) return;
      done = p->wanted;
      lock.unlock();
      double best = 0;
      for (int i = 0; i < kClockChains && pinned; ++i) best = std::max(best, clock_probe_ghz(kClockChainSeconds));
      lock.lock();
      p->ghz = best;
      if (--pending_ == 0) cv_.notify_all();
    }
  });
  return *p;
}

std::map<int, double> ClockWatch::probe(const std::vector<int>& cpus) {
  std::vector<int> distinct = cpus;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::map<int, double> readings;
  std::unique_lock<std::mutex> lock(mutex_);
  ++generation_;
  pending_ = static_cast<int>(distinct.size());
  for (const int cpu : distinct) prober(cpu).wanted = generation_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return pending_ == 0; });
  for (const int cpu : distinct) {
    const Prober& p = *probers_.at(cpu);
    if (p.pinned && p.ghz > 0) readings[cpu] = p.ghz;
  }
  return readings;
}

std::string clock_moved(const std::map<int, double>& before, const std::map<int, double>& after,
                        double noise) {
  const double allowed = std::max(kClockMovedShare, 4 * noise);
  for (const auto& [cpu, start] : before) {
    const auto it = after.find(cpu);
    if (it == after.end() || start <= 0) continue;
    if (std::abs(it->second - start) > allowed * start) {
      return "the clock of CPU " + std::to_string(cpu) + " moved from " + cvp::fixed(start, 2) +
             " GHz to " + cvp::fixed(it->second, 2) + " GHz during the block";
    }
  }
  return "";
}

double mean_ghz(const std::map<int, double>& readings) {
  if (readings.empty()) return 0;
  double sum = 0;
  for (const auto& [cpu, ghz] : readings) sum += ghz;
  return sum / static_cast<double>(readings.size());
}

}  // namespace cvp::bench

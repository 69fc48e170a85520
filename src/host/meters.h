// The per-block meters: the process's counters (host/counters.h) and the machine's energy
// counters (host/energy.h), read together just outside each block's timed region. The session
// reads them; the summary and the console say once per run what they could and could not read.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "host/counters.h"
#include "host/energy.h"

namespace cvp::bench {

class BlockMeters {
 public:
  // Both readers are kept; what one cannot read it says itself. Measures the cost of one read of
  // each (read_us).
  BlockMeters(std::unique_ptr<CounterReader> counters, std::unique_ptr<EnergyReader> energy);

  // This process's counters and this machine's powercap zones, opened now: call it before the
  // first team is created, on the thread that drives the run.
  static std::shared_ptr<BlockMeters> open_for_this_process();

  struct Reading {
    CounterValues counts;
    EnergyValues energy;
  };
  // What one block counted and used, per execution.
  struct Metered {
    BlockCounts counts;
    BlockEnergy energy;
  };

  Reading read();
  Metered during(const Reading& before, const Reading& after, double executions) const;

  const CounterReader& counters() const { return *counters_; }
  const EnergyReader& energy() const { return *energy_; }
  // Microseconds one read takes (the median of a few), for counters and for energy; a block
  // pays two of each.
  double counters_read_us() const { return counters_read_us_; }
  double energy_read_us() const { return energy_read_us_; }

  // machine.counters and machine.energy of the summary.
  nlohmann::json counters_summary() const;
  nlohmann::json energy_summary() const;
  // What the run can and cannot read, said once in the console's header: one line each.
  std::vector<std::string> header_lines() const;

 private:
  std::unique_ptr<CounterReader> counters_;
  std::unique_ptr<EnergyReader> energy_;
  double counters_read_us_ = -1, energy_read_us_ = -1;
};

}  // namespace cvp::bench

#include "host/meters.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "util/text.h"

namespace cvp::bench {
namespace {

// The median time of one call of `read`, in microseconds, over a few calls.
template <typename F>
double median_us(F read) {
  std::vector<double> us;
  for (int i = 0; i < 15; ++i) {
    const auto start = std::chrono::steady_clock::now();
    read();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(us.begin(), us.begin() + 7, us.end());
  return us[7];
}

}  // namespace

BlockMeters::BlockMeters(std::unique_ptr<CounterReader> counters, std::unique_ptr<EnergyReader> energy)
    : counters_(std::move(counters)), energy_(std::move(energy)) {
  counters_read_us_ = median_us([&] { return counters_->read(); });
  if (energy_->readable()) energy_read_us_ = median_us([&] { return energy_->read(); });
}

std::shared_ptr<BlockMeters> BlockMeters::open_for_this_process() {
  return std::make_shared<BlockMeters>(open_process_counters(), std::make_unique<EnergyReader>());
}

BlockMeters::Reading BlockMeters::read() { return {counters_->read(), energy_->read()}; }

BlockMeters::Metered BlockMeters::during(const Reading& before, const Reading& after,
                                         double executions) const {
  return {counts_during(before.counts, after.counts, executions),
          energy_->during(before.energy, after.energy, executions)};
}

nlohmann::json BlockMeters::counters_summary() const { return counters_json(*counters_, counters_read_us_); }

nlohmann::json BlockMeters::energy_summary() const { return energy_json(*energy_, energy_read_us_); }

std::vector<std::string> BlockMeters::header_lines() const {
  const auto unavailable = counters_->unavailable();
  std::vector<std::string> counted, not_counted;
  for (std::size_t i = 0; i < kEvents; ++i) {
    const auto e = static_cast<Event>(i);
    (unavailable.count(e) ? not_counted : counted).emplace_back(to_string(e));
  }
  std::string counters = "counters per block: " + (counted.empty() ? std::string("none") : join(counted, ", "));
  if (!not_counted.empty()) {
    // Events refused for the same reason are named together, with it once.
    std::map<std::string, std::vector<std::string>> by_reason;
    for (const auto& [e, why] : unavailable) by_reason[why].emplace_back(to_string(e));
    counters += "; not available:";
    for (const auto& [why, events] : by_reason) counters += " " + join(events, ", ") + " (" + why + ")";
  }
  const std::string energy = energy_->readable()
      ? "energy per block: " + std::to_string(energy_->zones().size()) +
            (energy_->source() == EnergySource::perf ? " perf power event(s)" : " powercap zone(s)")
      : "energy: not readable: " + energy_->why_not();
  return {counters, energy};
}

}  // namespace cvp::bench

// What the plan tests of workloads share: a workload's plan for a command line on a topology, as
// the program makes it, and the names of its points.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cvp/workload.h"
#include "harness/plan.h"

namespace plan_support {

// `w`'s points for the options `args` (without the program's name) on `topology`.
inline std::vector<cvp::Point> plan_of(cvp::Workload& w, std::vector<std::string> args,
                                       const cvp::exec::Topology& topology) {
  args.insert(args.begin(), w.name() + "_bench");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  const auto parsed =
      cvp::bench::parse_command_line(static_cast<int>(argv.size()), argv.data(), topology, {&w});
  if (!parsed.options) throw std::runtime_error("no options");
  return cvp::bench::make_plan({&w}, *parsed.options, topology);
}

inline std::vector<std::string> names_of(const std::vector<cvp::Point>& points) {
  std::vector<std::string> names;
  for (const auto& p : points) names.push_back(p.name());
  return names;
}

}  // namespace plan_support

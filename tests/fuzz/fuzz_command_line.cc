// Fuzz target: the command line and the plan it makes. The input is split at NUL bytes into
// arguments. Every input must end in options and a plan, or in a UsageError (printed on one
// line through printable()): any other exception, a crash, a hang or a sanitizer report is a
// finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "builtin.h"
#include "cvp/exec/topology.h"
#include "cli/options.h"
#include "harness/plan.h"

namespace {

const cvp::exec::Topology& topology() {
  static const cvp::exec::Topology t =
      cvp::exec::make_topology({{0, 4}, {1, 5}, {2, 6}, {3, 7}}, true);
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"cvpbench"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) args.push_back(current);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  // Fresh workloads per input: a workload keeps the options parsed into it.
  const auto owned = cvp::workloads::builtin();
  std::vector<cvp::Workload*> workloads;
  for (const auto& w : owned) workloads.push_back(w.get());
  try {
    const auto parsed = cvp::bench::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                        topology(), workloads);
    if (!parsed.options) return 0;  // --help, --version
    const auto t = cvp::bench::restrict_topology(topology(), parsed.options->cpus);
    const auto points = cvp::bench::make_plan(workloads, *parsed.options, t);
    for (const auto& p : points) (void)p.name();
  } catch (const cvp::UsageError& e) {
    if (std::string(e.what()).empty()) __builtin_trap();  // an error must say something
  }
  return 0;
}

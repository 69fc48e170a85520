// Results in process: measure workloads from a program of your own (a unit test, say) and get
// the rows back, with no run folder written and no main() taken over.
//
//   auto results = cvp::measure(cvp::tasks("mandel")...., {"--quick", "--backend", "threads"});
//   const cvp::Result& par = results.at("mode:parallel/backend:threads/threads:2");
//   EXPECT_GT(par.speedup_low, 1.5);
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cvp/workload.h"

namespace cvp {

// One measured point, as the console table and summary.json give it.
struct Result {
  std::string name;        // NAME/PARAMS/mode:M/backend:B/threads:T
  std::string workload, group;
  Mode mode = Mode::serial;
  Backend backend = Backend::threads;
  int threads = 1, in_flight = 1;
  bool ok = false;         // measured and verified
  std::string error;       // why not, when !ok
  double seconds = 0;      // median wall time per execution
  // Against the serial point of its group, with the 95% CI of the median of the paired ratios
  // (ci_known: false with too few pairs for a 95% interval).
  double speedup = 0, speedup_low = 0, speedup_high = 0;
  bool ci_known = false;
  double bound = 1;        // the attainable bound (the machine as measured)
  double ideal = 1;        // the ideal bound (identical cores)
  double efficiency = 0;   // speedup / bound
  double throughput = 0;   // work / seconds, in rate_unit
  std::string rate_unit;
  std::string diagnosis;   // why the speedup missed its bound; "" when it did not
  bool anomaly = false;    // the speedup is above its bound beyond chance
  // The workload's named per-execution figures (a kernel's counters, a request run's
  // c_measured_us ...): the median over the blocks of each block's mean, as summary.json's
  // `values` gives them.
  std::map<std::string, double> values;
};

struct Results {
  std::vector<Result> rows;
  nlohmann::json summary;  // what summary.json would hold
  // The first row whose name contains `part`; throws std::out_of_range naming it when none.
  const Result& at(std::string_view part) const;
};

// Measures `workloads` with the options of the command line (`args`, as the cvpbench program
// takes them: {"--quick", "--threads", "2"}), printing only progress on stderr and writing no
// file. Throws cvp::UsageError (one sentence) for options the program would refuse, and for
// --out, --list, --help and --version, which have nothing to return; std::invalid_argument for
// workloads the program would refuse (no name, two of one name, a spec that cannot run).
Results measure(std::vector<std::unique_ptr<Workload>> workloads,
                const std::vector<std::string>& args = {});

}  // namespace cvp

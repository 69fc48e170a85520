// What TaskWorkload (task_workload.cc) and TaskBuilder (tasks.cc) both say about a workload's
// parameters and counters.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cvp {

// "the workload has 2 parameters (n, sweeps): take `const cvp::Args&` and read args["n"]": why
// a callback written for one number cannot read the args of `names`.
std::string not_one_number(const std::vector<std::string>& names);

// Every combination of one value of each list, the first list outermost (Google Benchmark's
// ArgsProduct); {{}} for no lists.
std::vector<std::vector<long long>> product_of(const std::vector<std::vector<long long>>& lists);

// The end of a sentence saying why a per-execution counter cannot be named `name` ("names no
// counter: give it a name"), in a workload whose unit of work is `unit`; nullopt when it can.
std::optional<std::string> task_counter_problem(const std::string& name, const std::string& unit);

}  // namespace cvp

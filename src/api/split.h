// How a split's tasks fall to workers of different speeds: what balanced_tasks and
// split_speedup (cvp/workload.h) model, and what the diagnosis weighs a team's CPU time with.
#pragma once

#include <cstddef>
#include <vector>

#include "cvp/workload.h"

namespace cvp {

// How many of `split`'s equal tasks each worker of `speeds` (relative; one per worker) takes:
// dynamic, the worker free first takes the next task (the lowest-numbered on a tie), each task
// taking 1 / speed; fixed, task i goes to worker i mod T. Empty when the speeds or the split
// cannot be used (no workers, no tasks, a speed that is not positive).
std::vector<std::size_t> tasks_by_worker(const std::vector<double>& speeds, const TaskSplit& split);

}  // namespace cvp

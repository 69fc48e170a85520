// The benchmark points of one run: every workload's points, narrowed by --filter (keeping the
// serial baselines that the kept points' speedups need) and checked against this process's
// limits.
#pragma once

#include <vector>

#include "cvp/exec/topology.h"
#include "cvp/workload.h"
#include "cli/options.h"
#include "host/cpu_model.h"

namespace cvp::bench {

using cvp::Point;

// Every point the options ask for, after --filter. Throws UsageError when nothing matches or
// when the plan needs more threads than this process may create.
std::vector<Point> make_plan(const std::vector<Workload*>& workloads, const Options& options,
                             const exec::Topology& topology);

// The serial point `p`'s speedup is taken against: the serial point of its group on its
// backend, else on the threads backend, else any serial point of the group; nullptr if none.
const Point* baseline_of(const std::vector<const Point*>& points, const Point& p);

// Each parallel point's workers' speeds (Point::speeds) from the measured machine: the capacity
// of the core a worker is pinned to (with the team's cores busy; alone for a one-core team),
// shared equally by the workers on that core. Nothing when the model was not measured.
void assign_speeds(std::vector<Point>& points, const MachineModel& model);

// Restricts a topology to `cpus` (a subset of its allowed CPUs); empty keeps it whole.
exec::Topology restrict_topology(const exec::Topology& topology, const std::vector<int>& cpus);

}  // namespace cvp::bench

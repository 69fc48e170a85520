#include "harness/plan.h"

#include <algorithm>
#include <map>
#include <cmath>
#include <stdexcept>
#include <set>

#include "host/resources.h"
#include "harness/pattern.h"

namespace cvp::bench {
namespace {

// Refuses, in one sentence naming the option to change, a plan that needs more threads at once
// than this process may create. Only the benchmarks that will run count.
void check_limits(const std::vector<Point>& points) {
  const Point* largest = nullptr;
  for (const auto& p : points) {
    if (!largest || p.threads > largest->threads) largest = &p;
  }
  if (!largest) return;
  const std::size_t needed = static_cast<std::size_t>(largest->threads);
  const std::size_t limit = thread_limit();
  const std::size_t spare = 64;  // the benchmark thread, runtime pools, the kernel's own use
  if (limit > 0 && needed + spare > limit) {
    const std::string what =
        largest->origin.empty() ? "--threads " + std::to_string(needed) : largest->origin;
    throw UsageError(what + ": needs " + std::to_string(needed) +
                     " threads at once, more than the " +
                     std::to_string(limit > spare ? limit - spare : 0) +
                     " this process may create (RLIMIT_NPROC, kernel.threads-max, "
                     "vm.max_map_count); use fewer, or --backend eventloop for requests in flight.");
  }
}

}  // namespace

const Point* baseline_of(const std::vector<const Point*>& points, const Point& p) {
  const Point* fallback = nullptr;
  for (const Point* q : points) {
    if (q->mode != Mode::serial || q->group != p.group) continue;
    if (q->backend == p.backend) return q;
    if (!fallback || q->backend == Backend::threads) fallback = q;
  }
  return fallback;
}

exec::Topology restrict_topology(const exec::Topology& topology, const std::vector<int>& cpus) {
  if (cpus.empty()) return topology;
  exec::Topology t = topology;
  t.allowed = cpus;
  t.cores.clear();
  for (const auto& core : topology.cores) {
    std::vector<int> kept;
    for (int cpu : core) {
      if (std::binary_search(cpus.begin(), cpus.end(), cpu)) kept.push_back(cpu);
    }
    if (!kept.empty()) t.cores.push_back(kept);
  }
  // The kinds among the CPUs kept; one kind left is no kind to speak of.
  t.kinds.clear();
  for (exec::CpuKind kind : topology.kinds) {
    std::erase_if(kind.cpus, [&](int cpu) { return !std::binary_search(cpus.begin(), cpus.end(), cpu); });
    if (!kind.cpus.empty()) t.kinds.push_back(std::move(kind));
  }
  if (t.kinds.size() < 2) t.kinds.clear();
  return t;
}

std::vector<Point> make_plan(const std::vector<Workload*>& workloads, const Options& o,
                             const exec::Topology& topology) {
  const std::size_t memory = available_memory_bytes();
  PlanContext context(topology, o.quick, o.threads, o.backends,
                      memory > 0 ? std::optional<std::size_t>(memory) : std::nullopt);
  context.set_scaling(o.scaling);
  std::vector<Point> points;
  std::set<std::string> seen;
  for (Workload* w : workloads) {
    const double scale = w->unit().rate_scale;
    if (!(std::isfinite(scale) && scale > 0)) {
      throw std::invalid_argument(w->name() + ": the unit's rate_scale must be a finite number > 0");
    }
    for (auto& p : w->plan(context)) {
      p.workload = w->name();
      if (!(std::isfinite(p.work) && p.work > 0)) {
        throw std::invalid_argument(w->name() + ": " + p.name() + " declares " +
                                    std::to_string(p.work) +
                                    " units of work per execution; it must be finite and > 0");
      }
      if (seen.insert(p.name()).second) points.push_back(std::move(p));
    }
  }

  if (!o.filter.empty()) {
    // Keep what matches, plus the serial baselines its speedups are computed against.
    const Pattern re("--filter", o.filter);
    std::vector<const Point*> all;
    for (const auto& p : points) all.push_back(&p);
    std::set<const Point*> keep;
    for (const auto& p : points) {
      if (!re.found_in(p.name())) continue;
      keep.insert(&p);
      if (const Point* base = baseline_of(all, p)) keep.insert(base);
    }
    // Baselines first, in plan order, then the matching points, as before.
    std::vector<Point> kept;
    for (const auto& p : points) {
      if (keep.count(&p) && !re.found_in(p.name())) kept.push_back(p);
    }
    for (const auto& p : points) {
      if (re.found_in(p.name())) kept.push_back(p);
    }
    points = std::move(kept);
  }
  check_limits(points);
  for (const Workload* w : workloads) {
    std::vector<const Point*> selected;
    for (const auto& p : points) {
      if (p.workload == w->name()) selected.push_back(&p);
    }
    if (!selected.empty()) w->check(selected);
  }
  if (points.empty()) {
    throw UsageError(o.filter.empty()
                         ? std::string("the options select no benchmark to run.")
                         : "--filter " + o.filter +
                               ": matches no benchmark (see --list for the names).");
  }
  return points;
}


void assign_speeds(std::vector<Point>& points, const MachineModel& model) {
  if (!model.measured) return;
  for (Point& p : points) {
    p.speeds.clear();
    if (p.mode != Mode::parallel) continue;
    std::map<int, int> on_core;  // workers per physical core
    for (const int cpu : p.cpus) {
      if (const CpuInfo* info = model.find(cpu)) ++on_core[info->core];
    }
    const bool one_core = on_core.size() == 1;
    for (const int cpu : p.cpus) {
      const CpuInfo* info = model.find(cpu);
      if (info == nullptr) {
        p.speeds.clear();  // a CPU the model does not know: no speeds, an equal split
        break;
      }
      const double core = one_core ? info->capacity_alone : info->capacity_all_busy;
      p.speeds.push_back(core / on_core[info->core]);
    }
  }
}

}  // namespace cvp::bench

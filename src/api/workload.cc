// The parts of the workload interface (include/cvp/workload.h) that every workload shares: point
// names, the standard sweeps, the default bound and verdict, and the wording helpers.
#include "cvp/workload.h"
#include "cvp/dist.h"
#include "dist/runtime.h"
#include "api/split.h"
#include "util/text.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <cstdio>
#include <set>
#include <sstream>

namespace cvp {
namespace {

std::vector<int> sorted_unique_at_least(std::vector<int> v, int min_value) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](int x) { return x < min_value; }), v.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

int cores_touched(const exec::Topology& topology, const std::vector<int>& cpus) {
  std::set<std::size_t> cores;
  for (int cpu : cpus) {
    for (std::size_t c = 0; c < topology.cores.size(); ++c) {
      const auto& core = topology.cores[c];
      if (std::find(core.begin(), core.end(), cpu) != core.end()) cores.insert(c);
    }
  }
  return std::max<int>(1, static_cast<int>(cores.size()));
}

}  // namespace

std::string_view to_string(Kind kind) { return exec::name_of(kind, kKindNames); }

std::string_view to_string(Placement placement) {
  return exec::name_of(placement, kPlacementNames);
}

std::string_view to_string(Cause cause) { return exec::name_of(cause, kCauseNames); }

std::string Point::name() const {
  std::string out = group + variant;
  out += "/mode:";
  out += exec::to_string(mode);
  out += "/backend:";
  out += exec::to_string(backend);
  out += "/threads:" + std::to_string(threads);
  return out;
}

nlohmann::json Point::params_json() const {
  return params ? params->to_json(*this) : nlohmann::json::object();
}

PlanContext::PlanContext(const exec::Topology& topology, bool quick, std::vector<int> threads,
                         std::vector<Backend> backends,
                         std::optional<std::size_t> memory_bytes)
    : topology_(topology),
      quick_(quick),
      threads_(std::move(threads)),
      backends_(std::move(backends)),
      memory_bytes_(memory_bytes) {}

bool PlanContext::wants(Backend backend) const {
  return backends_.empty() ||
         std::find(backends_.begin(), backends_.end(), backend) != backends_.end();
}

Point PlanContext::serial(Point base) const {
  base.mode = Mode::serial;
  base.threads = base.in_flight = base.cores = 1;
  base.placement = Placement::own_cores;
  base.cpus = {home_cpu()};
  base.kinds = topology_.kinds_label(base.cpus);
  return base;
}

Point PlanContext::concurrent(Point base, int k) const {
  base.mode = Mode::concurrent;
  base.threads = base.in_flight = k;
  base.cores = 1;
  base.placement = Placement::own_cores;
  base.cpus.assign(static_cast<std::size_t>(std::max(k, 1)), home_cpu());
  base.kinds = topology_.kinds_label(base.cpus);
  return base;
}

Point PlanContext::parallel(Point base, int t) const {
  base.mode = Mode::parallel;
  base.threads = base.in_flight = t;
  base.cpus = topology_.parallel_cpus(t);
  base.cores = cores_touched(topology_, base.cpus);
  base.kinds = topology_.kinds_label(base.cpus);
  const int logical = topology_.allowed_logical();
  base.placement = t > logical   ? Placement::oversubscribed
                   : t > cores() ? Placement::smt
                                 : Placement::own_cores;
  return base;
}

std::vector<Point> PlanContext::task_sweep(const Point& base,
                                           const std::vector<Backend>& backends) const {
  const int c = cores();
  const int logical = topology_.allowed_logical();
  std::vector<int> conc, par;
  if (threads_.empty()) {
    const int top = std::max(2, 2 * c);
    if (!quick_) {
      for (int p = 2; p < top; p *= 2) conc.push_back(p);
    }
    conc.push_back(top);
    if (quick_) {
      par = {1, c};
    } else {
      for (int p = 1; p < c; p *= 2) par.push_back(p);
      par.push_back(c);
    }
    if (topology_.kinds.size() > 1) par.push_back(topology_.fastest_kind_cores());  // P only
    if (logical > c) par.push_back(logical);  // SMT siblings too
    par.push_back(2 * logical);               // oversubscribed
  } else {
    conc = threads_;
    par = threads_;
  }
  conc = sorted_unique_at_least(conc, 2);
  par = sorted_unique_at_least(par, 1);
  const std::string default_origin = threads_.empty() ? "the default thread counts" : "";
  std::vector<Point> points;
  for (Backend b : backends) {
    if (!wants(b)) continue;
    Point with_backend = base;
    with_backend.backend = b;
    points.push_back(serial(with_backend));
    for (int k : conc) {
      points.push_back(concurrent(with_backend, k));
      points.back().origin = threads_.empty() ? default_origin : "--threads " + std::to_string(k);
    }
    for (int t : par) {
      points.push_back(parallel(with_backend, t));
      points.back().origin = threads_.empty() ? default_origin : "--threads " + std::to_string(t);
    }
  }
  return points;
}

Point PlanContext::distributed(Point base, int t) const {
  const dist::Layout& layout = dist::layout();
  const std::vector<int> share = dist::share_of_host(topology_, layout.local_rank, layout.local_size);
  base.mode = Mode::distributed;
  base.ranks = dist::ranks();
  base.variant += "/ranks:" + std::to_string(base.ranks);
  base.threads = base.in_flight = t;
  base.cpus.clear();
  for (int w = 0; w < t; ++w) base.cpus.push_back(share[static_cast<std::size_t>(w) % share.size()]);
  base.host_cpus = base.cpus;
  for (int l = 0; l < layout.local_size; ++l) {
    if (l == layout.local_rank) continue;
    const std::vector<int> theirs = dist::share_of_host(topology_, l, layout.local_size);
    for (int w = 0; w < t; ++w) base.host_cpus.push_back(theirs[static_cast<std::size_t>(w) % theirs.size()]);
  }
  base.comm_messages = 1;  // the barrier that ends an execution
  base.hosts = std::max<int>(1, static_cast<int>(std::set<std::string>(layout.hosts.begin(), layout.hosts.end()).size()));
  base.cores = cores_touched(topology_, base.cpus);
  base.kinds = topology_.kinds_label(base.cpus);
  const int share_cores = cores_touched(topology_, share);
  base.placement = t > static_cast<int>(share.size()) ? Placement::oversubscribed
                   : t > share_cores                 ? Placement::smt
                                                     : Placement::own_cores;
  return base;
}

std::optional<Point> PlanContext::served_with_ranks(Point p) const {
  if (p.mode == Mode::distributed || p.cpus.empty()) return std::nullopt;
  const dist::Layout& layout = dist::layout();
  std::vector<int> share = dist::share_of_host(topology_, layout.local_rank, layout.local_size);
  std::sort(share.begin(), share.end());
  // A backend polls busily: one that shares rank 0's cores (more ranks than cores) would take
  // the CPU rank 0 measures on.
  for (int l = 0; l < layout.local_size; ++l) {
    if (l == layout.local_rank) continue;
    for (const int cpu : dist::share_of_host(topology_, l, layout.local_size)) {
      if (std::binary_search(share.begin(), share.end(), cpu)) return std::nullopt;
    }
  }
  std::vector<int> cores_first;  // one CPU of each core of the share, fastest core first
  for (const auto& core : topology_.cores) {
    const auto in = std::find_if(core.begin(), core.end(), [&](int cpu) {
      return std::binary_search(share.begin(), share.end(), cpu);
    });
    if (in != core.end()) cores_first.push_back(*in);
  }
  if (cores_first.empty()) return std::nullopt;
  const std::size_t spread = p.mode == Mode::parallel ? std::min(p.cpus.size(), cores_first.size()) : 1;
  if (p.mode == Mode::parallel && spread < 2) return std::nullopt;
  p.cpus.resize(spread);
  for (std::size_t i = 0; i < spread; ++i) p.cpus[i] = cores_first[i];
  p.cores = static_cast<int>(spread);
  p.kinds = topology_.kinds_label(p.cpus);
  p.with_ranks = true;
  return p;
}

std::vector<Point> PlanContext::distributed_sweep(const Point& base) const {
  if (dist::ranks() < 2) return {};
  const dist::Layout& layout = dist::layout();
  const int share = cores_touched(topology_, dist::share_of_host(topology_, layout.local_rank, layout.local_size));
  const std::vector<int> per_rank = sorted_unique_at_least(threads_.empty() ? std::vector<int>{1, share}
                                                                             : threads_, 1);
  std::vector<Point> points;
  for (int t : per_rank) {
    Point with_backend = base;
    with_backend.backend = Backend::threads;
    points.push_back(distributed(with_backend, t));
    points.back().origin = threads_.empty() ? "the default thread counts" : "--threads " + std::to_string(t);
  }
  return points;
}

std::string_view to_string(Scaling scaling) { return exec::name_of(scaling, kScalingNames); }

std::vector<Point> PlanContext::scaled(std::vector<Point> sweep,
                                       const std::function<void(Point&, int)>& grow,
                                       const std::function<int(const Point&)>& workers_of) const {
  if (scaling_ == Scaling::strong) return sweep;
  std::vector<Point> out;
  for (Point& p : sweep) {
    const bool spread = p.mode == Mode::parallel || p.mode == Mode::distributed;
    const int workers = workers_of ? workers_of(p) : p.threads * p.ranks;
    if (spread && workers > 1) {
      Point weak = p;
      weak.weak = workers;
      weak.variant += "/weak:" + std::to_string(workers);
      grow(weak, workers);
      if (scaling_ == Scaling::both) out.push_back(std::move(p));
      out.push_back(std::move(weak));
    } else {
      out.push_back(std::move(p));
    }
  }
  return out;
}

const Row* VerdictContext::pick(const std::string& group, Mode mode, Backend backend,
                                std::optional<int> in_flight, std::optional<int> threads) const {
  const Row* best = nullptr;
  for (const Row* r : rows) {
    const Point& p = *r->point;
    // Weak-scaling points solve a grown problem: the verdict's strong figures leave them out.
    if (!r->ok || !p.headline || p.group != group || p.mode != mode || p.backend != backend ||
        p.weak != 1) {
      continue;
    }
    if (in_flight && p.in_flight != *in_flight) continue;
    if (threads && p.threads != *threads) continue;
    if (!best || p.in_flight > best->point->in_flight) best = r;
  }
  return best;
}

std::vector<std::size_t> tasks_by_worker(const std::vector<double>& speeds, const TaskSplit& split) {
  if (speeds.empty() || split.tasks == 0 ||
      std::any_of(speeds.begin(), speeds.end(), [](double v) { return !(v > 0) || !std::isfinite(v); })) {
    return {};
  }
  std::vector<std::size_t> count(speeds.size(), 0);
  if (split.schedule == exec::Schedule::fixed) {
    for (std::size_t w = 0; w < speeds.size(); ++w) {
      count[w] = split.tasks / speeds.size() + (w < split.tasks % speeds.size() ? 1 : 0);
    }
    return count;
  }
  std::vector<double> free_at(speeds.size(), 0.0);
  for (std::size_t t = 0; t < split.tasks; ++t) {
    const auto w = static_cast<std::size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    free_at[w] += 1.0 / speeds[w];
    ++count[w];
  }
  return count;
}

namespace {

// When the last of `split`'s tasks ends, in tasks of a worker of speed 1; 0 when the split
// cannot be used.
double finish_time(const std::vector<double>& speeds, const TaskSplit& split) {
  const std::vector<std::size_t> count = tasks_by_worker(speeds, split);
  double last = 0;
  for (std::size_t w = 0; w < count.size(); ++w) last = std::max(last, static_cast<double>(count[w]) / speeds[w]);
  return last;
}

}  // namespace

std::size_t balanced_tasks(const std::vector<double>& speeds, int workers, int per_worker) {
  const std::size_t least = static_cast<std::size_t>(std::max(1, per_worker)) *
                            static_cast<std::size_t>(std::max(1, workers));
  if (speeds.size() != static_cast<std::size_t>(std::max(1, workers)) ||
      std::any_of(speeds.begin(), speeds.end(), [](double v) { return !(v > 0) || !std::isfinite(v); })) {
    return least;
  }
  const double total = std::accumulate(speeds.begin(), speeds.end(), 0.0);
  std::size_t best = least;
  double best_share = 0;
  for (std::size_t tasks = least; tasks <= 8 * least; ++tasks) {
    // The share of a perfect split by speed that this many tasks reach.
    const double share = static_cast<double>(tasks) / total / finish_time(speeds, {tasks, exec::Schedule::dynamic});
    if (share >= 0.97) return tasks;
    if (share > best_share + 1e-12) {
      best = tasks;
      best_share = share;
    }
  }
  return best;
}

double split_speedup(const std::vector<double>& speeds, const TaskSplit& split) {
  const double last = finish_time(speeds, split);
  return last > 0 ? static_cast<double>(split.tasks) / last : 0;
}

double Workload::bound(const Row& row) const {
  const Point& p = *row.point;
  if (p.mode != Mode::parallel && p.mode != Mode::distributed) return 1.0;
  double b = std::min(static_cast<double>(p.threads) * p.ranks, row.capacity);
  // Memory-bound work whose serial point streamed from memory (at no more than 1.5 x one
  // core's measured memory bandwidth) cannot go faster than the memory: all cores' bandwidth
  // over what serial moved, per unit of work (a weak point's grown problem may move other bytes
  // per unit than serial's). Work that ran from cache serially, faster, is not held by it.
  const Row* base = row.baseline;
  if (kind() == Kind::memory && row.bandwidth_all_cores > 0 && row.bandwidth_one_core > 0 &&
      base != nullptr && base->point != nullptr && base->median_s > 0 && base->point->bytes > 0) {
    const double serial = base->point->bytes / base->median_s;
    const double per_unit = p.bytes > 0 && p.work > 0 && base->point->work > 0
                                ? (base->point->bytes / base->point->work) / (p.bytes / p.work)
                                : 1.0;
    if (serial <= 1.5 * row.bandwidth_one_core) b = std::min(b, row.bandwidth_all_cores / serial * per_unit);
  }
  // Distributed: the serial time split over the ranks' teams, plus the communication the
  // algorithm must do, at the network's measured rates.
  if (p.mode == Mode::distributed && base != nullptr && base->median_s > 0 &&
      row.network_bandwidth > 0) {
    const double comm_s = p.comm_bytes / row.network_bandwidth + p.comm_messages * row.network_latency_s;
    b = base->median_s / (base->median_s / b + comm_s);
  }
  return std::max(b, 1e-9);
}

std::vector<std::string> Workload::verdicts(const VerdictContext& context) const {
  std::vector<std::string> groups;
  for (const Row* r : context.rows) {
    const Point& p = *r->point;
    if (p.headline && std::find(groups.begin(), groups.end(), p.group) == groups.end()) {
      groups.push_back(p.group);
    }
  }
  const int cores = context.allowed_cores;
  std::vector<std::string> lines;
  for (const auto& g : groups) {
    const Point* any = nullptr;
    for (const Row* r : context.rows) {
      if (r->point->group == g && (any == nullptr || any->weak != 1)) any = r->point;
    }
    // The threads backend speaks for the group where it ran.
    Backend backend = Backend::threads;
    if (!context.pick(g, Mode::serial, backend)) backend = any->backend;
    const Row* conc = context.pick(g, Mode::concurrent, backend, 2 * cores);
    if (!conc) conc = context.pick(g, Mode::concurrent, backend);
    const Row* par = context.pick(g, Mode::parallel, backend, std::nullopt, cores);
    const Row* serial = context.pick(g, Mode::serial, backend);
    std::ostringstream line;
    line << group_title(*any) << ":";
    if (!serial) {
      line << " no verdict: the serial baseline was not measured (it failed, or the run was "
              "interrupted first)";
      lines.push_back(line.str());
      continue;
    }
    if (conc) {
      line << " concurrency " << speedup_ci_text(*conc) << " on 1 core ("
           << conc->point->in_flight << " tasks in flight);";
    }
    if (cores == 1) {
      line << " parallelism: only 1 core is allowed, so parallel equals serial";
      if (par) line << " (" << speedup_ci_text(*par) << ")";
    } else if (par) {
      line << " parallelism " << speedup_ci_text(*par) << " on " << cores
           << " cores (ideal x" << cores << ")";
    }
    // Distributed: the point with the most workers over the ranks.
    const Row* spread = nullptr;
    for (const Row* r : context.rows) {
      const Point& q = *r->point;
      if (!r->ok || q.group != g || q.mode != Mode::distributed) continue;
      if (!spread || q.threads * q.ranks > spread->point->threads * spread->point->ranks) spread = r;
    }
    if (spread) {
      const Point& q = *spread->point;
      line << (conc || par ? ";" : "") << " distributed " << speedup_ci_text(*spread) << " on "
           << q.ranks << " ranks x " << q.threads << " thread" << (q.threads == 1 ? "" : "s")
           << " (attainable x" << fixed(spread->bound, 2) << ")";
    }
    // Weak scaling: the grown point with the most workers, and Gustafson's serial fraction.
    const Row* weak = nullptr;
    for (const Row* r : context.rows) {
      const Point& q = *r->point;
      if (!r->ok || q.group != g || q.weak <= 1 || (q.mode == Mode::parallel && q.backend != backend)) continue;
      if (!weak || q.weak > weak->point->weak) weak = r;
    }
    if (weak) {
      const Point& q = *weak->point;
      line << (conc || par || spread ? ";" : "") << " weak scaling " << speedup_ci_text(*weak)
           << " scaled at " << fixed(q.weak, 0) << " workers" << (q.ranks > 1 ? " over " + std::to_string(q.ranks) + " ranks" : "")
           << " (efficiency " << fixed(weak->efficiency, 2) << ", Gustafson serial fraction "
           << fixed((q.weak - weak->speedup) / (q.weak - 1), 3) << ")";
    }
    if (!conc && !par && !spread && !weak) line << " only the serial baseline was measured;";
    line << " [" << exec::to_string(backend) << " backend, serial " << bench::human_time(serial->median_s)
         << "]";
    lines.push_back(line.str());
  }
  return lines;
}

std::string fixed(double value, int digits) {
  char buf[64];
  // Beyond 1e15 a fixed-point number is digits no reader counts (and would not fit the buffer).
  if (std::isfinite(value) && std::abs(value) >= 1e15) {
    std::snprintf(buf, sizeof(buf), "%.4g", value);
  } else {
    std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  }
  return buf;
}

std::string speedup_text(double s) { return "x" + fixed(s, s >= 10 ? 1 : 2); }

std::string speedup_ci_text(const Row& row) {
  std::string text = speedup_text(row.speedup);
  if (row.ci_known) {
    const int digits = row.speedup >= 10 ? 1 : 2;
    text += " [" + fixed(row.speedup_low, digits) + ", " + fixed(row.speedup_high, digits) + "]";
  } else {
    text += " (CI n/a: " + std::to_string(row.pairs) + (row.pairs == 1 ? " pair)" : " pairs)");
  }
  if (!row.precise) text += ", noisy";
  return text;
}

}  // namespace cvp

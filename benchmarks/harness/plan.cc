#include "plan.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "cvp/exec/affinity.h"
#include "pattern.h"

namespace cvp::bench {
namespace {

std::string format_micros(double us) {
  std::ostringstream out;
  out << us;  // shortest natural form: 50, 12.5
  return out.str();
}

bool wants(const Options& o, const std::string& backend) {
  return o.backends.empty() ||
         std::find(o.backends.begin(), o.backends.end(), backend) != o.backends.end();
}

std::vector<int> positive_unique(std::vector<int> v, int min_value) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](int x) { return x < min_value; }), v.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::size_t auto_requests(double c_us, double w_us, int in_flight, int cores, bool quick) {
  const double target_s = quick ? 0.08 : 0.3;
  const double per_request_s = (c_us + w_us) * 1e-6;
  const double concurrency =
      std::min(static_cast<double>(in_flight),
               static_cast<double>(cores) * (c_us + w_us) / std::max(c_us, 1e-3));
  const double estimate = target_s * concurrency / per_request_s;
  const double lower = std::max(quick ? 60.0 : 100.0, 2.0 * in_flight);
  const double upper = std::max(lower, 20000.0);
  return static_cast<std::size_t>(std::clamp(estimate, lower, upper));
}

// Refuses, in one sentence naming the option to change, a plan that this process cannot run:
// more threads at once than it may create, or fewer requests than are in flight. Only the
// benchmarks that will run count (a matmul-only run starts no request threads).
void check_limits(const Options& o, const std::vector<Point>& points) {
  std::size_t needed = 0;
  std::string what;
  for (const auto& p : points) {
    if (static_cast<std::size_t>(p.threads) <= needed) continue;
    needed = static_cast<std::size_t>(p.threads);
    if (p.kind == Kind::cpu) {
      what = o.threads.empty() ? "the default thread counts" : "--threads " + std::to_string(p.threads);
    } else if (p.crossover) {
      what = "--crossover-k " + std::to_string(p.in_flight);
    } else {
      what = (o.in_flight.empty() ? "the default --in-flight " : "--in-flight ") +
             std::to_string(p.in_flight);
    }
  }
  const std::size_t limit = thread_limit();
  const std::size_t spare = 64;  // the benchmark thread, runtime pools, the kernel's own use
  if (limit > 0 && needed + spare > limit) {
    throw UsageError(what + ": needs " + std::to_string(needed) +
                     " threads at once, more than the " +
                     std::to_string(limit > spare ? limit - spare : 0) +
                     " this process may create (RLIMIT_NPROC, kernel.threads-max, "
                     "vm.max_map_count); use fewer, or --backend eventloop for requests in flight.");
  }
  for (const auto& p : points) {
    if (p.kind == Kind::io && p.io.requests < static_cast<std::size_t>(p.in_flight)) {
      throw UsageError("--requests " + std::to_string(p.io.requests) + ": fewer requests than the " +
                       std::to_string(p.in_flight) + " in flight of " + p.name() +
                       "; give at least " + std::to_string(p.in_flight) + ".");
    }
  }
}

}  // namespace

std::string Point::name() const {
  std::ostringstream out;
  if (kind == Kind::cpu) {
    out << workload << "/n:" << n;
  } else {
    out << workload << "/c_us:" << format_micros(io.c_us) << "/w_us:" << format_micros(io.w_us);
    if (io.distribution == io::WaitDistribution::exponential) out << "/wait:exp";
    // The request count changes the work: runs of different counts are different benchmarks.
    out << "/k:" << in_flight << "/requests:" << io.requests;
  }
  out << "/mode:" << exec::to_string(mode) << "/backend:" << backend << "/threads:" << threads;
  return out.str();
}

std::string Point::group() const {
  std::ostringstream out;
  if (kind == Kind::cpu) {
    out << workload << "/n:" << n;
  } else {
    out << workload << "/c_us:" << format_micros(io.c_us) << "/w_us:" << format_micros(io.w_us)
        << (io.distribution == io::WaitDistribution::exponential ? "/wait:exp" : "");
  }
  return out.str();
}

nlohmann::json Point::params() const {
  if (kind == Kind::cpu) return {{"n", n}};
  return {{"c_us", io.c_us},
          {"w_us", io.w_us},
          {"k", in_flight},
          {"requests", io.requests},
          {"distribution",
           io.distribution == io::WaitDistribution::exponential ? "exponential" : "fixed"},
          {"crossover", crossover}};
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
  return t;
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

std::vector<int> default_parallel_threads(const exec::Topology& topology, bool quick) {
  const int cores = topology.allowed_cores();
  const int logical = topology.allowed_logical();
  std::vector<int> t;
  if (quick) {
    t = {1, cores};
  } else {
    for (int p = 1; p < cores; p *= 2) t.push_back(p);
    t.push_back(cores);
  }
  if (logical > cores) t.push_back(logical);  // SMT siblings too
  t.push_back(2 * logical);                   // oversubscribed: 2 x cores, 2 x logical with SMT
  return positive_unique(t, 1);
}

std::vector<int> default_concurrent_threads(const exec::Topology& topology, bool quick) {
  const int top = 2 * topology.allowed_cores();
  if (quick) return {std::max(2, top)};
  std::vector<int> k;
  for (int p = 2; p < top; p *= 2) k.push_back(p);
  k.push_back(std::max(2, top));
  return positive_unique(k, 2);
}

std::vector<Point> make_plan(const Options& o, const exec::Topology& topology) {
  std::vector<Point> points;
  const int home = topology.home_cpu();
  const int cores = topology.allowed_cores();
  const int logical = topology.allowed_logical();

  auto label_for = [&](int threads) -> std::string {
    if (threads > logical) return "oversubscribed";
    if (threads > cores) return "smt";
    return "";
  };

  // CPU-bound: matmul.
  const std::vector<std::size_t> sizes =
      !o.sizes.empty() ? o.sizes
                       : (o.quick ? std::vector<std::size_t>{512}
                                  : std::vector<std::size_t>{512, 1024});
  const auto conc_k = o.threads.empty() ? default_concurrent_threads(topology, o.quick)
                                        : positive_unique(o.threads, 2);
  const auto par_t = o.threads.empty() ? default_parallel_threads(topology, o.quick)
                                       : positive_unique(o.threads, 1);
  for (std::size_t n : sizes) {
    for (exec::Backend b : exec::all_backends()) {
      const std::string backend(exec::to_string(b));
      if (!wants(o, backend)) continue;
      Point base;
      base.workload = "matmul";
      base.kind = Kind::cpu;
      base.backend = backend;
      base.n = n;

      Point serial = base;
      serial.mode = exec::Mode::serial;
      serial.cpus = {home};
      points.push_back(serial);

      for (int k : conc_k) {
        Point p = base;
        p.mode = exec::Mode::concurrent;
        p.threads = p.in_flight = k;
        p.cpus.assign(static_cast<std::size_t>(k), home);
        points.push_back(p);
      }
      for (int t : par_t) {
        Point p = base;
        p.mode = exec::Mode::parallel;
        p.threads = p.in_flight = t;
        p.cpus = topology.parallel_cpus(t);
        p.cores = cores_touched(topology, p.cpus);
        p.label = label_for(t);
        points.push_back(p);
      }
    }
  }

  // I/O-bound: simulated requests.
  const bool io_threads = wants(o, "threads");
  const bool io_loop = wants(o, "eventloop");
  if (io_threads || io_loop) {
    const std::vector<double> c_main = o.c_us.empty() ? std::vector<double>{50} : o.c_us;
    const std::vector<int> k_main =
        o.in_flight.empty() ? (o.quick ? std::vector<int>{8, 64, 512}
                                       : std::vector<int>{8, 64, 512})
                            : positive_unique(o.in_flight, 2);
    struct Sweep {
      double c;
      std::vector<int> ks;
      bool crossover;
    };
    std::vector<Sweep> sweeps;
    for (double c : c_main) sweeps.push_back({c, k_main, false});
    if (o.crossover) {
      const std::vector<double> fractions =
          o.quick ? std::vector<double>{0.01, 0.1, 0.5, 2.0}
                  : std::vector<double>{0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0};
      for (double f : fractions) {
        const double c = std::max(1.0, std::round(o.w_us * f));
        sweeps.push_back({c, {o.crossover_k}, true});
      }
    }
    std::set<std::string> seen;
    auto add = [&](Point p) {
      p.io.requests = o.requests > 0 ? o.requests
                                     : auto_requests(p.io.c_us, p.io.w_us, p.in_flight, p.cores,
                                                     o.quick);
      p.io.in_flight = p.in_flight;
      if (seen.insert(p.name()).second) points.push_back(p);
    };
    for (const auto& sweep : sweeps) {
      Point base;
      base.workload = "requests";
      base.kind = Kind::io;
      base.crossover = sweep.crossover;
      base.io.c_us = sweep.c;
      base.io.w_us = o.w_us;
      base.io.distribution = o.wait;

      Point serial = base;
      serial.mode = exec::Mode::serial;
      serial.backend = "threads";
      serial.cpus = {home};
      add(serial);
      for (int k : sweep.ks) {
        if (k < 2) continue;
        if (io_threads) {
          Point p = base;
          p.backend = "threads";
          p.mode = exec::Mode::concurrent;
          p.threads = p.in_flight = k;
          p.cpus = {home};
          add(p);
          if (cores > 1) {
            Point q = base;
            q.backend = "threads";
            q.mode = exec::Mode::parallel;
            q.threads = q.in_flight = k;
            q.cpus = topology.parallel_cpus(std::min(k, cores));
            q.cores = cores_touched(topology, q.cpus);
            add(q);
          }
        }
        if (io_loop) {
          Point p = base;
          p.backend = "eventloop";
          p.mode = exec::Mode::concurrent;
          p.threads = 1;
          p.in_flight = k;
          p.cpus = {home};
          add(p);
          if (cores > 1) {
            Point q = base;
            q.backend = "eventloop";
            q.mode = exec::Mode::parallel;
            q.in_flight = k;
            q.threads = std::min(k, cores);
            q.cpus = topology.parallel_cpus(q.threads);
            q.cores = cores_touched(topology, q.cpus);
            add(q);
          }
        }
      }
    }
  }

  if (!o.filter.empty()) {
    // Keep what matches, plus the serial baselines its speedups are computed against.
    const Pattern re("--filter", o.filter);
    std::vector<Point> kept;
    std::set<std::string> baselines;
    for (const auto& p : points) {
      if (re.found_in(p.name())) {
        kept.push_back(p);
        baselines.insert(p.kind == Kind::cpu ? p.group() + "|" + p.backend : p.group());
      }
    }
    std::vector<Point> with_baselines;
    for (const auto& p : points) {
      if (p.mode != exec::Mode::serial) continue;
      const std::string key = p.kind == Kind::cpu ? p.group() + "|" + p.backend : p.group();
      const bool matched = std::any_of(kept.begin(), kept.end(),
                                       [&](const Point& k) { return k.name() == p.name(); });
      if (baselines.count(key) && !matched) with_baselines.push_back(p);
    }
    with_baselines.insert(with_baselines.end(), kept.begin(), kept.end());
    points = std::move(with_baselines);
  }
  check_limits(o, points);
  if (points.empty()) {
    throw UsageError(o.filter.empty()
                         ? std::string("the options select no benchmark to run.")
                         : "--filter " + o.filter +
                               ": matches no benchmark (see --list for the names).");
  }
  return points;
}

}  // namespace cvp::bench

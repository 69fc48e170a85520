// triad as a Workload: a[i] = b[i] + s*c[i] over [0, n), split into contiguous ranges, each
// worker first touching the ranges it will run (so their pages are placed near it). It shows
// what the other workloads cannot: parallelism stops paying when memory bandwidth, not cores,
// is the limit, and concurrency on one core buys nothing. The verdict says where bandwidth
// saturates.
#include "cvp/workload.h"

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>

#include "cvp/cvpbench.h"
#include "triad/triad.h"

namespace cvp::workloads {
namespace {

std::size_t range_start(std::size_t n, std::size_t task, std::size_t tasks) {
  // Multiples of 64 elements (8 cache lines of a, b and c), so no two tasks share a line.
  const std::size_t blocks = (n + 63) / 64;
  return std::min(n, task * blocks / tasks * 64);
}

// The arrays of one size, made once and kept for the whole run: allocating and freeing
// hundreds of MiB for every call of every point makes the kernel zero, map and unmap pages
// between timed regions, which other workloads' measurements interleaved with the triad's then
// pay for. Each prepared point still writes its ranges with its own team before timing (touch),
// so on a machine with one memory node every point starts alike; on several nodes the pages stay
// where the first team that touched them placed them.
std::shared_ptr<triad::Arrays> arrays_for(std::size_t n) {
  static std::map<std::size_t, std::shared_ptr<triad::Arrays>> cache;
  auto& slot = cache[n];
  if (!slot) slot = std::make_shared<triad::Arrays>(n);
  return slot;
}

class TriadKernel final : public TaskKernel {
 public:
  explicit TriadKernel(std::size_t n) : held_(arrays_for(n)), arrays_(*held_) {}

  void touch(std::size_t task, std::size_t tasks) override {
    triad::initialise(arrays_, begin(task, tasks), begin(task + 1, tasks));
  }
  void run(std::size_t task, std::size_t tasks) override {
    triad::triad(arrays_.a(), arrays_.b(), arrays_.c(), triad::kScalar, begin(task, tasks),
                 begin(task + 1, tasks));
  }
  // The sum of a is exact (the inputs are small dyadic numbers) and cheap next to a pass.
  double checksum() const override {
    const std::size_t wrong = triad::mismatches(arrays_, triad::kScalar, 0, arrays_.size());
    if (wrong > 0) return -static_cast<double>(wrong);
    const double* a = arrays_.a();
    return std::accumulate(a, a + arrays_.size(), 0.0);
  }
  void corrupt() override { triad::corrupt(arrays_); }

 private:
  std::size_t begin(std::size_t task, std::size_t tasks) const {
    return range_start(arrays_.size(), task, tasks);
  }
  std::shared_ptr<triad::Arrays> held_;
  triad::Arrays& arrays_;
};

std::string mib(double bytes) {
  std::ostringstream out;
  out << static_cast<long long>(bytes / (1 << 20) + 0.5) << " MiB";
  return out.str();
}

TaskWorkload::Spec triad_spec() {
  const std::size_t llc = triad::last_level_cache_bytes();
  TaskWorkload::Spec s;
  s.name = "triad";
  s.kind = Kind::memory;
  s.unit = {"bytes", "GB/s", 1e9};
  s.description =
      "STREAM-style triad a[i] = b[i] + s*c[i] over three arrays of n doubles, each at least 4x "
      "the last-level cache; 24 bytes per element (STREAM's counting)";
  s.param = "n";
  s.flag = "--triad-n";
  s.sizes = {static_cast<long long>(triad::default_elements(llc, false))};
  s.quick_sizes = {static_cast<long long>(triad::default_elements(llc, true))};
  s.work = [](long long n) { return triad::kBytesPerElement * static_cast<double>(n); };
  s.flop = [](long long n) { return 2.0 * static_cast<double>(n); };  // one multiply, one add
  s.bytes = s.work;
  s.make = [](long long n) { return std::make_unique<TriadKernel>(static_cast<std::size_t>(n)); };
  s.fits = [](long long n, std::optional<std::size_t> known) -> std::optional<std::string> {
    const std::size_t memory = known.value_or(0);
    const double bytes = 3.0 * 8.0 * static_cast<double>(n);
    if (n > (1LL << 36) || (memory > 0 && bytes > 0.8 * static_cast<double>(memory))) {
      return "three arrays of " + std::to_string(n) + " doubles need " + mib(bytes) +
             ", more than 80% of the " + mib(static_cast<double>(memory)) +
             " of memory available.";
    }
    return std::nullopt;
  };
  s.tasks_per_worker = 1;  // one contiguous range per worker: its own pages, its own stream
  s.fixed_schedule = true;  // the worker that first touched a range runs it every time
  return s;
}

class Triad final : public TaskWorkload {
 public:
  Triad() : TaskWorkload(triad_spec()) {}

  std::optional<std::string> kernel() const override {
    return triad::kernel_name(chosen_isa());
  }
  std::string group_title(const Point& point) const override {
    const long long n = size_of(point);
    return "triad n=" + std::to_string(n) + " (" + mib(24.0 * static_cast<double>(n)) +
           " moved per pass)";
  }

  // Per group: bandwidth on one core, what concurrency and parallelism buy, and the smallest
  // team that reaches 90% of the best bandwidth measured: where bandwidth saturates.
  std::vector<std::string> verdicts(const VerdictContext& context) const override {
    std::vector<std::string> lines = TaskWorkload::verdicts(context);
    std::vector<std::string> groups;
    for (const Row* r : context.rows) {
      if (std::find(groups.begin(), groups.end(), r->point->group) == groups.end()) {
        groups.push_back(r->point->group);
      }
    }
    for (std::size_t g = 0; g < groups.size() && g < lines.size(); ++g) {
      Backend backend = Backend::threads;
      if (!context.pick(groups[g], Mode::serial, backend)) {
        for (const Row* r : context.rows) {
          if (r->point->group == groups[g]) backend = r->point->backend;
        }
      }
      std::map<int, double> bandwidth;  // threads (within the cores) -> GB/s
      for (const Row* r : context.rows) {
        const Point& p = *r->point;
        if (!r->ok || p.group != groups[g] || p.backend != backend) continue;
        // One core's figure is the serial baseline's (the parallel team of one only repeats it).
        if (p.mode == Mode::serial) bandwidth[1] = r->throughput;
        if (p.mode == Mode::parallel && p.placement == Placement::own_cores) bandwidth.emplace(p.threads, r->throughput);
      }
      if (bandwidth.empty()) continue;
      double best = 0;
      int best_t = 1;
      for (const auto& [t, bw] : bandwidth) {
        if (bw > best) {
          best = bw;
          best_t = t;
        }
      }
      int saturated = best_t;
      for (const auto& [t, bw] : bandwidth) {
        if (bw >= 0.9 * best) {
          saturated = t;
          break;
        }
      }
      std::ostringstream line;
      const int top = bandwidth.rbegin()->first;
      line << "; 1 core moves " << fixed(bandwidth.begin()->second, 1) << " GB/s";
      if (top == 1) {
        line << " (no parallel team within the cores was measured)";
      } else if (best_t == 1 && bandwidth[top] < 0.9 * best) {
        line << "; more cores are slower (" << fixed(bandwidth[top], 1) << " GB/s on " << top
             << " cores)";
      } else if (saturated < top) {
        line << "; bandwidth saturates at " << saturated << (saturated == 1 ? " core" : " cores")
             << " (" << fixed(bandwidth[saturated], 1) << " GB/s, within 10% of the best "
             << fixed(best, 1) << " GB/s): more cores add little, memory is the limit";
      } else {
        line << "; bandwidth still grows up to " << top << " cores (" << fixed(best, 1)
             << " GB/s): it did not saturate on the cores allowed";
      }
      // Arrays within 4x the last-level cache measure the caches, not memory.
      const std::size_t llc = triad::last_level_cache_bytes();
      const Point* gp = nullptr;
      for (const Row* r : context.rows) {
        // The group's own n: a weak point's arrays grew with its workers.
        if (r->point->group == groups[g] && (gp == nullptr || gp->weak != 1)) gp = r->point;
      }
      const double array_bytes = 8.0 * static_cast<double>(size_of(*gp));
      if (llc > 0 && array_bytes < 4.0 * static_cast<double>(llc)) {
        line << " (each array is " << mib(array_bytes) << ", under 4x the "
             << mib(static_cast<double>(llc)) << " last-level cache: this measures the caches, "
             << "not memory)";
      }
      lines[g] += line.str();
    }
    return lines;
  }
};

}  // namespace

std::unique_ptr<Workload> make_triad() { return std::make_unique<Triad>(); }

}  // namespace cvp::workloads

// matmul as a Workload: C = A x B for each size n, split into row blocks over the point's team.
// One product is two phases over the team: pack B once (by column slivers), then compute C (by
// row blocks), so no task repeats another's packing. Every product is checked against the
// checksum of the serial answer, which is computed once per size, outside every timed region.
#include "cvp/workload.h"

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>

#include "matmul/matmul.h"

namespace cvp::workloads {
namespace {

// Inputs and the serial answer for one matrix size, made once.
struct MatmulData {
  matmul::Problem problem;
  double reference = 0;  // checksum of the serial answer
};

// How many tasks one product is split into: two per worker, so a worker slowed by a neighbour
// on its core can hand work to the others, while tasks stay large enough (rows that are whole
// register tiles) for each to reuse the packed B from cache; more where the workers' cores
// differ in speed, so that the slower take fewer and all end together (balanced_tasks).
std::size_t tasks_for(const Point& point) { return balanced_tasks(point.speeds, point.threads, 2); }

// Boundaries of `tasks` nearly equal ranges of [0, total), in multiples of `unit` where possible.
std::vector<std::size_t> task_bounds(std::size_t total, std::size_t unit, std::size_t tasks) {
  const std::size_t units = (total + unit - 1) / unit;
  tasks = std::max<std::size_t>(1, std::min(tasks, units));
  std::vector<std::size_t> bounds(tasks + 1);
  for (std::size_t i = 0; i <= tasks; ++i) bounds[i] = std::min(total, (i * units / tasks) * unit);
  bounds.back() = total;
  return bounds;
}

class MatmulRun final : public PreparedPoint {
 public:
  MatmulRun(MatmulData& data, std::unique_ptr<exec::Executor> team, std::size_t tasks)
      : data_(data),
        team_(std::move(team)),
        n_(data.problem.n),
        bounds_(task_bounds(n_, matmul::row_tile(), tasks)),
        slivers_(task_bounds(matmul::packed_b_slivers(n_), 1, tasks)) {
    auto& c = data_.problem.c;
    std::fill(c.begin(), c.end(), std::numeric_limits<double>::quiet_NaN());
  }

  Execution execute() override {
    team_->run(slivers_.size() - 1, pack_);
    team_->run(bounds_.size() - 1, compute_);
    return {};
  }

  std::optional<std::string> verify() override {
    if (matmul::checksum(data_.problem.c.data(), n_) == data_.reference) return std::nullopt;
    return "result differs from the serial answer";
  }

  void corrupt() override {
    auto& c = data_.problem.c;
    c[c.size() / 2] += 1.0;
  }

  void idle() override { team_->idle(); }

 private:
  MatmulData& data_;
  std::unique_ptr<exec::Executor> team_;
  std::size_t n_;
  std::vector<std::size_t> bounds_, slivers_;
  const exec::Task pack_ = [this](std::size_t i) {
    auto& p = data_.problem;
    matmul::pack_b_slivers(p.b.data(), n_, p.packed_b.data(), slivers_[i], slivers_[i + 1]);
  };
  const exec::Task compute_ = [this](std::size_t i) {
    auto& p = data_.problem;
    matmul::multiply_rows_packed(p.a.data(), p.packed_b.data(), p.c.data(), n_, bounds_[i],
                                 bounds_[i + 1]);
  };
};

// A point's matrix size.
struct MatmulParams final : PointParams {
  explicit MatmulParams(long long size) : n(size) {}
  nlohmann::json to_json(const Point&) const override { return {{"n", n}}; }
  long long n;
};

class Matmul final : public Workload {
 public:
  std::string name() const override { return "matmul"; }
  Kind kind() const override { return Kind::cpu; }
  WorkUnit unit() const override { return {"FLOP", "GFLOP/s", 1e9}; }
  std::string description() const override {
    return "dense double-precision matrix multiply C = A x B (n x n), 2 n^3 FLOP per product";
  }

  void add_options(Flags& flags) override {
    flags.integers("--size", &sizes_, "Matrix sizes n for matmul (default 512,1024; quick 512)",
                   [](long long n) -> std::optional<std::string> {
                     if (n < 1) return "a matrix size must be at least 1.";
                     return std::nullopt;
                   });
  }

  std::vector<Point> plan(const PlanContext& context) override {
    const std::vector<long long> sizes =
        !sizes_.empty() ? sizes_
                        : (context.quick() ? std::vector<long long>{512}
                                           : std::vector<long long>{512, 1024});
    const std::size_t memory = context.memory_bytes().value_or(0);
    std::vector<Point> points;
    for (long long n : sizes) {
      // Three n x n matrices of doubles, plus the packed B.
      const long double bytes = 4.0L * 8.0L * static_cast<long double>(n) * static_cast<long double>(n);
      if (n > 65536 || (memory > 0 && bytes > 0.8L * static_cast<long double>(memory))) {
        std::ostringstream msg;
        msg << "--size " << n << ": four " << n << " x " << n << " matrices need "
            << static_cast<double>(bytes / (1 << 30)) << " GiB, more than 80% of the "
            << static_cast<double>(memory) / (1 << 30) << " GiB of memory available.";
        throw UsageError(msg.str());
      }
      Point base;
      base.group = "matmul/n:" + std::to_string(n);
      base.params = std::make_shared<MatmulParams>(n);
      base.work = matmul::flops(static_cast<std::size_t>(n));
      base.flop = base.work;
      // The least traffic: A and B read once, C written once.
      base.bytes = 3.0 * 8.0 * static_cast<double>(n) * static_cast<double>(n);
      for (auto& p : context.task_sweep(base, backends())) points.push_back(std::move(p));
    }
    return points;
  }

  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                         StopToken /*stop*/) override {
    const auto n = static_cast<std::size_t>(point.params_as<MatmulParams>().n);
    auto& slot = data_[n];
    if (!slot) {
      slot = std::make_unique<MatmulData>();
      slot->problem = matmul::make_problem(n);
      auto& p = slot->problem;
      matmul::multiply(p.a.data(), p.b.data(), p.c.data(), n);
      slot->reference = matmul::checksum(p.c.data(), n);
    }
    return std::make_unique<MatmulRun>(*slot, exec::make_executor(point.backend, point.cpus, &sightings),
                                       tasks_for(point));
  }

  std::string group_title(const Point& point) const override {
    return "matmul n=" + std::to_string(point.params_as<MatmulParams>().n);
  }
  std::optional<std::string> kernel() const override { return matmul::Kernel::chosen().name(); }
  // The split of the compute phase (most of a product's time): tasks_for(point) ranges of rows,
  // fewer where the matrix has fewer register tiles, taken from a shared counter.
  std::optional<TaskSplit> split(const Point& point) const override {
    const auto n = static_cast<std::size_t>(point.params_as<MatmulParams>().n);
    const std::size_t tiles = (n + matmul::row_tile() - 1) / matmul::row_tile();
    return TaskSplit{std::max<std::size_t>(1, std::min(tasks_for(point), tiles)), exec::Schedule::dynamic};
  }

 private:
  std::vector<long long> sizes_;
  std::map<std::size_t, std::unique_ptr<MatmulData>> data_;
};

}  // namespace

std::unique_ptr<Workload> make_matmul() { return std::make_unique<Matmul>(); }

}  // namespace cvp::workloads

// matmul as a Workload: C = A x B for each size n, split into row blocks over the point's team.
// One product is one run of the team in two phases: its tasks pack B once between them (by
// column slivers), then each computes its rows of C, so no task repeats another's packing.
// Every product is checked against the checksum of the serial answer, which is computed once
// per size, outside every timed region.
#include "cvp/workload.h"
#include "cvp/dist.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "matmul/matmul.h"

namespace cvp::workloads {
namespace {

// Inputs and the serial answer for one matrix size, made once.
struct MatmulData {
  matmul::Problem problem;
  double reference = 0;  // checksum of the serial answer
  // The serial answer itself, kept for a distributed product's check (element by element).
  std::unique_ptr<std::vector<double>> serial_c;
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
  // `owned`: data of its own (a copy of the contention measure), freed with the run.
  MatmulRun(MatmulData& data, std::unique_ptr<exec::Executor> team, std::size_t tasks,
            std::unique_ptr<MatmulData> owned = nullptr)
      : owned_(std::move(owned)),
        data_(owned_ ? *owned_ : data),
        team_(std::move(team)),
        n_(data_.problem.n),
        bounds_(task_bounds(n_, matmul::row_tile(), tasks)),
        slivers_(task_bounds(matmul::packed_b_slivers(n_), 1, 2 * tasks)) {
    auto& c = data_.problem.c;
    std::fill(c.begin(), c.end(), std::numeric_limits<double>::quiet_NaN());
  }

  // One run of the team per product: each task first helps pack B (claiming chunks of its
  // slivers until none is left), waits until every chunk is packed, then computes its rows. A
  // second run for the rows would cost every product another wake-up of the team (a sleeping
  // worker's, 20 to 50 us in a VM), and the first worker awake packs while the others wake.
  // Never a deadlock: a task waits only for chunks other tasks have claimed, and a task claims
  // a chunk from inside its body, on a thread that is running it to its end.
  Execution execute() override {
    next_chunk_.store(0, std::memory_order_relaxed);
    packed_.store(0, std::memory_order_relaxed);
    team_->run(bounds_.size() - 1, product_);
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
  void settle() override { team_->settle(); }
  std::optional<double> spun_s() const override { return team_->spun_s(); }

 private:
  std::unique_ptr<MatmulData> owned_;
  MatmulData& data_;
  std::unique_ptr<exec::Executor> team_;
  std::size_t n_;
  std::vector<std::size_t> bounds_, slivers_;
  std::atomic<std::size_t> next_chunk_{0}, packed_{0};
  const exec::Task product_ = [this](std::size_t i) {
    auto& p = data_.problem;
    const std::size_t chunks = slivers_.size() - 1;
    for (std::size_t k = next_chunk_.fetch_add(1, std::memory_order_relaxed); k < chunks;
         k = next_chunk_.fetch_add(1, std::memory_order_relaxed)) {
      matmul::pack_b_slivers(p.b.data(), n_, p.packed_b.data(), slivers_[k], slivers_[k + 1]);
      packed_.fetch_add(1, std::memory_order_release);
    }
    // The last chunks are being packed by tasks running now: spin briefly, then yield, so that
    // a packer sharing this CPU (tasks interleaved on one core) gets it.
    for (int spins = 0; packed_.load(std::memory_order_acquire) < chunks; ++spins) {
      if (spins < 256) {
        exec::cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    matmul::multiply_rows_packed(p.a.data(), p.packed_b.data(), p.c.data(), n_, bounds_[i],
                                 bounds_[i + 1]);
  };
};

// The process grid of a distributed product: rows x cols = R ranks, rows the largest divisor of
// R not above its square root (1 x 2, 2 x 2, 2 x 3, ...); rank r at (r / cols, r % cols).
struct Grid {
  int rows = 1, cols = 1, row = 0, col = 0;
  static Grid of(int ranks, int rank) {
    Grid g;
    for (int d = 1; d * d <= ranks; ++d) {
      if (ranks % d == 0) g.rows = d;
    }
    g.cols = ranks / g.rows;
    g.row = rank / g.cols;
    g.col = rank % g.cols;
    return g;
  }
};

// Where [0, n) splits into `parts` nearly equal ranges.
std::vector<std::size_t> even_split(std::size_t n, int parts) {
  std::vector<std::size_t> b(static_cast<std::size_t>(parts) + 1);
  for (int i = 0; i <= parts; ++i) b[static_cast<std::size_t>(i)] = n * static_cast<std::size_t>(i) / static_cast<std::size_t>(parts);
  return b;
}

// The part of `bounds` holding index k.
int part_of(const std::vector<std::size_t>& bounds, std::size_t k) {
  int p = 0;
  while (bounds[static_cast<std::size_t>(p) + 1] <= k) ++p;
  return p;
}

// One rank's share of a distributed product, C = A x B by SUMMA over a 2-D process grid: the
// rank holds the blocks A(row part, k part of its column), B(k part of its row, column part) and
// C(row part, column part); for every panel of k, the rank of its grid row that holds that panel
// of A broadcasts it along the row, the rank of its grid column that holds that panel of B
// broadcasts it down the column, and each rank's team adds the panels' product into its C block
// (the kernel's multiply_add: B's panel packed once, C's rows split over the team). Rank 0
// gathers C outside the timed region and checks it against the serial answer, element by
// element, within rounding: a sum split into panels rounds differently from one product.
class SummaRun final : public PreparedPoint {
 public:
  SummaRun(const matmul::Problem& full, const std::vector<double>* serial_c,
           std::unique_ptr<exec::Executor> team, std::size_t tasks)
      : n_(full.n),
        grid_(Grid::of(dist::ranks(), dist::rank())),
        world_(dist::Group::world()),
        along_row_(world_.split(grid_.row, grid_.col)),
        down_col_(world_.split(grid_.col, grid_.row)),
        row_parts_(even_split(n_, grid_.rows)),
        col_parts_(even_split(n_, grid_.cols)),
        serial_c_(serial_c),
        team_(std::move(team)),
        tasks_(tasks) {
    r0_ = row_parts_[grid_.row];
    m_ = row_parts_[grid_.row + 1] - r0_;
    c0_ = col_parts_[grid_.col];
    nc_ = col_parts_[grid_.col + 1] - c0_;
    // A's k is split like C's columns (over the grid's columns), B's like C's rows: a panel is
    // a range of k between two consecutive boundaries of either, held by one rank of each.
    std::set<std::size_t> cuts(col_parts_.begin(), col_parts_.end());
    cuts.insert(row_parts_.begin(), row_parts_.end());
    panels_.assign(cuts.begin(), cuts.end());
    std::size_t widest = 0;
    for (std::size_t i = 0; i + 1 < panels_.size(); ++i) widest = std::max(widest, panels_[i + 1] - panels_[i]);
    const std::size_t ka0 = col_parts_[grid_.col], ka = col_parts_[grid_.col + 1] - ka0;
    const std::size_t kb0 = row_parts_[grid_.row], kb = row_parts_[grid_.row + 1] - kb0;
    a_.resize(m_ * ka);
    for (std::size_t i = 0; i < m_; ++i) {
      std::copy_n(full.a.data() + (r0_ + i) * n_ + ka0, ka, a_.data() + i * ka);
    }
    b_.resize(kb * nc_);
    for (std::size_t k = 0; k < kb; ++k) {
      std::copy_n(full.b.data() + (kb0 + k) * n_ + c0_, nc_, b_.data() + k * nc_);
    }
    c_.assign(m_ * nc_, 0.0);
    a_panel_.resize(m_ * widest);
    b_panel_.resize(widest * nc_);
    packed_ = matmul::AlignedDoubles(matmul::packed_b_size(widest, nc_));
    rows_ = task_bounds(m_, matmul::row_tile(), tasks_);
    // B's panels are all nc_ wide: one split of their slivers serves every panel.
    slivers_ = task_bounds(matmul::packed_b_slivers(nc_), 1, tasks_);
  }

  Execution execute() override {
    team_->run(rows_.size() - 1, [this](std::size_t t) {
      std::fill(c_.begin() + static_cast<std::ptrdiff_t>(rows_[t] * nc_),
                c_.begin() + static_cast<std::ptrdiff_t>(rows_[t + 1] * nc_), 0.0);
    });
    const std::size_t ka0 = col_parts_[grid_.col], ka = col_parts_[grid_.col + 1] - ka0;
    const std::size_t kb0 = row_parts_[grid_.row];
    for (std::size_t p = 0; p + 1 < panels_.size(); ++p) {
      const std::size_t k0 = panels_[p], kw = panels_[p + 1] - k0;
      const int a_owner = part_of(col_parts_, k0), b_owner = part_of(row_parts_, k0);
      if (grid_.col == a_owner) {
        for (std::size_t i = 0; i < m_; ++i) {
          std::copy_n(a_.data() + i * ka + (k0 - ka0), kw, a_panel_.data() + i * kw);
        }
      }
      along_row_.broadcast(a_panel_.data(), m_ * kw, a_owner);
      // B's rows are contiguous: the owner's panel is a slice of its block.
      double* b_panel = grid_.row == b_owner ? b_.data() + (k0 - kb0) * nc_ : b_panel_.data();
      down_col_.broadcast(b_panel, kw * nc_, b_owner);
      team_->run(slivers_.size() - 1, [&](std::size_t t) {
        matmul::pack_b_slivers(b_panel, kw, nc_, nc_, packed_.data(), slivers_[t], slivers_[t + 1]);
      });
      team_->run(rows_.size() - 1, [&](std::size_t t) {
        matmul::multiply_add_rows_packed(nc_, kw, a_panel_.data(), kw, packed_.data(), c_.data(), nc_,
                                         rows_[t], rows_[t + 1]);
      });
    }
    // The product is done when every rank's block is.
    world_.barrier();
    return {};
  }

  std::optional<std::string> verify() override {
    const std::size_t most = (n_ / static_cast<std::size_t>(grid_.rows) + 1) *
                             (n_ / static_cast<std::size_t>(grid_.cols) + 1);
    std::vector<double> mine(most, 0.0);
    std::copy(c_.begin(), c_.end(), mine.begin());
    std::vector<double> all(dist::rank() == 0 ? most * static_cast<std::size_t>(dist::ranks()) : 0);
    world_.gather(mine.data(), most, all.data(), 0);
    if (dist::rank() != 0 || serial_c_ == nullptr) return std::nullopt;
    std::size_t wrong = 0;
    double worst = 0;
    for (int r = 0; r < dist::ranks(); ++r) {
      const Grid g = Grid::of(dist::ranks(), r);
      const std::size_t rb = row_parts_[g.row], rm = row_parts_[g.row + 1] - rb;
      const std::size_t cb = col_parts_[g.col], cn = col_parts_[g.col + 1] - cb;
      const double* block = all.data() + most * static_cast<std::size_t>(r);
      for (std::size_t i = 0; i < rm; ++i) {
        for (std::size_t j = 0; j < cn; ++j) {
          const double want = (*serial_c_)[(rb + i) * n_ + cb + j];
          const double diff = std::abs(block[i * cn + j] - want) / (1 + std::abs(want));
          if (!(diff <= kSummaTolerance)) ++wrong;
          if (diff > worst || std::isnan(diff)) worst = diff;
        }
      }
    }
    if (wrong == 0) return std::nullopt;
    std::ostringstream why;
    why << "result differs from the serial answer: " << wrong << " of " << n_ * n_
        << " elements beyond " << kSummaTolerance << " (relative; the largest difference " << worst << ")";
    return why.str();
  }

  void corrupt() override {
    if (!c_.empty()) c_[c_.size() / 2] += 1.0;
  }
  void idle() override { team_->idle(); }
  void settle() override { team_->settle(); }
  std::optional<double> spun_s() const override { return team_->spun_s(); }

  // A panel's sum rounds differently from one product's: far below this, a wrong element far
  // above it.
  static constexpr double kSummaTolerance = 1e-9;

 private:
  std::size_t n_;
  Grid grid_;
  dist::Group world_, along_row_, down_col_;
  std::vector<std::size_t> row_parts_, col_parts_, panels_;
  const std::vector<double>* serial_c_;
  std::unique_ptr<exec::Executor> team_;
  std::size_t tasks_;
  std::size_t r0_ = 0, m_ = 0, c0_ = 0, nc_ = 0;
  std::vector<double> a_, b_, c_, a_panel_, b_panel_;
  matmul::AlignedDoubles packed_;
  std::vector<std::size_t> rows_, slivers_;
};

// What SUMMA must communicate in one product, for the bound: each rank receives the panels of A
// its grid row does not hold and those of B its grid column does not, one broadcast per panel
// along each grid dimension wider than one rank, then the barrier that ends the product.
void add_summa_communication(Point& p, std::size_t n) {
  const Grid g = Grid::of(p.ranks, 0);
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  const double a = nn / g.rows * (1 - 1.0 / g.cols);
  const double b = nn / g.cols * (1 - 1.0 / g.rows);
  p.comm_bytes = 8 * (a + b);
  std::set<std::size_t> cuts;
  for (const auto c : even_split(n, g.rows)) cuts.insert(c);
  for (const auto c : even_split(n, g.cols)) cuts.insert(c);
  const double panels = static_cast<double>(cuts.size() - 1);
  p.comm_messages = panels * ((g.cols > 1 ? 1 : 0) + (g.rows > 1 ? 1 : 0)) + 1;
}

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
      std::vector<Point> sweep = context.task_sweep(base, backends());
      for (auto& p : context.distributed_sweep(base)) {
        add_summa_communication(p, static_cast<std::size_t>(n));
        sweep.push_back(std::move(p));
      }
      // Weak scaling: n x P^(1/3), so that the FLOP grow with the workers P.
      const auto grow = [&](Point& p, int workers) {
        const auto grown = static_cast<long long>(std::llround(static_cast<double>(n) * std::cbrt(workers)));
        p.params = std::make_shared<MatmulParams>(grown);
        p.work = p.flop = matmul::flops(static_cast<std::size_t>(grown));
        p.bytes = 3.0 * 8.0 * static_cast<double>(grown) * static_cast<double>(grown);
        if (p.mode == Mode::distributed) add_summa_communication(p, static_cast<std::size_t>(grown));
      };
      for (auto& p : context.scaled(std::move(sweep), grow)) points.push_back(std::move(p));
    }
    return points;
  }

  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                         StopToken /*stop*/) override {
    const auto n = static_cast<std::size_t>(point.params_as<MatmulParams>().n);
    MatmulData& slot = data_of(n);
    if (point.copy > 0) {
      // A copy for the contention measure: inputs and output of its own, freed with its run;
      // the same inputs, so the same answer (bit-identical however the rows are split).
      auto own = std::make_unique<MatmulData>();
      own->problem = matmul::make_problem(n);
      own->reference = slot.reference;
      return std::make_unique<MatmulRun>(slot, exec::make_executor(point.backend, point.cpus, &sightings),
                                         tasks_for(point), std::move(own));
    }
    if (point.mode == Mode::distributed) {
      return std::make_unique<SummaRun>(slot.problem, slot.serial_c.get(),
                                        exec::make_executor(point.backend, point.cpus, &sightings),
                                        tasks_for(point));
    }
    return std::make_unique<MatmulRun>(slot, exec::make_executor(point.backend, point.cpus, &sightings),
                                       tasks_for(point));
  }

  bool independent_copies() const override { return true; }

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
  // The inputs and the serial answer for size n, made once.
  MatmulData& data_of(std::size_t n) {
    auto& slot = data_[n];
    if (!slot) {
      slot = std::make_unique<MatmulData>();
      slot->problem = matmul::make_problem(n);
      // The serial answer: on rank 0 (the only rank of a run on one machine), which checks.
      if (dist::rank() == 0) {
        auto& p = slot->problem;
        matmul::multiply(p.a.data(), p.b.data(), p.c.data(), n);
        slot->reference = matmul::checksum(p.c.data(), n);
        if (dist::ranks() > 1) slot->serial_c = std::make_unique<std::vector<double>>(p.c);
      }
    }
    return *slot;
  }

  std::map<std::size_t, std::unique_ptr<MatmulData>> data_;
};

}  // namespace

std::unique_ptr<Workload> make_matmul() { return std::make_unique<Matmul>(); }

}  // namespace cvp::workloads

// A CPU-bound kernel of your own, measured by cvpbench: the Collatz stopping time of every
// number in [1, n]. Each task handles a contiguous range of numbers; the result (one step count
// per number) does not depend on how the range is split, so every mode and backend must give
// the serial checksum exactly.
//
//   collatz_bench --quick            # serial, concurrent on one core, parallel on all cores
//   collatz_bench --collatz-n 2000000 --backend threads,tbb
#include <cvp/cvpbench.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

namespace {

class Collatz final : public cvp::TaskKernel {
 public:
  explicit Collatz(long long n) : steps_(static_cast<std::size_t>(n)) {}

  void run(std::size_t task, std::size_t tasks) override {
    const std::size_t n = steps_.size();
    for (std::size_t i = task * n / tasks; i < (task + 1) * n / tasks; ++i) {
      std::uint64_t x = i + 1;
      std::uint32_t count = 0;
      while (x != 1) {
        x = (x % 2 == 0) ? x / 2 : 3 * x + 1;
        ++count;
      }
      steps_[i] = count;
    }
  }

  double checksum() const override {
    return static_cast<double>(std::accumulate(steps_.begin(), steps_.end(), std::uint64_t{0}));
  }

  void corrupt() override { steps_[steps_.size() / 2] += 1; }

 private:
  std::vector<std::uint32_t> steps_;
};

}  // namespace

int main(int argc, char** argv) {
  cvp::TaskWorkload::Spec spec;
  spec.name = "collatz";
  spec.kind = cvp::Kind::cpu;
  spec.unit = {"numbers", "M numbers/s", 1e6};
  spec.description = "Collatz stopping time of every number in [1, n]";
  spec.sizes = {4'000'000};
  spec.quick_sizes = {1'000'000};
  spec.work = [](long long n) { return static_cast<double>(n); };
  spec.make = [](long long n) { return std::make_unique<Collatz>(n); };

  std::vector<std::unique_ptr<cvp::Workload>> workloads;
  workloads.push_back(std::make_unique<cvp::TaskWorkload>(spec));
  return cvp::run_program(argc, argv, std::move(workloads));
}

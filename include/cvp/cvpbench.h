// cvpbench as a library: measure your own kernel or request handler the way cvpbench measures
// its built-in workloads — serially, concurrently on one pinned core and in parallel across the
// allowed cores, with evidence, bounds, confidence intervals, the console table, summary.json
// and benchmark.json — by writing one small source file:
//
//   #include <cvp/cvpbench.h>
//   int main(int argc, char** argv) {
//     std::vector<std::unique_ptr<cvp::Workload>> workloads;
//     workloads.push_back(std::make_unique<cvp::TaskWorkload>(spec));  // or your own Workload
//     return cvp::run_program(argc, argv, workloads);
//   }
//
// Build it against the installed package: find_package(cvpbench) and link cvpbench::cvpbench.
// examples/ holds a CPU-bound and an I/O-bound example.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cvp/workload.h"

namespace cvp {

// The whole program over `workloads`: cvpbench's command line (--help lists it), the plan,
// the measurement, the console table and verdicts, and the run folder with summary.json and
// benchmark.json. Returns the exit code: 0, 1 (a benchmark failed), 2 (bad command line),
// 130 (interrupted).
int run_program(int argc, char** argv, const std::vector<std::unique_ptr<Workload>>& workloads);

// ---------------------------------------------------------------------------------------------
// A kernel split into tasks: the shortest way to measure your own computing code.

// One problem of one size, made outside every timed region. An execution runs every task once
// on the point's team; tasks of one execution may run at the same time, so task i must touch
// only its own part of the output.
class TaskKernel {
 public:
  virtual ~TaskKernel() = default;
  // Task `task` of `tasks` of one execution.
  virtual void run(std::size_t task, std::size_t tasks) = 0;
  // Before the first execution, each worker runs touch() for the tasks it is given, with the
  // split run() will get: the place to write memory first, so that its pages land near the
  // core that uses them (first touch). Default: nothing.
  virtual void touch(std::size_t /*task*/, std::size_t /*tasks*/) {}
  // A number that summarises the result of the last execution; it must equal the serial
  // execution's, bit for bit, however the work was split.
  virtual double checksum() const = 0;
  // Spoils the last result so that the check must fail (--inject-fault wrong).
  virtual void corrupt() = 0;
};

class TaskWorkload : public Workload {
 public:
  struct Spec {
    std::string name;                 // first segment of every benchmark name
    Kind kind = Kind::cpu;
    WorkUnit unit{"FLOP", "GFLOP/s", 1e9};
    std::string description;
    std::string param = "n";          // the size parameter's name (names read NAME/n:SIZE/...)
    std::string flag;                 // its command-line flag; default "--NAME-n"
    std::vector<long long> sizes;     // default sizes
    std::vector<long long> quick_sizes;  // with --quick (default: the first of sizes)
    // Units of work in one execution of size n (FLOP, bytes ...).
    std::function<double(long long n)> work;
    // The problem of size n, inputs made (never timed).
    std::function<std::unique_ptr<TaskKernel>(long long n)> make;
    // "" when size n can run with `memory_bytes` available (0: unknown), else the end of a
    // sentence saying why not ("four 8192 x 8192 matrices need 2 GiB, more than ..."). Optional.
    std::function<std::string(long long n, std::size_t memory_bytes)> fits;
    int tasks_per_worker = 2;         // tasks per execution = this x the team's workers
    // Give task i to worker i mod T in every execution (and in touch()), so that each worker
    // uses the memory it touched first; otherwise workers take tasks as they free up.
    bool fixed_schedule = false;
  };

  explicit TaskWorkload(Spec spec);

  std::string name() const override { return spec_.name; }
  Kind kind() const override { return spec_.kind; }
  WorkUnit unit() const override { return spec_.unit; }
  std::string description() const override { return spec_.description; }
  void add_options(Flags& flags) override;
  std::vector<Point> plan(const PlanContext& context) override;
  std::unique_ptr<Run> prepare(const Point& point, exec::Sightings& sightings) override;
  std::string group_title(const Point& point) const override;

 protected:
  const Spec& spec() const { return spec_; }
  // The size a point was planned with.
  long long size_of(const Point& point) const;

 private:
  double serial_checksum(long long n);

  Spec spec_;
  std::vector<long long> sizes_;  // from the command line
  std::vector<std::pair<long long, double>> checksums_;  // serial answers, per size
};

}  // namespace cvp

// The benchmark points of one run: workload x params x mode x backend x threads, each with the
// CPUs its workers go to.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cvp/exec/executor.h"
#include "requests/request_runner.h"
#include "cvp/exec/topology.h"
#include "options.h"

namespace cvp::bench {

enum class Kind { cpu, io };

struct Point {
  std::string workload;  // "matmul" or "requests"
  Kind kind = Kind::cpu;
  exec::Mode mode = exec::Mode::serial;
  std::string backend;   // threads, openmp, tbb, eventloop
  int threads = 1;       // worker threads (event loops for the eventloop backend)
  int in_flight = 1;     // tasks or requests in flight at once
  int cores = 1;         // distinct physical cores the workers are placed on
  std::string label;     // "", "smt" or "oversubscribed"
  std::vector<int> cpus; // worker w runs on cpus[w]
  std::size_t n = 0;     // matmul size
  io::RequestConfig io;  // requests parameters
  bool crossover = false;  // part of the I/O crossover sweep

  // matmul/n:512/mode:parallel/backend:tbb/threads:2
  std::string name() const;
  // The points sharing a serial baseline: "matmul/n:512", "requests/c_us:50/w_us:1000/wait:fixed".
  std::string group() const;
  nlohmann::json params() const;
};

// Every point the options ask for, after --filter. Throws UsageError when nothing matches.
std::vector<Point> make_plan(const Options& options, const exec::Topology& topology);

// The thread counts of the parallel sweep on `topology`: 1, 2, 4 ... below the cores, the
// cores, all logical CPUs where SMT exists, and twice the logical CPUs (oversubscribed).
std::vector<int> default_parallel_threads(const exec::Topology& topology, bool quick);

// K values of the concurrent sweep: 2, 4 ... up to 2 x cores (quick: 2 x cores only).
std::vector<int> default_concurrent_threads(const exec::Topology& topology, bool quick);

// Restricts a topology to `cpus` (a subset of its allowed CPUs); empty keeps it whole.
exec::Topology restrict_topology(const exec::Topology& topology, const std::vector<int>& cpus);

// Number of distinct cores of `topology` that `cpus` touch.
int cores_touched(const exec::Topology& topology, const std::vector<int>& cpus);

}  // namespace cvp::bench

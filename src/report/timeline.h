// What a point's traced execution (--trace) shows: the Chrome trace-event file that Perfetto's
// UI and chrome://tracing open (trace.json), and the figures the diagnosis reads from it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <vector>

#include "harness/session.h"

namespace cvp::bench {

// The figures of one traced execution (all shares of its wall time, the window).
struct TimelineFigures {
  bool traced = false;
  double window_s = 0;               // the traced execution's wall time
  int workers = 0;                   // team slots that ran something
  std::vector<double> busy;          // per worker slot: share of the window running spans
  double busy_mean = 0;              // mean of busy
  double imbalance = 0;              // (max - mean) / max of the workers' busy time; 0 when idle
  std::vector<int> cpus;             // the CPUs spans began on, ascending
  std::vector<double> cpu_busy;      // per CPU of `cpus`: share of the window some span ran
  double on_cpu = 1;                 // CPU time / wall time of the spans (below 1: time-sliced)
  double start_delay_us = 0;         // median over workers of the first span's start after the window's
  double tail_idle = 0;              // share of the window after the first worker's last span ends
  // Tasks of a split workload are of equal size: the mean task on the slowest CPU against the
  // fastest, a core slowed by a neighbour (0 with one CPU or no tasks).
  double task_spread = 0;            // slowest / fastest - 1
  int slow_cpu = -1, fast_cpu = -1;
  std::size_t spans = 0;             // task and CPU spans
  std::size_t waits = 0;             // wait spans
  double wait_mean_us = 0;           // mean wait span
};

TimelineFigures timeline_figures(const Measurement& m);

nlohmann::json to_json(const TimelineFigures& figures);

// The trace-event file of every traced point: one process per point (named by the point), one
// thread track per worker, a complete event per task or CPU part (args: CPU, index, on-CPU
// time), an "idle" event for each gap on a worker's track, an async event per request's wait.
// Time 0 is each point's own start. A point's events beyond `max_spans` spans are left out
// (the point's otherData entry says where its shown window ends).
nlohmann::json chrome_trace(const std::vector<Measurement>& measurements,
                            std::size_t max_spans = 4000);

}  // namespace cvp::bench

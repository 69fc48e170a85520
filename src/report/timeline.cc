#include "report/timeline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "harness/stats.h"

namespace cvp::bench {
namespace {

using exec::trace::Span;
using exec::trace::SpanKind;

bool runs_code(const Span& s) { return s.kind != SpanKind::wait; }

// Total length of the union of [begin, end) intervals.
double union_ns(std::vector<std::pair<std::int64_t, std::int64_t>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  double total = 0;
  std::int64_t open = 0, close = 0;
  bool any = false;
  for (const auto& [b, e] : intervals) {
    if (!any || b > close) {
      if (any) total += static_cast<double>(close - open);
      open = b;
      close = e;
      any = true;
    } else {
      close = std::max(close, e);
    }
  }
  if (any) total += static_cast<double>(close - open);
  return total;
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }

}  // namespace

TimelineFigures timeline_figures(const Measurement& m) {
  TimelineFigures f;
  const PointTrace& t = m.trace;
  if (!t.recorded || t.end_ns <= t.begin_ns) return f;
  f.traced = true;
  const double window = static_cast<double>(t.end_ns - t.begin_ns);
  f.window_s = window * 1e-9;
  std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>> by_worker, by_cpu;
  std::map<int, std::pair<std::int64_t, std::int64_t>> first_last;  // first begin, last end
  double wall = 0, on_cpu = 0, wait_total = 0;
  for (const Span& s : t.spans) {
    if (!runs_code(s)) {
      ++f.waits;
      wait_total += static_cast<double>(s.end_ns - s.begin_ns);
      continue;
    }
    ++f.spans;
    by_worker[s.worker].emplace_back(s.begin_ns, s.end_ns);
    by_cpu[s.cpu].emplace_back(s.begin_ns, s.end_ns);
    auto [it, fresh] = first_last.try_emplace(s.worker, s.begin_ns, s.end_ns);
    if (!fresh) {
      it->second.first = std::min(it->second.first, s.begin_ns);
      it->second.second = std::max(it->second.second, s.end_ns);
    }
    if (s.on_cpu_ns >= 0) {
      wall += static_cast<double>(s.end_ns - s.begin_ns);
      on_cpu += static_cast<double>(s.on_cpu_ns);
    }
  }
  std::map<int, std::pair<double, int>> task_time;  // CPU -> total, count
  for (const Span& s : t.spans) {
    if (s.kind != SpanKind::task) continue;
    auto& [total, count] = task_time[s.cpu];
    total += static_cast<double>(s.end_ns - s.begin_ns);
    ++count;
  }
  if (task_time.size() > 1) {
    double slow = 0, fast = 0;
    for (const auto& [cpu, tc] : task_time) {
      const double mean = tc.first / tc.second;
      if (f.slow_cpu < 0 || mean > slow) { slow = mean; f.slow_cpu = cpu; }
      if (f.fast_cpu < 0 || mean < fast) { fast = mean; f.fast_cpu = cpu; }
    }
    f.task_spread = fast > 0 ? slow / fast - 1 : 0;
  }
  if (f.waits > 0) f.wait_mean_us = wait_total / static_cast<double>(f.waits) * 1e-3;
  if (wall > 0) f.on_cpu = std::min(1.0, on_cpu / wall);
  f.workers = static_cast<int>(by_worker.size());
  double busiest = 0, sum = 0;
  for (auto& [worker, intervals] : by_worker) {
    const double busy = union_ns(std::move(intervals));
    f.busy.push_back(busy / window);
    busiest = std::max(busiest, busy);
    sum += busy;
  }
  if (!f.busy.empty()) {
    const double mean = sum / static_cast<double>(f.busy.size());
    f.busy_mean = mean / window;
    f.imbalance = busiest > 0 ? (busiest - mean) / busiest : 0;
  }
  for (auto& [cpu, intervals] : by_cpu) {
    f.cpus.push_back(cpu);
    f.cpu_busy.push_back(union_ns(std::move(intervals)) / window);
  }
  std::vector<double> delays;
  std::int64_t first_done = t.end_ns;
  for (const auto& [worker, fl] : first_last) {
    delays.push_back(static_cast<double>(fl.first - t.begin_ns) * 1e-3);
    first_done = std::min(first_done, fl.second);
  }
  if (!delays.empty()) {
    f.start_delay_us = stats::median(delays);
    f.tail_idle = static_cast<double>(t.end_ns - first_done) / window;
  }
  return f;
}

nlohmann::json to_json(const TimelineFigures& f) {
  if (!f.traced) return nullptr;
  return {{"window_s", f.window_s},
          {"workers", f.workers},
          {"busy", f.busy},
          {"busy_mean", f.busy_mean},
          {"imbalance", f.imbalance},
          {"cpus", f.cpus},
          {"cpu_busy", f.cpu_busy},
          {"on_cpu", f.on_cpu},
          {"start_delay_us", f.start_delay_us},
          {"tail_idle", f.tail_idle},
          {"task_spread", f.task_spread},
          {"spans", f.spans},
          {"waits", f.waits},
          {"wait_mean_us", f.wait_mean_us}};
}

namespace {

// One traced point's part of the trace file while it is written.
struct PointEvents {
  nlohmann::json& events;
  int pid;
  const Point& p;
  const PointTrace& t;
  std::int64_t shown_end;
};

void add_worker_tracks(const PointEvents& point, const std::map<int, std::vector<const Span*>>& tracks) {
  nlohmann::json& events = point.events;
  const int pid = point.pid;
  const Point& p = point.p;
  const PointTrace& t = point.t;
  const std::int64_t shown_end = point.shown_end;
  const auto us = [&](std::int64_t ns) { return round3(static_cast<double>(ns - t.begin_ns) * 1e-3); };
  // Every worker of the team gets a track, named by the CPU it was placed on; the gaps between
  // its spans are idle events, so that waiting shows as clearly as work.
  const int team = std::max(p.threads, tracks.empty() ? 0 : tracks.rbegin()->first + 1);
  for (int w = 0; w < team; ++w) {
    const int cpu = p.cpus.empty() ? -1 : p.cpus[static_cast<std::size_t>(w) % p.cpus.size()];
    events.push_back({{"ph", "M"}, {"pid", pid}, {"tid", w + 1}, {"name", "thread_name"},
                      {"args", {{"name", "worker " + std::to_string(w) + " (CPU " + std::to_string(cpu) + ")"}}}});
    events.push_back({{"ph", "M"}, {"pid", pid}, {"tid", w + 1}, {"name", "thread_sort_index"},
                      {"args", {{"sort_index", w}}}});
    std::int64_t free_from = t.begin_ns;
    const auto idle = [&](std::int64_t from, std::int64_t to) {
      if (to - from < 1000) return;  // under a microsecond: the clock reads themselves
      events.push_back({{"ph", "X"}, {"cat", "idle"}, {"name", "idle"}, {"pid", pid}, {"tid", w + 1},
                        {"ts", us(from)}, {"dur", round3(static_cast<double>(to - from) * 1e-3)}});
    };
    const auto it = tracks.find(w);
    if (it != tracks.end()) {
      for (const Span* s : it->second) {
        idle(free_from, s->begin_ns);
        free_from = std::max(free_from, s->end_ns);
      }
    }
    idle(free_from, shown_end);
  }
}

}  // namespace

nlohmann::json chrome_trace(const std::vector<Measurement>& measurements, std::size_t max_spans) {
  nlohmann::json events = nlohmann::json::array();
  nlohmann::json points = nlohmann::json::array();
  int pid = 0;
  for (const Measurement& m : measurements) {
    ++pid;
    const PointTrace& t = m.trace;
    if (!t.recorded) continue;
    const Point& p = m.point;
    const auto us = [&](std::int64_t ns) { return round3(static_cast<double>(ns - t.begin_ns) * 1e-3); };
    const std::size_t shown = std::min(max_spans, t.spans.size());
    const std::int64_t shown_end = shown < t.spans.size() ? t.spans[shown].begin_ns : t.end_ns;
    events.push_back({{"ph", "M"}, {"pid", pid}, {"name", "process_name"}, {"args", {{"name", p.name()}}}});
    events.push_back({{"ph", "M"}, {"pid", pid}, {"name", "process_sort_index"}, {"args", {{"sort_index", pid}}}});
    std::map<int, std::vector<const Span*>> tracks;
    for (std::size_t i = 0; i < shown; ++i) {
      const Span& s = t.spans[i];
      if (runs_code(s)) tracks[s.worker].push_back(&s);
      const int tid = s.worker + 1;
      if (s.kind == SpanKind::wait) {
        const std::string id = std::to_string(pid) + "." + std::to_string(s.index);
        const nlohmann::json args = {{"request", s.index}};
        events.push_back({{"ph", "b"}, {"cat", "wait"}, {"name", "wait"}, {"id", id}, {"pid", pid},
                          {"tid", tid}, {"ts", us(s.begin_ns)}, {"args", args}});
        events.push_back({{"ph", "e"}, {"cat", "wait"}, {"name", "wait"}, {"id", id}, {"pid", pid},
                          {"tid", tid}, {"ts", us(std::min(s.end_ns, std::max(shown_end, s.begin_ns)))}});
        continue;
      }
      nlohmann::json args = {{"cpu", s.cpu}, {"index", s.index}};
      if (s.on_cpu_ns >= 0) args["on_cpu_us"] = round3(static_cast<double>(s.on_cpu_ns) * 1e-3);
      events.push_back({{"ph", "X"},
                        {"cat", s.kind == SpanKind::task ? "task" : "cpu"},
                        {"name", std::string(s.name) + " " + std::to_string(s.index)},
                        {"pid", pid},
                        {"tid", tid},
                        {"ts", us(s.begin_ns)},
                        {"dur", round3(static_cast<double>(s.end_ns - s.begin_ns) * 1e-3)},
                        {"args", args}});
    }
    add_worker_tracks({events, pid, p, t, shown_end}, tracks);
    points.push_back({{"pid", pid},
                      {"name", p.name()},
                      {"group", p.group},
                      {"workload", p.workload},
                      {"mode", exec::to_string(p.mode)},
                      {"backend", exec::to_string(p.backend)},
                      {"threads", p.threads},
                      {"in_flight", p.in_flight},
                      {"cpus", p.cpus},
                      {"window_us", us(t.end_ns)},
                      {"shown_until_us", us(shown_end)},
                      {"spans_recorded", t.spans.size()},
                      {"spans_shown", shown}});
  }
  return {{"traceEvents", events},
          {"displayTimeUnit", "ns"},
          {"otherData", {{"cvpbench_trace_version", 1}, {"points", points}}}};
}

}  // namespace cvp::bench

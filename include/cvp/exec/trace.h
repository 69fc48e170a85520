// Who ran what, when and where: spans recorded for one traced execution of a point (--trace).
//
// Recording is off unless start() armed it, and the harness arms it only around one extra
// execution of a point, after its timed blocks: the timed executions pay one relaxed atomic
// load per task and per request, nothing more. While armed, each thread appends its spans to
// a buffer of its own (no lock after the thread's first span), and stop() collects them once
// the execution has returned (every task and request finished, so every buffer is quiet).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace cvp::exec::trace {

enum class SpanKind : std::uint8_t {
  task,  // one task of an Executor::run
  cpu,   // a request's CPU part (before or after its wait)
  wait,  // a request's wait on its backend (the worker is free meanwhile)
};

struct Span {
  std::int64_t begin_ns = 0, end_ns = 0;  // steady clock
  // CPU time the recording thread got during the span; -1 for waits. Below end - begin when
  // the thread shared its CPU (time-slicing) or was kept waiting for one.
  std::int64_t on_cpu_ns = -1;
  std::uint64_t index = 0;  // the task's index or the request's id
  int worker = 0;           // the team slot (thread or event loop) it belongs to
  int cpu = -1;             // the CPU the span began on
  SpanKind kind = SpanKind::task;
  const char* name = "";    // a string literal: "task", "before wait", "after wait", "wait"
};

namespace detail {
extern std::atomic<bool> armed;
}

// Whether spans are being recorded now.
inline bool recording() { return detail::armed.load(std::memory_order_relaxed); }

// Clears what was recorded and arms recording. REQUIRES: not recording.
void start();
// Disarms recording and returns every span recorded since start(), sorted by begin time.
// REQUIRES: no thread is recording a span (the traced execution has returned).
std::vector<Span> stop();

// Appends a span to the calling thread's buffer; nothing when not recording.
void record(const Span& span);

std::int64_t now_ns();          // the steady clock, in ns
std::int64_t thread_cpu_ns();   // the calling thread's CPU time, in ns
int current_cpu();              // the CPU the calling thread runs on, -1 when unknown

// Records one CPU span of the calling thread from its construction to its destruction.
class Scope {
 public:
  Scope(SpanKind kind, const char* name, std::uint64_t index, int worker)
      : active_(recording()) {
    if (!active_) return;
    span_.kind = kind;
    span_.name = name;
    span_.index = index;
    span_.worker = worker;
    span_.cpu = current_cpu();
    span_.on_cpu_ns = thread_cpu_ns();
    span_.begin_ns = now_ns();
  }
  ~Scope() {
    if (!active_) return;
    span_.end_ns = now_ns();
    span_.on_cpu_ns = thread_cpu_ns() - span_.on_cpu_ns;
    record(span_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool active_;
  Span span_;
};

}  // namespace cvp::exec::trace

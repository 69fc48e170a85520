#include "cvp/exec/trace.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>

#if defined(__linux__)
#include <sched.h>
#endif

namespace cvp::exec::trace {
namespace detail {
std::atomic<bool> armed{false};
}

namespace {

// One thread's spans of one recording. Owned by the registry, so that a thread that ends
// before stop() (a request team's thread) leaves its spans behind.
struct Buffer {
  std::vector<Span> spans;
};

std::mutex registry_mutex;
std::vector<std::unique_ptr<Buffer>> registry;  // guarded by registry_mutex
// One per start() and stop(): a thread's buffer of an older generation is gone.
std::atomic<std::uint64_t> generation{0};

struct ThreadSlot {
  Buffer* buffer = nullptr;
  std::uint64_t generation = 0;
};
thread_local ThreadSlot slot;

}  // namespace

void start() {
  const std::lock_guard<std::mutex> lock(registry_mutex);
  registry.clear();
  generation.fetch_add(1, std::memory_order_acq_rel);
  detail::armed.store(true, std::memory_order_release);
}

std::vector<Span> stop() {
  detail::armed.store(false, std::memory_order_release);
  const std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<Span> all;
  std::size_t total = 0;
  for (const auto& b : registry) total += b->spans.size();
  all.reserve(total);
  for (const auto& b : registry) all.insert(all.end(), b->spans.begin(), b->spans.end());
  registry.clear();
  generation.fetch_add(1, std::memory_order_acq_rel);
  std::stable_sort(all.begin(), all.end(),
                   [](const Span& a, const Span& b) { return a.begin_ns < b.begin_ns; });
  return all;
}

void record(const Span& span) {
  if (!recording()) return;
  const std::uint64_t now = generation.load(std::memory_order_acquire);
  if (slot.buffer == nullptr || slot.generation != now) {
    auto buffer = std::make_unique<Buffer>();
    buffer->spans.reserve(256);
    const std::lock_guard<std::mutex> lock(registry_mutex);
    slot.buffer = buffer.get();
    slot.generation = now;
    registry.push_back(std::move(buffer));
  }
  slot.buffer->spans.push_back(span);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

}  // namespace cvp::exec::trace

#include "host/machine_limits.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <latch>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "cvp/exec/affinity.h"
#include "host/fma_peak.h"
#include "host/machine.h"
#include "host/noise.h"
#include "cvp/workload.h"
#include "host/resources.h"
#include "harness/stats.h"
#include "host/elapsed.h"

namespace cvp::bench {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kBuild = "asan";  // instrumented loads and stores: slower triad
#elif defined(__SANITIZE_THREAD__)
constexpr const char* kBuild = "tsan";
#else
constexpr const char* kBuild = "plain";
#endif

constexpr double kFmaSeconds = 0.15;
constexpr int kTriadPasses = 5;
constexpr std::size_t kMinTriadArrayBytes = std::size_t{64} << 20;
constexpr std::size_t kMaxTriadArrayBytes = std::size_t{512} << 20;
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
constexpr int kWakeSamples = 200;
constexpr int kWakeWarmup = 10;  // first wake-ups fault in stacks and wake CPUs from deep idle
constexpr long kTimerRequestNs = 50000;
constexpr int kPingPongs = 5000;

// Results land here, so no loop can be optimised away; atomic, as every busy core stores to it.
std::atomic<double> g_sink{0};

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Runs body(i) on one new thread per entry of `cpus`, pinned to it, and waits for all: the
// caller's own affinity and timer slack are never touched.
template <class Body>
void run_pinned(const std::vector<int>& cpus, Body body) {
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    threads.emplace_back([&body, &cpus, i] {
      exec::pin_to_cpu(cpus[i]);
      body(i);
    });
  }
  for (auto& t : threads) t.join();
}

// The first CPU of every allowed physical core: one thread each for the all-cores figures.
std::vector<int> core_cpus(const exec::Topology& t) {
  std::vector<int> cpus;
  for (const auto& core : t.cores) {
    if (!core.empty()) cpus.push_back(core.front());
  }
  if (cpus.empty()) cpus.push_back(t.home_cpu());
  return cpus;
}

// A CPU other than the home CPU for the futex waiter: another core's, else an SMT sibling, else
// the home CPU itself.
int other_cpu(const exec::Topology& t) {
  const std::vector<int> cores = core_cpus(t);
  if (cores.size() > 1) return cores[1];
  for (int cpu : t.allowed) {
    if (cpu != t.home_cpu()) return cpu;
  }
  return t.home_cpu();
}

// All cores at once, three times: the best sum. A neighbour that shares a core's execution units
// for a while (another tenant on an SMT sibling the guest does not see) lowers one try, not all.
double fma_flops_all(const std::vector<int>& cpus) {
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<double> rates(cpus.size());
    std::latch start(static_cast<std::ptrdiff_t>(cpus.size()));
    run_pinned(cpus, [&](std::size_t i) {
      start.arrive_and_wait();
      rates[i] = fma_flops(kFmaSeconds / 3);
    });
    best = std::max(best, std::accumulate(rates.begin(), rates.end(), 0.0));
  }
  return best;
}

// Elements per triad array: STREAM's rule, four times all the last-level cache, at least 64 MiB
// and at most 512 MiB (four times the largest desktop last-level cache; a virtual machine may
// report its host's whole cache, 508 MiB of L3 per vCPU on one, and on a server with more cache
// than that the all-core figure reads partly from cache), with the three arrays in at most half
// the memory available now.
std::size_t triad_elements(const exec::Topology& t) {
  const exec::CacheInfo* last = nullptr;
  for (const auto& c : t.caches) {
    if (c.type != "instruction" && (!last || c.level > last->level)) last = &c;
  }
  std::size_t bytes = kMinTriadArrayBytes;
  if (last && last->size_bytes > 0) {
    const int instances = (t.logical_cpus + last->shared_by - 1) / last->shared_by;
    bytes = std::max(bytes, 4 * static_cast<std::size_t>(last->size_bytes) *
                                static_cast<std::size_t>(std::max(instances, 1)));
  }
  bytes = std::min(bytes, kMaxTriadArrayBytes);
  const std::size_t available = available_memory_bytes();
  if (available > 0) bytes = std::min(bytes, available / 6);
  return std::max<std::size_t>(bytes / sizeof(double), 1024);
}

struct FreeArray {
  void operator()(double* p) const noexcept { std::free(p); }
};
using TriadArray = std::unique_ptr<double[], FreeArray>;

// A triad array of n doubles, its first write still to come: 2 MiB aligned and asking for
// transparent huge pages, so that placing it costs a page fault per 2 MiB instead of per 4 KiB
// (a fault can cost 15 us in a virtual machine: 40 s for three 4 GiB arrays of small pages).
TriadArray triad_array(std::size_t n) {
  const std::size_t bytes = (n * sizeof(double) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  auto* p = static_cast<double*>(std::aligned_alloc(kHugePageBytes, bytes));
  if (p == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: small pages when the kernel has none
#endif
  return TriadArray(p);
}

void triad(double* __restrict a, const double* __restrict b, const double* __restrict c,
           std::size_t begin, std::size_t end) {
  constexpr double kScalar = 3.0;
  for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + kScalar * c[i];
}

struct Bandwidth {
  double one_core = 0, all_cores = 0;
};

// STREAM triad, best of kTriadPasses passes (STREAM reports the best too), with one thread on
// each of `cpus` at once, then one on `one_cpu`. The all-cores threads first-touch their own
// slices, so on a NUMA machine each slice lives by the core that uses it; the one-core pass then
// reads the same arrays.
Bandwidth triad_bandwidth(const exec::Topology& t, const std::vector<int>& cpus, int one_cpu) {
  const std::size_t n = triad_elements(t);
  const TriadArray a = triad_array(n), b = triad_array(n), c = triad_array(n);
  constexpr double kBytesPerElement = 3 * sizeof(double);
  const double bytes = kBytesPerElement * static_cast<double>(n);
  const std::size_t threads = cpus.size();

  std::vector<std::chrono::steady_clock::time_point> stamps;
  stamps.reserve(kTriadPasses + 1);
  std::barrier sync(static_cast<std::ptrdiff_t>(threads),
                    [&]() noexcept { stamps.push_back(std::chrono::steady_clock::now()); });
  run_pinned(cpus, [&](std::size_t i) {
    const std::size_t begin = n * i / threads, end = n * (i + 1) / threads;
    for (std::size_t k = begin; k < end; ++k) {
      a[k] = 0;
      b[k] = 1;
      c[k] = 2;
    }
    sync.arrive_and_wait();
    for (int pass = 0; pass < kTriadPasses; ++pass) {
      triad(a.get(), b.get(), c.get(), begin, end);
      sync.arrive_and_wait();
    }
  });
  double best_all = 1e300;
  for (std::size_t p = 1; p < stamps.size(); ++p) {
    best_all = std::min(best_all, std::chrono::duration<double>(stamps[p] - stamps[p - 1]).count());
  }

  double best_one = 1e300;
  run_pinned({one_cpu}, [&](std::size_t) {
    for (int pass = 0; pass < kTriadPasses; ++pass) {
      const auto start = std::chrono::steady_clock::now();
      triad(a.get(), b.get(), c.get(), 0, n);
      best_one = std::min(best_one, seconds_since(start));
    }
  });
  g_sink.store(a[n / 2], std::memory_order_relaxed);
  return {bytes / best_one, bytes / best_all};
}

Spread spread_us(const std::vector<double>& ns) {
  const std::vector<double> settled(ns.begin() + std::min<std::ptrdiff_t>(kWakeWarmup, ns.size()),
                                    ns.end());
  const std::vector<double> p = stats::percentiles(settled, {50, 99});
  return {p[0] / 1000, p[1] / 1000};
}

// How far past an absolute deadline 50 us ahead clock_nanosleep returns, with the timer slack
// (50 us by default, which the kernel may add to any sleep) set to 1 ns.
Spread timer_wakeup(int cpu) {
  std::vector<double> late_ns;
  run_pinned({cpu}, [&](std::size_t) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    while (static_cast<int>(late_ns.size()) < kWakeSamples + kWakeWarmup) {
      const std::int64_t deadline = monotonic_ns() + kTimerRequestNs;
      const timespec ts{static_cast<time_t>(deadline / 1000000000), deadline % 1000000000};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      late_ns.push_back(static_cast<double>(monotonic_ns() - deadline));
    }
  });
  return spread_us(late_ns);
}

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words are atomics of 32 bits");

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
          nullptr, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

// The waker (on `waker_cpu`) stamps the clock and wakes the waiter (on `waiter_cpu`), which reads
// the clock as it returns from FUTEX_WAIT. A random 20-80 us gap before each wake lets the
// waiter fall asleep, and keeps the wakes from falling into step with any periodic activity.
Spread futex_wakeup(int waker_cpu, int waiter_cpu) {
  constexpr int kRounds = kWakeSamples + kWakeWarmup;
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::uint32_t> waiting{0};  // round + 1 once the waiter is about to wait for it
  std::atomic<std::int64_t> stamp{0};
  std::vector<double> latency_ns(kRounds);
  run_pinned({waker_cpu, waiter_cpu}, [&](std::size_t role) {
    if (role == 1) {
      for (std::uint32_t r = 0; r < kRounds; ++r) {
        waiting.store(r + 1, std::memory_order_release);
        while (word.load(std::memory_order_acquire) == r) futex_wait(word, r);
        latency_ns[r] = static_cast<double>(monotonic_ns() - stamp.load(std::memory_order_relaxed));
      }
      return;
    }
    std::minstd_rand random(12345);
    std::uniform_int_distribution<std::int64_t> gap_ns(20000, 80000);
    for (std::uint32_t r = 0; r < kRounds; ++r) {
      // Yielding rather than spinning lets the waiter run when both share one CPU.
      while (waiting.load(std::memory_order_acquire) != r + 1) std::this_thread::yield();
      const std::int64_t until = monotonic_ns() + gap_ns(random);
      while (monotonic_ns() < until) std::this_thread::yield();
      stamp.store(monotonic_ns(), std::memory_order_relaxed);
      word.store(r + 1, std::memory_order_release);
      futex_wake(word);
    }
  });
  return spread_us(latency_ns);
}

// Two threads on one CPU hand control back and forth through two futex words: every hand-over
// is a switch, so one round trip is two switches (each with a wake and a wait system call).
double context_switch_us(int cpu) {
  std::atomic<std::uint32_t> ping{0}, pong{0};
  double seconds = 0;
  run_pinned({cpu, cpu}, [&](std::size_t role) {
    if (role == 0) {
      const auto start = std::chrono::steady_clock::now();
      for (std::uint32_t i = 0; i < kPingPongs; ++i) {
        ping.store(i + 1, std::memory_order_release);
        futex_wake(ping);
        while (pong.load(std::memory_order_acquire) == i) futex_wait(pong, i);
      }
      seconds = seconds_since(start);
      return;
    }
    for (std::uint32_t i = 0; i < kPingPongs; ++i) {
      while (ping.load(std::memory_order_acquire) == i) futex_wait(ping, i);
      pong.store(i + 1, std::memory_order_release);
      futex_wake(pong);
    }
  });
  return seconds * 1e6 / (2.0 * kPingPongs);
}

std::string limits_key(const exec::Topology& t) {
  utsname u{};
  const std::string kernel = uname(&u) == 0 ? u.release : "unknown";
  std::string key = "cpu=" + t.cpu_model + ";cpus=" + exec::format_cpu_list(t.allowed) +
                    ";kernel=" + kernel + ";isa=" + fma_isa() + ";build=" + kBuild +
                    ";pinning=" + (exec::affinity_supported() ? "yes" : "no");
#ifdef CVP_VERSION
  key += std::string(";version=") + CVP_VERSION;
#endif
  key += ";method=2";  // raised whenever a measurement changes, so older numbers are not reused
  return key;
}

// 64-bit FNV-1a, as 16 hex digits: a file name for the key (the file holds the key itself).
std::string key_hash(const std::string& key) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// --- The cache file. -----------------------------------------------------------------------------

std::optional<std::string> cache_dir() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  if (const std::string dir = env("CVPBENCH_CACHE_DIR"); !dir.empty()) return dir;
  // The XDG spec says to ignore a relative XDG_CACHE_HOME.
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') {
    return xdg + "/cvpbench";
  }
  if (const std::string home = env("HOME"); !home.empty()) return home + "/.cache/cvpbench";
  return std::nullopt;
}

struct CacheRead {
  std::optional<MachineLimits> limits;  // this machine's entry
  std::string problem;                  // why the file could not be used, when it was there
  bool replace = true;                  // false: what is there is not ours to replace
};

// Reads `path` only when lstat finds a regular file there, and never through a symlink: anything
// else at the cache path is someone else's.
CacheRead read_cache(const std::string& path, const std::string& key,
                     const std::vector<int>& allowed) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {};
    return {std::nullopt, std::string("could not be examined (") + std::strerror(errno) + ")"};
  }
  if (!S_ISREG(st.st_mode)) {
    return {std::nullopt, "is not a regular file, so it was neither read nor replaced", false};
  }
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return {std::nullopt, std::string("could not be read (") + std::strerror(errno) + ")"};
  }
  std::string text;
  char buf[4096];
  ssize_t got = 0;
  constexpr std::size_t kMaxBytes = 1 << 20;  // an entry is about 2 KiB
  while (text.size() < kMaxBytes && (got = read(fd, buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<std::size_t>(got));
  }
  const bool read_failed = got < 0;
  close(fd);
  if (read_failed) return {std::nullopt, "could not be read"};
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  auto limits = limits_from_json(json);
  if (!limits) return {std::nullopt, "was corrupt"};
  if (limits->key != key) return {};  // another machine's entry under the same hash
  const auto speeds = speeds_from_json(json.value("cpu_speeds", nlohmann::json()), allowed);
  if (!speeds) return {std::nullopt, "held no per-CPU speeds (an older version wrote it)"};
  limits->cpu_speeds = *speeds;
  return {limits, ""};
}

// mkdir -p with mode 0755. Returns the error, or "" once `dir` is a directory.
std::string make_dirs(const std::string& dir) {
  for (std::size_t slash = dir.find('/', 1); ; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return "cannot create " + prefix + ": " + std::strerror(errno);
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return dir + " is not a directory";
  return "";
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Writes a unique temporary file beside `path`, syncs it and renames it over `path`, so a reader
// sees the old entry or the new one, never half of one. Returns the error, or "".
std::string write_cache(const std::string& dir, const std::string& path, const MachineLimits& m) {
  if (std::string error = make_dirs(dir); !error.empty()) return error;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return "something other than a regular file is in its place";
  }
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {  // O_EXCL makes the name unique
    tmp = dir + "/.limits-" + std::to_string(getpid()) + "-" + std::to_string(monotonic_ns()) +
          ".tmp";
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return "cannot create a file in " + dir + ": " + std::strerror(errno);
  nlohmann::json entry = to_json(m);
  entry["cpu_speeds"] = speeds_to_json(m.cpu_speeds);
  const bool written = write_all(fd, entry.dump(2) + "\n") && fsync(fd) == 0;
  const int saved_errno = errno;
  if (close(fd) != 0 || !written || rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string error = std::strerror(written ? errno : saved_errno);
    unlink(tmp.c_str());
    return "cannot write it: " + error;
  }
  return "";
}

// One sentence for the run's notes from what went wrong reading and writing the cache.
std::string cache_note(const std::string& path, const CacheRead& found,
                       const std::string& write_problem) {
  const std::string cache = "The machine-limits cache " + path;
  if (found.problem.empty()) {
    return cache + " could not be written (" + write_problem + "); measured afresh.";
  }
  if (!found.replace) return cache + " " + found.problem + "; measured afresh.";
  const std::string measured = cache + " " + found.problem + "; measured afresh";
  if (write_problem.empty()) return measured + " and rewrote it.";
  return measured + ", but could not rewrite it (" + write_problem + ").";
}

// --- JSON. ---------------------------------------------------------------------------------------

const char* const kMethodFlopsOne =  // after the ISA's name
    "FP64 FMA loop, 12 independent vector accumulators (2 FLOP per lane per FMA), one thread "
    "pinned to the home CPU; 90th percentile of the rates of sub-millisecond rounds over 0.15 s";
const char* const kMethodFlopsAll =
    "the same loop on one thread pinned to the first CPU of each allowed physical core, all "
    "started together, 0.05 s each; sum of the threads' rates, best of 3 tries";
const char* const kMethodBandwidthOne =
    "STREAM triad a[i] = b[i] + s*c[i], 24 bytes counted per element (write-allocate traffic not "
    "counted, as in STREAM), each array max(4 x last-level cache, 64 MiB); one thread pinned to "
    "the home CPU over arrays first-touched by the all-cores threads; best of 5 passes";
const char* const kMethodBandwidthAll =
    "the same triad split in equal slices, one thread per allowed physical core, each "
    "first-touching its slice; wall time from a barrier to the last thread done; best of 5 passes";
const char* const kMethodTimer =
    "how late 200 clock_nanosleep(CLOCK_MONOTONIC) calls with an absolute deadline 50 us ahead "
    "return, timer slack 1 ns, pinned to the home CPU";
const char* const kMethodFutex =
    "200 FUTEX_WAKEs after random 20-80 us gaps: the waker on the home CPU reads "
    "CLOCK_MONOTONIC just before FUTEX_WAKE, the waiter on another CPU (the same CPU when only "
    "one is allowed) reads it as FUTEX_WAIT returns";
const char* const kMethodSwitch =
    "two threads pinned to the home CPU ping-pong 5000 times through two futex words; round "
    "trip / 2, so it includes a futex wake and a futex wait system call per switch";

// Reads fields of a limits object, remembering whether any was missing, mistyped or out of range.
class Fields {
 public:
  explicit Fields(const nlohmann::json& json) : json_(json) {}
  bool ok() const { return ok_; }

  // json[figure][field]: finite, and positive (rates) or non-negative (latencies, durations).
  double number(const char* figure, const char* field, bool positive) {
    const nlohmann::json* v = member(json_, figure);
    v = v ? member(*v, field) : nullptr;
    return check_number(v, positive);
  }
  double number(const char* name, bool positive) {
    return check_number(member(json_, name), positive);
  }
  std::string text(const char* name) {
    const nlohmann::json* v = member(json_, name);
    ok_ = ok_ && v && v->is_string();
    return ok_ ? v->get<std::string>() : "";
  }
  bool flag(const char* name) {
    const nlohmann::json* v = member(json_, name);
    ok_ = ok_ && v && v->is_boolean();
    return ok_ && v->get<bool>();
  }
  int count(const char* figure, const char* name) {
    const nlohmann::json* v = member(json_, figure);
    v = v ? member(*v, name) : nullptr;
    ok_ = ok_ && v && v->is_number_integer() && v->get<long long>() >= 1 &&
          v->get<long long>() <= 1 << 20;
    return ok_ ? v->get<int>() : 0;
  }

 private:
  static const nlohmann::json* member(const nlohmann::json& j, const char* name) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  }
  double check_number(const nlohmann::json* v, bool positive) {
    ok_ = ok_ && v && v->is_number();
    const double x = ok_ ? v->get<double>() : 0;
    ok_ = ok_ && std::isfinite(x) && (positive ? x > 0 : x >= 0);
    return x;
  }

  const nlohmann::json& json_;
  bool ok_ = true;
};

}  // namespace

double fma_flops_per_s(double seconds) { return fma_flops(seconds); }

std::optional<std::string> contradicted_by(const MachineLimits& limits,
                                           const std::vector<RateSeen>& seen) {
  const auto rate = [](double per_s, const char* unit, double scale) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.3g %s", per_s / scale, unit);
    return std::string(text);
  };
  for (const RateSeen& r : seen) {
    const bool many = r.cores > 1;
    const double flops = many ? limits.flops_all_cores : limits.flops_one_core;
    const double bytes = many ? limits.bandwidth_all_cores : limits.bandwidth_one_core;
    const std::string where = many ? "on " + std::to_string(r.cores) + " cores" : "on one core";
    if (flops > 0 && r.flop_per_s > kFlopsMargin * flops) {
      return r.name + " reached " + rate(r.flop_per_s, "GFLOP/s", 1e9) + " " + where +
             ", above the FMA peak of " + rate(flops, "GFLOP/s", 1e9);
    }
    if (bytes > 0 && r.bytes_per_s > kBytesMargin * bytes) {
      return r.name + " moved " + rate(r.bytes_per_s, "GB/s", 1e9) + " " + where + ", " +
             std::to_string(static_cast<int>(kBytesMargin)) + " times the bandwidth of " +
             rate(bytes, "GB/s", 1e9);
    }
  }
  return std::nullopt;
}

double team_bandwidth(const MachineModel& model, const std::vector<KindBandwidth>& by_kind,
                      const std::vector<int>& cpus, double all_cores) {
  std::string kind;
  for (const int cpu : cpus) {
    const CpuInfo* info = model.find(cpu);
    if (info == nullptr || info->kind.empty() || (!kind.empty() && info->kind != kind)) return all_cores;
    kind = info->kind;
  }
  for (const KindBandwidth& k : by_kind) {
    if (k.kind == kind && k.all_cores > 0) return k.all_cores;
  }
  return all_cores;
}

nlohmann::json to_json(const MachineLimits& m) {
  nlohmann::json by_kind = nlohmann::json::array();
  for (const KindBandwidth& k : m.bandwidth_by_kind) {
    by_kind.push_back({{"kind", k.kind}, {"cpus", k.cpus}, {"one_core", k.one_core}, {"all_cores", k.all_cores}});
  }
  return {
      {"flops_per_s",
       {{"one_core", m.flops_one_core}, {"all_cores", m.flops_all_cores}, {"cores", m.cores}}},
      {"bandwidth_bytes_per_s",
       {{"one_core", m.bandwidth_one_core}, {"all_cores", m.bandwidth_all_cores}}},
      {"bandwidth_by_kind", by_kind},
      {"timer_wakeup_us", {{"median", m.timer_wakeup_us.median}, {"p99", m.timer_wakeup_us.p99}}},
      {"futex_wakeup_us", {{"median", m.futex_wakeup_us.median}, {"p99", m.futex_wakeup_us.p99}}},
      {"context_switch_us", m.context_switch_us},
      {"measured_at", m.measured_at},
      {"seconds", m.seconds},
      {"cached", m.cached},
      {"disturbed", m.disturbed.empty() ? nlohmann::json() : nlohmann::json(m.disturbed)},
      {"key", m.key},
      {"method",
       {{"flops_per_s", std::string(fma_isa()) + " " + kMethodFlopsOne + "; all cores: " + kMethodFlopsAll},
        {"bandwidth_bytes_per_s", std::string(kMethodBandwidthOne) + "; all cores: " + kMethodBandwidthAll},
        {"timer_wakeup_us", kMethodTimer},
        {"futex_wakeup_us", kMethodFutex},
        {"context_switch_us", kMethodSwitch}}},
  };
}

std::optional<MachineLimits> limits_from_json(const nlohmann::json& json) {
  Fields f(json);
  MachineLimits m;
  m.flops_one_core = f.number("flops_per_s", "one_core", true);
  m.flops_all_cores = f.number("flops_per_s", "all_cores", true);
  m.cores = f.count("flops_per_s", "cores");
  m.bandwidth_one_core = f.number("bandwidth_bytes_per_s", "one_core", true);
  m.bandwidth_all_cores = f.number("bandwidth_bytes_per_s", "all_cores", true);
  m.timer_wakeup_us = {f.number("timer_wakeup_us", "median", false),
                       f.number("timer_wakeup_us", "p99", false)};
  m.futex_wakeup_us = {f.number("futex_wakeup_us", "median", false),
                       f.number("futex_wakeup_us", "p99", false)};
  m.context_switch_us = f.number("context_switch_us", true);
  m.measured_at = f.text("measured_at");
  m.seconds = f.number("seconds", false);
  m.cached = f.flag("cached");
  m.key = f.text("key");
  if (!f.ok()) return std::nullopt;
  // Absent in entries of older versions, and null when the machine was quiet.
  if (const auto it = json.find("disturbed"); it != json.end() && !it->is_null()) {
    if (!it->is_string()) return std::nullopt;
    m.disturbed = it->get<std::string>();
  }
  // Per kind of core: absent in entries of one kind of core (and older ones), else each entry
  // whole, with positive rates.
  if (const auto it = json.find("bandwidth_by_kind"); it != json.end()) {
    if (!it->is_array()) return std::nullopt;
    for (const auto& k : *it) {
      if (!k.is_object() || !k.contains("kind") || !k["kind"].is_string() || !k.contains("cpus") ||
          !k["cpus"].is_array() || k["cpus"].empty()) {
        return std::nullopt;
      }
      KindBandwidth kb;
      kb.kind = k["kind"].get<std::string>();
      for (const auto& cpu : k["cpus"]) {
        if (!cpu.is_number_integer() || cpu.get<long long>() < 0) return std::nullopt;
        kb.cpus.push_back(cpu.get<int>());
      }
      Fields kf(k);
      kb.one_core = kf.number("one_core", true);
      kb.all_cores = kf.number("all_cores", true);
      if (!kf.ok() || kb.kind.empty()) return std::nullopt;
      m.bandwidth_by_kind.push_back(std::move(kb));
    }
  }
  return m;
}

MachineLimits measure_limits(const exec::Topology& detected) {
  const auto start = std::chrono::steady_clock::now();
  MachineLimits m;
  m.cpu_speeds = measure_cpu_speeds(detected);
  MachineModel model = build_model(detected, &m.cpu_speeds, {});
  const exec::Topology topology = rank_topology(detected, model);
  m.measured_at = utc_timestamp();
  m.key = limits_key(topology);
  const int home = topology.home_cpu();
  const std::vector<int> cores = core_cpus(topology);
  m.cores = static_cast<int>(cores.size());
  run_pinned({home}, [&](std::size_t) { m.flops_one_core = fma_flops(kFmaSeconds); });
  m.flops_all_cores = fma_flops_all(cores);
  // Cores that together fall short of their sum may share execution units for good (SMT
  // siblings the guest does not see) or for a moment (a neighbour on the host): a second look a
  // little later tells which, before the number is kept for this machine.
  for (int again = 0; again < 2 && m.flops_all_cores < 0.9 * m.cores * m.flops_one_core; ++again) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m.flops_all_cores = std::max(m.flops_all_cores, fma_flops_all(cores));
  }
  const Bandwidth bandwidth = triad_bandwidth(topology, cores, home);
  m.bandwidth_one_core = bandwidth.one_core;
  m.bandwidth_all_cores = bandwidth.all_cores;
  // Each kind's own, where cores differ: a team of P cores only draws what they can.
  std::vector<std::string> kinds;
  for (const CpuInfo& info : model.cpus) {
    if (!info.kind.empty() && std::find(kinds.begin(), kinds.end(), info.kind) == kinds.end()) {
      kinds.push_back(info.kind);
    }
  }
  for (const std::string& kind : kinds) {
    if (kinds.size() < 2) break;
    KindBandwidth k{kind, {}, 0, 0};
    for (const int cpu : cores) {
      const CpuInfo* info = model.find(cpu);
      if (info != nullptr && info->kind == kind) k.cpus.push_back(cpu);
    }
    if (k.cpus.empty()) continue;
    const Bandwidth b = triad_bandwidth(topology, k.cpus, k.cpus.front());
    k.one_core = b.one_core;
    k.all_cores = b.all_cores;
    m.bandwidth_by_kind.push_back(std::move(k));
  }
  m.timer_wakeup_us = timer_wakeup(home);
  m.futex_wakeup_us = futex_wakeup(home, other_cpu(topology));
  m.context_switch_us = context_switch_us(home);
  m.seconds = seconds_since(start);
  return m;
}

LoadWatch proc_load_watch(const std::vector<int>& cpus) {
  LoadWatch watch;
  watch.during = [cpus](const std::function<void()>& run) {
    const NoiseSnapshot before = take_noise_snapshot();
    run();
    const NoiseReport r = assess_noise(before, take_noise_snapshot(), cpus, ::sysconf(_SC_CLK_TCK));
    const std::string busy = busy_names(r);
    std::string why = busy.empty() ? "" : "other processes used CPU (" + busy + " of a CPU)";
    if (r.steal_percent && *r.steal_percent > kStealPercent) {
      why += (why.empty() ? "" : " and ") + std::string("the hypervisor took ") +
             fixed(*r.steal_percent, 1) + "% of the CPUs (steal)";
    }
    return why;
  };
  watch.busy_now = [cpus] {
    const NoiseSnapshot settle = take_noise_snapshot();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::optional<double> busy = busy_cpus(settle, take_noise_snapshot(), cpus);
    return busy && *busy > kBusyBeforeCpus;
  };
  return watch;
}

MachineLimits machine_limits(const exec::Topology& topology, bool remeasure, std::string* note) {
  return machine_limits(topology, remeasure, note, [&] { return measure_limits(topology); },
                        proc_load_watch(topology.allowed));
}

namespace {

// The note's sentence for limits measured under load.
std::string disturbed_note(const MachineLimits& m) {
  if (m.cached) {
    return "The cached machine limits were measured while " + m.disturbed +
           ", and the machine is busy now too: they stand (and may read low) until a run finds it "
           "quiet and measures them again.";
  }
  return "The machine limits were measured while " + m.disturbed +
         ": they may read low, so the cache keeps them flagged and the first run that finds the "
         "machine quiet measures them again.";
}

void add_sentence(std::string* note, const std::string& sentence) {
  if (note) *note += (note->empty() ? "" : " ") + sentence;
}

}  // namespace

MachineLimits machine_limits(const exec::Topology& topology, bool remeasure, std::string* note,
                             const std::function<MachineLimits()>& measure, const LoadWatch& load) {
  if (note) note->clear();
  const std::string key = limits_key(topology);
  auto measured = [&] {
    MachineLimits m;
    std::string disturbed;
    if (load.during) {
      disturbed = load.during([&] { m = measure(); });
    } else {
      m = measure();
    }
    m.key = key;
    m.cached = false;
    m.disturbed = disturbed;
    return m;
  };
  const std::optional<std::string> dir = cache_dir();
  if (!dir) {
    if (note) *note = "No cache directory for the machine limits ($CVPBENCH_CACHE_DIR, "
                      "$XDG_CACHE_HOME and $HOME unset); measured afresh.";
    const MachineLimits m = measured();
    if (!m.disturbed.empty()) add_sentence(note, disturbed_note(m));
    return m;
  }
  const std::string path = *dir + "/limits-" + key_hash(key) + ".json";
  CacheRead cached;
  if (!remeasure) {
    cached = read_cache(path, key, topology.allowed);
    if (cached.limits) {
      cached.limits->cached = true;
      // An entry measured under load is measured again once the machine is quiet.
      if (cached.limits->disturbed.empty() || !load.busy_now || load.busy_now()) {
        if (!cached.limits->disturbed.empty()) add_sentence(note, disturbed_note(*cached.limits));
        return *cached.limits;
      }
      cached = {std::nullopt, "was measured while " + cached.limits->disturbed +
                                  ", and the machine is quiet now"};
    }
  }
  const MachineLimits m = measured();
  const std::string write_problem = cached.replace ? write_cache(*dir, path, m) : "";
  if (!(cached.problem.empty() && write_problem.empty())) {
    add_sentence(note, cache_note(path, cached, write_problem));
  }
  if (!m.disturbed.empty()) add_sentence(note, disturbed_note(m));
  return m;
}

}  // namespace cvp::bench

// Memory-bound: the STREAM triad, a[i] = b[i] + s * c[i], over arrays far larger than the
// last-level cache, so that its speed is the machine's memory bandwidth.
//
// The kernel is pure (no threads, no clocks). The harness splits [0, n) into ranges and runs
// them on its own workers, in two phases over the same team:
//   1. initialise(arrays, begin, end) over the ranges: the first touch of every page, so each
//      page lands on the NUMA node of the worker that will later stream it (Arrays allocates
//      without touching anything);
//   2. triad(a, b, c, kScalar, begin, end) over the same ranges, timed.
// Then mismatches(arrays, kScalar, 0, n) == 0 checks the answer, serially and untimed.
//
// Floating point: triad.cc is compiled with -ffp-contract=off (set on the target in CMake), so
// both the kernel and mismatches() compute round(round(s * c[i]) + b[i]): one multiply, one
// add, never a fused multiply-add. Every element is thus computed by the same two roundings
// whatever the split, whichever part of the loop (vector body, peel or tail) handles it, and
// whether or not the build has FMA. Code elsewhere that recomputes the formula must do the same
// (or call mismatches()). With initialise()'s inputs the result is exact anyway.
#pragma once

#include <cstddef>

#include "cvp/isa.h"

namespace cvp::triad {

// The triad's scalar, as in STREAM.
inline constexpr double kScalar = 3.0;

// Bytes moved per element and per triad, by STREAM's counting: read b[i] and c[i], write a[i],
// 3 x 8 bytes. The write-allocate read of a's cache line (which ordinary stores cause, and
// non-temporal stores avoid) is not counted, so the reported GB/s is comparable with STREAM's.
inline constexpr double kBytesPerElement = 24;

// Alignment of each array, in bytes: a cache line (and an AVX-512 vector).
inline constexpr std::size_t kAlignment = 64;

// Three arrays a, b, c of n doubles each, 64-byte aligned. The constructor only reserves
// address space: no element is written (not even zeroed), so no page is touched until
// initialise() touches it. Move-only; a moved-from object is empty.
class Arrays {
 public:
  explicit Arrays(std::size_t n = 0);  // throws std::bad_alloc
  ~Arrays();
  Arrays(Arrays&& other) noexcept;
  Arrays& operator=(Arrays&& other) noexcept;
  Arrays(const Arrays&) = delete;
  Arrays& operator=(const Arrays&) = delete;

  double* a() { return a_; }
  const double* a() const { return a_; }
  double* b() { return b_; }
  const double* b() const { return b_; }
  double* c() { return c_; }
  const double* c() const { return c_; }
  std::size_t size() const { return n_; }

 private:
  void release() noexcept;

  double* a_ = nullptr;
  double* b_ = nullptr;
  double* c_ = nullptr;
  std::size_t n_ = 0;
};

// The first touch of [begin, end): b[i] and c[i] get deterministic values that depend on i
// alone (small dyadic fractions, so b[i] + s * c[i] is exact), and a[i] = 0. Writes only
// [begin, end) of the three arrays, so disjoint ranges may run concurrently.
// REQUIRES: begin <= end <= arrays.size().
void initialise(Arrays& arrays, std::size_t begin, std::size_t end);

// The kernel: a[i] = b[i] + s * c[i] for i in [begin, end). Reads only [begin, end) of b and c
// and writes only [begin, end) of a, so disjoint ranges may run concurrently; the result is
// bit-identical however [0, n) is split (see the floating-point note above). Vectorised.
// REQUIRES: begin <= end; a, b, c hold at least `end` doubles; a does not overlap b or c.
// Runs the loop of cvp::chosen_isa() (the widest this CPU supports, or CVPBENCH_KERNEL's).
void triad(double* __restrict a, const double* __restrict b, const double* __restrict c,
           double s, std::size_t begin, std::size_t end);

// The same with the loop of `isa`: bit-identical to every other path, only the vector width
// differs. Throws std::invalid_argument when this CPU lacks `isa`.
void triad(Isa isa, double* __restrict a, const double* __restrict b,
           const double* __restrict c, double s, std::size_t begin, std::size_t end);

// The name of the loop for `isa`, as the summary records it (machine.kernels.triad).
const char* kernel_name(Isa isa);

// The serial answer check: how many i in [begin, end) have a[i] not bit-identical to
// b[i] + s * c[i] (recomputed, with the kernel's roundings). A NaN in a always counts.
// REQUIRES: begin <= end <= arrays.size().
std::size_t mismatches(const Arrays& arrays, double s, std::size_t begin, std::size_t end);

// Spoils one element of a, a[size() / 2], by flipping the lowest bit of its mantissa (the
// smallest possible error: only an exact check sees it). For a planted-fault test: after a
// correct triad, mismatches(arrays, s, 0, size()) == 1. Does nothing on empty arrays.
void corrupt(Arrays& arrays);

// Elements per array for a run on a machine whose last-level cache holds
// `last_level_cache_bytes` (0: unknown, assume 32 MiB), rounded up to a multiple of 64
// (512 bytes: ranges cut at multiples of 64 elements start on cache lines and whole vectors).
// Each array is at least 4x the last-level cache (STREAM's rule, so that no array, and hardly
// any of the three, can be served from cache), and at least
//   64 MiB (8 Mi elements) normally: a margin for caches the probe misses or undercounts (a
//     last-level cache per CCX or socket, while the workers span several), and a pass of
//     192 MiB, milliseconds long even at 100 GB/s, so the team's fork/join costs stay small;
//   32 MiB (4 Mi elements) when `quick`: still far beyond any cache this floor can matter for
//     (the 4x rule governs on machines with more than 8 MiB of LLC), half the memory and time.
// Quick runs keep the 4x rule: below it the triad measures cache bandwidth, not memory's. And at
// most kMaxDefaultArrayBytes (512 MiB, four times the largest desktop last-level cache): a
// virtual machine may report its host's whole cache (508 MiB on one, which made 2 GiB arrays),
// and --triad-n chooses larger arrays where the cache really is that large (the verdict says
// when an array is under 4x the cache reported).
// Pass the sum of the last-level caches the workers use if they span several.
inline constexpr std::size_t kMaxDefaultArrayBytes = std::size_t{512} << 20;
std::size_t default_elements(std::size_t last_level_cache_bytes, bool quick);

// Size in bytes of the last-level cache that CPU 0 sees: the largest-level data or unified cache
// in /sys/devices/system/cpu/cpu0/cache/index*/, else sysconf(_SC_LEVEL3_CACHE_SIZE), then
// _SC_LEVEL2_CACHE_SIZE (sysfs comes first because glibc's sysconf can report the L3 of the
// whole package on AMD, e.g. 320 MiB in a KVM guest whose sysfs says 32 MiB). 0 if unknown.
std::size_t last_level_cache_bytes();

}  // namespace cvp::triad

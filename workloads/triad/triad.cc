// The STREAM triad kernel, its first-touch initialisation and its answer check.
//
// Compiled with -ffp-contract=off (CMakeLists.txt): b[i] + s * c[i] is one rounded multiply and
// one rounded add, in the kernel and in mismatches() alike, never an FMA. Contraction is a
// per-expression choice of the compiler, so with it allowed the vector body and the scalar tail
// of one loop, or the kernel and a checker in another file, could round differently; with it off
// every element gets the same two roundings whichever range or loop part computes it. The cost is
// nil: the triad waits on memory, not on arithmetic.
//
// The kernel runs one of three loops, chosen when the program runs (cvp/isa.h): AVX-512F, AVX2,
// or the portable one. The portable loop carries `#pragma omp simd` (compiled with
// -fopenmp-simd, no OpenMP runtime) so that it is vectorised at -O2 as well as -O3: GCC's -O2
// cost model ("very cheap") refuses loops that need a scalar tail, which every loop with a
// run-time trip count does.
#include "triad/triad.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cvp::triad {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

double* allocate(std::size_t n) {
  if (n == 0) return nullptr;
  if (n > (SIZE_MAX - kHugePage) / sizeof(double)) throw std::bad_alloc();
  // Mapped fresh from the kernel with nothing written into it, so each page is placed by the
  // first write to it; 2 MiB aligned and asking for transparent huge pages, so that placing
  // hundreds of MiB costs a fault per 2 MiB, not per 4 KiB (a fault can cost 15 us in a
  // virtual machine: 37 s for three 2 GiB arrays of small pages, 0.045 s per 512 MiB of huge).
  const std::size_t bytes = (n * sizeof(double) + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, bytes);
  if (p == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: small pages when the kernel has none
#endif
  return static_cast<double*>(p);
}

void deallocate(double* p) noexcept { std::free(p); }

// "32768K", "1M", "512" (bytes) -> bytes; 0 if unreadable.
std::size_t parse_cache_size(const std::string& text) {
  std::size_t value = 0;
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + static_cast<std::size_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) return 0;
  if (i < text.size()) {
    switch (text[i]) {
      case 'K': case 'k': return value << 10;
      case 'M': case 'm': return value << 20;
      case 'G': case 'g': return value << 30;
      default: break;
    }
  }
  return value;
}

// The largest-level data or unified cache of CPU 0 in sysfs; 0 if there is none.
std::size_t sysfs_last_level_cache_bytes() {
  int best_level = 0;
  std::size_t best_size = 0;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream level_file(dir + "/level");
    std::ifstream type_file(dir + "/type");
    std::ifstream size_file(dir + "/size");
    int level = 0;
    std::string type;
    std::string size_text;
    if (!(level_file >> level) || !(type_file >> type) || !(size_file >> size_text)) continue;
    if (type == "Instruction") continue;
    const std::size_t size = parse_cache_size(size_text);
    if (size == 0) continue;
    if (level > best_level || (level == best_level && size > best_size)) {
      best_level = level;
      best_size = size;
    }
  }
  return best_size;
}

[[maybe_unused]] std::size_t sysconf_bytes(int name) {
  const long value = ::sysconf(name);
  return value > 0 ? static_cast<std::size_t>(value) : 0;
}

}  // namespace

// --- Arrays -------------------------------------------------------------------------------------

Arrays::Arrays(std::size_t n) {
  try {
    a_ = allocate(n);
    b_ = allocate(n);
    c_ = allocate(n);
  } catch (...) {
    release();
    throw;
  }
  n_ = n;
}

Arrays::~Arrays() { release(); }

Arrays::Arrays(Arrays&& other) noexcept
    : a_(std::exchange(other.a_, nullptr)),
      b_(std::exchange(other.b_, nullptr)),
      c_(std::exchange(other.c_, nullptr)),
      n_(std::exchange(other.n_, 0)) {}

Arrays& Arrays::operator=(Arrays&& other) noexcept {
  if (this != &other) {
    release();
    a_ = std::exchange(other.a_, nullptr);
    b_ = std::exchange(other.b_, nullptr);
    c_ = std::exchange(other.c_, nullptr);
    n_ = std::exchange(other.n_, 0);
  }
  return *this;
}

void Arrays::release() noexcept {
  deallocate(a_);
  deallocate(b_);
  deallocate(c_);
  a_ = b_ = c_ = nullptr;
  n_ = 0;
}

// --- The workload -------------------------------------------------------------------------------

void initialise(Arrays& arrays, std::size_t begin, std::size_t end) {
  double* a = arrays.a();
  double* b = arrays.b();
  double* c = arrays.c();
  // b in [0, 510.5] in steps of 1/2 and c in [0, 254.75] in steps of 1/4, with coprime periods
  // so that neighbouring elements (and elements a multiple of any power of two apart) differ:
  // b + 3c needs at most 12 significant bits, so the triad's result is exact.
  for (std::size_t i = begin; i < end; ++i) {
    a[i] = 0.0;
    b[i] = static_cast<double>(i % 1021) * 0.5;
    c[i] = static_cast<double>(i % 1019) * 0.25;
  }
}

// --- The kernel, one loop per instruction set ------------------------------------------------
// Each wider loop is compiled with a target attribute (not -mavx2, which would let the compiler
// use AVX2 in inline code other files share) and runs only where cpu_supports() says so. All
// compute round(round(s * c[i]) + b[i]) (no FMA: -ffp-contract=off), so every path gives the
// same bits; only the width of the loads and stores differs.
namespace {

void triad_generic(double* __restrict a, const double* __restrict b,
                   const double* __restrict c, double s, std::size_t begin, std::size_t end) {
#pragma omp simd
  for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + s * c[i];
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) void triad_avx2(double* __restrict a, const double* __restrict b,
                                                const double* __restrict c, double s,
                                                std::size_t begin, std::size_t end) {
  const __m256d scalar = _mm256_set1_pd(s);
  std::size_t i = begin;
  for (; i + 4 <= end; i += 4) {
    _mm256_storeu_pd(a + i, _mm256_add_pd(_mm256_loadu_pd(b + i),
                                          _mm256_mul_pd(scalar, _mm256_loadu_pd(c + i))));
  }
  for (; i < end; ++i) a[i] = b[i] + s * c[i];
}

__attribute__((target("avx512f"))) void triad_avx512(double* __restrict a,
                                                     const double* __restrict b,
                                                     const double* __restrict c, double s,
                                                     std::size_t begin, std::size_t end) {
  const __m512d scalar = _mm512_set1_pd(s);
  std::size_t i = begin;
  for (; i + 8 <= end; i += 8) {
    _mm512_storeu_pd(a + i, _mm512_add_pd(_mm512_loadu_pd(b + i),
                                          _mm512_mul_pd(scalar, _mm512_loadu_pd(c + i))));
  }
  for (; i < end; ++i) a[i] = b[i] + s * c[i];
}
#endif

using TriadLoop = void (*)(double* __restrict, const double* __restrict,
                           const double* __restrict, double, std::size_t, std::size_t);

TriadLoop loop_for(Isa isa) {
  if (!cpu_supports(isa)) {
    throw std::invalid_argument(std::string("the triad loop for ") + to_string(isa) +
                                " cannot run on this CPU");
  }
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx512) return triad_avx512;
  if (isa == Isa::avx2) return triad_avx2;
#endif
  return triad_generic;
}

}  // namespace

const char* kernel_name(Isa isa) { return to_string(isa); }

void triad(double* __restrict a, const double* __restrict b, const double* __restrict c,
           double s, std::size_t begin, std::size_t end) {
  static const TriadLoop loop = loop_for(chosen_isa());
  loop(a, b, c, s, begin, end);
}

void triad(Isa isa, double* __restrict a, const double* __restrict b,
           const double* __restrict c, double s, std::size_t begin, std::size_t end) {
  loop_for(isa)(a, b, c, s, begin, end);
}

std::size_t mismatches(const Arrays& arrays, double s, std::size_t begin, std::size_t end) {
  const double* a = arrays.a();
  const double* b = arrays.b();
  const double* c = arrays.c();
  std::size_t count = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const double expected = b[i] + s * c[i];  // not contracted: -ffp-contract=off
    const bool same = a[i] == expected &&
                      std::bit_cast<std::uint64_t>(a[i]) == std::bit_cast<std::uint64_t>(expected);
    count += same ? 0 : 1;
  }
  return count;
}

void corrupt(Arrays& arrays) {
  if (arrays.size() == 0) return;
  double& x = arrays.a()[arrays.size() / 2];
  x = std::bit_cast<double>(std::bit_cast<std::uint64_t>(x) ^ std::uint64_t{1});
}

// --- Sizing -------------------------------------------------------------------------------------

std::size_t default_elements(std::size_t last_level_cache_bytes, bool quick) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  constexpr std::size_t kAssumedCache = 32 * kMiB;
  constexpr std::size_t kRound = 64;
  const std::size_t cache = last_level_cache_bytes != 0 ? last_level_cache_bytes : kAssumedCache;
  const std::size_t floor_bytes = (quick ? 32 : 64) * kMiB;
  // Saturate rather than overflow on absurd inputs (4x would not fit in size_t).
  const std::size_t four_x = cache > SIZE_MAX / 4 ? SIZE_MAX : 4 * cache;
  const std::size_t bytes = std::min(std::max(four_x, floor_bytes), kMaxDefaultArrayBytes);
  const std::size_t elements = bytes / sizeof(double) + (bytes % sizeof(double) != 0 ? 1 : 0);
  return (elements + kRound - 1) / kRound * kRound;
}

std::size_t last_level_cache_bytes() {
  if (const std::size_t bytes = sysfs_last_level_cache_bytes(); bytes != 0) return bytes;
#if defined(_SC_LEVEL3_CACHE_SIZE)
  if (const std::size_t bytes = sysconf_bytes(_SC_LEVEL3_CACHE_SIZE); bytes != 0) return bytes;
#endif
#if defined(_SC_LEVEL2_CACHE_SIZE)
  if (const std::size_t bytes = sysconf_bytes(_SC_LEVEL2_CACHE_SIZE); bytes != 0) return bytes;
#endif
#if defined(__APPLE__)
  for (const char* name : {"hw.l3cachesize", "hw.l2cachesize"}) {
    std::int64_t value = 0;
    std::size_t length = sizeof value;
    if (::sysctlbyname(name, &value, &length, nullptr, 0) == 0 && value > 0) {
      return static_cast<std::size_t>(value);
    }
  }
#endif
  return 0;
}

}  // namespace cvp::triad

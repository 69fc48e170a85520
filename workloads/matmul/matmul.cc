// The matmul kernel's shared parts: the problem, the reference, the checksum, and the choice
// of the compiled path (kernels.h) that does the multiplying. blocked_kernel.h holds the
// algorithm; kernel_<isa>.cc compile it once per instruction set.
#include "matmul/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#include "matmul/kernels.h"

namespace cvp::matmul {

Scratch::~Scratch() { std::free(data_); }

double* Scratch::get(std::size_t count) {
  if (count > capacity_) {
    std::free(data_);
    const std::size_t bytes = (count * sizeof(double) + kAlign - 1) / kAlign * kAlign;
    data_ = static_cast<double*>(std::aligned_alloc(kAlign, bytes));
    if (data_ == nullptr) {
      capacity_ = 0;
      throw std::bad_alloc();
    }
    capacity_ = count;
  }
  return data_;
}

Scratch& a_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

namespace {

// The calling thread's buffer for B packed by multiply_rows and multiply_add.
Scratch& b_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A uniform double in [-1, 1): the top 53 bits scaled to [0, 2), shifted down by one.
double to_unit_interval(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-52 - 1.0;
}

}  // namespace

Problem make_problem(std::size_t n, std::uint64_t seed) {
  Problem p;
  p.n = n;
  p.a.resize(n * n);
  p.b.resize(n * n);
  p.c.assign(n * n, 0.0);
  p.packed_b = AlignedDoubles(packed_b_size(n));
  std::uint64_t state = seed;
  for (double& x : p.a) x = to_unit_interval(splitmix64(state));
  for (double& x : p.b) x = to_unit_interval(splitmix64(state));
  return p;
}

const Kernel& Kernel::of(Isa isa) {
  if (!cpu_supports(isa)) {
    throw std::invalid_argument(std::string("the matmul kernel for ") + to_string(isa) +
                                " cannot run on this CPU");
  }
#if defined(__x86_64__) || defined(__i386__)
  static const Kernel avx512(avx512_ops());
  static const Kernel avx2(avx2_ops());
  if (isa == Isa::avx512) return avx512;
  if (isa == Isa::avx2) return avx2;
#endif
  static const Kernel generic(generic_ops());
  return generic;
}

const Kernel& Kernel::chosen() {
  static const Kernel& kernel = of(chosen_isa());
  return kernel;
}

Isa Kernel::isa() const { return ops_->isa; }
const char* Kernel::name() const { return ops_->name; }
std::size_t Kernel::row_tile() const { return ops_->mr; }

std::size_t Kernel::packed_b_slivers(std::size_t n) const { return (n + ops_->nr - 1) / ops_->nr; }

std::size_t Kernel::packed_b_size(std::size_t n) const {
  return ((n + ops_->kc - 1) / ops_->kc) * packed_b_slivers(n) * ops_->kc * ops_->nr;
}

void Kernel::pack_b_slivers(const double* b, std::size_t n, double* packed,
                            std::size_t sliver_begin, std::size_t sliver_end) const {
  ops_->pack_b_slivers(b, n, packed, sliver_begin, sliver_end);
}

void Kernel::multiply_rows_packed(const double* a, const double* packed_b, double* c,
                                  std::size_t n, std::size_t row_begin,
                                  std::size_t row_end) const {
  ops_->multiply_rows_packed(a, packed_b, c, n, row_begin, row_end);
}

void Kernel::multiply_rows(const double* a, const double* b, double* c, std::size_t n,
                           std::size_t row_begin, std::size_t row_end) const {
  if (row_begin >= row_end) return;
  double* packed = b_scratch().get(packed_b_size(n));
  pack_b_slivers(b, n, packed, 0, packed_b_slivers(n));
  multiply_rows_packed(a, packed, c, n, row_begin, row_end);
}

void Kernel::multiply(const double* a, const double* b, double* c, std::size_t n) const {
  multiply_rows(a, b, c, n, 0, n);
}

std::size_t Kernel::packed_b_size(std::size_t k, std::size_t n) const {
  return ((k + ops_->kc - 1) / ops_->kc) * packed_b_slivers(n) * ops_->kc * ops_->nr;
}

void Kernel::pack_b_slivers(const double* b, std::size_t k, std::size_t n, std::size_t ldb,
                            double* packed, std::size_t sliver_begin,
                            std::size_t sliver_end) const {
  ops_->pack_b_panel(b, k, n, ldb, packed, sliver_begin, sliver_end);
}

void Kernel::multiply_add_rows_packed(std::size_t n, std::size_t k, const double* a,
                                      std::size_t lda, const double* packed_b, double* c,
                                      std::size_t ldc, std::size_t row_begin,
                                      std::size_t row_end) const {
  ops_->multiply_add_rows_packed(n, k, a, lda, packed_b, c, ldc, row_begin, row_end);
}

void Kernel::multiply_add(std::size_t m, std::size_t n, std::size_t k, const double* a,
                          std::size_t lda, const double* b, std::size_t ldb, double* c,
                          std::size_t ldc) const {
  if (m == 0 || n == 0 || k == 0) return;
  double* packed = b_scratch().get(packed_b_size(k, n));
  pack_b_slivers(b, k, n, ldb, packed, 0, packed_b_slivers(n));
  multiply_add_rows_packed(n, k, a, lda, packed, c, ldc, 0, m);
}

std::size_t row_tile() { return Kernel::chosen().row_tile(); }
std::size_t packed_b_slivers(std::size_t n) { return Kernel::chosen().packed_b_slivers(n); }
std::size_t packed_b_size(std::size_t n) { return Kernel::chosen().packed_b_size(n); }

void pack_b_slivers(const double* b, std::size_t n, double* packed, std::size_t sliver_begin,
                    std::size_t sliver_end) {
  Kernel::chosen().pack_b_slivers(b, n, packed, sliver_begin, sliver_end);
}

void multiply_rows_packed(const double* a, const double* packed_b, double* c, std::size_t n,
                          std::size_t row_begin, std::size_t row_end) {
  Kernel::chosen().multiply_rows_packed(a, packed_b, c, n, row_begin, row_end);
}

void multiply_rows(const double* a, const double* b, double* c, std::size_t n,
                   std::size_t row_begin, std::size_t row_end) {
  Kernel::chosen().multiply_rows(a, b, c, n, row_begin, row_end);
}

std::size_t packed_b_size(std::size_t k, std::size_t n) {
  return Kernel::chosen().packed_b_size(k, n);
}

void pack_b_slivers(const double* b, std::size_t k, std::size_t n, std::size_t ldb,
                    double* packed, std::size_t sliver_begin, std::size_t sliver_end) {
  Kernel::chosen().pack_b_slivers(b, k, n, ldb, packed, sliver_begin, sliver_end);
}

void multiply_add_rows_packed(std::size_t n, std::size_t k, const double* a, std::size_t lda,
                              const double* packed_b, double* c, std::size_t ldc,
                              std::size_t row_begin, std::size_t row_end) {
  Kernel::chosen().multiply_add_rows_packed(n, k, a, lda, packed_b, c, ldc, row_begin, row_end);
}

void multiply_add(std::size_t m, std::size_t n, std::size_t k, const double* a, std::size_t lda,
                  const double* b, std::size_t ldb, double* c, std::size_t ldc) {
  Kernel::chosen().multiply_add(m, n, k, a, lda, b, ldb, c, ldc);
}

AlignedDoubles::AlignedDoubles(std::size_t count) : size_(count) {
  if (count == 0) return;
  const std::size_t bytes = (count * sizeof(double) + kAlign - 1) / kAlign * kAlign;
  data_ = static_cast<double*>(std::aligned_alloc(kAlign, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
}

AlignedDoubles::~AlignedDoubles() { std::free(data_); }

AlignedDoubles::AlignedDoubles(AlignedDoubles&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

AlignedDoubles& AlignedDoubles::operator=(AlignedDoubles&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void multiply(const double* a, const double* b, double* c, std::size_t n) {
  Kernel::chosen().multiply(a, b, c, n);
}

void multiply_naive(const double* a, const double* b, double* c, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::size_t k = 0; k < n; ++k) sum += a[i * n + k] * b[k * n + j];
      c[i * n + j] = sum;
    }
  }
}

void multiply_add_naive(std::size_t m, std::size_t n, std::size_t k, const double* a,
                        std::size_t lda, const double* b, std::size_t ldb, double* c,
                        std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::size_t p = 0; p < k; ++p) sum += a[i * lda + p] * b[p * ldb + j];
      c[i * ldc + j] += sum;
    }
  }
}

double flops(std::size_t n) {
  const auto d = static_cast<double>(n);
  return 2.0 * d * d * d;
}

double flops(std::size_t m, std::size_t n, std::size_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

double checksum(const double* c, std::size_t n) {
  // A plain sum misses swapped elements; the position weights (1..13) catch those too.
  double sum = 0.0;
  double weighted = 0.0;
  const std::size_t count = n * n;
  for (std::size_t idx = 0; idx < count; ++idx) {
    sum += c[idx];
    weighted += c[idx] * static_cast<double>(idx % 13 + 1);
  }
  return sum + weighted;
}

}  // namespace cvp::matmul

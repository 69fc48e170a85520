// Which vector instruction set a kernel runs, chosen when the program runs rather than when it
// is built, so one binary runs on every x86-64 CPU: the widest the CPU supports, or the one
// CVPBENCH_KERNEL names (generic, avx2, avx512) for tests and comparisons.
//
// Header-only and free of every other cvpbench header, so a pure kernel (workloads/<w>/) may
// include it as well as the library. A kernel compiles one variant per instruction set (with
// __attribute__((target(...))), never with -march flags that would leak into shared inline
// code) and calls the one chosen_isa() names.
#pragma once

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cvp {

// Ordered from narrowest to widest.
enum class Isa {
  generic,  // what every x86-64 CPU (or any other CPU) runs: 128-bit SSE2 vectors at most
  avx2,     // AVX2 and FMA (Haswell, Zen 1 and later)
  avx512,   // AVX-512F (Skylake-X, Ice Lake, Zen 4 and later)
};

// The environment variable that forces a path: generic, avx2 or avx512.
inline constexpr const char* kKernelEnv = "CVPBENCH_KERNEL";

inline const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::generic: break;
  }
  return "generic";
}

inline std::optional<Isa> parse_isa(std::string_view text) {
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (text == to_string(isa)) return isa;
  }
  return std::nullopt;
}

// Whether this CPU (and its operating system, which must save the wider registers) runs `isa`.
inline bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512: return __builtin_cpu_supports("avx512f");
    case Isa::generic: break;
  }
  return true;
#else
  return isa == Isa::generic;
#endif
}

// The widest instruction set this CPU supports.
inline Isa best_isa() {
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (cpu_supports(isa)) return isa;
  }
  return Isa::generic;
}

// The path for a CVPBENCH_KERNEL value (`requested`, null or empty when unset) on a CPU that
// supports what `supports` says: the path, or the sentence that refuses the request.
struct IsaChoice {
  Isa isa = Isa::generic;
  std::optional<std::string> refusal;  // set: the request cannot be honoured, isa is meaningless
};

inline IsaChoice choose_isa(const char* requested, bool (*supports)(Isa) = cpu_supports) {
  if (requested == nullptr || *requested == '\0') {
    for (Isa isa : {Isa::avx512, Isa::avx2}) {
      if (supports(isa)) return {isa, std::nullopt};
    }
    return {Isa::generic, std::nullopt};
  }
  const std::string value(requested);
  const std::optional<Isa> isa = parse_isa(value);
  if (!isa) {
    return {Isa::generic, std::string(kKernelEnv) + "=" + value +
                              ": choose generic, avx2 or avx512 (or leave it unset for the "
                              "widest this CPU supports)."};
  }
  if (!supports(*isa)) {
    const char* needs = *isa == Isa::avx512 ? "AVX-512F" : "AVX2 and FMA";
    return {*isa, std::string(kKernelEnv) + "=" + value + ": this CPU lacks " + needs +
                      ", so that path cannot run here."};
  }
  return {*isa, std::nullopt};
}

// CVPBENCH_KERNEL as this process sees it, checked against this CPU.
inline IsaChoice isa_choice() { return choose_isa(std::getenv(kKernelEnv)); }

// The path every kernel of this process runs, decided once (the environment is read at the
// first call). Throws std::invalid_argument with the refusal when CVPBENCH_KERNEL cannot be
// honoured: running a path the CPU lacks would die on an illegal instruction, and running
// another than the one asked for would mislabel the numbers. cvp::run_program refuses such a
// request (exit code 2) before any kernel runs.
inline Isa chosen_isa() {
  static const IsaChoice choice = isa_choice();
  if (choice.refusal) throw std::invalid_argument(*choice.refusal);
  return choice.isa;
}

}  // namespace cvp

// Fuzz target: a regular expression (--filter, --inject-fault) and a benchmark name, split at
// the first NUL. Compiling must succeed or throw UsageError; matching must return, in time
// linear in the name, whatever the pattern.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/options.h"
#include "harness/pattern.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string pattern = input.substr(0, nul);
  const std::string name = nul == std::string::npos
                               ? "matmul/n:512/mode:parallel/backend:tbb/threads:2"
                               : input.substr(nul + 1);
  try {
    const cvp::bench::Pattern p("--filter", pattern);
    (void)p.found_in(name);
  } catch (const cvp::bench::UsageError&) {
  }
  return 0;
}

#include "harness/pattern.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

#include "cli/options.h"

namespace cvp::bench {

namespace {
// Patterns are short; a larger program than this is a mistake or an attack, not a filter.
constexpr int64_t kMaxProgramMemory = 8 << 20;
constexpr std::size_t kMaxPatternLength = 4096;
// Matching time grows with the compiled program (x{0,1000} repeated is short to write and huge
// to run): a filter over a hundred names has no use for more than this.
constexpr int kMaxProgramSize = 20000;
// The sum of the upper bounds of the counted repetitions ({n}, {m,n}, {m,}) in `text`, outside
// character classes and escapes. RE2 expands each into copies before it can bound the program,
// and that expansion alone takes seconds for a few hundred characters of x{0,1000}.
long long counted_repetitions(const std::string& text) {
  long long total = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (in_class) {
      in_class = c != ']';
      continue;
    }
    if (c == '[') {
      in_class = true;
      if (i + 1 < text.size() && text[i + 1] == ']') ++i;
      continue;
    }
    if (c != '{') continue;
    long long low = 0, high = -1;
    std::size_t j = i + 1;
    bool digits = false;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
      low = std::min<long long>(low * 10 + (text[j] - '0'), 1'000'000);
      digits = true;
      ++j;
    }
    if (!digits) continue;
    if (j < text.size() && text[j] == ',') {
      ++j;
      bool upper = false;
      long long value = 0;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
        value = std::min<long long>(value * 10 + (text[j] - '0'), 1'000'000);
        upper = true;
        ++j;
      }
      high = upper ? value : low;
    } else {
      high = low;
    }
    if (j < text.size() && text[j] == '}') total += high;
  }
  return total;
}

constexpr long long kMaxCountedRepetitions = 2000;

}  // namespace

Pattern::Pattern(const std::string& flag, const std::string& text) : text_(text) {
  if (text.size() > kMaxPatternLength) {
    throw UsageError(flag + ": the regular expression is longer than " +
                     std::to_string(kMaxPatternLength) + " characters.");
  }
  if (counted_repetitions(text) > kMaxCountedRepetitions) {
    const std::string shown = text.size() > 80 ? text.substr(0, 77) + "..." : text;
    throw UsageError(flag + " " + shown + ": the regular expression is too complex (its " +
                     "counted repetitions {m,n} add up to more than " +
                     std::to_string(kMaxCountedRepetitions) + ").");
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxProgramMemory);
  re_ = std::make_unique<re2::RE2>(text, options);
  if (!re_->ok()) {
    const std::string shown = text.size() > 80 ? text.substr(0, 77) + "..." : text;
    throw UsageError(flag + " " + shown + ": not a valid regular expression (" + re_->error() +
                     ").");
  }
  if (re_->ProgramSize() > kMaxProgramSize) {
    const std::string shown = text.size() > 80 ? text.substr(0, 77) + "..." : text;
    throw UsageError(flag + " " + shown + ": the regular expression is too complex (its " +
                     "compiled form has " + std::to_string(re_->ProgramSize()) +
                     " instructions; at most " + std::to_string(kMaxProgramSize) + ").");
  }
}

Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;

bool Pattern::found_in(const std::string& name) const { return RE2::PartialMatch(name, *re_); }

}  // namespace cvp::bench

#include "pattern.h"

#include <re2/re2.h>

#include "options.h"

namespace cvp::bench {

namespace {
// Patterns are short; a larger program than this is a mistake or an attack, not a filter.
constexpr int64_t kMaxProgramMemory = 8 << 20;
constexpr std::size_t kMaxPatternLength = 4096;
}  // namespace

Pattern::Pattern(const std::string& flag, const std::string& text) : text_(text) {
  if (text.size() > kMaxPatternLength) {
    throw UsageError(flag + ": the regular expression is longer than " +
                     std::to_string(kMaxPatternLength) + " characters.");
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
}

Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;

bool Pattern::found_in(const std::string& name) const { return RE2::PartialMatch(name, *re_); }

}  // namespace cvp::bench

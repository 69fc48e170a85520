// Regular expressions over benchmark names (--filter, --inject-fault), with RE2: matching takes
// time linear in the name and bounded memory whatever the pattern, so a deeply nested or
// catastrophically backtracking pattern cannot hang or overflow the stack (std::regex can).
#pragma once

#include <memory>
#include <string>

namespace re2 {
class RE2;
}

namespace cvp::bench {

class Pattern {
 public:
  // Compiles `text` (RE2 syntax: ECMAScript without backreferences and lookaround). Throws
  // UsageError "FLAG TEXT: not a valid regular expression (why)." on failure.
  Pattern(const std::string& flag, const std::string& text);
  ~Pattern();
  Pattern(Pattern&&) noexcept;
  Pattern& operator=(Pattern&&) noexcept;

  // True when the pattern matches somewhere in `name` (as std::regex_search did).
  bool found_in(const std::string& name) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace cvp::bench

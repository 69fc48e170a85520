// The library's wording helpers: how a number, a list or a piece of outside text is written in a
// console line or a message. The public ones a plug-in's verdicts use (cvp::fixed, speedup_text,
// speedup_ci_text) are part of the API, in include/cvp/workload.h.
#pragma once

#include <string>
#include <vector>

namespace cvp::bench {

// `text` made safe for one line of a terminal: control characters (a newline or an escape
// sequence inside an argument echoed back) are shown as \n, \t or \xNN.
std::string printable(const std::string& text);

// A share as a percentage: two decimals under 10%, else one ("0.42%", "12.5%").
std::string percent(double share);

// The items with `separator` between them ("a, b, c"); empty for none.
std::string join(const std::vector<std::string>& items, const std::string& separator);

// A time in its unit: "1.234 s", "12.34 ms", "56.7 us".
std::string human_time(double seconds);

}  // namespace cvp::bench

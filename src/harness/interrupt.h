// Ctrl-C, SIGTERM and SIGHUP (a closed terminal or SSH session): the first asks the run to stop at the next safe point (the benchmark
// bodies check interrupted() before and between iterations, the request runners before each
// request) so that what was measured is still written whole; the second exits at once, after
// removing the temporary files a half-finished run would leave.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace cvp::bench {

// True once SIGINT, SIGTERM or SIGHUP has arrived (after install_interrupt_handlers).
const std::atomic<bool>& interrupt_flag();
inline bool interrupted() { return interrupt_flag().load(std::memory_order_relaxed); }

// Installs the handlers (once; a signal ignored on entry, as under nohup, stays ignored). Call
// it before creating anything a signal should clean up.
void install_interrupt_handlers();

// What a second signal removes before _exit(130): every file of `temporary_files`, then each of
// `folders` (in order; empty strings are skipped) if it is then empty; all of it
// async-signal-safe. Paths longer than PATH_MAX are not remembered.
void remove_on_second_interrupt(const std::vector<std::string>& temporary_files,
                                const std::vector<std::string>& folders);

// How many times the process was stopped and resumed (SIGCONT) since the handlers were
// installed: a sample timed across a stop measured the stop, not the work.
int continued_count();

// The exit code of an interrupted run (128 + SIGINT, as shells report it).
inline constexpr int kInterruptedExit = 130;

}  // namespace cvp::bench

#include "harness/interrupt.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cvp::bench {
namespace {

static_assert(std::atomic<bool>::is_always_lock_free, "the handler needs a lock-free flag");
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free counter");

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signals{0};

// What the second signal removes; written before the handlers are installed, read only by them.
constexpr int kMaxFiles = 4;
char g_files[kMaxFiles][PATH_MAX] = {};
int g_file_count = 0;
constexpr int kMaxFolders = 2;
char g_folders[kMaxFolders][PATH_MAX] = {};
int g_folder_count = 0;
std::atomic<int> g_continued{0};

void write_stderr(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_interrupt(int) {
  const int saved_errno = errno;
  if (g_signals.fetch_add(1, std::memory_order_relaxed) == 0) {
    g_interrupted.store(true, std::memory_order_relaxed);
    write_stderr(
        "\ncvpbench: interrupted; stopping at the next safe point and writing the results so "
        "far (interrupt again to quit at once)\n");
    errno = saved_errno;
    return;
  }
  for (int i = 0; i < g_file_count; ++i) ::unlink(g_files[i]);
  for (int i = 0; i < g_folder_count; ++i) ::rmdir(g_folders[i]);
  write_stderr("\ncvpbench: interrupted again; quitting without writing results\n");
  ::_exit(kInterruptedExit);
}

extern "C" void on_continue(int) { g_continued.fetch_add(1, std::memory_order_relaxed); }

void remember(char* into, const std::string& path) {
  if (path.size() < PATH_MAX) std::memcpy(into, path.c_str(), path.size() + 1);
}

}  // namespace

const std::atomic<bool>& interrupt_flag() { return g_interrupted; }

int continued_count() { return g_continued.load(std::memory_order_relaxed); }

void install_interrupt_handlers() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    // A signal ignored on entry stays ignored: `nohup cvpbench` and `cvpbench &` in a script
    // ask for exactly that.
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &action, nullptr);
  }
  struct sigaction resumed {};
  resumed.sa_handler = on_continue;
  sigemptyset(&resumed.sa_mask);
  resumed.sa_flags = SA_RESTART;
  ::sigaction(SIGCONT, &resumed, nullptr);
}

void remove_on_second_interrupt(const std::vector<std::string>& temporary_files,
                                const std::vector<std::string>& folders) {
  // The handler reads the counts, then the paths: publish the paths first.
  g_file_count = 0;
  g_folder_count = 0;
  int files = 0;
  for (const auto& f : temporary_files) {
    if (files == kMaxFiles || f.size() >= PATH_MAX) continue;
    remember(g_files[files++], f);
  }
  int kept_folders = 0;
  for (const auto& f : folders) {
    if (kept_folders == kMaxFolders || f.empty() || f.size() >= PATH_MAX) continue;
    remember(g_folders[kept_folders++], f);
  }
  std::atomic_signal_fence(std::memory_order_release);
  g_file_count = files;
  g_folder_count = kept_folders;
}

}  // namespace cvp::bench

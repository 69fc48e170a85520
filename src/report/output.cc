#include "report/output.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "host/machine.h"
#include "cli/options.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace cvp::bench {
namespace {

std::string error_text(int error) { return std::strerror(error); }

// Moves `name` from one folder to another without replacing anything at the destination.
// Returns 0 or an errno value.
int move_without_replacing(int from_fd, int to_fd, const std::string& name) {
  if (::renameat2(from_fd, name.c_str(), to_fd, name.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // File systems without RENAME_NOREPLACE: a hard link also refuses an existing name.
  if (::linkat(from_fd, name.c_str(), to_fd, name.c_str(), 0) != 0) return errno;
  ::unlinkat(from_fd, name.c_str(), 0);
  return 0;
}

std::string random_suffix() {
  std::random_device device;
  char text[17];
  std::snprintf(text, sizeof(text), "%08x%08x", device(), device());
  return text;
}

std::string default_folder_base() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return "cvpbench-runs/" + safe_host_name() + "-" + stamp;
}

// Removes the folders `made` (deepest last in the list) while they are empty.
void remove_made(std::vector<std::string>& made) {
  for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
  made.clear();
}

// Creates the parents of `folder` that are missing, one at a time, and lists those it made in
// `made` (outermost first). On failure it removes them again and throws UsageError: a path that
// cannot be made leaves nothing behind.
void make_parents(const std::string& folder, std::vector<std::string>& made) {
  const fs::path parent = fs::path(folder).parent_path();
  if (parent.empty()) return;
  fs::path so_far;
  for (const auto& part : parent) {
    so_far /= part;
    if (::mkdir(so_far.c_str(), 0755) == 0) {
      made.push_back(so_far.string());
      continue;
    }
    const int error = errno;
    struct stat st {};
    if (error == EEXIST && ::stat(so_far.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    remove_made(made);
    throw UsageError("--out " + folder + ": cannot create the folder " + so_far.string() + " (" +
                     error_text(error == EEXIST ? ENOTDIR : error) + ").");
  }
}

// The folder of the run in progress, for a library that ends the process with exit() (libgomp
// does when it cannot create a thread): nothing half-made is left behind then either.
RunFolder* g_active = nullptr;

}  // namespace

void RunFolder::clean_up_at_exit() {
  if (g_active == nullptr) return;
  RunFolder* folder = g_active;
  g_active = nullptr;
  if (!folder->published_) {
    std::fprintf(stderr, "cvpbench: the run ended before its results were published; nothing "
                         "was written to %s\n", printable(folder->path_).c_str());
  }
  folder->remove_staging();
  if (folder->created_ && !folder->published_) ::rmdir(folder->path_.c_str());
  if (!folder->published_) remove_made(folder->made_parents_);
}

void RunFolder::create_folder(const std::optional<std::string>& requested) {
  if (requested) {
    path_ = *requested;
    if (path_.empty()) throw UsageError("--out: the folder name is empty.");
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
    make_parents(path_, made_parents_);
    if (::mkdir(path_.c_str(), 0755) == 0) {
      created_ = true;
    } else if (errno != EEXIST) {
      const int error = errno;
      remove_made(made_parents_);
      throw UsageError("--out " + path_ + ": cannot create the folder (" + error_text(error) +
                       ").");
    }
  } else {
    const std::string base = default_folder_base();
    make_parents(base, made_parents_);
    path_ = base;
    for (int i = 2; ::mkdir(path_.c_str(), 0755) != 0; ++i) {
      if (errno != EEXIST || i > 1000) {
        const int error = errno;
        remove_made(made_parents_);
        throw UsageError("cannot create the run folder " + path_ + " (" + error_text(error) +
                         ").");
      }
      path_ = base + "-" + std::to_string(i);
    }
    created_ = true;
  }
}

void RunFolder::open_folder() {
  // The folder named by the user is theirs to choose (a link to a folder is followed there);
  // everything inside it is opened relative to this descriptor, without following links.
  folder_fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd_ < 0) {
    throw UsageError("--out " + path_ +
                     (errno == ENOTDIR ? std::string(": exists and is not a folder.")
                                       : ": cannot open the folder (" + error_text(errno) + ")."));
  }
  if (::flock(folder_fd_, LOCK_EX | LOCK_NB) != 0) {
    created_ = false;  // the folder is the other run's now: never remove it
    throw UsageError("--out " + path_ +
                     ": another cvpbench run is writing into this folder; choose another.");
  }
  // trace.json too: a run with --trace would otherwise measure everything and then fail to
  // publish, and one without it would leave an older run's trace beside its results.
  for (const char* name : {"summary.json", "benchmark.json", "trace.json"}) {
    struct stat st {};
    if (::fstatat(folder_fd_, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      throw UsageError("--out " + path_ + ": already holds the results of a run (" + name +
                       "); choose a new folder so nothing is overwritten.");
    }
  }
  for (int attempt = 0;; ++attempt) {
    staging_name_ = ".cvpbench-staging-" + std::to_string(::getpid()) + "-" + random_suffix();
    if (::mkdirat(folder_fd_, staging_name_.c_str(), 0700) == 0) break;
    if (errno != EEXIST || attempt == 100) {
      throw UsageError("--out " + path_ + ": the folder is not writable (" +
                       error_text(errno) + ").");
    }
  }
  staging_ = path_ + "/" + staging_name_;
  if (g_active == nullptr) {
    static const bool registered = std::atexit([] { RunFolder::clean_up_at_exit(); }) == 0;
    (void)registered;
    g_active = this;
  }
  staging_fd_ = ::openat(folder_fd_, staging_name_.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (staging_fd_ < 0) {
    const int error = errno;
    ::unlinkat(folder_fd_, staging_name_.c_str(), AT_REMOVEDIR);
    throw UsageError("--out " + path_ + ": cannot open the staging folder (" +
                     error_text(error) + ").");
  }
}

RunFolder::RunFolder(const std::optional<std::string>& requested) {
  create_folder(requested);
  try {
    open_folder();
  } catch (...) {
    if (folder_fd_ >= 0) ::close(folder_fd_);
    if (created_) ::rmdir(path_.c_str());
    remove_made(made_parents_);
    throw;
  }
}

RunFolder::~RunFolder() {
  if (g_active == this) g_active = nullptr;
  for (int fd : writer_fds_) ::close(fd);
  remove_staging();
  if (created_ && !published_) ::rmdir(path_.c_str());  // only if empty
  if (!published_) remove_made(made_parents_);            // the same
  if (folder_fd_ >= 0) ::close(folder_fd_);               // releases the lock
}

std::string RunFolder::staged_path(const std::string& name) const {
  return staging_ + "/" + name;
}

std::string RunFolder::create_for_writer(const std::string& name) {
  const int fd = ::openat(staging_fd_, name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + name + " in the staging folder: " +
                             error_text(errno));
  }
  writer_fds_.push_back(fd);
  const std::string through_fd = "/proc/self/fd/" + std::to_string(fd);
  struct stat by_fd {}, by_path {};
  if (::stat(through_fd.c_str(), &by_fd) == 0 && ::fstat(fd, &by_path) == 0 &&
      by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev) {
    return through_fd;
  }
  return staged_path(name);
}

void RunFolder::stage(const std::string& name, const std::string& content) {
  const int fd = ::openat(staging_fd_, name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + name + ": " + error_text(errno));
  auto fail = [&](const std::string& what, int error) {
    ::close(fd);
    ::unlinkat(staging_fd_, name.c_str(), 0);
    throw std::runtime_error(what + " " + name + ": " + error_text(error));
  };
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot finish writing", errno);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlinkat(staging_fd_, name.c_str(), 0);
    throw std::runtime_error("cannot finish writing " + name + ": " + error_text(error));
  }
}

void RunFolder::publish(const std::vector<std::string>& names) {
  for (int fd : writer_fds_) ::close(fd);
  writer_fds_.clear();
  for (const auto& name : names) {
    const int fd = ::openat(staging_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      const int error = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot finish writing " + name + ": " + error_text(error));
    }
    ::close(fd);
  }
  std::vector<std::string> moved;
  for (const auto& name : names) {
    const int error = move_without_replacing(staging_fd_, folder_fd_, name);
    if (error != 0) {
      for (auto it = moved.rbegin(); it != moved.rend(); ++it) {
        if (move_without_replacing(folder_fd_, staging_fd_, *it) != 0) {
          ::unlinkat(folder_fd_, it->c_str(), 0);
        }
      }
      throw std::runtime_error(
          "cannot publish " + name + " in " + path_ + ": " +
          (error == EEXIST ? std::string("something else appeared under that name during the run")
                           : error_text(error)));
    }
    moved.push_back(name);
  }
  ::fsync(folder_fd_);
  published_ = true;
  remove_staging();
}

void RunFolder::remove_staging() noexcept {
  if (staging_fd_ < 0) return;
  const int listing = ::dup(staging_fd_);
  if (DIR* dir = listing >= 0 ? ::fdopendir(listing) : nullptr) {
    std::vector<std::string> entries;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") entries.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : entries) ::unlinkat(staging_fd_, name.c_str(), 0);
  } else if (listing >= 0) {
    ::close(listing);
  }
  ::close(staging_fd_);
  staging_fd_ = -1;
  ::unlinkat(folder_fd_, staging_name_.c_str(), AT_REMOVEDIR);
}

std::optional<std::string> read_file_nofollow(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

}  // namespace cvp::bench

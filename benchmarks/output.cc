#include "output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "machine.h"
#include "options.h"

namespace fs = std::filesystem;

namespace cvp::bench {
namespace {

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

std::string prepare_run_folder(const std::optional<std::string>& requested) {
  std::string folder;
  if (requested) {
    folder = *requested;
    if (folder.empty()) throw UsageError("--out: the folder name is empty.");
    std::error_code ec;
    if (fs::exists(folder, ec) && !fs::is_directory(folder, ec)) {
      throw UsageError("--out " + folder + ": exists and is not a folder.");
    }
    for (const char* name : {"summary.json", "benchmark.json"}) {
      if (fs::exists(fs::path(folder) / name, ec)) {
        throw UsageError("--out " + folder + ": already holds the results of a run (" + name +
                         "); choose a new folder so nothing is overwritten.");
      }
    }
  } else {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    const std::string base = "cvpbench-runs/" + safe_host_name() + "-" + stamp;
    folder = base;
    std::error_code ec;
    for (int i = 2; fs::exists(folder, ec); ++i) folder = base + "-" + std::to_string(i);
  }
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    throw UsageError("--out " + folder + ": cannot create the folder (" + ec.message() + ").");
  }
  const std::string probe = (fs::path(folder) / ".cvpbench-write-test").string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    throw UsageError("--out " + folder + ": the folder is not writable (" +
                     std::strerror(errno) + ").");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return folder;
}

void publish_file(const std::string& temporary, const std::string& path) {
  fsync_path(temporary, O_RDONLY);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + temporary + " to " + path + ": " +
                             std::strerror(errno));
  }
  fsync_path(folder_of(path), O_RDONLY | O_DIRECTORY);
}

std::string temporary_name_for(const std::string& path) {
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "." + std::string at -O3.
  const fs::path p(path);
  std::string name(".");
  name += p.filename().string();
  name += ".tmp.";
  name += std::to_string(::getpid());
  return (p.parent_path() / name).string();
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string temporary = temporary_name_for(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + temporary + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      throw std::runtime_error("cannot write " + temporary + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot finish writing " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot rename " + temporary + " to " + path + ": " + why);
  }
  fsync_path(folder_of(path), O_RDONLY | O_DIRECTORY);
}

}  // namespace cvp::bench

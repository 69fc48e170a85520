// Files of a run: a folder of its own, written only through descriptors this run opened, and
// both result files published together, whole, or not at all.
//
// The run creates (or, for an existing empty --out folder, locks) its folder and makes a private
// staging folder inside it with a unique name. Everything is written there, with
// O_CREAT|O_EXCL|O_NOFOLLOW relative to the staging folder's descriptor, so a link planted under
// a fixed name is never followed and nothing the user had is truncated. publish() checks both
// files, syncs them and moves them into the run folder without replacing anything there
// (renameat2 RENAME_NOREPLACE, or link + unlink where the file system lacks it); if the second
// move fails the first is moved back. An exclusive lock on the run folder, held for the whole
// run, refuses a second run into the same folder.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cvp::bench {

class RunFolder {
 public:
  // Creates and locks the run's folder: `requested` if given (it may exist, but must not hold
  // results or be in use by another run), else a new cvpbench-runs/HOST-YYYYMMDD-HHMMSS[-N].
  // Throws UsageError naming the problem.
  explicit RunFolder(const std::optional<std::string>& requested);
  ~RunFolder();  // removes the staging folder, and the run folder if this run made it and
                 // published nothing
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& path() const { return path_; }
  // Where the staged file `name` lives (for writers that take a path, e.g. Google Benchmark's
  // --benchmark_out; the staging folder is this run's own, made with mode 0700).
  std::string staged_path(const std::string& name) const;
  const std::string& staging_path() const { return staging_; }
  bool created_folder() const { return created_; }

  // Creates the staged file `name` (O_CREAT|O_EXCL|O_NOFOLLOW: it must not exist) and returns
  // a path that reaches exactly that file for a writer that opens by path: /proc/self/fd/N of
  // the descriptor, kept open for the run (so a link planted under the name cannot redirect
  // the writer), or the staged path where /proc is absent. Throws std::runtime_error.
  std::string create_for_writer(const std::string& name);

  // Writes `content` to the staged file `name` (which must not exist yet) and syncs it.
  // Throws std::runtime_error on any failure, having removed the partial file.
  void stage(const std::string& name, const std::string& content);

  // Moves the staged files `names` into the run folder, all or none. REQUIRES: each is staged
  // and complete. Throws std::runtime_error (nothing published) on failure.
  void publish(const std::vector<std::string>& names);

  // What the exit handler does for the folder in use, if any: its staging removed, and the
  // folder itself where this run made it and published nothing. For a process that ends
  // without its exit handlers (a distributed run's abort).
  static void clean_up_at_exit();

 private:
  // Makes the run folder: `requested`, or a new one under cvpbench-runs.
  void create_folder(const std::optional<std::string>& requested);
  // Opens and locks the folder, refuses one that holds results, and makes the staging folder.
  void open_folder();
  void remove_staging() noexcept;

  std::string path_;
  std::vector<std::string> made_parents_;  // parents of path_ this run created, outermost first
  std::string staging_;
  std::string staging_name_;
  int folder_fd_ = -1;
  int staging_fd_ = -1;
  std::vector<int> writer_fds_;
  bool created_ = false;
  bool published_ = false;
};

// Reads a whole file through a descriptor opened without following a link at its last
// component. Returns nullopt when it cannot be opened or read.
std::optional<std::string> read_file_nofollow(const std::string& path);

}  // namespace cvp::bench

// Files of a run: a new folder per run, every file written whole or not at all.
#pragma once

#include <optional>
#include <string>

namespace cvp::bench {

// Chooses and creates the run's folder: `requested` if given (it must not already hold
// results), else a new cvpbench-runs/HOST-YYYYMMDD-HHMMSS. Checks it is writable.
// Throws UsageError naming the problem.
std::string prepare_run_folder(const std::optional<std::string>& requested);

// Writes `content` to `path` through a temporary file in the same folder, fsync and rename:
// readers see the old file or the new one, never half of one. Throws std::runtime_error.
void write_file_atomically(const std::string& path, const std::string& content);

// The temporary file write_file_atomically(path, ...) writes before renaming it to `path`.
std::string temporary_name_for(const std::string& path);

// Makes a finished temporary file visible under its final name (fsync, rename, fsync folder).
void publish_file(const std::string& temporary, const std::string& path);

}  // namespace cvp::bench

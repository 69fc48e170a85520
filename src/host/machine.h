// The machine context every result file carries, so a reader can reproduce the run.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "cvp/exec/topology.h"

namespace cvp::bench {

// cpu model, CPUs (logical, physical, allowed), SMT, caches, governor, compiler and flags,
// library versions, OS, host and date (UTC, ISO 8601).
nlohmann::json machine_context(const exec::Topology& topology);

// The host name, as a file-name-safe string (for the run folder).
std::string safe_host_name();

// UTC now as 2026-01-31T12:00:00Z.
std::string utc_timestamp();

// The commit the program was built from ("-dirty" with uncommitted changes, or "unknown").
const char* git_commit();

}  // namespace cvp::bench

#include "host/openmp.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace cvp::bench {

// OpenMP's binding variables make libgomp pin the main thread when it loads, before main():
// the process's allowed CPUs then read as one CPU for every backend. cvpbench pins each thread
// itself, so the variables are refused rather than measured wrong.
std::optional<std::string> openmp_binding_refusal() {
  for (const char* name : {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    std::string lower;
    for (const char* c = value; *c; ++c) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
    if (std::string(name) == "OMP_PROC_BIND" && lower == "false") continue;
    return std::string(name) + "=" + value +
           ": the OpenMP runtime pins the main thread when it loads, which hides the CPUs this "
           "process may use; cvpbench pins every thread itself, so unset OMP_PROC_BIND, "
           "OMP_PLACES and GOMP_CPU_AFFINITY (use --cpus or taskset to choose CPUs).";
  }
  return std::nullopt;
}

// OpenMP runtimes read OMP_WAIT_POLICY once, when they load. Their default lets a thread that
// finished its share spin at the barrier, which on one core steals time from the threads still
// working and would be charged to concurrency. So unless the user chose a policy, cvpbench
// restarts itself once with OMP_WAIT_POLICY=PASSIVE (recorded in the summary's config). It
// restarts with the process's own command line (/proc/self/cmdline), not `argv`: a program of
// the library may hand run_program() a part of its own.
void choose_openmp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> words;
  for (std::size_t at = 0; at < cmdline.size();) {
    const std::size_t end = cmdline.find('\0', at);
    words.push_back(cmdline.substr(at, end == std::string::npos ? std::string::npos : end - at));
    at = end == std::string::npos ? cmdline.size() : end + 1;
  }
  std::vector<char*> own;
  for (auto& w : words) own.push_back(w.data());
  own.push_back(nullptr);
  // Returns only on failure: run on with the default policy.
  ::execv("/proc/self/exe", words.empty() ? argv : own.data());
}

std::optional<std::string> invalid_omp_wait_policy() {
  const char* value = std::getenv("OMP_WAIT_POLICY");
  if (value == nullptr) return std::nullopt;
  std::string upper;
  for (const char* c = value; *c; ++c) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
  // OpenMP 5.2, section 21.2.4: ACTIVE or PASSIVE, case-insensitive.
  if (upper == "ACTIVE" || upper == "PASSIVE") return std::nullopt;
  return std::string(value);
}

std::string omp_wait_policy_in_force() {
  const char* value = std::getenv("OMP_WAIT_POLICY");
  if (value == nullptr) return "default";
  if (const auto invalid = invalid_omp_wait_policy()) {
    return "default (OMP_WAIT_POLICY=" + *invalid + " is not a valid policy and was ignored)";
  }
  return value;
}

}  // namespace cvp::bench

#include "cvp/exec/affinity.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>

#if !defined(CVP_NO_AFFINITY)
#include <pthread.h>
#include <sched.h>
#endif

namespace cvp::exec {

#if !defined(CVP_NO_AFFINITY)
namespace {

std::vector<int> from_set(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace

bool affinity_supported() { return true; }

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return {0};
  std::vector<int> cpus = from_set(set);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

bool pin_to_cpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

std::vector<int> thread_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return {};
  return from_set(set);
}

bool set_thread_affinity(const std::vector<int>& cpus) {
  if (cpus.empty()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  }
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

int current_cpu() { return sched_getcpu(); }

#else  // CVP_NO_AFFINITY: a platform without affinity calls.

bool affinity_supported() { return false; }

std::vector<int> allowed_cpus() {
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  std::vector<int> cpus(n);
  for (unsigned i = 0; i < n; ++i) cpus[i] = static_cast<int>(i);
  return cpus;
}

bool pin_to_cpu(int) { return false; }
std::vector<int> thread_affinity() { return {}; }
bool set_thread_affinity(const std::vector<int>&) { return false; }
int current_cpu() { return -1; }

#endif

ScopedAffinityRestore::ScopedAffinityRestore() : saved_(thread_affinity()) {}

ScopedAffinityRestore::~ScopedAffinityRestore() {
  if (!saved_.empty()) set_thread_affinity(saved_);
}

std::optional<std::vector<int>> parse_cpu_list(const char* text) {
  if (text == nullptr) return std::nullopt;
  std::vector<int> cpus;
  std::string s(text);
  // Trailing newline as in /sys files.
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) return cpus;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = std::min(s.find(',', pos), s.size());
    const std::string part = s.substr(pos, comma - pos);
    if (part.empty()) return std::nullopt;
    const std::size_t dash = part.find('-');
    auto to_int = [](const std::string& t) -> std::optional<int> {
      if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
      }
      return std::atoi(t.c_str());
    };
    if (dash == std::string::npos) {
      auto v = to_int(part);
      if (!v) return std::nullopt;
      cpus.push_back(*v);
    } else {
      auto lo = to_int(part.substr(0, dash));
      auto hi = to_int(part.substr(dash + 1));
      if (!lo || !hi || *lo > *hi) return std::nullopt;
      for (int c = *lo; c <= *hi; ++c) cpus.push_back(c);
    }
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string out;
  std::size_t i = 0;
  while (i < cpus.size()) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace cvp::exec

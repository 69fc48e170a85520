// What the OpenMP runtime is asked to do through the environment, checked before it matters:
// the runtime reads these variables once, when it loads.
#pragma once

#include <optional>
#include <string>

namespace cvp::bench {

// OMP_PROC_BIND, OMP_PLACES or GOMP_CPU_AFFINITY set to bind threads: the refusal to print
// (libgomp would pin the main thread when it loads, before main(), and the process's allowed
// CPUs would then read as one CPU for every backend); nullopt when none is set to bind.
std::optional<std::string> openmp_binding_refusal();

// Unless the user chose a policy, restarts the program (argv) with OMP_WAIT_POLICY=PASSIVE;
// returns only when it did not restart.
void choose_openmp_wait_policy(char** argv);

// OMP_WAIT_POLICY's value when it is set but is neither ACTIVE nor PASSIVE (the runtime then
// ignores it), else nullopt.
std::optional<std::string> invalid_omp_wait_policy();
// What the summary records as the policy in force.
std::string omp_wait_policy_in_force();

}  // namespace cvp::bench

// cvpbench: what concurrency and what parallelism each buy, measured on this machine, for the
// built-in workloads (workloads/builtin.h).
#include "builtin.h"
#include "cvp/cvpbench.h"

int main(int argc, char** argv) {
  return cvp::run_program(argc, argv, cvp::workloads::builtin());
}

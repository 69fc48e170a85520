// The FP64 FMA peak of the calling thread, with the widest vectors of the instruction set this
// process runs its kernels with (cvp::chosen_isa(): the CPU's widest, or CVPBENCH_KERNEL's),
// chosen when the program runs rather than when it was built.
#pragma once

namespace cvp::bench {

// FP64 FLOP/s of the calling thread: the 90th percentile of the rates of sub-millisecond rounds
// of an FMA loop with 12 independent vector accumulators, run for `seconds`. A peak is what the
// core does when nothing interrupts it: a round cut by an interrupt, another thread's time slice
// or a waking core is slower, never faster, so a high quantile finds the uninterrupted rounds
// (not the maximum: one mis-timed round).
double fma_flops(double seconds);

// The instruction set fma_flops uses, as the limits' method and cache key name it: "AVX-512",
// "AVX2" or "generic".
const char* fma_isa();

}  // namespace cvp::bench

// The distributed mode's runtime: starting MPI when an MPI launcher started the program, where
// each rank runs on which host, the commands rank 0 sends the other ranks, and the deadline on
// every wait. Rank 0 runs the program as it runs alone (plan, session, reports); every other rank
// follows its commands for the distributed points only (harness/distributed.h). Built without
// MPI, or started without a launcher, there is one rank and nothing here communicates.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cvp/exec/topology.h"

namespace cvp::dist {

// Whether the environment says an MPI launcher started this process (Open MPI's mpirun, MPICH's
// Hydra, PMIx, Slurm's PMI).
bool launched();

// Starts MPI when launched() and built with MPI (every rank, before the command line is read).
// Returns the sentence to print once when a launcher started a program built without MPI.
std::optional<std::string> start(int* argc, char*** argv);
// Ends MPI (every rank, once, after the last command). Nothing without MPI.
void finish();
// The round trips' own communicator (round_trips.cc), made by start() and freed by finish().
void open_round_trips();
void close_round_trips();
// Whether MPI was started here (more than one rank, or one rank under a launcher).
bool running();

// A flag that, once set (SIGINT, SIGTERM), ends a wait for another rank that has gone on 2 s
// since: an interrupted run stops at its next safe point (which the other ranks reach with it)
// and writes what it measured; a rank that does not answer then ends it at once, naming what it
// waited for, instead of waiting out the deadline.
void watch_interruptions(const std::atomic<bool>* flag);

// The deadline, in seconds, on every wait for another rank (--rank-timeout).
void set_timeout(double seconds);
double timeout();

// Prints `sentence` (prefixed "cvpbench: rank R (HOST): ") and ends every rank of the run with
// `code`: the launcher takes the others down. `on_abort` runs first (once): what the process
// must undo before it ends without its exit handlers (the run folder's staging).
[[noreturn]] void abort_run(const std::string& sentence, int code);
void set_on_abort(void (*on_abort)());

// Where the ranks run: this rank's place among the ranks on its host, every rank's host, and
// the MPI library.
struct Layout {
  int local_rank = 0;
  int local_size = 1;
  std::vector<std::string> hosts;  // by rank
  std::string library;             // MPI_Get_library_version's first line; "" without MPI
  std::string standard;            // "3.1"
};
const Layout& layout();

// What rank 0 asks of the other ranks.
enum class Op : int {
  prepare = 1,  // prepare the distributed point `name` (its team, its share of the inputs)
  resume,       // wake for the point `name`: its executions follow, wait for them busily
  warm_up,      // PreparedPoint::warm_up of the current point
  execute,      // PreparedPoint::execute
  verify,       // PreparedPoint::verify (the point gathers its result to rank 0)
  corrupt,      // PreparedPoint::corrupt
  idle,         // PreparedPoint::idle, then wait without using a CPU
  release,      // the point `name` is done: free it
  network,      // measure the network's limits together
  finish,       // the run is over
};
struct Command {
  Op op = Op::finish;
  std::string name;  // the point's name, for prepare, resume and release
};
// Rank 0: sends `command` to every other rank.
void post(const Command& command);
// Another rank: the next command. `awake`: wait busily (a point's executions follow), else
// sleeping between checks so that rank 0's other points have the CPUs.
Command next(bool awake);

// Every rank's outcome of the same step; on rank 0, the first failure as "rank R (HOST): why",
// or nullopt when every rank succeeded (other ranks get nullopt).
std::optional<std::string> agree(const std::optional<std::string>& mine);

// Every rank's `mine`, in rank order, on rank 0 (at most 1023 bytes each); other ranks get {}.
std::vector<std::string> gather_text(const std::string& mine);

// Whether every rank passed the same value (e.g. a hash of its command line).
bool same_everywhere(std::uint64_t value);

// The CPUs of rank `local_rank` of the `local_size` ranks on a host whose allowed CPUs are
// `topology`'s: the allowed cores in the order of their CPU numbers (the same order on every
// rank of the host, whatever the machine model ranked), split evenly among the host's ranks;
// one CPU per core, then their SMT siblings. A host with fewer cores than ranks gives each rank
// one core, shared round-robin.
std::vector<int> share_of_host(const exec::Topology& topology, int local_rank, int local_size);

// Rank 0 accumulates the seconds of communication; the distributed run reads them around
// an execution (cvp/dist.h's communication_seconds()).

}  // namespace cvp::dist

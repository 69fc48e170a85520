// The distributed mode's communication, for workloads: the ranks of a run started by an MPI
// launcher (`mpirun -np R cvpbench ...`), and the few collective operations a distributed
// point's execution needs, carried by MPI. A workload never includes MPI's header: the library
// links MPI where it was built with it, and without it (or without a launcher) there is one rank
// and every operation is the identity.
//
// Only the thread that calls Workload::prepare and PreparedPoint's methods (the program's main
// thread) may call these; a point's team of workers computes, the main thread communicates.
// Every wait has a deadline (--rank-timeout): a rank that does not take part ends the run with
// one sentence naming the rank and host that waited, and no file is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cvp::dist {

// Whether the library was built with MPI.
bool built_with_mpi();
// This process's rank and the number of ranks (0 and 1 when not started by a launcher).
int rank();
int ranks();
// The host this rank runs on.
std::string host();

// A set of ranks that communicate: the whole run, or a row or column of a process grid.
class Group {
 public:
  // Every rank of the run.
  static Group world();
  // The ranks of this group with the same `color`, ordered by `key` (then by rank); every rank
  // of the group must call it.
  Group split(int color, int key) const;

  int rank() const;
  int size() const;

  // `count` doubles from `root` to every rank of the group.
  void broadcast(double* data, std::size_t count, int root) const;
  // Element-wise sum over the group, in place, on every rank.
  void sum(double* data, std::size_t count) const;
  double sum(double value) const;
  double max(double value) const;
  // Every rank's `count` doubles, in rank order, on `root` (`all` holds size() x count there;
  // ignored elsewhere).
  void gather(const double* mine, std::size_t count, double* all, int root) const;
  void barrier() const;
  // Point to point, `count` doubles.
  void send(const double* data, std::size_t count, int to, int tag) const;
  void receive(double* data, std::size_t count, int from, int tag) const;

  struct Impl;
  explicit Group(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

// Round trips to backend ranks, for a point that rank 0 serves alone while every other rank is
// its backend (Point::with_ranks: the built-in requests' wait:mpi points). A request's wait is
// then a real message over MPI to a backend rank and its reply: the network's latency and the
// backend's time, as a client waits on a remote service.
//
// Rank 0, from any thread (a point's workers), while carry_round_trips() runs on the main
// thread: sends `value` for request `id` (unique among the round trips in flight) to rank `to`
// (1 .. ranks()-1) and returns at once; `done(reply)` is called once, on the main thread, when
// the reply is in. Throws std::logic_error outside carry_round_trips() or for a rank out of range.
using RoundTripDone = std::function<void(std::uint64_t reply)>;
void start_round_trip(int to, std::uint64_t id, std::uint64_t value, RoundTripDone done);
// Rank 0's main thread: runs `work` on a new thread while this one carries the round trips its
// threads start (MPI is called from the main thread only): it sleeps until a reply can be in
// (the oldest request's send plus 90% of the shortest round trip seen), then polls every 5% of
// that round trip but at least `poll_us` microseconds, backing off while none comes; then tells
// every backend rank that this execution is over. Rethrows what `work` threw.
void carry_round_trips(const std::function<void()>& work, double poll_us = 20);
// Every other rank, for the same execution: answers each of rank 0's round trips with
// answer(id, value), sent `hold_us` microseconds after the request came (the backend's service
// time; requests are held at once, not one after another), until rank 0 says the execution is
// over. Busy: the backend polls on its own CPUs.
using RoundTripAnswer = std::function<std::uint64_t(std::uint64_t id, std::uint64_t value)>;
void serve_round_trips(const RoundTripAnswer& answer, double hold_us);

// Seconds this process's main thread has spent inside the operations above (communication and
// waiting for the other ranks), since it started.
double communication_seconds();

}  // namespace cvp::dist

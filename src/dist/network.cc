#include "dist/network.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "cvp/dist.h"
#include "dist/runtime.h"

#ifdef CVP_HAVE_MPI
#include <mpi.h>
#endif

namespace cvp::dist {
namespace {

// What the MPI library was told to carry messages on, from its environment (Open MPI's MCA
// parameters, MPICH's netmod); the library's own choice otherwise.
std::string transport_in_words(bool one_host) {
  std::string chosen;
  for (const char* name : {"OMPI_MCA_btl", "OMPI_MCA_pml", "OMPI_MCA_mtl", "MPIR_CVAR_CH4_NETMOD",
                           "FI_PROVIDER", "UCX_TLS"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      chosen += (chosen.empty() ? "" : ", ") + std::string(name) + "=" + v;
    }
  }
  if (!chosen.empty()) return chosen;
  return one_host ? "the library's default on one host (shared memory)"
                  : "the library's default between hosts";
}

}  // namespace

#ifdef CVP_HAVE_MPI

NetworkLimits measure_network() {
  NetworkLimits n;
  if (!running() || ranks() < 2) return n;
  const Layout& l = layout();
  n.ranks = ranks();
  const bool one_host = l.hosts[0] == l.hosts[1];
  n.between = one_host ? "one host (" + l.hosts[0] + ")" : l.hosts[0] + " and " + l.hosts[1];
  n.transport = transport_in_words(one_host);
  const int me = rank();
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  // Latency: the best of 5 batches of 1000 round trips, after 100 to warm up.
  double byte8[1] = {0};
  double best_round = 1e30;
  for (int batch = 0; batch < 6; ++batch) {
    const int trips = batch == 0 ? 100 : 1000;
    MPI_Barrier(comm);
    const auto t0 = Clock::now();
    for (int i = 0; i < trips; ++i) {
      if (me == 0) {
        MPI_Send(byte8, 1, MPI_DOUBLE, 1, 1, comm);
        MPI_Recv(byte8, 1, MPI_DOUBLE, 1, 1, comm, MPI_STATUS_IGNORE);
      } else if (me == 1) {
        MPI_Recv(byte8, 1, MPI_DOUBLE, 0, 1, comm, MPI_STATUS_IGNORE);
        MPI_Send(byte8, 1, MPI_DOUBLE, 0, 1, comm);
      }
    }
    if (batch > 0) best_round = std::min(best_round, seconds(t0) / trips);
  }
  n.latency_us = best_round / 2 * 1e6;
  // Bandwidth: a window of 64 messages of 1 MiB, then a 1-double acknowledgement (as osu_bw);
  // the best of 5 windows after one to warm up.
  constexpr int kWindow = 64;
  constexpr std::size_t kDoubles = (1U << 20) / sizeof(double);
  std::vector<double> buffer(me <= 1 ? kDoubles * kWindow : 0, 1.0);
  std::vector<MPI_Request> requests(kWindow);
  double best_window = 1e30;
  for (int w = 0; w < 6; ++w) {
    MPI_Barrier(comm);
    const auto t0 = Clock::now();
    if (me == 0) {
      for (int i = 0; i < kWindow; ++i) {
        MPI_Isend(buffer.data() + i * kDoubles, kDoubles, MPI_DOUBLE, 1, 2, comm, &requests[i]);
      }
      MPI_Waitall(kWindow, requests.data(), MPI_STATUSES_IGNORE);
      MPI_Recv(byte8, 1, MPI_DOUBLE, 1, 3, comm, MPI_STATUS_IGNORE);
    } else if (me == 1) {
      for (int i = 0; i < kWindow; ++i) {
        MPI_Irecv(buffer.data() + i * kDoubles, kDoubles, MPI_DOUBLE, 0, 2, comm, &requests[i]);
      }
      MPI_Waitall(kWindow, requests.data(), MPI_STATUSES_IGNORE);
      MPI_Send(byte8, 1, MPI_DOUBLE, 0, 3, comm);
    }
    if (w > 0) best_window = std::min(best_window, seconds(t0));
  }
  n.bandwidth_message_bytes = static_cast<double>(kDoubles * sizeof(double));
  n.bandwidth_bytes_s = kWindow * n.bandwidth_message_bytes / best_window;
  // Allreduce of 8 bytes over every rank: the mean of 1000 after 100.
  double value = 1, sum = 0;
  for (int i = 0; i < 100; ++i) MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, comm);
  MPI_Barrier(comm);
  const auto t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, comm);
  n.allreduce_us = seconds(t0) / 1000 * 1e6;
  // Rank 0's figures are the run's.
  double figures[3] = {n.latency_us, n.bandwidth_bytes_s, n.allreduce_us};
  MPI_Bcast(figures, 3, MPI_DOUBLE, 0, comm);
  n.latency_us = figures[0];
  n.bandwidth_bytes_s = figures[1];
  n.allreduce_us = figures[2];
  MPI_Comm_free(&comm);
  n.measured = true;
  return n;
}

#else

NetworkLimits measure_network() { return {}; }

#endif

nlohmann::json to_json(const NetworkLimits& n) {
  if (!n.measured) return nullptr;
  return {{"latency_us", n.latency_us},
          {"bandwidth_bytes_per_s", n.bandwidth_bytes_s},
          {"bandwidth_message_bytes", n.bandwidth_message_bytes},
          {"allreduce_us", n.allreduce_us},
          {"ranks", n.ranks},
          {"between", n.between},
          {"transport", n.transport},
          {"method", "ping-pong of 8 bytes (half a round trip, best of 5 x 1000), a window of 64 "
                     "messages of 1 MiB then an acknowledgement (best of 5), and an 8-byte "
                     "allreduce over every rank (mean of 1000)"}};
}

}  // namespace cvp::dist

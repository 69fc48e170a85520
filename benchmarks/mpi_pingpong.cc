// cvpbench-mpi-pingpong: the network between two MPI ranks measured plainly, as the anchor for
// the figures cvpbench measures at the start of a distributed run (machine.limits.network).
// Written with blocking MPI_Send/MPI_Recv only, in the way of the OSU micro-benchmarks'
// osu_latency (half the round trip of a message, averaged over many) and a blocking ping-pong
// bandwidth (message size over half the round trip), for sizes from 8 bytes to 4 MiB:
//   mpirun -np 2 cvpbench-mpi-pingpong
// Rank 0 prints one line per size: bytes, one-way latency in microseconds, bandwidth in GB/s.
#include <mpi.h>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    if (rank == 0) std::fprintf(stderr, "cvpbench-mpi-pingpong: start it with mpirun -np 2\n");
    MPI_Finalize();
    return 2;
  }
  std::vector<char> buffer(4 << 20, 'x');
  if (rank == 0) std::printf("%10s %14s %10s\n", "bytes", "latency_us", "GB/s");
  for (int bytes = 8; bytes <= (4 << 20); bytes *= 4) {
    const int iterations = bytes <= 65536 ? 10000 : 200;
    const int warm_up = iterations / 10;
    double start = 0;
    for (int i = 0; i < warm_up + iterations; ++i) {
      if (i == warm_up) {
        MPI_Barrier(MPI_COMM_WORLD);
        start = MPI_Wtime();
      }
      if (rank == 0) {
        MPI_Send(buffer.data(), bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
        MPI_Recv(buffer.data(), bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else if (rank == 1) {
        MPI_Recv(buffer.data(), bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buffer.data(), bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
      }
    }
    const double one_way_s = (MPI_Wtime() - start) / iterations / 2;
    if (rank == 0) std::printf("%10d %14.2f %10.2f\n", bytes, one_way_s * 1e6, bytes / one_way_s / 1e9);
  }
  MPI_Finalize();
  return 0;
}

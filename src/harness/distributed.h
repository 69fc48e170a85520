// The distributed mode in the harness: on rank 0 a distributed point's prepared run tells every
// other rank to take the same step (prepare, wake, execute, verify, idle, release), and every
// other rank follows those commands until rank 0 says the run is over. Rank 0 alone plans the
// session, measures, writes and prints (dist/runtime.h carries the commands).
#pragma once

#include <memory>
#include <vector>

#include "cvp/workload.h"

namespace cvp::bench {

// Rank 0: `workload`'s prepared run of the distributed point `point`, prepared on every rank;
// throws std::runtime_error with the first rank's reason when any rank could not prepare it.
// A distributed point's executions report the main thread's communication seconds as the value
// "communication_s" (a point served with the other ranks as its backend, Point::with_ranks,
// measures its waits instead).
std::unique_ptr<PreparedPoint> prepare_distributed(Workload& workload, const Point& point,
                                                   exec::Sightings& sightings, StopToken stop);

// Every rank but 0: prepares and runs the distributed points of `points` as rank 0 asks, until
// it says the run is over. Returns the exit code.
int follow_rank_zero(const std::vector<Workload*>& workloads, const std::vector<Point>& points);

// The name of the value a distributed point's executions report their communication time in.
inline constexpr const char* kCommunicationValue = "communication_s";

}  // namespace cvp::bench

// The network between the ranks as a measured limit, at the start of a distributed run, the way
// the OSU micro-benchmarks measure it: ping-pong latency (half a round trip of 8 bytes) and
// bandwidth (a window of large non-blocking sends, then an acknowledgement) between ranks 0 and
// 1, and the latency of an 8-byte allreduce over every rank.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace cvp::dist {

struct NetworkLimits {
  bool measured = false;
  double latency_us = 0;            // one way, 8 bytes, rank 0 <-> rank 1
  double bandwidth_bytes_s = 0;     // rank 0 -> rank 1, messages of bandwidth_message_bytes
  double bandwidth_message_bytes = 0;
  double allreduce_us = 0;          // 8 bytes over every rank
  int ranks = 1;
  std::string between;              // "host-a and host-b", or "one host (host-a)"
  std::string transport;            // what the environment chose, in words
};

// Every rank calls it at once (rank 0 after posting Op::network). One rank: not measured.
NetworkLimits measure_network();

nlohmann::json to_json(const NetworkLimits& limits);

}  // namespace cvp::dist

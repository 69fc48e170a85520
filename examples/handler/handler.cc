// An I/O-bound request handler of your own, measured by cvpbench: an order service. Each
// request is a small form text, "user=u42&item=1234&qty=3&coupon=SPRING"; handling it is
//   before the wait: parse the key=value pairs and sign the order (a few thousand rounds of a
//                    hash, as a token signature or a password stretch would cost),
//   the wait:        the database lookup the handler cannot compute through (1 ms by default;
//                    cvpbench makes it a blocking sleep or an event-loop timer),
//   after the wait:  format the response text, whose hash is the fingerprint cvpbench compares
//                    with the serial handling's.
// Like any I/O-bound code, it gains from concurrency on one core up to about (c' + w) / c'
// (the wait over the CPU per request), and from parallelism only once one core is busy.
//
//   handler_bench --quick                  # serial, K = 8 and 64 in flight on one core and on
//                                          # all cores, threads and event loops
//   handler_bench --orders-in-flight 16,256 --orders-w-us 2000 --backend eventloop
//   handler_bench --orders-wait exponential --out runs/orders
#include <cvp/cvpbench.h>

#include "common/hash.h"

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::uint64_t kSignRounds = 4096;

using examples::fnv1a;
using examples::mix;

std::uint64_t number(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

class Orders final : public cvp::exec::RequestHandler {
 public:
  // The request texts, made here: outside every clock.
  explicit Orders(std::size_t requests) : texts_(requests), orders_(requests) {
    static constexpr const char* kCoupons[] = {"NONE", "SPRING", "LOYAL", "BULK"};
    for (std::size_t id = 0; id < requests; ++id) {
      const std::uint64_t r = mix(id + 1);
      texts_[id] = "user=u" + std::to_string(r % 5000) + "&item=" + std::to_string(r / 7 % 100000) +
                   "&qty=" + std::to_string(1 + r / 11 % 9) + "&coupon=" + kCoupons[r / 13 % 4];
    }
  }

  // Parse and sign, into this id's own slot (another worker may be on another id meanwhile).
  void before_wait(std::size_t id) override {
    Order& order = orders_[id];
    std::string_view rest = texts_[id];
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      const std::size_t eq = pair.find('=');
      const std::string_view key = pair.substr(0, eq);
      const std::string_view value = pair.substr(eq + 1);
      if (key == "user") order.user = value;
      if (key == "item") order.item = number(value);
      if (key == "qty") order.qty = number(value);
      if (key == "coupon") order.discount = value == "NONE" ? 0 : value == "BULK" ? 15 : 5;
    }
    std::uint64_t h = fnv1a(texts_[id]);
    for (std::uint64_t round = 0; round < kSignRounds; ++round) h = mix(h ^ round);
    order.signature = h;
  }

  // Format the response; its hash is the fingerprint (never 0).
  std::uint64_t after_wait(std::size_t id) override {
    const Order& order = orders_[id];
    const std::uint64_t cents = (order.item % 997 + 100) * order.qty * (100 - order.discount);
    std::string response = "order=" + std::to_string(id) + " user=" + order.user +
                           " total=" + std::to_string(cents / 100) + (cents % 100 < 10 ? ".0" : ".") +
                           std::to_string(cents % 100) + " sig=";
    char hex[17];
    std::to_chars(hex, hex + 16, order.signature | (1ull << 60), 16);
    response.append(hex, 16);
    return fnv1a(response) | 1;
  }

 private:
  struct Order {
    std::string user;
    std::uint64_t item = 0, qty = 0, discount = 0, signature = 0;
  };
  std::vector<std::string> texts_;
  std::vector<Order> orders_;  // one per id: what a request carries across its wait
};

}  // namespace

int main(int argc, char** argv) {
  cvp::RequestWorkload::Spec spec;
  spec.name = "orders";
  spec.description = "an order service: parse a form, sign it (4096 hash rounds), wait on the "
                     "database, format the response";
  spec.wait_us = 1000;      // --orders-w-us
  spec.in_flight = {8, 64};  // --orders-in-flight
  spec.cpu_us = 20;         // about what parse + sign + format cost; it only sizes the runs
  spec.make = [](std::size_t requests) { return std::make_unique<Orders>(requests); };

  std::vector<std::unique_ptr<cvp::Workload>> workloads;
  workloads.push_back(std::make_unique<cvp::RequestWorkload>(spec));
  return cvp::run_program(argc, argv, std::move(workloads));
}

// A request handler that talks to a real server, measured by cvpbench: a client of a lookup
// service. The program starts the service itself, a TCP server on the loopback address (Asio,
// one thread of its own) that answers each line after --echo-delay-us, as a service that looks
// the key up elsewhere would. Each request is
//   before the wait: make the lookup line and sign it (a few hundred rounds of a hash),
//   the wait:        the handler's own, asynchronous (Spec::wait = async): send the line on an
//                    open connection and read the answer, each an Asio operation on the
//                    io_context cvpbench gives it (the event loop's own, or the worker
//                    thread's), which also keeps that context's open connections,
//   after the wait:  check the answer and hash it into the fingerprint cvpbench compares with
//                    the serial handling's (which talked to the server too).
// cvpbench measures each round trip as the request's wait and bounds the speedup by it: many
// lookups in flight on one core overlap their waits, on threads and on the event loop alike,
// up to what the CPU per request allows.
//
//   echo_bench --quick
//   echo_bench --echo-in-flight 8,64,256 --echo-delay-us 2000 --backend eventloop
#include <cvp/cvpbench.h>

#include "common/hash.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio.hpp>

namespace {

using asio::ip::tcp;

constexpr std::uint64_t kSignRounds = 256;

using examples::fnv1a;
using examples::mix;

// The service: answers each line it reads with the same line, `delay` later. One thread, its
// own io_context, every connection a coroutine; stopped and joined when the program ends.
class EchoServer {
 public:
  explicit EchoServer(std::chrono::microseconds delay)
      : delay_(delay), acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    acceptor_.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~EchoServer() {
    io_.stop();
    thread_.join();
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(io_, answer(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> answer(tcp::socket socket) {
    std::string buffer;
    asio::steady_timer timer(io_);
    try {
      for (;;) {
        const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n',
                                                              asio::use_awaitable);
        timer.expires_after(delay_);
        co_await timer.async_wait(asio::use_awaitable);
        co_await asio::async_write(socket, asio::buffer(buffer.data(), n), asio::use_awaitable);
        buffer.erase(0, n);
      }
    } catch (const std::exception&) {
      // The client closed the connection: this one is over.
    }
  }

  std::chrono::microseconds delay_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// The open connections to the service that no request is using, per io_context: an Asio
// service of that context, so that they close when it ends (a worker thread's context ends
// with its thread). Used only by the thread that runs the context: no lock.
class IdleConnections final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit IdleConnections(asio::execution_context& context) : service(context) {}
  std::vector<std::unique_ptr<tcp::socket>> sockets;

 private:
  void shutdown() override { sockets.clear(); }
};
asio::execution_context::id IdleConnections::id;

class LookupClient final : public cvp::exec::RequestHandler {
 public:
  LookupClient(std::size_t requests, tcp::endpoint server)
      : server_(server), lines_(requests), answers_(requests) {}

  // The lookup line, signed, into this id's own slot.
  void before_wait(std::size_t id) override {
    std::uint64_t h = mix(id + 1);
    for (std::uint64_t round = 0; round < kSignRounds; ++round) h = mix(h ^ round);
    lines_[id] = "lookup key=" + std::to_string(id) + " sig=" + std::to_string(h) + "\n";
  }

  // The handler's own wait: send the line on an open connection of this context (connecting a
  // new one when none is idle) and read the answer, every step an operation on `io`; done()
  // when the answer is in, or with what failed.
  void async_wait(std::size_t id, asio::io_context& io, WaitDone done) override {
    auto& idle = asio::use_service<IdleConnections>(io).sockets;
    auto call = std::make_shared<Call>(io, std::move(done));
    if (!idle.empty()) {
      call->socket = std::move(idle.back());
      idle.pop_back();
      ask(id, call);
      return;
    }
    call->socket = std::make_unique<tcp::socket>(io);
    call->socket->async_connect(server_, [this, id, call](const asio::error_code& connected) {
      if (connected) return call->fail("connect", connected);
      ask(id, call);
    });
  }

  // The answer, checked: the service echoes the line, so any other answer is a wrong response
  // (its fingerprint differs from the serial handling's).
  std::uint64_t after_wait(std::size_t id) override {
    const std::string answer = std::move(answers_[id]);
    answers_[id].clear();
    return fnv1a(answer == lines_[id] ? "ok " + answer : "wrong " + answer) | 1;
  }

 private:
  // One request's connection and its completion.
  struct Call {
    Call(asio::io_context& context, WaitDone d) : io(context), done(std::move(d)) {}
    void fail(const char* step, const asio::error_code& error) {
      done(std::make_exception_ptr(std::runtime_error(std::string("lookup service: ") + step + ": " + error.message())));
    }
    asio::io_context& io;
    std::unique_ptr<tcp::socket> socket;
    WaitDone done;
  };

  // Sends request `id`'s line and reads its answer; the connection goes back to the idle ones.
  void ask(std::size_t id, const std::shared_ptr<Call>& call) {
    asio::async_write(*call->socket, asio::buffer(lines_[id]), [this, id, call](const asio::error_code& sent, std::size_t) {
      if (sent) return call->fail("send", sent);
      asio::async_read_until(*call->socket, asio::dynamic_buffer(answers_[id]), '\n',
                             [call](const asio::error_code& read, std::size_t) {
                               if (read) return call->fail("read", read);
                               asio::use_service<IdleConnections>(call->io).sockets.push_back(std::move(call->socket));
                               call->done(nullptr);
                             });
    });
  }

  tcp::endpoint server_;
  std::vector<std::string> lines_, answers_;  // one per id
};

// The lookup service as the workload knows it: its delay (--echo-delay-us), and the server,
// started with the first handler, which every handler made after it talks to.
struct LookupService {
  double delay_us = 1000;
  std::unique_ptr<EchoServer> server;
  tcp::endpoint endpoint() {
    if (!server) server = std::make_unique<EchoServer>(std::chrono::microseconds(static_cast<long>(delay_us)));
    return server->endpoint();
  }
};

// The lookup workload: a RequestWorkload with one flag of its own, the service's delay.
class LookupWorkload final : public cvp::RequestWorkload {
 public:
  LookupWorkload(Spec spec, std::shared_ptr<LookupService> service)
      : RequestWorkload(std::move(spec)), service_(std::move(service)) {}
  void add_options(cvp::Flags& flags) override {
    RequestWorkload::add_options(flags);
    flags.real("--echo-delay-us", &service_->delay_us,
               "echo: how long the lookup service takes to answer, microseconds (default 1000)",
               [](double us) -> std::optional<std::string> {
                 if (!(us >= 0 && us <= 1e6)) return "the delay must be from 0 to 1000000 us.";
                 return std::nullopt;
               });
  }

 private:
  std::shared_ptr<LookupService> service_;
};

}  // namespace

int main(int argc, char** argv) {
  cvp::RequestWorkload::Spec spec;
  spec.name = "echo";
  spec.description = "a lookup service's client: sign a line, send it over TCP to a local service "
                     "that answers after --echo-delay-us, check the answer";
  spec.wait = cvp::exec::WaitOwner::async;  // the handler's own async_wait(), on both backends
  spec.waits_on = "lookup-service";
  spec.wait_us = 1100;        // about one round trip; it only sizes the runs
  spec.in_flight = {8, 64};   // --echo-in-flight
  spec.cpu_us = 40;           // about what sign + connect + send + read cost; it only sizes the runs
  auto service = std::make_shared<LookupService>();
  spec.make = [service](std::size_t requests) {
    return std::make_unique<LookupClient>(requests, service->endpoint());
  };

  std::vector<std::unique_ptr<cvp::Workload>> workloads;
  workloads.push_back(std::make_unique<LookupWorkload>(spec, service));
  return cvp::run_program(argc, argv, std::move(workloads));
}

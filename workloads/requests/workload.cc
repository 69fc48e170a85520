// requests as a Workload. A point is a run of N requests, K in flight, each doing c us of CPU
// work around a wait of w us. It is a cvp::RequestWorkload (include/cvp/cvpbench.h) over the
// simulated handler (handler.h): the same engine, runs, checks, bound and verdict wording as a
// user's request workload, with a plan of its own that also sweeps c (the crossover sweep).
#include "cvp/cvpbench.h"
#include "cvp/dist.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "requests/handler.h"
#include "requests/requests.h"

namespace cvp::workloads {
namespace {

constexpr double kMaxMicros = 10'000'000;  // 10 s per request step
constexpr long long kMaxInFlight = 100000;

RequestWorkload::Spec requests_spec() {
  RequestWorkload::Spec s;
  s.name = "requests";
  s.description =
      "simulated request handling: parse a JSON request, c us of CPU work, a wait of w us on a "
      "backend, a JSON response";
  s.flag_prefix = "--";
  s.in_flight = {8, 64, 512};
  // Never called: make_handler() below makes the handler of each point's c.
  s.make = [](std::size_t) -> std::unique_ptr<exec::RequestHandler> { return nullptr; };
  return s;
}

// Its points' params: a request workload's, and the CPU work per request and whether the point is
// of the crossover sweep.
struct RequestsParams final : RequestWorkload::Params {
  RequestsParams(double cpu_us, double wait_us, exec::WaitDistribution wait_distribution,
                 bool in_crossover)
      : Params(wait_us, wait_distribution), c_us(cpu_us), crossover(in_crossover) {}
  // The wait:mpi points: each wait a round trip over MPI to one of `backend_ranks` ranks, which
  // holds the request `hold` microseconds (w sizes the runs only).
  RequestsParams(double cpu_us, double hold, int backend_ranks)
      : Params(exec::WaitOwner::async, "mpi"), c_us(cpu_us), crossover(false), hold_us(hold),
        backends(backend_ranks) {
    w_us = hold;
    shared_wait = false;  // the backend holds every request at once
  }
  nlohmann::json to_json(const Point& point) const override {
    nlohmann::json j = Params::to_json(point);
    j["c_us"] = c_us;
    j["crossover"] = crossover;
    if (backends > 0) {
      j["hold_us"] = hold_us;
      j["backend_ranks"] = backends;
    }
    return j;
  }
  double c_us;
  bool crossover;
  double hold_us = 0;
  int backends = 0;  // 0: the engine's waits
};

// A backend rank's side of a wait:mpi point: each execution answers rank 0's round trips,
// each after the point's hold, until rank 0 says it is over.
class BackendRun final : public PreparedPoint {
 public:
  explicit BackendRun(double hold_us) : hold_us_(hold_us) {}
  void warm_up() override {}
  Execution execute() override {
    dist::serve_round_trips(requests::backend_answer, hold_us_);
    return {};
  }
  std::optional<std::string> verify() override { return std::nullopt; }  // rank 0 checks
  void corrupt() override {}

 private:
  double hold_us_;
};

class Requests final : public RequestWorkload {
 public:
  Requests() : RequestWorkload(requests_spec()) {}

  void add_options(Flags& flags) override {
    flags.reals("--c-us", &c_us_, "I/O workload: CPU microseconds per request (default 50)",
                [](double v) -> std::optional<std::string> {
                  if (v <= 0 || v > kMaxMicros) {
                    return "CPU per request must be > 0 and at most 10 s (10000000 us).";
                  }
                  return std::nullopt;
                });
    flags.real("--w-us", &w_us_, "I/O workload: wait microseconds per request (default 1000)",
               check_wait_us);
    flags.integers("--in-flight", &in_flight_,
                   "I/O workload: requests in flight K (default 8,64,512; the serial baseline is "
                   "K = 1)",
                   check_in_flight);
    flags.integer("--requests", &requests_,
                  "I/O workload: requests per run (default: sized to about 0.15 s per run, 0.04 s "
                  "quick)",
                  check_requests);
    flags.choice("--wait", &wait_, {"fixed", "exponential"},
                 "I/O workload: wait distribution, fixed or exponential (mean w); default fixed");
    flags.integer("--crossover-k", &crossover_k_,
                  "I/O workload: requests in flight for the crossover sweep (default 64)",
                  [](long long v) -> std::optional<std::string> {
                    if (v < 1 || v > kMaxInFlight) {
                      return "must be between 1 and " + std::to_string(kMaxInFlight) + ".";
                    }
                    return std::nullopt;
                  });
    flags.toggle("--no-crossover", &no_crossover_, "Skip the I/O crossover sweep over c");
    flags.toggle("--no-mpi-wait", &no_mpi_wait_,
                 "Under mpirun: skip the requests whose wait is a round trip over MPI to a backend "
                 "rank (group requests/.../wait:mpi)");
  }

  std::vector<Point> plan(const PlanContext& context) override {
    // Per request: its text, its parsed slot, its response's fingerprint, the serial
    // reference's, and its latency (kept per run and for the summary).
    if (requests_ > 0) {
      // Weak scaling grows a parallel or distributed run's requests with its cores (every
      // rank's).
      const long long grown = context.scaling() == Scaling::strong
                                  ? 1
                                  : static_cast<long long>(context.cores()) * std::max(1, dist::ranks());
      check_memory("--requests " + std::to_string(requests_) +
                       (grown > 1 ? " (x" + std::to_string(grown) + " where --scaling weak grows a run)" : ""),
                   requests_ * grown,
                   48.0 + static_cast<double>(requests::make_request(0, 1).size()) +
                       static_cast<double>(sizeof(requests::Prepared)) + 4 * 8.0,
                   context.memory_bytes());
    }
    const bool threads = context.wants(Backend::threads);
    const bool loop = context.wants(Backend::eventloop);
    if (!threads && !loop) return {};
    const std::vector<double> c_main = c_us_.empty() ? std::vector<double>{50} : c_us_;
    std::vector<int> k_main;
    if (in_flight_.empty()) {
      for (long long k : spec().in_flight) k_main.push_back(static_cast<int>(k));
    } else {
      for (long long k : in_flight_) k_main.push_back(static_cast<int>(k));
      std::sort(k_main.begin(), k_main.end());
    }
    struct Sweep {
      double c;
      std::vector<int> ks;
      bool crossover;
    };
    std::vector<Sweep> sweeps;
    for (double c : c_main) sweeps.push_back({c, k_main, false});
    if (!no_crossover_) {
      const std::vector<double> fractions =
          context.quick() ? std::vector<double>{0.01, 0.1, 0.5, 2.0}
                          : std::vector<double>{0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0};
      for (double f : fractions) {
        sweeps.push_back({std::max(1.0, std::round(w_us_ * f)), {static_cast<int>(crossover_k_)}, true});
      }
    }
    std::vector<Point> points;
    const std::optional<std::size_t> fixed_requests =
        requests_ > 0 ? std::optional<std::size_t>(requests_) : std::nullopt;
    for (const auto& sweep : sweeps) {
      Point base;
      const bool exponential = wait_ == "exponential";
      base.group = "requests/c_us:" + micros(sweep.c) + "/w_us:" + micros(w_us_) +
                   (exponential ? "/wait:exp" : "");
      base.params = std::make_shared<RequestsParams>(
          sweep.c, w_us_,
          exponential ? exec::WaitDistribution::exponential : exec::WaitDistribution::fixed,
          sweep.crossover);
      base.headline = !sweep.crossover;
      const auto origin = [&](int k) {
        return sweep.crossover ? "--crossover-k " + std::to_string(k)
                               : (in_flight_.empty() ? "the default --in-flight " : "--in-flight ") +
                                     std::to_string(k);
      };
      add_sweep(context, base, sweep.ks, origin, fixed_requests, sweep.c, points);
    }
    if (dist::ranks() > 1 && !no_mpi_wait_) add_round_trips(context, c_main, k_main, fixed_requests, points);
    return points;
  }

  // Under mpirun: for each c, the requests whose wait is a round trip over MPI to a backend rank
  // that holds each request w: served by rank 0 on its share of its host's cores (serial, K in
  // flight on one core and on several), every other rank a backend on its own share.
  void add_round_trips(const PlanContext& context, const std::vector<double>& cs, const std::vector<int>& ks,
                       std::optional<std::size_t> fixed_requests, std::vector<Point>& points) {
    for (const double c : cs) {
      Point base;
      base.group = "requests/c_us:" + micros(c) + "/w_us:" + micros(w_us_) + "/wait:mpi";
      base.params = std::make_shared<RequestsParams>(c, w_us_, dist::ranks() - 1);
      std::vector<Point> sweep;
      const auto origin = [&](int k) {
        return (in_flight_.empty() ? "the default --in-flight " : "--in-flight ") + std::to_string(k);
      };
      add_sweep(context, base, ks, origin, fixed_requests, c, sweep);
      for (Point& p : sweep) {
        if (auto served = context.served_with_ranks(std::move(p))) points.push_back(std::move(*served));
      }
    }
  }

  // A backend rank prepares the answering side of a wait:mpi point; rank 0 its requests.
  std::unique_ptr<PreparedPoint> prepare(const Point& point, exec::Sightings& sightings,
                                         StopToken stop) override {
    if (point.with_ranks && dist::rank() != 0) {
      return std::make_unique<BackendRun>(point.params_as<RequestsParams>().hold_us);
    }
    return RequestWorkload::prepare(point, sightings, stop);
  }

  void set_up() override { requests::calibrate(); }

  // "requests c=50us w=1ms", the head of each group's verdict.
  std::string group_title(const Point& point) const override {
    const auto& params = point.params_as<RequestsParams>();
    if (params.backends > 0) {
      return "requests c=" + micros_text(params.c_us) + " over MPI (backend hold " +
             micros_text(params.hold_us) + ")";
    }
    return "requests c=" + micros_text(params.c_us) + " w=" + micros_text(params.w_us);
  }

  std::vector<std::string> verdicts(const VerdictContext& context) const override {
    std::vector<std::string> lines = headline_verdicts(context);
    const int cores = context.allowed_cores;

    // The crossover sweep: where one core's concurrency stops keeping up and parallelism helps.
    std::map<double, std::pair<const Row*, const Row*>> sweep;
    double w = 0;
    int k = 0;
    for (const Row* r : context.rows) {
      const Point& p = *r->point;
      if (!r->ok || p.headline || p.backend != Backend::eventloop) continue;
      const auto& params = p.params_as<RequestsParams>();
      w = params.w_us;
      k = p.in_flight;
      auto& slot = sweep[params.c_us];
      (p.mode == Mode::concurrent ? slot.first : slot.second) = r;
    }
    if (!sweep.empty() && cores > 1) {
      std::ostringstream line;
      line << "requests crossover w=" << micros_text(w) << " K=" << k << ":";
      double crossover_c = -1;
      for (const auto& [c, pair] : sweep) {
        if (pair.first && pair.second && pair.second->speedup > 1.2 * pair.first->speedup) {
          crossover_c = c;
          break;
        }
      }
      if (crossover_c > 0) {
        const auto& pair = sweep[crossover_c];
        line << " concurrency on 1 core keeps up until c=" << micros_text(crossover_c)
             << " (CPU share " << fixed(100 * crossover_c / (crossover_c + w), 1)
             << "%), where parallelism takes over (" << speedup_text(pair.second->speedup)
             << " vs " << speedup_text(pair.first->speedup) << ")";
      } else {
        line << " concurrency on 1 core keeps up with parallelism over the whole sweep";
      }
      lines.push_back(line.str());
    }
    return lines;
  }

 protected:
  // The simulated handler at the point's c, its request texts made from seed 1, and its CPU
  // work in rounds of the hash calibrated in set_up().
  std::unique_ptr<exec::RequestHandler> make_handler(const Point& point,
                                                   std::size_t requests) override {
    const auto& params = point.params_as<RequestsParams>();
    if (params.backends > 0) {
      return std::make_unique<requests::RoundTripHandler>(requests, /*seed=*/1, requests::rounds_for(params.c_us),
                                                          params.backends, /*local=*/false);
    }
    return std::make_unique<requests::Handler>(requests, /*seed=*/1, requests::rounds_for(params.c_us));
  }
  // The wait:mpi points' reference computes the backend's answers itself.
  std::unique_ptr<exec::RequestHandler> make_reference_handler(const Point& point,
                                                             std::size_t requests) override {
    const auto& params = point.params_as<RequestsParams>();
    if (params.backends == 0) return make_handler(point, requests);
    return std::make_unique<requests::RoundTripHandler>(requests, /*seed=*/1, requests::rounds_for(params.c_us),
                                                        params.backends, /*local=*/true);
  }

 private:
  std::vector<double> c_us_;
  double w_us_ = 1000;
  std::vector<long long> in_flight_;
  long long requests_ = 0;
  std::string wait_ = "fixed";
  long long crossover_k_ = 64;
  bool no_crossover_ = false;
  bool no_mpi_wait_ = false;
};

}  // namespace

std::unique_ptr<Workload> make_requests() { return std::make_unique<Requests>(); }

}  // namespace cvp::workloads

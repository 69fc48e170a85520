// requests as a Workload. A point is a run of N requests, K in flight, each doing c us of CPU
// work around a wait of w us; the run starts and joins its own team, so it is timed by its own
// clock (Timing::manual). Every response is checked against the serial handling's, outside the
// clock. The bound comes from the point's own measured CPU per request.
#include "cvp/workload.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "requests/request_runner.h"
#include "requests/requests.h"

namespace cvp::workloads {
namespace {

constexpr double kMaxMicros = 10'000'000;  // 10 s per request step
constexpr long long kMaxInFlight = 100000;

std::string micros(double us) {
  std::ostringstream out;
  out << us;  // shortest natural form: 50, 12.5
  return out.str();
}

std::string micros_text(double us) {
  if (us >= 1000 && std::fmod(us, 1000) == 0) return fixed(us / 1000, 0) + "ms";
  return micros(us) + "us";
}

std::size_t auto_requests(double c_us, double w_us, int in_flight, int cores, bool quick) {
  const double target_s = quick ? 0.08 : 0.3;
  const double per_request_s = (c_us + w_us) * 1e-6;
  const double concurrency =
      std::min(static_cast<double>(in_flight),
               static_cast<double>(cores) * (c_us + w_us) / std::max(c_us, 1e-3));
  const double estimate = target_s * concurrency / per_request_s;
  const double lower = std::max(quick ? 60.0 : 100.0, 2.0 * in_flight);
  const double upper = std::max(lower, 20000.0);
  return static_cast<std::size_t>(std::clamp(estimate, lower, upper));
}

io::RequestConfig config_of(const Point& p) {
  io::RequestConfig c;
  c.c_us = p.params.at("c_us").get<double>();
  c.w_us = p.params.at("w_us").get<double>();
  c.distribution = p.params.at("distribution") == "exponential" ? io::WaitDistribution::exponential
                                                                 : io::WaitDistribution::fixed;
  c.requests = p.params.at("requests").get<std::size_t>();
  c.in_flight = p.in_flight;
  return c;
}

class RequestsRun final : public Run {
 public:
  RequestsRun(io::RequestConfig config, const std::vector<std::uint64_t>& reference,
              const Point& point, exec::Sightings& sightings)
      : config_(config), reference_(reference), point_(point), sightings_(sightings) {
    config_.recheck = 0;  // every response is checked against the reference in verify()
    config_.stop = &interrupt_requested();
  }

  void warm_up() override {}  // each run starts its own team: there is nothing to warm

  Execution execute() override {
    io::RequestRun run = io::run_requests(config_, point_.backend, point_.cpus, sightings_);
    Execution e;
    e.wall_s = run.wall_s;
    e.stopped = run.stopped;
    e.latencies_us = std::move(run.latencies_us);
    e.values["c_measured_us"] = run.cpu_us_per_request;
    e.values["wait_overshoot_us"] = run.wait_overshoot_us;
    last_ = std::move(run);
    return e;
  }

  // Every response against the serial handling's, plus the duplicates and wrong ids the run
  // itself counted (its count of missing responses is part of the comparison).
  std::string verify() override {
    const auto& f = last_.fingerprints;
    const std::size_t missing =
        static_cast<std::size_t>(std::count(f.begin(), f.end(), std::uint64_t{0}));
    const std::size_t in_run = last_.errors >= missing ? last_.errors - missing : last_.errors;
    wrong_ = in_run + io::count_mismatches(f, reference_);
    if (wrong_ == 0) return "";
    return std::to_string(wrong_) + " of " + std::to_string(config_.requests) +
           " responses differ from the serial handling's (wrong, missing or duplicated)";
  }

  void corrupt() override {
    auto& f = last_.fingerprints;
    if (!f.empty()) f[f.size() / 2] ^= 0x100;
  }

  std::size_t wrong_items() const override { return wrong_; }

 private:
  io::RequestConfig config_;
  const std::vector<std::uint64_t>& reference_;
  const Point& point_;
  exec::Sightings& sightings_;
  io::RequestRun last_;
  std::size_t wrong_ = 0;
};

class Requests final : public Workload {
 public:
  std::string name() const override { return "requests"; }
  Kind kind() const override { return Kind::io; }
  WorkUnit unit() const override { return {"requests", "requests/s", 1}; }
  std::string description() const override {
    return "simulated request handling: parse a JSON request, c us of CPU work, a wait of w us "
           "on a backend, a JSON response";
  }
  std::vector<Backend> backends() const override { return {Backend::threads, Backend::eventloop}; }
  Timing timing() const override { return Timing::manual; }

  void add_options(Flags& flags) override {
    flags.reals("--c-us", &c_us_, "I/O workload: CPU microseconds per request (default 50)",
                [](double v) {
                  return v <= 0 || v > kMaxMicros
                             ? std::string("CPU per request must be > 0 and at most 10 s (10000000 us).")
                             : "";
                });
    flags.real("--w-us", &w_us_, "I/O workload: wait microseconds per request (default 1000)",
               [](double v) {
                 return v < 0 || v > kMaxMicros
                            ? std::string("the wait must be >= 0 and at most 10 s (10000000 us).")
                            : "";
               });
    flags.integers("--in-flight", &in_flight_,
                   "I/O workload: requests in flight K (default 8,64,512; the serial baseline is "
                   "K = 1)",
                   [](long long v) {
                     if (v < 1) return std::string("requests in flight must be at least 1.");
                     if (v > kMaxInFlight) {
                       return "at most " + std::to_string(kMaxInFlight) +
                              " requests in flight are supported.";
                     }
                     return std::string();
                   });
    flags.integer("--requests", &requests_,
                  "I/O workload: requests per run (default: sized to about 0.3 s per run, 0.08 s "
                  "quick)",
                  [](long long v) {
                    if (v < 1) return std::string("at least one request is needed.");
                    if (v > 100'000'000) return std::string("at most 100000000 requests per run.");
                    return std::string();
                  });
    flags.choice("--wait", &wait_, {"fixed", "exponential"},
                 "I/O workload: wait distribution, fixed or exponential (mean w); default fixed");
    flags.integer("--crossover-k", &crossover_k_,
                  "I/O workload: requests in flight for the crossover sweep (default 64)",
                  [](long long v) {
                    return v < 1 || v > kMaxInFlight
                               ? "must be between 1 and " + std::to_string(kMaxInFlight) + "."
                               : std::string();
                  });
    flags.toggle("--no-crossover", &no_crossover_, "Skip the I/O crossover sweep over c");
  }

  std::vector<Point> plan(const PlanContext& context) override {
    if (requests_ > 0) check_memory(context.memory_bytes());
    const bool threads = context.wants(Backend::threads);
    const bool loop = context.wants(Backend::eventloop);
    if (!threads && !loop) return {};
    const int cores = context.cores();
    const std::vector<double> c_main = c_us_.empty() ? std::vector<double>{50} : c_us_;
    std::vector<int> k_main;
    if (in_flight_.empty()) {
      k_main = {8, 64, 512};
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
    std::set<std::string> seen;
    auto add = [&](Point p) {
      const std::size_t requests =
          requests_ > 0 ? static_cast<std::size_t>(requests_)
                        : auto_requests(p.params["c_us"].get<double>(), w_us_, p.in_flight,
                                        p.cores, context.quick());
      p.params["k"] = p.in_flight;
      p.params["requests"] = requests;
      p.work = static_cast<double>(requests);
      // The request count changes the work: runs of different counts are different benchmarks.
      p.variant = "/k:" + std::to_string(p.in_flight) + "/requests:" + std::to_string(requests);
      if (seen.insert(p.name()).second) points.push_back(std::move(p));
    };
    for (const auto& sweep : sweeps) {
      Point base;
      const bool exponential = wait_ == "exponential";
      base.group = "requests/c_us:" + micros(sweep.c) + "/w_us:" + micros(w_us_) +
                   (exponential ? "/wait:exp" : "");
      base.params = {{"c_us", sweep.c},
                     {"w_us", w_us_},
                     {"distribution", exponential ? "exponential" : "fixed"},
                     {"crossover", sweep.crossover}};
      base.headline = !sweep.crossover;
      add(context.serial(base));
      for (int k : sweep.ks) {
        if (k < 2) continue;
        const std::string origin =
            sweep.crossover ? "--crossover-k " + std::to_string(k)
                            : (in_flight_.empty() ? "the default --in-flight " : "--in-flight ") +
                                  std::to_string(k);
        for (Backend b : {Backend::threads, Backend::eventloop}) {
          if (!context.wants(b)) continue;
          base.backend = b;
          base.origin = origin;
          // Threads: one blocking thread per request in flight. Event loops: one loop per core.
          Point conc = context.concurrent(base, k);
          conc.cpus = {context.home_cpu()};  // worker t runs on cpus[t % cpus.size()]
          if (b == Backend::eventloop) conc.threads = 1;
          add(conc);
          if (cores > 1) {
            Point par = context.parallel(base, std::min(k, cores));
            par.label.clear();
            par.in_flight = k;
            if (b == Backend::threads) par.threads = k;
            add(par);
          }
        }
      }
    }
    return points;
  }

  // A run needs at least one request per request in flight.
  void check(const std::vector<const Point*>& selected) const override {
    for (const Point* p : selected) {
      const auto requests = p->params.at("requests").get<std::size_t>();
      if (requests < static_cast<std::size_t>(p->in_flight)) {
        throw UsageError("--requests " + std::to_string(requests) + ": fewer requests than the " +
                         std::to_string(p->in_flight) + " in flight of " + p->name() +
                         "; give at least " + std::to_string(p->in_flight) + ".");
      }
    }
  }

  void set_up() override { io::calibrate(); }

  std::unique_ptr<Run> prepare(const Point& point, exec::Sightings& sightings) override {
    const io::RequestConfig config = config_of(point);
    using Key = std::tuple<double, std::uint64_t, std::size_t>;
    const Key key{config.c_us, config.seed, config.requests};
    auto it = references_.find(key);
    if (it == references_.end()) it = references_.emplace(key, io::reference_fingerprints(config)).first;
    return std::make_unique<RequestsRun>(config, it->second, point, sightings);
  }

  double bound(const Row& row) const override {
    const Point& p = *row.point;
    if (p.mode == Mode::serial) return 1.0;
    const auto it = row.values.find("c_measured_us");
    const double c = std::max(it == row.values.end() ? 0.0 : it->second, 1e-3);
    const double w = p.params.at("w_us").get<double>();
    const double cores = p.mode == Mode::parallel ? p.cores : 1;
    return std::min(static_cast<double>(p.in_flight), cores * (c + w) / c);
  }
  std::string bound_model() const override {
    return "min(K, P (c' + w) / c'): K in flight, P cores (1 concurrent), c' the point's measured "
           "CPU per request, w the wait";
  }

  std::vector<std::string> verdicts(const VerdictContext& context) const override {
    std::vector<std::string> lines;
    std::vector<std::string> groups;
    for (const Row* r : context.rows) {
      if (r->point->headline &&
          std::find(groups.begin(), groups.end(), r->point->group) == groups.end()) {
        groups.push_back(r->point->group);
      }
    }
    const int cores = context.allowed_cores;
    const std::string cores_text = std::to_string(cores) + (cores == 1 ? " core" : " cores");
    for (const auto& g : groups) {
      const Point* gp = nullptr;
      int k = 0;
      for (const Row* r : context.rows) {
        const Point& p = *r->point;
        if (p.group != g) continue;
        gp = &p;
        if (p.mode != Mode::serial) k = (p.in_flight == 64 || k == 64) ? 64 : std::max(k, p.in_flight);
      }
      Backend backend = Backend::eventloop;
      if (!context.pick(g, Mode::concurrent, backend, k)) backend = Backend::threads;
      const Row* conc = context.pick(g, Mode::concurrent, backend, k);
      const Row* par = context.pick(g, Mode::parallel, backend, k);
      std::ostringstream line;
      line << "requests c=" << micros_text(gp->params.at("c_us").get<double>())
           << " w=" << micros_text(gp->params.at("w_us").get<double>()) << " K=" << k << ":";
      if (conc) {
        line << " concurrency " << speedup_text(conc->speedup) << " on 1 core (bound "
             << speedup_text(conc->bound) << ");";
      }
      if (cores == 1) {
        line << " parallelism: only 1 core is allowed, so parallel equals serial";
      } else if (par) {
        line << " parallelism " << speedup_text(par->speedup) << " on " << cores_text << " (bound "
             << speedup_text(par->bound) << ")";
      }
      line << " [" << exec::to_string(backend) << " backend]";
      lines.push_back(line.str());
    }

    // The crossover sweep: where one core's concurrency stops keeping up and parallelism helps.
    std::map<double, std::pair<const Row*, const Row*>> sweep;
    double w = 0;
    int k = 0;
    for (const Row* r : context.rows) {
      const Point& p = *r->point;
      if (!r->ok || p.headline || p.backend != Backend::eventloop) continue;
      w = p.params.at("w_us").get<double>();
      k = p.in_flight;
      auto& slot = sweep[p.params.at("c_us").get<double>()];
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

 private:
  // Per request: its text, its response's fingerprint, the serial reference's, and its latency
  // (kept per run and for the summary).
  void check_memory(std::size_t memory) const {
    const long double per_request =
        48.0L + static_cast<long double>(requests::make_request(0, 1).size()) + 4 * 8.0L;
    const long double bytes = per_request * static_cast<long double>(requests_);
    if (memory > 0 && bytes > 0.8L * static_cast<long double>(memory)) {
      std::ostringstream msg;
      msg << "--requests " << requests_ << ": " << requests_ << " requests need "
          << static_cast<double>(bytes / (1 << 30)) << " GiB, more than the "
          << static_cast<double>(memory) / (1 << 30) << " GiB of memory available.";
      throw UsageError(msg.str());
    }
  }

  std::vector<double> c_us_;
  double w_us_ = 1000;
  std::vector<long long> in_flight_;
  long long requests_ = 0;
  std::string wait_ = "fixed";
  long long crossover_k_ = 64;
  bool no_crossover_ = false;
  std::map<std::tuple<double, std::uint64_t, std::size_t>, std::vector<std::uint64_t>> references_;
};

}  // namespace

std::unique_ptr<Workload> make_requests() { return std::make_unique<Requests>(); }

}  // namespace cvp::workloads

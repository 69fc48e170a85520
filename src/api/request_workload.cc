// RequestWorkload (include/cvp/cvpbench.h): a request handler run by the request engine
// (cvp/exec/requests.h) serially, with K in flight on one core and on several, on blocking
// threads and on event loops. A run starts and joins its own team, so it is timed by its own
// clock (Timing::manual); every response is checked against the serial handling's, outside the
// clock; the bound comes from the point's own measured CPU per request. The built-in `requests`
// workload is one of these with a plan of its own.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "cvp/cvpbench.h"
#include "cvp/dist.h"
#include "cvp/exec/affinity.h"

namespace cvp {
namespace {

constexpr double kMaxMicros = 10'000'000;  // 10 s per request step
constexpr long long kMaxInFlight = 100000;
constexpr long long kMaxRequests = 100'000'000;

// What the engine and the harness keep per request: its fingerprint, the serial reference's,
// and its latency (in the run and in the point's samples).
constexpr double kEngineBytesPerRequest = 4 * 8.0;

// A point's request count: its work (add_sweep).
std::size_t requests_of(const Point& p) { return static_cast<std::size_t>(p.work); }

exec::RequestConfig config_of(const Point& p) {
  exec::RequestConfig c;
  const auto& params = p.params_as<RequestWorkload::Params>();
  c.wait = params.wait;
  c.w_us = params.wait == exec::WaitOwner::engine ? params.w_us : 0;
  c.distribution = params.distribution;
  c.requests = requests_of(p);
  c.in_flight = p.in_flight;
  // Distributed: each rank serves its share, the same number of requests and in flight on each.
  if (p.mode == Mode::distributed && p.ranks > 1) {
    c.requests /= static_cast<std::size_t>(p.ranks);
    c.in_flight = std::max(1, p.in_flight / p.ranks);
  }
  return c;
}

class RequestsRun final : public PreparedPoint {
 public:
  RequestsRun(exec::RequestConfig config, std::unique_ptr<exec::RequestHandler> handler,
              const std::vector<std::uint64_t>& reference, const Point& point,
              exec::Sightings& sightings, StopToken stop)
      : config_(config),
        handler_(std::move(handler)),
        reference_(reference),
        point_(point),
        sightings_(sightings) {
    config_.stop = stop;
  }

  void warm_up() override {}  // each run starts its own team: there is nothing to warm

  Execution execute() override {
    exec::RequestRun run = carried_run();
    Execution e;
    e.wall_s = run.wall_s;
    // Distributed: the ranks started their shares together; the run lasts as long as the last.
    if (point_.mode == Mode::distributed) e.wall_s = dist::Group::world().max(run.wall_s);
    e.stopped = run.stopped;
    e.latencies_us = std::move(run.latencies_us);
    e.request = RequestFigures{run.cpu_us_per_request, run.wait_overshoot_us, run.wait_us,
                               run.wait_p50_us, run.wait_p90_us,
                               config_.wait != exec::WaitOwner::engine};
    if (run.wall_s > 0) {
      const double in_flight_s =
          std::accumulate(e.latencies_us.begin(), e.latencies_us.end(), 0.0) * 1e-6;
      e.request->in_flight_mean = in_flight_s / run.wall_s;
    }
    e.request->team_cpu_us = run.team_cpu_us_per_request;
    last_ = std::move(run);
    return e;
  }

  // The engine's run. With ranks as the backend, its waits are round trips over MPI, which this
  // (the main) thread carries, on the first of the team's CPUs, while a thread runs the engine.
  exec::RequestRun carried_run() {
    if (!point_.with_ranks) {
      return exec::run_requests(config_, *handler_, point_.backend, point_.cpus, sightings_);
    }
    const exec::ScopedAffinityRestore restore;
    exec::pin_to_cpu(point_.cpus.front());
    exec::RequestRun run;
    dist::carry_round_trips(
        [&] { run = exec::run_requests(config_, *handler_, point_.backend, point_.cpus, sightings_); });
    return run;
  }

  // Every response against the serial handling's, plus the duplicates the run itself counted
  // (its count of missing responses is part of the comparison).
  std::optional<std::string> verify() override {
    const auto& f = last_.fingerprints;
    const std::size_t missing =
        static_cast<std::size_t>(std::count(f.begin(), f.end(), std::uint64_t{0}));
    const std::size_t in_run = last_.errors >= missing ? last_.errors - missing : last_.errors;
    wrong_ = in_run + exec::count_mismatches(f, reference_);
    if (wrong_ == 0) return std::nullopt;
    return std::to_string(wrong_) + " of " + std::to_string(config_.requests) +
           " responses differ from the serial handling's (wrong, missing or duplicated)";
  }

  void corrupt() override {
    auto& f = last_.fingerprints;
    if (!f.empty()) f[f.size() / 2] ^= 0x100;
  }

  std::size_t wrong_items() const override { return wrong_; }

 private:
  exec::RequestConfig config_;
  std::unique_ptr<exec::RequestHandler> handler_;
  const std::vector<std::uint64_t>& reference_;
  const Point& point_;
  exec::Sightings& sightings_;
  exec::RequestRun last_;
  std::size_t wrong_ = 0;
};

std::string list_text(const std::vector<long long>& values) {
  std::string out;
  for (long long v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

// A handler's own wait, for names and summaries.
const char* owner_name(exec::WaitOwner owner) {
  switch (owner) {
    case exec::WaitOwner::engine: return "engine";
    case exec::WaitOwner::blocking: return "blocking";
    case exec::WaitOwner::async: return "async";
  }
  return "engine";
}

bool handler_waits(const Point& p) {
  const auto* params = dynamic_cast<const RequestWorkload::Params*>(p.params.get());
  return params != nullptr && params->wait != exec::WaitOwner::engine;
}

}  // namespace

nlohmann::json RequestWorkload::Params::to_json(const Point& point) const {
  if (wait != exec::WaitOwner::engine) {
    return {{"wait", waits_on}, {"wait_owner", owner_name(wait)}, {"k", point.in_flight},
            {"requests", requests_of(point)}};
  }
  return {{"w_us", w_us},
          {"distribution",
           distribution == exec::WaitDistribution::exponential ? "exponential" : "fixed"},
          {"k", point.in_flight},
          {"requests", requests_of(point)}};
}

RequestWorkload::RequestWorkload(Spec spec)
    : spec_(std::move(spec)),
      w_us_(spec_.wait_us),
      requests_(spec_.requests.value_or(0)),
      wait_(spec_.exponential ? "exponential" : "fixed") {
  if (spec_.name.empty() || !spec_.make) {
    throw std::invalid_argument("RequestWorkload needs a name and make()");
  }
  if (spec_.wait != exec::WaitOwner::engine) {
    const bool named = !spec_.waits_on.empty() &&
                       std::all_of(spec_.waits_on.begin(), spec_.waits_on.end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
                                ch == '-' || ch == '.';
                       });
    if (!named) {
      throw std::invalid_argument(
          "RequestWorkload " + spec_.name + ": waits_on '" + spec_.waits_on +
          "': a handler that waits itself names what it waits on, in letters, digits, '_', '-' "
          "or '.' (it names the benchmarks: " + spec_.name + "/wait:WAITS_ON)");
    }
  }
  if (spec_.quick_in_flight.empty()) spec_.quick_in_flight = spec_.in_flight;
  if (spec_.flag_prefix.empty()) spec_.flag_prefix = "--" + spec_.name + "-";
  std::optional<std::string> why = check_wait_us(spec_.wait_us);
  if (spec_.in_flight.empty()) why = "in_flight names no K.";
  for (const auto* ks : {&spec_.in_flight, &spec_.quick_in_flight}) {
    for (long long k : *ks) {
      if (!why) why = check_in_flight(k);
    }
  }
  if (!why && spec_.requests) why = check_requests(*spec_.requests);
  if (!why && spec_.cpu_us && (!(*spec_.cpu_us >= 0) || !std::isfinite(*spec_.cpu_us))) {
    why = "cpu_us must be a finite number >= 0.";
  }
  if (why) throw std::invalid_argument("RequestWorkload " + spec_.name + ": " + *why);
}

std::optional<std::string> RequestWorkload::check_wait_us(double us) {
  if (us < 0 || us > kMaxMicros || std::isnan(us)) {
    return "the wait must be >= 0 and at most 10 s (10000000 us).";
  }
  return std::nullopt;
}

std::optional<std::string> RequestWorkload::check_in_flight(long long k) {
  if (k < 1) return "requests in flight must be at least 1.";
  if (k > kMaxInFlight) {
    return "at most " + std::to_string(kMaxInFlight) + " requests in flight are supported.";
  }
  return std::nullopt;
}

std::optional<std::string> RequestWorkload::check_requests(long long n) {
  if (n < 1) return "at least one request is needed.";
  if (n > kMaxRequests) return "at most 100000000 requests per run.";
  return std::nullopt;
}

std::string RequestWorkload::micros(double us) {
  std::ostringstream out;
  out << us;  // shortest natural form: 50, 12.5
  return out.str();
}

std::string RequestWorkload::micros_text(double us) {
  if (us >= 1000 && std::fmod(us, 1000) == 0) return fixed(us / 1000, 0) + "ms";
  return micros(us) + "us";
}

namespace {

// Requests for about 0.15 s of run (0.04 s quick) with c_us of CPU and w_us of wait per request,
// in_flight in flight on `cores` cores; at least 2 x in_flight.
std::size_t auto_requests(double c_us, double w_us, int in_flight, int cores, bool quick) {
  const double target_s = quick ? 0.04 : 0.15;
  const double per_request_s = (c_us + w_us) * 1e-6;
  const double concurrency =
      std::min(static_cast<double>(in_flight),
               static_cast<double>(cores) * (c_us + w_us) / std::max(c_us, 1e-3));
  const double estimate = target_s * concurrency / std::max(per_request_s, 1e-9);
  // Every request slot busy at least twice (once with --quick, whose runs are one block each).
  const double lower = std::max(quick ? 30.0 : 100.0, (quick ? 1.0 : 2.0) * in_flight);
  const double upper = std::max(lower, 20000.0);
  return static_cast<std::size_t>(std::clamp(estimate, lower, upper));
}

}  // namespace

void RequestWorkload::check_memory(const std::string& flag, long long requests,
                                   double bytes_per_request, std::optional<std::size_t> known) {
  const long double bytes =
      static_cast<long double>(bytes_per_request) * static_cast<long double>(requests);
  const std::size_t memory = known.value_or(0);
  if (memory > 0 && bytes > 0.8L * static_cast<long double>(memory)) {
    std::ostringstream msg;
    msg << flag << ": " << requests << " requests need " << static_cast<double>(bytes / (1 << 30))
        << " GiB, more than 80% of the " << static_cast<double>(memory) / (1 << 30)
        << " GiB of memory available.";
    throw UsageError(msg.str());
  }
}

void RequestWorkload::add_options(Flags& flags) {
  const std::string& prefix = spec_.flag_prefix;
  const bool engine_waits = spec_.wait == exec::WaitOwner::engine;
  if (engine_waits) {
    flags.real(prefix + "w-us", &w_us_,
               spec_.name + ": wait microseconds per request (default " + micros(spec_.wait_us) +
                   ")",
               check_wait_us);
  }
  flags.integers(prefix + "in-flight", &in_flight_,
                 spec_.name + ": requests in flight K (default " + list_text(spec_.in_flight) +
                     "; quick " + list_text(spec_.quick_in_flight) +
                     "; the serial baseline is K = 1)",
                 check_in_flight);
  flags.integer(prefix + "requests", &requests_,
                spec_.name + ": requests per run (default " +
                    (spec_.requests ? std::to_string(*spec_.requests)
                                        : "sized to about 0.15 s per run, 0.04 s quick") +
                    ")",
                check_requests);
  if (engine_waits) {
    flags.choice(prefix + "wait", &wait_, {"fixed", "exponential"},
                 spec_.name + ": wait distribution, fixed or exponential (mean w); default " +
                     (spec_.exponential ? "exponential" : "fixed"));
  }
}

namespace {

// A run of several ranks: for each K of `ks` at least the ranks, K in flight over the ranks, each
// serving its share of the requests (K / R in flight, one blocking thread each, on its share of
// its host's cores), named ".../k:K/requests:N/ranks:R".
void add_distributed(const PlanContext& context, Point base, const std::vector<int>& ks,
                     std::size_t requests, double cpu_us, std::vector<Point>& points) {
  const int ranks = dist::ranks();
  if (ranks < 2 || !context.wants(Backend::threads)) return;
  const double w_us = base.params_as<RequestWorkload::Params>().w_us;
  base.backend = Backend::threads;
  for (const int k : ks) {
    if (k < ranks) continue;
    Point d = context.distributed(base, k / ranks);
    d.in_flight = (k / ranks) * ranks;
    d.placement = Placement::own_cores;  // one blocking thread per request in flight, as concurrent
    const std::size_t n = requests > 0 ? requests
                                       : auto_requests(cpu_us, w_us, d.in_flight, d.cores * ranks,
                                                       context.quick());
    const std::size_t per_rank = std::max<std::size_t>(static_cast<std::size_t>(k / ranks),
                                                       (n + static_cast<std::size_t>(ranks) - 1) /
                                                           static_cast<std::size_t>(ranks));
    d.work = static_cast<double>(per_rank * static_cast<std::size_t>(ranks));
    d.variant = "/k:" + std::to_string(d.in_flight) + "/requests:" +
                std::to_string(per_rank * static_cast<std::size_t>(ranks)) + "/ranks:" +
                std::to_string(ranks);
    d.origin = "--in-flight " + std::to_string(k);
    points.push_back(std::move(d));
  }
}

}  // namespace

namespace {

// Weak scaling of a request point: P is its cores (over every rank, distributed), the capacity
// its requests share; its threads are one per request in flight (blocking threads) and do not
// count. Event loops are one per core already.
int request_workers(const Point& p) { return p.cores * p.ranks; }

// The grown point: K x P in flight and N x P requests (each rank's share x P, distributed), with
// as many blocking threads again (event loops stay one per core), named
// ".../k:KP/requests:NP[/ranks:R]/weak:P". Refused (UsageError) past the engine's limits.
void grow_requests(Point& p, int workers, std::optional<std::size_t> memory) {
  const auto factor = static_cast<double>(workers);
  p.in_flight *= workers;
  if (p.backend == Backend::threads) p.threads *= workers;
  p.work *= factor;
  const long double bytes = static_cast<long double>(kEngineBytesPerRequest) * p.work;
  if (p.work > static_cast<double>(kMaxRequests) || p.in_flight > kMaxInFlight ||
      (memory.value_or(0) > 0 && bytes > 0.8L * static_cast<long double>(*memory))) {
    throw UsageError("--scaling weak: " + p.group + " with " + std::to_string(p.in_flight / workers) +
                     " in flight grows to " + std::to_string(p.in_flight) + " in flight and " +
                     fixed(p.work, 0) + " requests (x" + std::to_string(workers) +
                     "), more than a run may hold (at most " + std::to_string(kMaxInFlight) +
                     " in flight, " + std::to_string(kMaxRequests) +
                     " requests, 80% of the memory available); use --scaling strong or fewer in flight.");
  }
  p.variant = "/k:" + std::to_string(p.in_flight) + "/requests:" + fixed(p.work, 0) +
              (p.mode == Mode::distributed ? "/ranks:" + std::to_string(p.ranks) : "") +
              "/weak:" + std::to_string(workers);
}

}  // namespace

void RequestWorkload::add_sweep(const PlanContext& context, Point base,
                                const std::vector<int>& in_flight,
                                const std::function<std::string(int k)>& origin,
                                std::optional<std::size_t> requests, double cpu_us,
                                std::vector<Point>& points) {
  const auto& params = base.params_as<Params>();
  const double w_us = params.w_us;  // a handler's own: its estimate, for the run's size
  // A wait that blocks its thread would stall an event loop: threads only.
  const bool blocking = params.wait == exec::WaitOwner::blocking;
  const int cores = context.cores();
  // This group's points, then (weak scaling) their grown copies; a name already planned is kept once.
  std::vector<Point> sweep;
  const auto seen = [&](const std::string& name) {
    const auto named = [&](const Point& q) { return q.name() == name; };
    return std::any_of(points.begin(), points.end(), named) ||
           std::any_of(sweep.begin(), sweep.end(), named);
  };
  auto add = [&](Point p) {
    const std::size_t n =
        requests ? *requests : auto_requests(cpu_us, w_us, p.in_flight, p.cores, context.quick());
    p.work = static_cast<double>(n);
    // The request count changes the work: runs of different counts are different benchmarks.
    p.variant = "/k:" + std::to_string(p.in_flight) + "/requests:" + std::to_string(n);
    if (!seen(p.name())) sweep.push_back(std::move(p));
  };
  add(context.serial(base));
  for (int k : in_flight) {
    if (k < 2) continue;
    for (Backend b : {Backend::threads, Backend::eventloop}) {
      if (!context.wants(b) || (blocking && b == Backend::eventloop)) continue;
      base.backend = b;
      base.origin = origin(k);
      // Threads: one blocking thread per request in flight. Event loops: one loop per core.
      Point conc = context.concurrent(base, k);
      conc.cpus = {context.home_cpu()};  // worker t runs on cpus[t % cpus.size()]
      if (b == Backend::eventloop) conc.threads = 1;
      add(conc);
      if (cores > 1) {
        Point par = context.parallel(base, std::min(k, cores));
        par.placement = Placement::own_cores;
        par.in_flight = k;
        if (b == Backend::threads) par.threads = k;
        add(par);
      }
    }
  }
  add_distributed(context, base, in_flight, requests.value_or(0), cpu_us, sweep);
  // Weak scaling (--scaling weak|both): each parallel and distributed point of the headline
  // sweep grown with its cores P. A side sweep (the crossover, headline false) stays strong.
  if (base.headline) {
    const auto memory = context.memory_bytes();
    sweep = context.scaled(std::move(sweep), [&](Point& p, int workers) { grow_requests(p, workers, memory); },
                           request_workers);
  }
  for (Point& p : sweep) {
    const std::string name = p.name();
    if (std::none_of(points.begin(), points.end(), [&](const Point& q) { return q.name() == name; })) {
      points.push_back(std::move(p));
    }
  }
}

std::vector<Point> RequestWorkload::plan(const PlanContext& context) {
  if (requests_ > 0) {
    check_memory(spec_.flag_prefix + "requests " + std::to_string(requests_), requests_, kEngineBytesPerRequest,
                 context.memory_bytes());
  }
  if (!context.wants(Backend::threads) && !context.wants(Backend::eventloop)) return {};
  const auto& chosen = !in_flight_.empty() ? in_flight_
                       : context.quick()   ? spec_.quick_in_flight
                                           : spec_.in_flight;
  std::vector<int> ks;
  for (long long k : chosen) ks.push_back(static_cast<int>(k));
  std::sort(ks.begin(), ks.end());
  const bool exponential = wait_ == "exponential";
  Point base;
  if (spec_.wait == exec::WaitOwner::engine) {
    base.group = spec_.name + "/w_us:" + micros(w_us_) + (exponential ? "/wait:exp" : "");
    base.params = std::make_shared<Params>(
        w_us_, exponential ? exec::WaitDistribution::exponential : exec::WaitDistribution::fixed);
  } else {
    if (spec_.wait == exec::WaitOwner::blocking && !context.wants(Backend::threads)) {
      throw UsageError(spec_.name + ": its handler's wait blocks its thread, which would stall an "
                       "event loop and every request on it, so it runs on threads only (--backend "
                       "threads).");
    }
    base.group = spec_.name + "/wait:" + spec_.waits_on;
    auto params = std::make_shared<Params>(spec_.wait, spec_.waits_on);
    params->w_us = spec_.wait_us;  // sizes the runs only
    base.params = std::move(params);
  }
  const std::string flag = spec_.flag_prefix + "in-flight ";
  const std::string from = in_flight_.empty() ? "the default " + flag : flag;
  std::vector<Point> points;
  add_sweep(context, base, ks, [&](int k) { return from + std::to_string(k); },
            requests_ > 0 ? std::optional<std::size_t>(requests_) : std::nullopt,
            spec_.cpu_us.value_or(0), points);
  return points;
}

void RequestWorkload::check(const std::vector<const Point*>& selected) const {
  for (const Point* p : selected) {
    const auto requests = requests_of(*p);
    if (requests < static_cast<std::size_t>(p->in_flight)) {
      throw UsageError(spec_.flag_prefix + "requests " + std::to_string(requests) +
                       ": fewer requests than the " + std::to_string(p->in_flight) +
                       " in flight of " + p->name() + "; give at least " +
                       std::to_string(p->in_flight) + ".");
    }
  }
}

std::unique_ptr<exec::RequestHandler> RequestWorkload::make_handler(const Point& /*point*/,
                                                                  std::size_t requests) {
  return spec_.make(requests);
}

std::unique_ptr<exec::RequestHandler> RequestWorkload::make_reference_handler(const Point& point,
                                                                            std::size_t requests) {
  return make_handler(point, requests);
}

std::unique_ptr<PreparedPoint> RequestWorkload::prepare(const Point& point,
                                                       exec::Sightings& sightings, StopToken stop) {
  const exec::RequestConfig config = config_of(point);
  // The serial reference, once per group (the handler's parameters) and request count.
  const auto key = std::make_pair(point.group, config.requests);
  auto it = references_.find(key);
  if (it == references_.end()) {
    auto handler = make_reference_handler(point, config.requests);
    if (!handler) throw std::runtime_error(spec_.name + ": make() returned no handler");
    it = references_
             .emplace(key, exec::serial_fingerprints(*handler, config.requests, config.wait))
             .first;
  }
  auto handler = make_handler(point, config.requests);
  if (!handler) throw std::runtime_error(spec_.name + ": make() returned no handler");
  return std::make_unique<RequestsRun>(config, std::move(handler), it->second, point, sightings,
                                       stop);
}

namespace {

double c_measured_us(const Row& row) { return row.request ? row.request->c_measured_us : 0.0; }
double wait_overshoot_us(const Row& row) {
  return row.request ? row.request->wait_overshoot_us : 0.0;
}

}  // namespace

// Each of the K requests in flight takes at least c' + w + o_s (its CPU, the wait asked for and
// the timer's overshoot the serial requests saw), and the P cores give at most P seconds of CPU
// a second, c' per request; the serial request took T_s. All four are measured in this run.
namespace {

// The bound with `k` requests in flight (a mean where slots sat idle), as bound() says.
double bound_with(const Row& row, double k) {
  const Point& p = *row.point;
  if (p.mode == Mode::serial) return 1.0;
  const double c = std::max(c_measured_us(row), 1e-3);
  // A handler's own waits: what this point measured (waits that grew because the disk or server
  // behind them was shared are the machine's limit here, as memory bandwidth is the triad's).
  const bool own = handler_waits(p);
  const auto& params = p.params_as<RequestWorkload::Params>();
  const Row* base = row.baseline;
  // A wait nobody shares: the serial point's, where no other request queued for the CPU.
  const Row* waited = !own || params.shared_wait || base == nullptr || !base->request ? &row : base;
  const double w = own ? (waited->request ? waited->request->wait_us : 0.0) : params.w_us;
  // P: the team's cores counted by their measured capacity (the cores themselves for the ideal).
  const double cores = p.mode == Mode::parallel || p.mode == Mode::distributed ? row.capacity : 1;
  if (base == nullptr || base->median_s <= 0 || base->point == nullptr || base->point->work <= 0) {
    return std::min(k, cores * (c + w) / c);  // no serial time measured: the nominal model
  }
  const double t_s = base->median_s / base->point->work * 1e6;
  const double overshoot = own ? 0.0 : std::max(0.0, wait_overshoot_us(*base));
  return std::min(k * t_s / (c + w + overshoot), cores * t_s / c);
}

}  // namespace

double RequestWorkload::bound(const Row& row) const {
  return bound_with(row, static_cast<double>(row.point->in_flight));
}

namespace {

std::string us(double micros) { return fixed(micros, micros < 10 ? 1 : 0) + " us"; }

// Waits that overran more at this point than serially: woken requests queued for a busy CPU.
// The ceiling is the bound again, as if the serial run's waits had overrun as much.
std::optional<Finding> late_wake_ups(const RequestWorkload& w, const Row& r,
                                     const DiagnosisContext& c) {
  const Row* base = r.baseline;
  if (base == nullptr || !r.request || !base->request) return std::nullopt;
  const double here = r.request->wait_overshoot_us;
  const double serial = base->request->wait_overshoot_us;
  if (here < 0 || serial < 0 || here < 1.5 * serial + 10) return std::nullopt;
  Row late_base = *base;
  late_base.request->wait_overshoot_us = here;
  Row row = r;
  row.baseline = &late_base;
  const double ceiling = w.bound(row);
  if (!(std::isfinite(ceiling) && ceiling > 0)) return std::nullopt;
  Finding k{Cause::timer_overshoot, ceiling, "",
            {{"wait_overshoot_us", here}, {"serial_wait_overshoot_us", serial},
             {"ceiling", ceiling}}};
  k.line = "late wake-ups: each wait overran by " + us(here) + " here against " + us(serial) +
           " serially";
  if (c.timer_overshoot_us) k.line += " (" + us(*c.timer_overshoot_us) + " on an idle machine)";
  k.line += ": woken requests queued for a busy CPU, which alone allows x" + fixed(ceiling, 2);
  return k;
}

// A request that cost more CPU than its handler's measured c' (the context switches, timer
// wake-ups and runtime around it), while the cores were busy. The CPU is the engine's worker
// threads' where the run measured it (none of the process's other threads: a server the program
// runs beside, say), else the process's.
std::optional<Finding> cpu_outside_handler(const RequestWorkload& w, const Row& r,
                                           const DiagnosisContext& c) {
  const Point& p = *r.point;
  if (r.baseline == nullptr || p.work <= 0 || !r.request) return std::nullopt;
  const double cores = p.mode == Mode::parallel ? std::min(p.threads, p.cores) : 1;
  const double switches = r.voluntary + r.involuntary;
  const double requests = p.work;
  const double c_handler = r.request->c_measured_us;
  const bool team = r.request->team_cpu_us > 0;
  const double c_spent = team ? r.request->team_cpu_us : r.cpu_s / requests * 1e6;
  const double busy = team ? (r.median_s > 0 ? c_spent * requests * 1e-6 / r.median_s : 0.0)
                           : r.cpu_per_wall;
  nlohmann::json figures = {{"cpu_s", r.cpu_s}, {"context_switches", switches},
                            {"cpu_of", team ? "workers" : "process"}, {"cores_busy", busy}};
  if (c_handler <= 0 || !(c_spent > 0) || c_spent < 1.1 * c_handler || busy < 0.8 * cores) {
    return std::nullopt;
  }
  Row row = r;
  row.request->c_measured_us = c_spent;
  const double ceiling = w.bound(row);
  figures["cpu_per_request_us"] = c_spent;
  figures["c_measured_us"] = c_handler;
  std::string line = "CPU outside the handler: the " +
                     std::string(cores == 1 ? "core was" : "cores were") +
                     " busy (" + fixed(busy, 2) + " of " + fixed(cores, 0) + "), and each request cost " +
                     us(c_spent) + (team ? " of the workers' CPU" : " of process CPU") +
                     " against the handler's " + us(c_handler);
  const double per_request = switches / requests;
  if (c.context_switch_us && per_request > 0.5) {
    line += "; its " + fixed(per_request, 1) + " context switches at " +
            us(*c.context_switch_us) + " each (measured at the start) account for " +
            us(per_request * *c.context_switch_us);
  }
  if (!(std::isfinite(ceiling) && ceiling > 0)) return std::nullopt;
  figures["ceiling"] = ceiling;
  return Finding{Cause::extra_cpu, ceiling, line, figures};
}

// Requests that queued for the CPU before their first CPU part: the median latency against what
// a request takes alone at this point (c' + w + its overshoot). By Little's law, K requests in
// flight through a latency L serve K / L a second. A symptom: of a CPU busy with other work.
std::optional<Finding> queueing(const Row& r) {
  const Point& p = *r.point;
  const Row* base = r.baseline;
  if (!r.has_latency || base == nullptr || base->point == nullptr || base->median_s <= 0 ||
      base->point->work <= 0 ||
      dynamic_cast<const RequestWorkload::Params*>(p.params.get()) == nullptr || !r.request) {
    return std::nullopt;
  }
  const double c_handler = r.request->c_measured_us;
  const double overshoot = r.request->wait_overshoot_us;
  if (c_handler < 0 || overshoot < 0) return std::nullopt;
  // A handler's own wait as measured here; the engine's as asked for, plus its overshoot.
  const double alone = c_handler + (handler_waits(p) ? r.request->wait_us
                                                     : p.params_as<RequestWorkload::Params>().w_us + overshoot);
  const double queued = r.p50 - alone;
  if (queued < 0.02 * alone) return std::nullopt;
  const double t_s = base->median_s / base->point->work * 1e6;
  const double ceiling = static_cast<double>(p.in_flight) * t_s / r.p50;
  Finding k{Cause::queueing, ceiling, "",
            {{"latency_p50_us", r.p50}, {"alone_us", alone}, {"queued_us", queued},
             {"ceiling", ceiling}},
            /*symptom=*/true};
  k.line = "queueing: a request took " + us(r.p50) + " (median) against " + us(alone) +
           " for its own CPU, wait and wake-up: it waited " + us(queued) +
           " for the CPU behind the others in flight";
  return k;
}

// Slots that sat idle: fewer than K requests in flight on average over the run (Little's law on
// its latencies), at its start and while its slowest requests finished. The ceiling is the bound
// again with that mean in place of K. `requests_flag` names the option that makes runs longer.
std::optional<Finding> run_tail(const Row& r, const std::string& requests_flag) {
  const Point& p = *r.point;
  if (p.mode == Mode::serial || p.in_flight < 2 || !r.request || !r.has_latency) return std::nullopt;
  const double k = static_cast<double>(p.in_flight);
  const double mean = r.request->in_flight_mean;
  if (!(mean > 0) || mean > 0.97 * k) return std::nullopt;
  const double ceiling = bound_with(r, mean);
  if (!(std::isfinite(ceiling) && ceiling > 0)) return std::nullopt;
  Finding f{Cause::run_tail, ceiling, "",
            {{"in_flight", p.in_flight}, {"in_flight_mean", mean}, {"requests", p.work},
             {"latency_p50_us", r.p50}, {"latency_p99_us", r.p99}, {"ceiling", ceiling}}};
  f.line = "the run's tail: on average " + fixed(mean, 1) + " of its " + std::to_string(p.in_flight) +
           " requests were in flight (their latencies over the run's time); slots sat idle at its "
           "start and while its slowest requests finished (p99 " + us(r.p99) + " against a median of " +
           us(r.p50) + "), which alone allows x" + fixed(ceiling, 2) + "; longer runs (" +
           requests_flag + ", " + fixed(p.work, 0) + " here) leave less to the tail";
  return f;
}

}  // namespace

std::vector<Finding> RequestWorkload::diagnose(const Row& row,
                                               const DiagnosisContext& context) const {
  std::vector<Finding> found;
  // A distributed row's figures are rank 0's share of the requests: the general causes only
  // (communication among them).
  if (row.point->mode == Mode::distributed) return found;
  if (auto k = late_wake_ups(*this, row, context)) found.push_back(std::move(*k));
  if (auto k = cpu_outside_handler(*this, row, context)) found.push_back(std::move(*k));
  if (auto k = queueing(row)) found.push_back(std::move(*k));
  if (auto k = run_tail(row, spec_.flag_prefix + "requests")) found.push_back(std::move(*k));
  return found;
}

std::string RequestWorkload::bound_model() const {
  if (spec_.wait != exec::WaitOwner::engine) {
    return "min(K T_s / (c' + w'), P T_s / c'): K in flight, P the cores counted by their measured "
           "capacity relative to the home CPU (1 concurrent), T_s the serial request's measured "
           "time, c' the point's measured CPU per request (its wait call's CPU included), w' the "
           "point's measured mean wait on " + spec_.waits_on + " (which grows where what it waits "
           "on is shared)";
  }
  return "min(K T_s / (c' + w + o_s), P T_s / c'): K in flight, P the cores counted by their measured "
         "capacity relative to the home CPU (1 concurrent), T_s the "
         "serial request's measured time (its wait's overshoot included), o_s that overshoot, "
         "c' the point's measured CPU per request, w the wait asked for";
}

std::string RequestWorkload::group_title(const Point& point) const {
  const auto& params = point.params_as<Params>();
  if (params.wait != exec::WaitOwner::engine) return spec_.name + " waiting on " + params.waits_on;
  return spec_.name + " w=" + micros_text(params.w_us);
}

namespace {

// 850 -> "850 us", 2134.6 -> "2.13 ms".
std::string wait_text(double us) {
  return us >= 1000 ? fixed(us / 1000, 2) + " ms" : fixed(us, us < 10 ? 1 : 0) + " us";
}

}  // namespace

namespace {

// " distributed xS [..] on R ranks (bound xB)" for the group's distributed point of K in
// flight, after a ";" when `more` words came before; "" without one.
std::string distributed_clause(const VerdictContext& context, const std::string& group, int k,
                               bool more) {
  const Row* spread = nullptr;
  for (const Row* r : context.rows) {
    const Point& q = *r->point;
    if (r->ok && q.group == group && q.mode == Mode::distributed && q.in_flight == k && q.weak == 1) spread = r;
  }
  if (spread == nullptr) return "";
  return std::string(more ? ";" : "") + " distributed " + speedup_ci_text(*spread) + " on " +
         std::to_string(spread->point->ranks) + " ranks (bound " + speedup_text(spread->bound) + ")";
}

}  // namespace

// The scaled speedup of a weak request point over the concurrent point of its own K on one core
// (the same backend; threads for a distributed point): its throughput over one core's with the
// problem it grew from, the speedup Gustafson's law is about. 0 when that point was not measured.
double RequestWorkload::scaled_over_one_core(const Row& weak, const Row& one_core) {
  if (!weak.ok || !one_core.ok || !(one_core.speedup > 0) || !(weak.speedup > 0)) return 0;
  return weak.speedup / one_core.speedup;
}

namespace {

// " weak scaling xS [..] at K=KP on P cores (scaled efficiency E of bound xB; xR over K on 1
// core, Gustafson serial fraction s)" for the group's weak point grown from K with the most
// cores (parallel on `backend`, or distributed); "" without one.
std::string weak_clause(const VerdictContext& context, const std::string& group, int k,
                        Backend backend) {
  const Row* weak = nullptr;
  for (const Row* r : context.rows) {
    const Point& q = *r->point;
    if (!r->ok || q.group != group || q.weak <= 1 || q.in_flight != k * static_cast<int>(q.weak)) continue;
    if (q.mode == Mode::parallel && q.backend != backend) continue;
    if (!weak || q.weak > weak->point->weak) weak = r;
  }
  if (weak == nullptr) return "";
  const Point& q = *weak->point;
  const Backend on = q.mode == Mode::distributed ? Backend::threads : q.backend;
  const Row* one_core = context.pick(group, Mode::concurrent, on, k);
  std::string text = " weak scaling " + speedup_ci_text(*weak) +
                     " at K=" + std::to_string(q.in_flight) + " on " + fixed(q.weak, 0) + " cores" +
                     (q.ranks > 1 ? " over " + std::to_string(q.ranks) + " ranks" : "") +
                     " (scaled efficiency " + fixed(weak->efficiency, 2) + " of bound " +
                     speedup_text(weak->bound);
  const double over = one_core ? RequestWorkload::scaled_over_one_core(*weak, *one_core) : 0;
  if (over > 0) {
    text += "; " + speedup_text(over) + " over K=" + std::to_string(k) + " on 1 core, Gustafson " +
            "serial fraction " + fixed((q.weak - over) / (q.weak - 1), 3);
  }
  return text + ")";
}

// " waits on ON: 1.5 ms serially, 2.2 ms with 8 in flight (...);" for a handler's own waits,
// `at_k` the row of K in flight the verdict speaks of: where the waits grew, what they wait on
// (a disk, a server), not the CPU, holds the speedup, and the bound says so, unless it serves
// every request at once (then the replies queued for the CPU).
std::string own_wait_clause(const VerdictContext& context, const std::string& group,
                            const RequestWorkload::Params& params, const Row* at_k) {
  std::ostringstream line;
  const Row* serial = nullptr;
  for (const Row* r : context.rows) {
    if (r->ok && r->point->group == group && r->point->mode == Mode::serial) serial = r;
  }
  if (serial != nullptr && at_k != nullptr && serial->request && at_k->request &&
      serial->request->wait_us > 0) {
    const double grew = at_k->request->wait_us / serial->request->wait_us;
    line << " waits on " << params.waits_on << ": " << wait_text(serial->request->wait_us)
         << " serially, " << wait_text(at_k->request->wait_us) << " with " << at_k->point->in_flight
         << " in flight";
    if (grew >= 1.2 && params.shared_wait) {
      line << " (x" << fixed(grew, 2) << " longer with others in flight: " << params.waits_on
           << ", not the CPU, sets the bound)";
    } else if (grew >= 1.2) {
      line << " (x" << fixed(grew, 2) << " longer with others in flight: what they wait on "
           << "holds every request at once, so the replies queued for the busy CPU)";
    }
    line << ";";
  }
  if (params.wait == exec::WaitOwner::blocking) line << " its wait blocks, so no event loop ran it;";
  return line.str();
}

}  // namespace

std::vector<std::string> RequestWorkload::headline_verdicts(const VerdictContext& context) const {
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
      // K = 64 (the default sweep's middle) speaks for the group where it ran, else the most.
      if (p.mode != Mode::serial && p.weak == 1) k = (p.in_flight == 64 || k == 64) ? 64 : std::max(k, p.in_flight);
    }
    Backend backend = Backend::eventloop;
    // K = 0: no point of the group ran requests in flight; any K then.
    const std::optional<int> in_flight = k > 0 ? std::optional<int>(k) : std::nullopt;
    if (!context.pick(g, Mode::concurrent, backend, in_flight)) backend = Backend::threads;
    const Row* conc = context.pick(g, Mode::concurrent, backend, in_flight);
    const Row* par = context.pick(g, Mode::parallel, backend, in_flight);
    std::ostringstream line;
    line << group_title(*gp) << " K=" << k << ":";
    if (conc) {
      line << " concurrency " << speedup_ci_text(*conc) << " on 1 core (bound "
           << speedup_text(conc->bound) << ");";
    }
    if (cores == 1) {
      line << " parallelism: only 1 core is allowed, so parallel equals serial";
    } else if (par) {
      line << " parallelism " << speedup_ci_text(*par) << " on " << cores_text << " (bound "
           << speedup_text(par->bound) << ")";
    }
    line << distributed_clause(context, g, k, conc || par);
    const auto& params = gp->params_as<Params>();
    const auto next_part = [&line] {
      const std::string so_far = line.str();
      if (!so_far.empty() && so_far.back() != ';' && so_far.back() != ':') line << ";";
    };
    if (const std::string weak = weak_clause(context, g, k, backend); !weak.empty()) {
      next_part();
      line << weak;
    }
    if (params.wait != exec::WaitOwner::engine) {
      next_part();
      line << own_wait_clause(context, g, params, conc != nullptr ? conc : par);
    }
    line << " [" << exec::to_string(backend) << " backend]";
    lines.push_back(line.str());
  }
  return lines;
}

std::vector<std::string> RequestWorkload::verdicts(const VerdictContext& context) const {
  return headline_verdicts(context);
}

}  // namespace cvp

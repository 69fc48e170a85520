#include "harness/distributed.h"

#include <map>
#include <stdexcept>
#include <string>

#include "cvp/dist.h"
#include "dist/network.h"
#include "dist/runtime.h"
#include "harness/interrupt.h"

namespace cvp::bench {
namespace {

using dist::Command;
using dist::Op;

// What an exception says, for a sentence.
template <typename F>
std::optional<std::string> failure_of(F&& step) {
  try {
    step();
    return std::nullopt;
  } catch (const std::bad_alloc&) {
    return std::string("not enough memory");
  } catch (const std::exception& e) {
    return std::string(e.what());
  } catch (...) {
    return std::string("an exception that is not a std::exception");
  }
}

class DistributedRun;
// The point the other ranks are awake for (they follow one point at a time): the points of a
// group are prepared together and take turns, so each step checks it is still this one's.
DistributedRun* g_awake = nullptr;

// Rank 0's side of a distributed point: each step is sent to the other ranks, then taken here.
// A step that fails here once the others have started it cannot be undone (they wait inside
// the point's communication): the run ends, naming the point.
class DistributedRun final : public PreparedPoint {
 public:
  // `timed_communication`: its executions report the main thread's communication seconds (a
  // distributed point's; a point served with the other ranks as its backend measures its waits).
  DistributedRun(std::string name, std::unique_ptr<PreparedPoint> inner, bool timed_communication)
      : name_(std::move(name)), inner_(std::move(inner)), timed_communication_(timed_communication) {}
  ~DistributedRun() override {
    if (g_awake == this) g_awake = nullptr;
    dist::post({Op::release, name_});
  }
  DistributedRun(const DistributedRun&) = delete;
  DistributedRun& operator=(const DistributedRun&) = delete;

  void resume() override {
    if (g_awake == this) return;
    // Another point's executions came last (prepared, not yet idle): it gives back first.
    if (g_awake != nullptr) g_awake->idle();
    dist::post({Op::resume, name_});
    g_awake = this;
    inner_->resume();
  }
  void warm_up() override {
    resume();
    dist::post({Op::warm_up, {}});
    step([&] { inner_->warm_up(); });
  }
  Execution execute() override {
    resume();
    dist::post({Op::execute, {}});
    const double before = dist::communication_seconds();
    Execution e;
    step([&] { e = inner_->execute(); });
    if (timed_communication_) e.values[kCommunicationValue] += dist::communication_seconds() - before;
    return e;
  }
  std::optional<std::string> verify() override {
    resume();
    dist::post({Op::verify, {}});
    std::optional<std::string> mine;
    step([&] { mine = inner_->verify(); });
    return dist::agree(mine);
  }
  void corrupt() override { inner_->corrupt(); }
  // This rank's team only: the other ranks' CPU time is not read here.
  void settle() override { inner_->settle(); }
  std::optional<double> spun_s() const override { return inner_->spun_s(); }
  std::size_t wrong_items() const override { return inner_->wrong_items(); }
  void idle() override {
    if (g_awake != this) return;
    dist::post({Op::idle, {}});
    step([&] { inner_->idle(); });
    g_awake = nullptr;
  }

 private:
  template <typename F>
  void step(F&& what) {
    if (const auto why = failure_of(what)) {
      dist::abort_run(name_ + ": " + *why + " (the other ranks were already in this step)", 1);
    }
  }

  std::string name_;
  std::unique_ptr<PreparedPoint> inner_;
  bool timed_communication_;
};

// A point prepared on this rank, with what it needs to live.
struct Followed {
  std::unique_ptr<exec::Sightings> seen;
  std::unique_ptr<PreparedPoint> run;
};

}  // namespace

std::unique_ptr<PreparedPoint> prepare_distributed(Workload& workload, const Point& point,
                                                   exec::Sightings& sightings, StopToken stop) {
  const std::string name = point.name();
  dist::post({Op::prepare, name});
  std::unique_ptr<PreparedPoint> inner;
  std::optional<std::string> mine = failure_of([&] {
    inner = workload.prepare(point, sightings, stop);
    if (!inner) throw std::runtime_error(workload.name() + ": prepare() returned no run");
  });
  if (const auto why = dist::agree(mine)) {
    dist::post({Op::release, name});
    throw std::runtime_error(*why);
  }
  return std::make_unique<DistributedRun>(name, std::move(inner), point.mode == Mode::distributed);
}

int follow_rank_zero(const std::vector<Workload*>& workloads, const std::vector<Point>& points) {
  std::map<std::string, const Point*> by_name;
  for (const Point& p : points) {
    if (p.all_ranks()) by_name[p.name()] = &p;
  }
  std::map<std::string, Followed> prepared;
  PreparedPoint* current = nullptr;
  bool awake = false;
  for (;;) {
    const Command c = dist::next(awake);
    switch (c.op) {
      case Op::prepare: {
        Followed f;
        const auto why = failure_of([&] {
          const auto it = by_name.find(c.name);
          if (it == by_name.end()) {
            throw std::runtime_error("has no point " + c.name + " in its plan (its machine or "
                                     "options differ from rank 0's)");
          }
          const Point& p = *it->second;
          Workload* w = nullptr;
          for (Workload* candidate : workloads) {
            if (candidate->name() == p.workload) w = candidate;
          }
          f.seen = std::make_unique<exec::Sightings>(std::max(1, p.threads));
          f.run = w->prepare(p, *f.seen, StopToken(&interrupt_flag()));
          if (!f.run) throw std::runtime_error(p.workload + ": prepare() returned no run");
        });
        dist::agree(why);
        if (!why) prepared[c.name] = std::move(f);
        break;
      }
      case Op::resume: {
        const auto it = prepared.find(c.name);
        if (it == prepared.end()) dist::abort_run("asked to run " + c.name + ", which it has not prepared", 3);
        current = it->second.run.get();
        current->resume();
        awake = true;
        break;
      }
      case Op::release:
        if (const auto it = prepared.find(c.name); it != prepared.end()) {
          if (current == it->second.run.get()) current = nullptr;
          prepared.erase(it);
        }
        break;
      case Op::network:
        dist::measure_network();
        break;
      case Op::finish:
        return 0;
      default: {
        if (current == nullptr) dist::abort_run("a step came before any point was resumed", 3);
        std::optional<std::string> verdict;
        const auto why = failure_of([&] {
          switch (c.op) {
            case Op::warm_up: current->warm_up(); break;
            case Op::execute: current->execute(); break;
            case Op::verify: verdict = current->verify(); break;
            case Op::idle: current->idle(); awake = false; break;
            default: throw std::runtime_error("an unknown command " + std::to_string(static_cast<int>(c.op)));
          }
        });
        if (why) dist::abort_run(c.name.empty() ? *why : c.name + ": " + *why, 1);
        if (c.op == Op::verify) dist::agree(verdict);
        break;
      }
    }
  }
}

}  // namespace cvp::bench

// cvp/dist.h's round trips to backend ranks: rank 0's workers queue their requests, rank 0's
// main thread (the only one that calls MPI) sends them and hands each reply back, and every
// other rank answers them after its hold. Their own communicator, so that nothing else a run
// sends can be taken for a request or a reply.
#include <sys/prctl.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cvp/dist.h"
#include "dist/runtime.h"

#ifdef CVP_HAVE_MPI
#include <mpi.h>
#endif

namespace cvp::dist {
namespace {

using TripClock = std::chrono::steady_clock;

// A round trip a worker asked for, not yet sent.
struct Outgoing {
  int to = 0;
  std::uint64_t id = 0;
  std::uint64_t value = 0;
  RoundTripDone done;
};

// What the workers and the main thread share while carry_round_trips() runs.
struct Outbox {
  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Outgoing> queued;
  bool carrying = false;  // carry_round_trips() is running
  bool finished = false;  // its work has returned
  // The main thread sleeps for longer than a few polls: a request queued wakes it. Else the
  // request waits for its next poll, and the workers are not interrupted once per request.
  bool sleeping_long = false;
};
Outbox g_outbox;

// "waited 300 s" for the deadline's sentence.
std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

// The calling thread's timer slack set to 1 ns while it lives (a poll of 20 us must not become
// one of 70), restored after.
class FineTimer {
 public:
  FineTimer() : saved_(::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) { ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); }
  ~FineTimer() {
    if (saved_ > 0) ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(saved_), 0, 0, 0);
  }
  FineTimer(const FineTimer&) = delete;
  FineTimer& operator=(const FineTimer&) = delete;

 private:
  long saved_;
};

}  // namespace

void start_round_trip(int to, std::uint64_t id, std::uint64_t value, RoundTripDone done) {
  if (to < 1 || to >= ranks()) {
    throw std::logic_error("start_round_trip: rank " + std::to_string(to) +
                           " is not a backend rank (1 .. " + std::to_string(ranks() - 1) + ")");
  }
  {
    const std::lock_guard<std::mutex> lock(g_outbox.mutex);
    if (!g_outbox.carrying) {
      throw std::logic_error("start_round_trip: called outside carry_round_trips() on rank 0");
    }
    g_outbox.queued.push_back({to, id, value, std::move(done)});
    if (!g_outbox.sleeping_long) return;
    g_outbox.sleeping_long = false;
  }
  g_outbox.wake.notify_one();
}

#ifdef CVP_HAVE_MPI

namespace {

MPI_Comm g_trips = MPI_COMM_NULL;
constexpr int kRequestTag = 1;
constexpr int kReplyTag = 2;
constexpr int kEndTag = 3;

using Message = std::array<std::uint64_t, 2>;  // {id, value} out, {id, reply} back

// Rank 0's round trips in flight, by id: each message stays where it is until its send is done.
struct Flight {
  Message message{};
  MPI_Request send = MPI_REQUEST_NULL;
  RoundTripDone done;
  TripClock::time_point sent;
};

// Rank 0's main thread, for one carry_round_trips(): sends what the workers queued, and hands
// back every reply that came.
class Carrier {
 public:
  Carrier() { post_receive(); }
  ~Carrier() {
    MPI_Cancel(&receive_);
    MPI_Wait(&receive_, MPI_STATUS_IGNORE);
  }
  Carrier(const Carrier&) = delete;
  Carrier& operator=(const Carrier&) = delete;

  bool idle() const { return flights_.empty(); }
  TripClock::duration shortest() const { return shortest_; }

  void send(std::vector<Outgoing>& batch) {
    for (Outgoing& o : batch) {
      const auto [it, fresh] = flights_.try_emplace(o.id);
      if (!fresh) abort_run("a round trip started for request " + std::to_string(o.id) + ", already in flight", 3);
      Flight& f = it->second;
      f.message = {o.id, o.value};
      f.done = std::move(o.done);
      f.sent = TripClock::now();
      MPI_Isend(f.message.data(), 2, MPI_UINT64_T, o.to, kRequestTag, g_trips, &f.send);
      in_order_.emplace_back(f.sent, o.id);
    }
    if (!batch.empty()) last_reply_ = TripClock::now();
  }

  // When the next reply can come at the earliest: the oldest round trip in flight sent plus 90%
  // of the shortest round trip seen (replies sooner than that are not worth waking for); now
  // when none has come back yet.
  TripClock::time_point next_reply() {
    while (!in_order_.empty() && flights_.find(in_order_.front().second) == flights_.end()) in_order_.pop_front();
    if (in_order_.empty() || !(shortest_ > TripClock::duration::zero())) return TripClock::now();
    return in_order_.front().first + shortest_ * 9 / 10;
  }

  // Hands back every reply in; true when there was one.
  bool receive() {
    bool any = false;
    for (;;) {
      int in = 0;
      MPI_Test(&receive_, &in, MPI_STATUS_IGNORE);
      if (!in) break;
      const auto it = flights_.find(reply_[0]);
      if (it == flights_.end()) abort_run("a backend rank replied to request " + std::to_string(reply_[0]) + ", not in flight", 3);
      MPI_Wait(&it->second.send, MPI_STATUS_IGNORE);  // done: the backend has the request
      const auto took = TripClock::now() - it->second.sent;
      if (!(shortest_ > TripClock::duration::zero()) || took < shortest_) shortest_ = took;
      RoundTripDone done = std::move(it->second.done);
      flights_.erase(it);
      const std::uint64_t reply = reply_[1];
      post_receive();
      done(reply);
      any = true;
    }
    const auto now = TripClock::now();
    if (any || flights_.empty()) {
      last_reply_ = now;
    } else if (std::chrono::duration<double>(now - last_reply_).count() > timeout()) {
      abort_run("waited " + seconds_text(timeout()) + " s (--rank-timeout) for a backend rank's reply to " +
                    std::to_string(flights_.size()) + " round trips: a rank stopped answering; the run "
                    "ends and writes nothing",
                3);
    }
    return any;
  }

 private:
  void post_receive() { MPI_Irecv(reply_.data(), 2, MPI_UINT64_T, MPI_ANY_SOURCE, kReplyTag, g_trips, &receive_); }

  std::unordered_map<std::uint64_t, Flight> flights_;
  std::deque<std::pair<TripClock::time_point, std::uint64_t>> in_order_;  // sent, id (some done)
  TripClock::duration shortest_{};  // the shortest round trip so far
  Message reply_{};
  MPI_Request receive_ = MPI_REQUEST_NULL;
  TripClock::time_point last_reply_ = TripClock::now();
};

// The main thread's loop while `finished` is not set or a round trip is in flight. It sleeps
// while no reply can be in yet (none in flight, or the oldest sent less than the shortest round
// trip ago), waking at once for a request to send, and then polls, a poll (`poll_us`, or 5% of
// the shortest round trip if longer) after a reply and twice as long after each poll in vain
// (up to 4 polls): each wake-up takes the CPU from the workers it shares.
void carry(Carrier& carrier, double poll_us) {
  const auto poll = std::chrono::duration_cast<TripClock::duration>(std::chrono::duration<double, std::micro>(poll_us));
  auto interval = poll;  // doubled by each poll in vain, up to 4 polls; back to one at a reply
  bool polled_in_vain = false;
  for (;;) {
    std::vector<Outgoing> batch;
    bool finished = false;
    {
      std::unique_lock<std::mutex> lock(g_outbox.mutex);
      if (g_outbox.queued.empty() && !g_outbox.finished) {
        const auto now = TripClock::now();
        const auto until = carrier.idle() ? now + std::chrono::milliseconds(1)
                                          : std::max(carrier.next_reply(), polled_in_vain ? now + interval : now);
        g_outbox.sleeping_long = until - now > 4 * poll;
        if (until > now) g_outbox.wake.wait_until(lock, until);
        g_outbox.sleeping_long = false;
      }
      batch.swap(g_outbox.queued);
      finished = g_outbox.finished;
    }
    carrier.send(batch);
    const bool any = carrier.receive();
    if (finished && batch.empty() && carrier.idle()) return;
    polled_in_vain = !any && batch.empty();
    // A poll is worth 5% of the shortest round trip: a wait overshoots by about that at most.
    const auto base = std::max(poll, carrier.shortest() / 20);
    interval = any ? base : polled_in_vain ? std::min(interval * 2, base * 4) : interval;
  }
}

}  // namespace

void open_round_trips() { MPI_Comm_dup(MPI_COMM_WORLD, &g_trips); }
void close_round_trips() {
  if (g_trips != MPI_COMM_NULL) MPI_Comm_free(&g_trips);
}

void carry_round_trips(const std::function<void()>& work, double poll_us) {
  if (g_trips == MPI_COMM_NULL || ranks() < 2 || rank() != 0) {
    throw std::logic_error("carry_round_trips: rank 0 of a run of several ranks only");
  }
  {
    const std::lock_guard<std::mutex> lock(g_outbox.mutex);
    g_outbox.carrying = true;
    g_outbox.finished = false;
  }
  std::exception_ptr failure;
  {
    const FineTimer fine;
    Carrier carrier;
    std::thread worker([&] {
      try {
        work();
      } catch (...) {
        failure = std::current_exception();
      }
      {
        const std::lock_guard<std::mutex> lock(g_outbox.mutex);
        g_outbox.finished = true;
      }
      g_outbox.wake.notify_one();
    });
    carry(carrier, poll_us);
    worker.join();
  }
  {
    const std::lock_guard<std::mutex> lock(g_outbox.mutex);
    g_outbox.carrying = false;
  }
  const Message end{0, 0};
  for (int r = 1; r < ranks(); ++r) MPI_Send(end.data(), 2, MPI_UINT64_T, r, kEndTag, g_trips);
  if (failure) std::rethrow_exception(failure);
}

namespace {

// A backend's request held until it is due, with its answer.
struct Held {
  TripClock::time_point due;
  Message reply;
};

// A reply on its way back: the message stays put until its send is done.
struct Sending {
  Message reply{};
  MPI_Request request = MPI_REQUEST_NULL;
};

}  // namespace

void serve_round_trips(const RoundTripAnswer& answer, double hold_us) {
  if (g_trips == MPI_COMM_NULL || rank() == 0) {
    throw std::logic_error("serve_round_trips: a rank other than 0 of a run of several ranks only");
  }
  const auto hold = std::chrono::duration_cast<TripClock::duration>(std::chrono::duration<double, std::micro>(hold_us));
  Message in{};
  MPI_Request receive = MPI_REQUEST_NULL;
  MPI_Irecv(in.data(), 2, MPI_UINT64_T, 0, MPI_ANY_TAG, g_trips, &receive);
  std::deque<Held> held;  // the hold is the same for every request: due in the order they came
  std::deque<Sending> sending;
  bool over = false;
  auto heard = TripClock::now();
  for (unsigned spins = 0; !over || !held.empty() || !sending.empty(); ++spins) {
    const auto now = TripClock::now();
    int done = 0;
    MPI_Status status;
    if (!over && (MPI_Test(&receive, &done, &status), done)) {
      heard = TripClock::now();  // not `now`: the request may have come after it was read
      if (status.MPI_TAG == kEndTag) {
        over = true;
      } else {
        held.push_back({heard + hold, {in[0], answer(in[0], in[1])}});
        MPI_Irecv(in.data(), 2, MPI_UINT64_T, 0, MPI_ANY_TAG, g_trips, &receive);
      }
    }
    for (; !held.empty() && held.front().due <= now; held.pop_front()) {
      Sending& s = sending.emplace_back();
      s.reply = held.front().reply;
      MPI_Isend(s.reply.data(), 2, MPI_UINT64_T, 0, kReplyTag, g_trips, &s.request);
    }
    while (!sending.empty() && (MPI_Test(&sending.front().request, &done, MPI_STATUS_IGNORE), done)) sending.pop_front();
    if ((spins & 1023U) == 0 && std::chrono::duration<double>(now - heard).count() > timeout()) {
      abort_run("waited " + seconds_text(timeout()) + " s (--rank-timeout) for rank 0's round trips: "
                "it stopped sending (it died or hangs); the run ends and writes nothing", 3);
    }
  }
}

#else  // built without MPI: one rank, no backend

void carry_round_trips(const std::function<void()>&, double) {
  throw std::logic_error("carry_round_trips: this run has one rank (built without MPI)");
}
void serve_round_trips(const RoundTripAnswer&, double) {
  throw std::logic_error("serve_round_trips: this run has one rank (built without MPI)");
}

#endif

}  // namespace cvp::dist

// The distributed mode's runtime and cvp/dist.h's operations, on MPI where the library was built
// with it (CVP_HAVE_MPI), else one rank whose operations are the identity.
#include "dist/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>

#include "cvp/dist.h"

#ifdef CVP_HAVE_MPI
#include <mpi.h>
#endif

namespace cvp::dist {
namespace {

using Clock = std::chrono::steady_clock;

double g_timeout_s = 300;
void (*g_on_abort)() = nullptr;

// The on_abort hook, at most once.
void undo_before_abort() {
  if (void (*hook)() = g_on_abort) {
    g_on_abort = nullptr;
    hook();
  }
}
double g_comm_s = 0;  // the main thread's seconds inside Group's operations
bool g_running = false;
const std::atomic<bool>* g_interrupted = nullptr;
int g_rank = 0;
int g_ranks = 1;
Layout g_layout;

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown host";
  return name;
}

// Adds the seconds from its construction to its destruction to the communication time.
class CommTimer {
 public:
  CommTimer() : start_(Clock::now()) {}
  ~CommTimer() { g_comm_s += std::chrono::duration<double>(Clock::now() - start_).count(); }
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  Clock::time_point start_;
};

}  // namespace

bool launched() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                           "MPI_LOCALNRANKS", "HYDI_CONTROL_FD"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

void set_timeout(double seconds) { g_timeout_s = seconds; }
void set_on_abort(void (*on_abort)()) { g_on_abort = on_abort; }
void watch_interruptions(const std::atomic<bool>* flag) { g_interrupted = flag; }
double timeout() { return g_timeout_s; }
bool running() { return g_running; }
const Layout& layout() { return g_layout; }

bool built_with_mpi() {
#ifdef CVP_HAVE_MPI
  return true;
#else
  return false;
#endif
}
int rank() { return g_rank; }
int ranks() { return g_ranks; }
std::string host() { return g_layout.hosts.empty() ? this_host() : g_layout.hosts[static_cast<std::size_t>(g_rank)]; }
double communication_seconds() { return g_comm_s; }

// The CPUs of this rank's share of its host: the allowed cores in the order of their CPU numbers
// (the same order on every rank of the host, whatever the machine model ranked), split evenly
// among the host's ranks; one CPU per core, then their SMT siblings. A host with fewer cores
// than ranks gives each rank one core, shared round-robin.
std::vector<int> share_of_host(const exec::Topology& topology, int local_rank, int local_size) {
  std::vector<std::vector<int>> cores = topology.cores;
  for (auto& core : cores) std::sort(core.begin(), core.end());
  std::sort(cores.begin(), cores.end());
  const auto count = static_cast<int>(cores.size());
  std::vector<std::vector<int>> mine;
  if (count < local_size) {
    mine.push_back(cores[static_cast<std::size_t>(local_rank % std::max(count, 1))]);
  } else {
    for (int c = local_rank * count / local_size; c < (local_rank + 1) * count / local_size; ++c) {
      mine.push_back(cores[static_cast<std::size_t>(c)]);
    }
  }
  std::vector<int> cpus;
  for (std::size_t level = 0;; ++level) {
    bool any = false;
    for (const auto& core : mine) {
      if (level < core.size()) {
        cpus.push_back(core[level]);
        any = true;
      }
    }
    if (!any) break;
  }
  return cpus;
}


#ifdef CVP_HAVE_MPI

namespace {

MPI_Comm g_commands = MPI_COMM_NULL;  // rank 0's commands
MPI_Comm g_world = MPI_COMM_NULL;     // the workloads' operations (Group::world)

// How long a wait for the other ranks goes on after an interruption.
constexpr std::chrono::seconds kInterruptedGrace{2};

// Waits for `request` until the deadline; past it the run ends naming this rank and `what`.
void wait_for(MPI_Request& request, const char* what) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(g_timeout_s);
  int done = 0;
  for (unsigned spins = 0;; ++spins) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if ((spins & 1023U) != 0) continue;
    // An interruption stops the run at its next safe point, which needs the other ranks: a
    // wait ends at it only once they have not answered for a while.
    if (g_interrupted != nullptr && g_interrupted->load(std::memory_order_relaxed) &&
        Clock::now() > deadline - std::chrono::duration<double>(g_timeout_s) + kInterruptedGrace) {
      abort_run(std::string("interrupted while waiting for the other ranks in ") + what +
                    ": the run ends and writes nothing",
                130);
    }
    if (Clock::now() > deadline) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", g_timeout_s);
      abort_run(std::string("waited ") + seconds + " s (--rank-timeout) for the other ranks in " +
                    what + ": a rank stopped answering (it died or hangs); the run ends and writes nothing",
                3);
    }
  }
}

std::string first_line(const char* text) {
  std::string s(text);
  const auto end = s.find_first_of("\r\n");
  if (end != std::string::npos) s.resize(end);
  // "MPICH Version:\t4.0.2": one space for every run of blanks.
  std::string spaced;
  for (const char ch : s) {
    const bool blank = ch == ' ' || ch == '\t';
    if (!blank || (!spaced.empty() && spaced.back() != ' ')) spaced += blank ? ' ' : ch;
  }
  s = std::move(spaced);
  while (!s.empty() && (s.back() == ' ' || s.back() == ',')) s.pop_back();
  return s;
}

void find_layout() {
  Layout l;
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &l.local_rank);
  MPI_Comm_size(local, &l.local_size);
  MPI_Comm_free(&local);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  std::vector<char> all(static_cast<std::size_t>(g_ranks) * MPI_MAX_PROCESSOR_NAME);
  MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                MPI_COMM_WORLD);
  for (int r = 0; r < g_ranks; ++r) {
    const char* h = all.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    l.hosts.emplace_back(h, strnlen(h, MPI_MAX_PROCESSOR_NAME));
  }
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  MPI_Get_library_version(version, &length);
  l.library = first_line(version);
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  l.standard = std::to_string(major) + "." + std::to_string(minor);
  g_layout = std::move(l);
}

constexpr int kNameBytes = 1024;

// A command as it travels: the op and the name, fixed size.
struct Wire {
  int op = 0;
  char name[kNameBytes] = {};
};

}  // namespace

std::optional<std::string> start(int* argc, char*** argv) {
  if (!launched()) return std::nullopt;
  int provided = 0;
  // Only the main thread of each rank calls MPI; the teams' workers compute.
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_running = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);
  // A failure inside MPI returns its code, which the operations below turn into one sentence,
  // instead of MPI's default of ending every rank with its own message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_commands);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_world);
  open_round_trips();
  find_layout();
  return std::nullopt;
}

void finish() {
  if (!g_running) return;
  MPI_Comm_free(&g_commands);
  MPI_Comm_free(&g_world);
  close_round_trips();
  MPI_Finalize();
  g_running = false;
}

[[noreturn]] void abort_run(const std::string& sentence, int code) {
  std::fprintf(stderr, "cvpbench: rank %d (%s): %s\n", g_rank, host().c_str(), sentence.c_str());
  std::fflush(stderr);
  undo_before_abort();
  if (g_running) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void post(const Command& command) {
  if (!g_running || g_ranks < 2) return;
  Wire w;
  w.op = static_cast<int>(command.op);
  if (command.name.size() >= sizeof w.name) {
    abort_run("point name longer than " + std::to_string(kNameBytes - 1) + " bytes: " + command.name, 3);
  }
  std::memcpy(w.name, command.name.data(), command.name.size());
  MPI_Request request;
  MPI_Ibcast(&w, sizeof w, MPI_BYTE, 0, g_commands, &request);
  wait_for(request, "sending a command");
}

Command next(bool awake) {
  Wire w;
  MPI_Request request;
  MPI_Ibcast(&w, sizeof w, MPI_BYTE, 0, g_commands, &request);
  int done = 0;
  // No deadline: rank 0 may measure its own points for as long as the run lasts, and the
  // launcher ends this rank when rank 0 ends.
  while (true) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (!awake) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Command c;
  c.op = static_cast<Op>(w.op);
  c.name.assign(w.name, strnlen(w.name, sizeof w.name));
  return c;
}

std::optional<std::string> agree(const std::optional<std::string>& mine) {
  if (!g_running || g_ranks < 2) return mine;
  Wire w;
  w.op = mine ? 1 : 0;
  if (mine) std::snprintf(w.name, sizeof w.name, "%s", mine->c_str());
  std::vector<Wire> all(g_rank == 0 ? static_cast<std::size_t>(g_ranks) : 0);
  MPI_Request request;
  MPI_Igather(&w, sizeof w, MPI_BYTE, all.data(), sizeof w, MPI_BYTE, 0, g_commands, &request);
  wait_for(request, "agreeing on a step's outcome");
  if (g_rank != 0) return std::nullopt;
  for (int r = 0; r < g_ranks; ++r) {
    const Wire& one = all[static_cast<std::size_t>(r)];
    if (one.op != 0) {
      return "rank " + std::to_string(r) + " (" + g_layout.hosts[static_cast<std::size_t>(r)] +
             "): " + std::string(one.name, strnlen(one.name, sizeof one.name));
    }
  }
  return std::nullopt;
}

std::vector<std::string> gather_text(const std::string& mine) {
  if (!g_running || g_ranks < 2) return {mine};
  Wire w;
  std::snprintf(w.name, sizeof w.name, "%s", mine.c_str());
  std::vector<Wire> all(g_rank == 0 ? static_cast<std::size_t>(g_ranks) : 0);
  MPI_Request request;
  MPI_Igather(&w, sizeof w, MPI_BYTE, all.data(), sizeof w, MPI_BYTE, 0, g_commands, &request);
  wait_for(request, "gathering the ranks' places");
  std::vector<std::string> out;
  for (const Wire& one : all) out.emplace_back(one.name, strnlen(one.name, sizeof one.name));
  return out;
}

bool same_everywhere(std::uint64_t value) {
  if (!g_running || g_ranks < 2) return true;
  unsigned long long v[2] = {value, ~value};
  unsigned long long out[2] = {0, 0};
  MPI_Request request;
  MPI_Iallreduce(v, out, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, g_commands, &request);
  wait_for(request, "comparing the command lines");
  return out[0] == value && out[1] == ~value;
}

struct Group::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;
  ~Impl() {
    if (owned && comm != MPI_COMM_NULL && g_running) MPI_Comm_free(&comm);
  }
};

namespace {

MPI_Comm comm_of(const std::shared_ptr<Group::Impl>& impl) {
  return impl ? impl->comm : MPI_COMM_NULL;
}

int to_int(std::size_t count) {
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("a message of more than 2^31 doubles");
  }
  return static_cast<int>(count);
}

}  // namespace

Group Group::world() {
  auto impl = std::make_shared<Impl>();
  impl->comm = g_running ? g_world : MPI_COMM_NULL;
  return Group(impl);
}

Group Group::split(int color, int key) const {
  auto impl = std::make_shared<Impl>();
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) return Group(impl);
  CommTimer timer;
  MPI_Comm_split(comm, color, key, &impl->comm);
  impl->owned = true;
  return Group(impl);
}

int Group::rank() const {
  int r = 0;
  if (comm_of(impl_) != MPI_COMM_NULL) MPI_Comm_rank(comm_of(impl_), &r);
  return r;
}

int Group::size() const {
  int s = 1;
  if (comm_of(impl_) != MPI_COMM_NULL) MPI_Comm_size(comm_of(impl_), &s);
  return s;
}

void Group::broadcast(double* data, std::size_t count, int root) const {
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) return;
  CommTimer timer;
  MPI_Request request;
  MPI_Ibcast(data, to_int(count), MPI_DOUBLE, root, comm, &request);
  wait_for(request, "a broadcast");
}

void Group::sum(double* data, std::size_t count) const {
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) return;
  CommTimer timer;
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, data, to_int(count), MPI_DOUBLE, MPI_SUM, comm, &request);
  wait_for(request, "a sum over the ranks");
}

double Group::sum(double value) const {
  sum(&value, 1);
  return value;
}

double Group::max(double value) const {
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) return value;
  CommTimer timer;
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, comm, &request);
  wait_for(request, "a maximum over the ranks");
  return value;
}

void Group::gather(const double* mine, std::size_t count, double* all, int root) const {
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) {
    std::copy(mine, mine + count, all);
    return;
  }
  CommTimer timer;
  MPI_Request request;
  MPI_Igather(mine, to_int(count), MPI_DOUBLE, all, to_int(count), MPI_DOUBLE, root, comm, &request);
  wait_for(request, "a gather");
}

void Group::barrier() const {
  const MPI_Comm comm = comm_of(impl_);
  if (comm == MPI_COMM_NULL) return;
  CommTimer timer;
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  wait_for(request, "a barrier");
}

namespace {

// A send (of `out`) or a receive (into `in`) of `count` doubles with rank `peer`, waited for.
void point_to_point(MPI_Comm comm, bool sending, const double* out, double* in, std::size_t count,
                    int peer, int tag) {
  const char* what = sending ? "a send" : "a receive";
  if (comm == MPI_COMM_NULL) throw std::logic_error(std::string(what + 2) + ": this run has one rank");
  CommTimer timer;
  MPI_Request request;
  if (sending) {
    MPI_Isend(out, to_int(count), MPI_DOUBLE, peer, tag, comm, &request);
  } else {
    MPI_Irecv(in, to_int(count), MPI_DOUBLE, peer, tag, comm, &request);
  }
  wait_for(request, what);
}

}  // namespace

void Group::send(const double* data, std::size_t count, int to, int tag) const {
  point_to_point(comm_of(impl_), true, data, nullptr, count, to, tag);
}

void Group::receive(double* data, std::size_t count, int from, int tag) const {
  point_to_point(comm_of(impl_), false, nullptr, data, count, from, tag);
}

#else  // built without MPI: one rank

std::optional<std::string> start(int*, char***) {
  if (!launched()) return std::nullopt;
  return "distributed: built without MPI (this program runs as one rank of its own; the "
         "launcher's other ranks each run it alone)";
}
void finish() {}
[[noreturn]] void abort_run(const std::string& sentence, int code) {
  std::fprintf(stderr, "cvpbench: %s\n", sentence.c_str());
  undo_before_abort();
  std::_Exit(code);
}
void post(const Command&) {}
Command next(bool) { return {}; }
std::optional<std::string> agree(const std::optional<std::string>& mine) { return mine; }
bool same_everywhere(std::uint64_t) { return true; }
std::vector<std::string> gather_text(const std::string& mine) { return {mine}; }

struct Group::Impl {};

Group Group::world() { return Group(std::make_shared<Impl>()); }
Group Group::split(int, int) const { return Group(std::make_shared<Impl>()); }
int Group::rank() const { return 0; }
int Group::size() const { return 1; }
void Group::broadcast(double*, std::size_t, int) const {}
void Group::sum(double*, std::size_t) const {}
double Group::sum(double value) const { return value; }
double Group::max(double value) const { return value; }
void Group::gather(const double* mine, std::size_t count, double* all, int) const {
  std::copy(mine, mine + count, all);
}
void Group::barrier() const {}
void Group::send(const double*, std::size_t, int, int) const {
  throw std::logic_error("send: this run has one rank");
}
void Group::receive(double*, std::size_t, int, int) const {
  throw std::logic_error("receive: this run has one rank");
}

#endif

}  // namespace cvp::dist

// A request handler that waits on the disk itself, measured by cvpbench: a payments journal.
// Each request is one payment; handling it is
//   before the wait: format its journal record (256 bytes) and sign it (a few hundred rounds
//                    of a hash),
//   the wait:        the handler's own, blocking: write the record at its place in the journal
//                    and fdatasync() it, so that the payment survives a crash before it is
//                    acknowledged (Spec::wait = blocking),
//   after the wait:  format the acknowledgement, whose hash is the fingerprint cvpbench
//                    compares with the serial handling's.
// cvpbench measures each fdatasync as the request's wait, and bounds the speedup by what it
// measured: where the disk makes concurrent fdatasyncs queue behind each other, the waits grow
// with the requests in flight and the bound falls with them. A blocking wait would stall an
// event loop, so this handler runs on threads only.
//
// The journal is a file made in --journal-dir (default: the current folder, so that the disk
// measured is the one you run from) and unlinked at once: nothing is left behind.
//
//   journal_bench --quick
//   journal_bench --journal-in-flight 2,8,32 --journal-dir /var/tmp --out runs/journal
#include <cvp/cvpbench.h>

#include "common/hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t kRecordBytes = 256;
constexpr std::uint64_t kSignRounds = 512;

using examples::fnv1a;
using examples::mix;

std::string system_error(const std::string& what) { return what + ": " + std::strerror(errno); }

class Journal final : public cvp::exec::RequestHandler {
 public:
  // The journal file, made and unlinked here: outside every clock.
  Journal(std::size_t requests, const std::string& dir) : records_(requests) {
    std::string path = (dir.empty() ? std::string(".") : dir) + "/cvpbench-journal-XXXXXX";
    fd_ = ::mkstemp(path.data());
    if (fd_ < 0) throw std::runtime_error(system_error("cannot make a journal file in " + dir));
    ::unlink(path.c_str());
  }
  ~Journal() override { ::close(fd_); }
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Format and sign the record, into this id's own slot.
  void before_wait(std::size_t id) override {
    const std::uint64_t r = mix(id + 1);
    char text[kRecordBytes];
    const int n = std::snprintf(text, sizeof text, "payment=%zu from=acct%llu to=acct%llu cents=%llu",
                                id, static_cast<unsigned long long>(r % 100000),
                                static_cast<unsigned long long>(r / 7 % 100000),
                                static_cast<unsigned long long>(r / 11 % 1000000));
    std::uint64_t h = fnv1a(std::string_view(text, static_cast<std::size_t>(n)));
    for (std::uint64_t round = 0; round < kSignRounds; ++round) h = mix(h ^ round);
    std::string& record = records_[id];
    record.assign(text, static_cast<std::size_t>(n));
    record += " sig=" + std::to_string(h);
    record.resize(kRecordBytes - 1, ' ');
    record += '\n';
  }

  // The handler's own wait: the record at its place in the journal, on the disk.
  void wait(std::size_t id) override {
    const std::string& record = records_[id];
    const auto offset = static_cast<off_t>(id * kRecordBytes);
    if (::pwrite(fd_, record.data(), record.size(), offset) != static_cast<ssize_t>(record.size())) {
      throw std::runtime_error(system_error("cannot write payment " + std::to_string(id)));
    }
    if (::fdatasync(fd_) != 0) {
      throw std::runtime_error(system_error("cannot fdatasync payment " + std::to_string(id)));
    }
  }

  // The acknowledgement; its hash is the fingerprint (never 0).
  std::uint64_t after_wait(std::size_t id) override {
    return fnv1a("ack " + std::to_string(id) + " " + records_[id]) | 1;
  }

 private:
  int fd_ = -1;
  std::vector<std::string> records_;  // one per id: what a request carries across its wait
};

// The journal workload: a RequestWorkload with one flag of its own, the journal's folder,
// which every handler it makes reads.
class JournalWorkload final : public cvp::RequestWorkload {
 public:
  JournalWorkload(Spec spec, std::shared_ptr<std::string> dir)
      : RequestWorkload(std::move(spec)), dir_(std::move(dir)) {}
  void add_options(cvp::Flags& flags) override {
    RequestWorkload::add_options(flags);
    flags.text("--journal-dir", dir_.get(),
               "journal: the folder the journal file is made in (default: the current one)",
               [](const std::string& dir) -> std::optional<std::string> {
                 struct stat st {};
                 if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "not a folder.";
                 return std::nullopt;
               });
  }

 private:
  std::shared_ptr<std::string> dir_;
};

}  // namespace

int main(int argc, char** argv) {
  cvp::RequestWorkload::Spec spec;
  spec.name = "journal";
  spec.description = "a payments journal: format and sign a record, write it and fdatasync it, "
                     "acknowledge it";
  spec.wait = cvp::exec::WaitOwner::blocking;  // the handler's own wait(), on threads
  spec.waits_on = "fdatasync";
  spec.wait_us = 1000;        // a guess at one fdatasync; it only sizes the runs
  spec.in_flight = {4, 16};   // --journal-in-flight
  spec.cpu_us = 10;           // about what format + sign cost; it only sizes the runs
  auto dir = std::make_shared<std::string>(".");  // --journal-dir
  spec.make = [dir](std::size_t requests) { return std::make_unique<Journal>(requests, *dir); };

  std::vector<std::unique_ptr<cvp::Workload>> workloads;
  workloads.push_back(std::make_unique<JournalWorkload>(spec, dir));
  return cvp::run_program(argc, argv, std::move(workloads));
}

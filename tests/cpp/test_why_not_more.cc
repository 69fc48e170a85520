// The "why not more" lines of the console: rows close to their attainable bound get none, the
// others are grouped by cause with their rows named compactly, and the rows whose cause was
// not identified are counted in one line unless --verbose asks for each.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "report/diagnosis.h"
#include "report/summary.h"

namespace {

using namespace cvp;

struct Rows {
  std::deque<Point> points;  // stable addresses for the rows' point pointers
  std::vector<bench::ResultRow> rows;

  // A parallel row of `group` on `backend` with `threads` workers at `speedup` of a bound of
  // 2, diagnosed with `cause`.
  void add(const std::string& group, Backend backend, int threads, double speedup, Cause cause) {
    Point& p = points.emplace_back();
    p.workload = group.substr(0, group.find('/'));
    p.group = group;
    p.mode = Mode::parallel;
    p.backend = backend;
    p.threads = threads;
    p.cores = 2;
    bench::ResultRow r;
    r.point = &p;
    r.ok = true;
    r.speedup = speedup;
    r.bound = 2;
    r.diagnosis = bench::Diagnosis{cause, "the line of " + p.name(), {}, {}};
    rows.push_back(std::move(r));
  }
  std::vector<std::string> lines(bool verbose = false) const {
    return bench::why_not_more_lines(rows, verbose);
  }
};

std::string all(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(WhyNotMore, ARowWithin3PercentOfItsBoundGetsNoLineAndOneJustOutsideDoes) {
  Rows inside;
  inside.add("matmul/n:512", Backend::threads, 2, 0.975 * 2, Cause::compute_peak);
  EXPECT_TRUE(inside.lines().empty()) << all(inside.lines());
  EXPECT_TRUE(inside.lines(/*verbose=*/true).empty());
  Rows outside;
  outside.add("matmul/n:512", Backend::threads, 2, 0.965 * 2, Cause::compute_peak);
  ASSERT_EQ(outside.lines().size(), 1u);
  EXPECT_EQ(outside.lines()[0], "compute_peak: matmul n:512 parallel threads (1 row)");
}

TEST(WhyNotMore, GroupsTheRowsOfACauseInOneLine) {
  Rows r;
  for (Backend b : {Backend::threads, Backend::openmp, Backend::tbb}) {
    r.add("triad/n:4096", b, 2, 1.2, Cause::memory_bandwidth);
  }
  r.add("matmul/n:512", Backend::tbb, 2, 1.5, Cause::compute_peak);
  r.add("triad/n:4096", Backend::tbb, 4, 1.1, Cause::memory_bandwidth);
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 2u) << all(lines);
  EXPECT_EQ(lines[0], "memory_bandwidth: triad n:4096 parallel threads/openmp/tbb threads:2/4 (4 rows)");
  EXPECT_EQ(lines[1], "compute_peak: matmul n:512 parallel tbb (1 row)");
}

TEST(WhyNotMore, CountsTheRowsNotIdentifiedUnlessVerbose) {
  Rows r;
  for (int n : {64, 128, 256}) {
    r.add("matmul/n:" + std::to_string(n), Backend::threads, 2, 1.0, Cause::not_identified);
  }
  r.add("triad/n:4096", Backend::threads, 2, 1.2, Cause::memory_bandwidth);
  const auto quiet = r.lines();
  ASSERT_EQ(quiet.size(), 2u) << all(quiet);
  EXPECT_EQ(quiet[0], "memory_bandwidth: triad n:4096 parallel threads (1 row)");
  EXPECT_EQ(quiet[1].rfind("not_identified: 3 rows below their bound", 0), 0u) << quiet[1];
  EXPECT_EQ(all(quiet).find("the line of"), std::string::npos);
  const auto verbose = r.lines(/*verbose=*/true);
  const std::string text = all(verbose);
  for (int n : {64, 128, 256}) {
    const std::string name = "matmul/n:" + std::to_string(n) + "/mode:parallel/backend:threads/threads:2";
    EXPECT_NE(text.find("  " + name + ": the line of " + name), std::string::npos) << text;
  }
  EXPECT_NE(text.find("  triad/n:4096/mode:parallel/backend:threads/threads:2: the line of"), std::string::npos);
  EXPECT_EQ(verbose.size(), 2u + 3u + 1u) << text;  // two cause lines, four rows
}

}  // namespace

// The command line and the plan: what runs where, and what is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <memory>

#include "builtin.h"
#include "cvp/exec/topology.h"
#include "cli/options.h"
#include "harness/plan.h"
#include "util/text.h"

namespace {

using namespace cvp;

// The built-in workloads with a command line parsed into them (each parse gets fresh ones:
// a workload keeps its options).
struct Parsed {
  std::vector<std::unique_ptr<Workload>> owned = workloads::builtin();
  std::vector<Workload*> all;
  bench::Options options;
};

std::shared_ptr<Parsed> parse_all(std::vector<std::string> args, const exec::Topology& t) {
  auto parsed = std::make_shared<Parsed>();
  for (auto& w : parsed->owned) parsed->all.push_back(w.get());
  args.insert(args.begin(), "cvpbench");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  auto result = bench::parse_command_line(static_cast<int>(argv.size()), argv.data(), t,
                                          parsed->all);
  if (!result.options) throw std::runtime_error("no options");
  parsed->options = *result.options;
  return parsed;
}

bench::Options parse(std::vector<std::string> args, const exec::Topology& t) {
  return parse_all(std::move(args), t)->options;
}

std::vector<Point> plan_of(std::vector<std::string> args, const exec::Topology& t) {
  const auto parsed = parse_all(std::move(args), t);
  return bench::make_plan(parsed->all, parsed->options, t);
}

// The one-sentence refusal of a command line, from parsing or from planning.
std::string error_of(std::vector<std::string> args, const exec::Topology& t) {
  try {
    plan_of(std::move(args), t);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

const exec::Topology two_cores = exec::make_topology({{0}, {1}}, false);
const exec::Topology four_smt = exec::make_topology({{0, 4}, {1, 5}, {2, 6}, {3, 7}}, true);
const exec::Topology one_core = exec::make_topology({{1}}, false);

std::vector<int> threads_of(const std::vector<Point>& points, exec::Mode mode,
                            const std::string& backend) {
  std::vector<int> t;
  for (const auto& p : points) {
    if (p.workload == "matmul" && p.mode == mode && exec::to_string(p.backend) == backend) t.push_back(p.threads);
  }
  return t;
}

TEST(Plan, DefaultSweepsOnFourCoresWithSmt) {
  const auto points = plan_of({"--size", "64"}, four_smt);
  EXPECT_EQ(threads_of(points, exec::Mode::parallel, "tbb"), (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_EQ(threads_of(points, exec::Mode::concurrent, "tbb"), (std::vector<int>{2, 4, 8}));
  for (const auto& p : points) {
    if (p.workload != "matmul") continue;
    if (p.mode == exec::Mode::concurrent || p.mode == exec::Mode::serial) {
      EXPECT_TRUE(std::all_of(p.cpus.begin(), p.cpus.end(), [](int c) { return c == 0; }))
          << p.name();
      EXPECT_EQ(p.cores, 1);
    }
    if (p.mode == exec::Mode::parallel && p.threads == 4) {
      EXPECT_EQ(p.cpus, (std::vector<int>{0, 1, 2, 3}));  // one per physical core
      EXPECT_EQ(p.cores, 4);
      EXPECT_EQ(p.placement, Placement::own_cores);
    }
    if (p.mode == exec::Mode::parallel && p.threads == 8) {
      EXPECT_EQ(p.placement, Placement::smt);  // 8 logical CPUs on 4 cores
      EXPECT_EQ(p.cores, 4);
    }
    if (p.mode == exec::Mode::parallel && p.threads == 16) {
      EXPECT_EQ(p.placement, Placement::oversubscribed);
    }
  }
}

TEST(Plan, OversubscriptionIsLabelled) {
  const auto points = plan_of({"--quick"}, two_cores);
  bool found = false;
  for (const auto& p : points) {
    if (p.workload == "matmul" && p.mode == exec::Mode::parallel && p.threads == 4) {
      EXPECT_EQ(p.placement, Placement::oversubscribed);
      EXPECT_EQ(p.cores, 2);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Plan, OneAllowedCoreMeansOneCoreEverywhere) {
  const auto points = plan_of({"--quick"}, one_core);
  for (const auto& p : points) {
    EXPECT_EQ(p.cores, 1) << p.name();
    EXPECT_TRUE(std::all_of(p.cpus.begin(), p.cpus.end(), [](int c) { return c == 1; }))
        << p.name();
    if (p.workload == "requests") {
      EXPECT_NE(p.mode, exec::Mode::parallel) << p.name();
    }
  }
}

TEST(Plan, NamesReadLikePaths) {
  const auto points = plan_of({"--filter", "^matmul/n:64/mode:parallel/backend:tbb/threads:2$", "--size", "64"}, two_cores);
  // The match, plus the serial baseline its speedup needs.
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].name(), "matmul/n:64/mode:serial/backend:tbb/threads:1");
  EXPECT_EQ(points[1].name(), "matmul/n:64/mode:parallel/backend:tbb/threads:2");
}

TEST(Plan, RequestNamesCarryTheRequestCount) {
  // Runs of different request counts are different work: they must not share a name.
  const auto names = [](const std::string& count) {
    std::vector<std::string> out;
    for (const auto& p : plan_of({"--filter", "^requests/", "--in-flight", "8", "--requests", count,
                    "--no-crossover"}, two_cores)) {
      out.push_back(p.name());
    }
    return out;
  };
  const auto few = names("100");
  const auto many = names("400");
  ASSERT_FALSE(few.empty());
  ASSERT_EQ(few.size(), many.size());
  for (std::size_t i = 0; i < few.size(); ++i) {
    EXPECT_NE(few[i].find("/requests:100/"), std::string::npos) << few[i];
    EXPECT_NE(many[i].find("/requests:400/"), std::string::npos) << many[i];
    EXPECT_NE(few[i], many[i]);
  }
}

TEST(Plan, RestrictingToCpus) {
  const auto t = bench::restrict_topology(four_smt, {2, 6});
  EXPECT_EQ(t.allowed_cores(), 1);
  EXPECT_EQ(t.allowed_logical(), 2);
  EXPECT_EQ(t.home_cpu(), 2);
}

TEST(CommandLine, Defaults) {
  const auto o = parse({}, two_cores);
  EXPECT_FALSE(o.quick);
  EXPECT_EQ(o.repetitions, 6);  // 6 blocks: the fewest whose median has a 95% interval
  EXPECT_DOUBLE_EQ(o.precision, 0.02);
  const auto q = parse({"--quick"}, two_cores);
  EXPECT_EQ(q.repetitions, 6);
  EXPECT_DOUBLE_EQ(q.precision, 0.05);
  EXPECT_DOUBLE_EQ(parse({"--precision", "3%"}, two_cores).precision, 0.03);
  EXPECT_DOUBLE_EQ(parse({"--precision", "0"}, two_cores).precision, 0.0);
  const auto s = parse({"--inject-slowdown", "5:^matmul/"}, two_cores);
  ASSERT_EQ(s.slowdowns.size(), 1u);
  EXPECT_DOUBLE_EQ(s.slowdowns[0].fraction, 0.05);
  EXPECT_EQ(s.slowdowns[0].pattern, "^matmul/");
  EXPECT_EQ(parse({"--threads", "1,2", "--size", "64", "128"}, two_cores).threads,
            (std::vector<int>{1, 2}));
}

struct BadInput {
  std::vector<std::string> args;
  std::string message;  // a fragment the one-sentence error must contain
};

class CommandLineRejects : public testing::TestWithParam<BadInput> {};

TEST_P(CommandLineRejects, WithOneClearSentence) {
  const std::string message = error_of(GetParam().args, two_cores);
  EXPECT_NE(message.find(GetParam().message), std::string::npos)
      << "got: '" << message << "'";
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Catalogue, CommandLineRejects,
    testing::Values(
        BadInput{{"--bogus"}, "--bogus"},
        BadInput{{"--threads", "0"}, "at least 1"},
        BadInput{{"--threads", "-3"}, "at least 1"},
        BadInput{{"--threads", "two"}, "not a whole number"},
        BadInput{{"--threads", "1,,2"}, "an empty item"},
        BadInput{{"--size", "512,"}, "an empty item"},
        BadInput{{"--repetitions", ""}, "--repetitions: the value is empty"},
        BadInput{{"--out", ""}, "--out: the value is empty"},
        BadInput{{"--filter", ""}, "--filter: the value is empty"},
        BadInput{{"--w-us", ""}, "--w-us: the value is empty"},
        BadInput{{"--filter", "(?=matmul)"}, "not a valid regular expression"},
        BadInput{{"--filter", "(a)\\1"}, "not a valid regular expression"},
        BadInput{{"--filter", std::string(5000, 'a')}, "longer than 4096"},
        BadInput{{"--filter", [] {
                    std::string p;
                    for (int i = 0; i < 100; ++i) p += "x{0,1000}";
                    return p;
                  }()},
                 "too complex"},
        BadInput{{"--filter", "(((a{0,300}){0,300}){0,300})"}, "regular expression"},
        BadInput{{"--threads", "5000"}, "at most 4096"},
        BadInput{{"--size", "0"}, "at least 1"},
        BadInput{{"--size", "-5"}, "at least 1"},
        BadInput{{"--size", "1e3"}, "not a whole number"},
        BadInput{{"--size", "60000"}, "memory"},
        BadInput{{"--size", "99999999999999999999"}, "too large"},
        BadInput{{"--repetitions", "0"}, "between 1 and"},
        BadInput{{"--repetitions", "x"}, "not a whole number"},
        BadInput{{"--cpus", "7"}, "not allowed"},
        BadInput{{"--cpus", "0-"}, "not a CPU list"},
        BadInput{{"--backend", "cuda"}, "unknown backend"},
        BadInput{{"--in-flight", "0"}, "at least 1"},
        BadInput{{"--c-us", "-1"}, "must be > 0"},
        BadInput{{"--c-us", "1e12"}, "at most 10 s"},
        BadInput{{"--w-us", "-5"}, "must be >= 0"},
        BadInput{{"--requests", "0"}, "at least one request"},
        BadInput{{"--wait", "gaussian"}, "fixed or exponential"},
        BadInput{{"--filter", "("}, "not a valid regular expression"},
        BadInput{{"--min-time", "0"}, "must be > 0"},
        BadInput{{"--quick", "extra"}, "extra"},
        BadInput{{"--inject-fault", "explode:matmul"}, "wrong:REGEX or throw:REGEX"},
        BadInput{{"--inject-fault", "wrong"}, "wrong:REGEX or throw:REGEX"},
        BadInput{{"--inject-fault", "wrong:"}, "is empty"},
        BadInput{{"--inject-fault", "throw:(("}, "not a valid regular expression"}));



TEST(Plan, LimitsAreCheckedAgainstTheBenchmarksThatRun) {
  EXPECT_NE(error_of({"--requests", "10", "--in-flight", "64"}, two_cores)
                .find("--requests 10: fewer requests than the 64 in flight"),
            std::string::npos);
  EXPECT_NE(error_of({"--in-flight", "100000", "--requests", "100000"}, two_cores)
                .find("--in-flight 100000: needs 100000 threads at once"),
            std::string::npos);
  // A matmul-only run starts no request thread and sends no request: neither limit applies.
  EXPECT_EQ(error_of({"--filter", "^matmul/", "--requests", "10", "--in-flight", "64"},
                          two_cores),
            "");
  EXPECT_EQ(error_of({"--filter", "^matmul/", "--in-flight", "100000"}, two_cores), "");
  // The event loop needs one thread per core, not one per request in flight.
  EXPECT_EQ(error_of({"--backend", "eventloop", "--in-flight", "100000", "--requests",
                           "100000"},
                          two_cores),
            "");
}

TEST(Plan, RepeatedListItemsMakeOneBenchmarkEach) {
  const auto once = plan_of({"--size", "32", "--threads", "2"}, two_cores);
  const auto twice = plan_of({"--size", "32,32", "--size", "032", "--threads", "2,2,02", "--in-flight", "4,4",
             "--c-us", "50,50.0", "--backend", "threads,threads,eventloop"}, two_cores);
  std::set<std::string> names;
  for (const auto& p : twice) EXPECT_TRUE(names.insert(p.name()).second) << p.name();
  std::size_t matmul_once = 0, matmul_twice = 0;
  for (const auto& p : once) matmul_once += p.workload == "matmul" && p.backend == Backend::threads;
  for (const auto& p : twice) matmul_twice += p.workload == "matmul";
  EXPECT_EQ(matmul_once, matmul_twice);
}

TEST(Plan, PathologicalFiltersFinishQuickly) {
  // Backtracking engines take exponential time or overflow the stack on these; RE2 does not.
  const std::string nested = std::string(900, '(') + "matmul" + std::string(900, ')');
  for (const std::string& filter :
       {std::string("(a+)+$"), std::string("(x+x+)+y"), std::string("(.*a){20}"), nested}) {
    try {
      const auto points = plan_of({"--filter", filter}, two_cores);
      EXPECT_FALSE(points.empty()) << filter.substr(0, 40);
    } catch (const UsageError& e) {
      // Matching nothing, or refused in one sentence (RE2 caps nesting depth), is also fine.
      const std::string what = e.what();
      EXPECT_TRUE(what.find("regular expression") != std::string::npos ||
                  what.find("matches no benchmark") != std::string::npos)
          << what;
    }
  }
}

TEST(CommandLine, ErrorsEchoingArgumentsStayOnOneLine) {
  const std::string message = error_of({"--size", "12\n\x1b[31mred"}, two_cores);
  ASSERT_NE(message.find("not a whole number"), std::string::npos) << message;
  const std::string shown = bench::printable(message);
  EXPECT_EQ(shown.find('\n'), std::string::npos);
  EXPECT_EQ(shown.find('\x1b'), std::string::npos);
  EXPECT_NE(shown.find("12\\n\\x1b[31mred"), std::string::npos) << shown;
  EXPECT_EQ(bench::printable("plain text"), "plain text");
}

TEST(CommandLine, FaultInjectionIsParsed) {
  const auto o = parse({"--inject-fault", "wrong:matmul", "--inject-fault", "throw:^requests/"},
                       two_cores);
  ASSERT_EQ(o.faults.size(), 2u);
  EXPECT_EQ(o.faults[0].kind, bench::FaultKind::wrong);
  EXPECT_EQ(o.faults[0].pattern, "matmul");
  EXPECT_EQ(o.faults[1].kind, bench::FaultKind::thrown);
  EXPECT_EQ(o.faults[1].pattern, "^requests/");
}

TEST(CommandLine, EventLoopsNeedNoThreadPerRequest) {
  // Thread per request is what needs K threads; with the event loop alone, K is only memory.
  EXPECT_EQ(error_of({"--in-flight", "100000", "--requests", "100000", "--backend", "eventloop"},
                     two_cores),
            "");
}

TEST(CommandLine, FilterMatchingNothingIsRefused) {
  try {
    plan_of({"--filter", "nothing-has-this-name"}, two_cores);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("matches no benchmark"), std::string::npos);
  }
}

}  // namespace

// The run folder: files created new and reached only through descriptors of this run.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "report/output.h"

namespace {

namespace fs = std::filesystem;

fs::path fresh_folder(const std::string& name) {
  const fs::path base = fs::temp_directory_path() / ("cvp-test-output-" + std::to_string(::getpid()));
  fs::create_directories(base);
  const fs::path folder = base / name;
  fs::remove_all(folder);
  return folder;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(RunFolder, AWriterByNameReachesOnlyTheFileThisRunCreated) {
  const fs::path folder = fresh_folder("writer");
  const fs::path victim = folder.parent_path() / "victim-writer.txt";
  std::ofstream(victim) << "the user's file\n";
  {
    cvp::bench::RunFolder run(folder.string());
    const std::string path = run.create_for_writer("benchmark.json");
    // A link planted where the staged file was: a writer that opens `path` must not follow it.
    const fs::path staged = run.staged_path("benchmark.json");
    fs::remove(staged);
    fs::create_symlink(victim, staged);
    std::ofstream(path, std::ios::trunc) << "{\"benchmarks\": []}\n";
    EXPECT_EQ(read(victim), "the user's file\n");
  }
  EXPECT_EQ(read(victim), "the user's file\n");
  EXPECT_FALSE(fs::exists(folder)) << "an unpublished run leaves no folder";
}

TEST(RunFolder, BothFilesArePublishedTogether) {
  const fs::path folder = fresh_folder("publish");
  {
    cvp::bench::RunFolder run(folder.string());
    const std::string path = run.create_for_writer("benchmark.json");
    std::ofstream(path) << "{}\n";
    run.stage("summary.json", "{\"a\": 1}\n");
    run.publish({"benchmark.json", "summary.json"});
  }
  EXPECT_EQ(read(folder / "summary.json"), "{\"a\": 1}\n");
  EXPECT_EQ(read(folder / "benchmark.json"), "{}\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(folder)) ++entries;
  EXPECT_EQ(entries, 2u) << "the staging folder is gone";
}

TEST(RunFolder, APlantedNameMakesPublishingFailAndMovesTheFirstFileBack) {
  const fs::path folder = fresh_folder("planted");
  {
    cvp::bench::RunFolder run(folder.string());
    std::ofstream(run.create_for_writer("benchmark.json")) << "{}\n";
    run.stage("summary.json", "{}\n");
    std::ofstream(folder / "summary.json") << "planted\n";
    EXPECT_THROW(run.publish({"benchmark.json", "summary.json"}), std::runtime_error);
  }
  EXPECT_EQ(read(folder / "summary.json"), "planted\n");
  EXPECT_FALSE(fs::exists(folder / "benchmark.json"));
}

TEST(RunFolderDeathTest, ALibraryThatExitsLeavesNothingHalfMade) {
  const fs::path folder = fresh_folder("exit");
  EXPECT_EXIT(
      {
        cvp::bench::RunFolder run(folder.string());
        std::ofstream(run.create_for_writer("benchmark.json")) << "{\"torn";
        std::exit(3);  // as libgomp does when it cannot create a thread
      },
      testing::ExitedWithCode(3), "nothing was written");
  EXPECT_FALSE(fs::exists(folder));
}

TEST(RunFolder, ASecondRunIntoTheSameFolderIsRefused) {
  const fs::path folder = fresh_folder("locked");
  cvp::bench::RunFolder first(folder.string());
  EXPECT_THROW(cvp::bench::RunFolder second(folder.string()), std::exception);
  EXPECT_TRUE(fs::exists(folder)) << "the refused run must not remove the other's folder";
}

}  // namespace

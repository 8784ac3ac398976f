// Saving never loses a file: a save killed at any point (SIGKILL) or failing leaves the target as
// either the old or the new model, complete.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/proto_testing.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

// Large enough (8 MB of weights) that a save takes milliseconds, so kills land mid-write.
Model big_model(std::uint64_t seed) {
  Model model;
  Graph& g = model.graph;
  Value x = g.input("x", {DType::f32, {2048, 1024}});
  Value w = g.parameter("w", {DType::f32, {2048, 1024}}, {.kind = "uniform", .value = 1, .seed = seed});
  g.set_loss(ops::reduce_sum(ops::mul(x, w), {0, 1}));
  initialize(model);
  return model;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ProtoAtomicSave, SigkillAtRandomPointsLeavesOldOrNewFile) {
  std::string dir = scratch_dir("atomic_kill");
  std::string path = dir + "/model.dagrad";
  const std::string old_bytes = serialize(big_model(1)), new_bytes = serialize(big_model(2));
  ASSERT_NE(old_bytes, new_bytes);
  write_file_atomically(path, old_bytes);

  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(0, 30000);
  int saw_old = 0, saw_new = 0;
  constexpr int kKills = 60;
  for (int round = 0; round < kKills; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // Alternate the two models forever; only SIGKILL ends this process.
      for (unsigned k = 0;; ++k) {
        try {
          write_file_atomically(path, k % 2 ? old_bytes : new_bytes);
        } catch (...) {
          _exit(3);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child failed on its own (status " << status << ")";

    std::string content = read_all(path);
    bool is_old = content == old_bytes, is_new = content == new_bytes;
    ASSERT_TRUE(is_old || is_new) << "round " << round << ": the target holds " << content.size()
                                  << " bytes that are neither model";
    saw_old += is_old;
    saw_new += is_new;
    if (round % 20 == 0) {
      EXPECT_NO_THROW(load(path));
    }
  }
  EXPECT_EQ(saw_old + saw_new, kKills);
  // Killed saves leave their temporary files behind, never the target half-written; clean them.
  int temporaries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().rfind(".model.dagrad.tmp.", 0) == 0) {
      ++temporaries;
      std::filesystem::remove(entry.path());
    }
  RecordProperty("old", saw_old);
  RecordProperty("new", saw_new);
  RecordProperty("temporaries", temporaries);
}

TEST(ProtoAtomicSave, FailedSaveLeavesOldFileAndNoTemporary) {
  std::string dir = scratch_dir("atomic_fail");
  std::string path = dir + "/model.dagrad";
  Model model = small_model();
  save(model, path);
  const std::string before = read_all(path);

  // Serialization fails before the file is touched: a parameter tensor is missing.
  Model broken = model;
  broken.parameters.clear();
  try {
    save(broken, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no parameter tensor for 'w'"));
  }
  EXPECT_EQ(read_all(path), before);

  // The rename fails: the target is a non-empty folder. The temporary is removed.
  std::filesystem::create_directories(dir + "/taken.dagrad/inside");
  try {
    save(model, dir + "/taken.dagrad");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot rename"));
  }
  // The folder does not exist.
  EXPECT_THROW(save(model, dir + "/missing/model.dagrad"), Error);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  EXPECT_EQ(read_all(path), before);
  expect_same_model(model, load(path));
}

// A pid that no process has: a child that exited and was reaped (pids are not reused that fast).
pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// Temporaries of a save killed before its rename are removed by the next save of the same target;
// those of a live process (maybe a save in flight), of other targets and of other shapes are not.
TEST(ProtoAtomicSave, NextSaveRemovesTemporariesOfDeadProcessesOnly) {
  std::string dir = scratch_dir("atomic_stale");
  const std::string dead = ".m.dagrad.tmp." + std::to_string(dead_pid()) + ".123";
  const std::vector<std::string> kept = {".m.dagrad.tmp." + std::to_string(::getppid()) + ".456",
                                         ".m.dagrad.tmp." + std::to_string(::getpid()) + ".789",
                                         ".other.dagrad.tmp." + std::to_string(dead_pid()) + ".123",
                                         ".m.dagrad.tmp." + std::to_string(dead_pid()) + ".12x",
                                         "m.dagrad.tmp." + std::to_string(dead_pid()) + ".123"};
  for (const std::string& name : kept) std::ofstream(dir + "/" + name) << "x";
  std::ofstream(dir + "/" + dead) << "x";
  save(small_model(), dir + "/m.dagrad");
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + dead));
  for (const std::string& name : kept) EXPECT_TRUE(std::filesystem::exists(dir + "/" + name)) << name;
  expect_same_model(small_model(), load(dir + "/m.dagrad"));
}

}  // namespace
}  // namespace dagrad::testing

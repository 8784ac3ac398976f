// `dagrad train` as a user runs it: a checkpoint carries the whole run, so a bare --resume
// continues it exactly; conflicting flags, finished runs, divergence and a second writer are
// refused without touching what was saved.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "process.h"
#include "proto/file_lock.h"
#include "proto/model_file.h"

namespace {

namespace fs = std::filesystem;
using dagrad::testing::describe;
using dagrad::testing::run_tool;

fs::path scratch(const std::string& name) { return dagrad::testing::fresh_scratch_dir("train_test_" + name); }

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A short run of the reference ResNet on real Fashion-MNIST: 4 steps of 64 images per epoch.
std::vector<std::string> short_run(const std::string& out, const std::string& epochs) {
  return {"train", "--model", "resnet_ref", "--epochs", epochs, "--batch", "64", "--limit-train", "256", "--limit-test",
          "100", "--schedule", "constant", "--lr", "0.05", "--threads", "2", "--out", out};
}

void expect_same_tensors(const dagrad::TensorMap& a, const dagrad::TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const dagrad::Tensor& other = b.at(name);
    ASSERT_EQ(tensor.nbytes(), other.nbytes()) << name;
    EXPECT_EQ(0, std::memcmp(tensor.raw(), other.raw(), tensor.nbytes())) << name << " differs";
  }
}

}  // namespace

// One run of 2 epochs against 1 epoch plus `--resume CHECKPOINT --epochs 2` from another folder:
// the data folder (given relative), the limits and the outputs come from the checkpoint, and the
// weights come out bitwise the same.
TEST(DagradTrain, BareResumeContinuesTheRecordedRunFromAnyFolder) {
  fs::path dir = scratch("resume");
  fs::create_directories(dir / "data");
  for (const auto& file : fs::directory_iterator("/usr/share/datasets/fashion-mnist"))
    fs::copy_file(file.path(), dir / "data" / file.path().filename());
  std::vector<std::string> whole = short_run("whole.dagrad", "2");
  whole.insert(whole.end(), {"--data-dir", "data"});
  auto r = run_tool(whole, {.cwd = dir.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);

  std::vector<std::string> first = short_run("part.dagrad", "1");
  first.insert(first.end(), {"--data-dir", "data"});
  r = run_tool(first, {.cwd = dir.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = run_tool({"train", "--resume", (dir / "part.checkpoint.dagrad").string(), "--epochs", "2"}, {.cwd = "/"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("epochs 2..2"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists("/model.dagrad"));

  dagrad::Model whole_model = dagrad::load((dir / "whole.dagrad").string());
  dagrad::Model resumed = dagrad::load((dir / "part.dagrad").string());
  expect_same_tensors(whole_model.parameters, resumed.parameters);
  expect_same_tensors(whole_model.state, resumed.state);
  EXPECT_EQ(resumed.metadata.at("dataset"), (dir / "data").string());
  fs::remove_all(dir);
}

TEST(DagradTrain, FinishedRunSaysSoAndWritesNothing) {
  fs::path dir = scratch("finished");
  auto r = run_tool(short_run("m.dagrad", "1"), {.cwd = dir.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::string model = bytes_of(dir / "m.dagrad"), checkpoint = bytes_of(dir / "m.checkpoint.dagrad"),
                    csv = bytes_of(dir / "m.csv");
  fs::create_directories(dir / "elsewhere");
  r = run_tool({"train", "--resume", (dir / "m.checkpoint.dagrad").string()}, {.cwd = (dir / "elsewhere").string()});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("finished"), std::string::npos) << describe(r);
  EXPECT_EQ(bytes_of(dir / "m.dagrad"), model);
  EXPECT_EQ(bytes_of(dir / "m.checkpoint.dagrad"), checkpoint);
  EXPECT_EQ(bytes_of(dir / "m.csv"), csv);
  EXPECT_TRUE(fs::is_empty(dir / "elsewhere"));

  // A flag that would change the run is refused, naming both values; nothing is written either.
  r = run_tool({"train", "--resume", (dir / "m.checkpoint.dagrad").string(), "--epochs", "2", "--lr", "0.1"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("--lr 0.1 conflicts"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0.05"), std::string::npos) << r.err;
  r = run_tool({"train", "--resume", (dir / "m.checkpoint.dagrad").string(), "--epochs", "2", "--out", "other.dagrad"},
               {.cwd = dir.string()});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find((dir / "m.dagrad").string()), std::string::npos) << r.err;
  EXPECT_EQ(bytes_of(dir / "m.checkpoint.dagrad"), checkpoint);
  EXPECT_FALSE(fs::exists(dir / "other.dagrad"));
  fs::remove_all(dir);
}

// A learning rate that blows up fails at the first non-finite tensor, naming the step and the
// tensor; the checkpoint from before is untouched and the model is not written.
TEST(DagradTrain, DivergenceIsAnErrorThatKeepsTheLastGoodCheckpoint) {
  fs::path dir = scratch("diverge");
  auto r = run_tool(short_run("good.dagrad", "1"), {.cwd = dir.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::string checkpoint = bytes_of(dir / "good.checkpoint.dagrad");
  r = run_tool({"train", "--from", "good.dagrad", "--lr", "1e30", "--momentum", "0", "--epochs", "1", "--limit-train", "256",
                "--limit-test", "100", "--threads", "2", "--out", "bad.dagrad", "--checkpoint", "good.checkpoint.dagrad"},
               {.cwd = dir.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("diverged at step"), std::string::npos) << r.err;
  EXPECT_TRUE(r.err.find("gradient of") != std::string::npos || r.err.find("parameter ") != std::string::npos ||
              r.err.find("state ") != std::string::npos || r.err.find("the loss") != std::string::npos)
      << r.err;
  EXPECT_EQ(bytes_of(dir / "good.checkpoint.dagrad"), checkpoint);
  EXPECT_FALSE(fs::exists(dir / "bad.dagrad"));
  fs::remove_all(dir);
}

TEST(DagradTrain, SecondWriterOfTheSameOutputIsRefused) {
  fs::path dir = scratch("lock");
  dagrad::FileLock held = dagrad::FileLock::acquire((dir / "m.dagrad").string(), "a test");
  auto r = run_tool(short_run("m.dagrad", "1"), {.cwd = dir.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("another process"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(::getpid())), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.dagrad"));
  EXPECT_FALSE(fs::exists(dir / "m.checkpoint.dagrad"));
  fs::remove_all(dir);
}

TEST(DagradTrain, RunThatCannotFitInMemoryStopsBeforeItStarts) {
  fs::path dir = scratch("memory");
  auto r = run_tool({"train", "--model", "resnet_ref", "--batch", "60000", "--out", "m.dagrad"}, {.cwd = dir.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("needs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("available"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

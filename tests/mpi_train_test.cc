// Data-parallel training as a user runs it: `mpirun -np N dagrad train` on real Fashion-MNIST gives
// bitwise the loss of every step and the final weights of one process; so does --accumulate; bad
// launches fail at start naming what is wrong; a killed rank stops the job and the run resumes
// from its checkpoint with another number of processes. Skipped when dagrad is built without MPI
// or mpirun is missing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "process.h"
#include "proto/model_file.h"
#include "train/communicator.h"

namespace {

namespace fs = std::filesystem;
using dagrad::testing::describe;
using dagrad::testing::ProcessResult;
using dagrad::testing::run_process;
using dagrad::testing::run_tool;

const std::string kDagrad = std::string(DAGRAD_BINARY_DIR) + "/tools/dagrad";

std::string mpirun_path() {
  for (const char* candidate : {"/usr/bin/mpirun", "/usr/local/bin/mpirun"})
    if (fs::exists(candidate)) return candidate;
  return "";
}

#define REQUIRE_MPIRUN()                                                                     \
  if (!dagrad::train::built_with_mpi()) GTEST_SKIP() << "dagrad is built without MPI";       \
  if (mpirun_path().empty()) GTEST_SKIP() << "mpirun is not installed (openmpi-bin)"

// Open MPI refuses root without these (CI runs as root); more processes than cores is the point.
const std::map<std::string, std::string> kMpiEnv = {
    {"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}, {"OMPI_MCA_rmaps_base_oversubscribe", "1"}};

// `dagrad ARGS` under mpirun with `np` processes; np 0 runs dagrad alone, without mpirun.
ProcessResult run_dagrad(int np, std::vector<std::string> args, const fs::path& cwd) {
  if (np == 0) return run_tool(std::move(args), {.cwd = cwd.string()});
  std::vector<std::string> argv{mpirun_path(), "--oversubscribe", "-np", std::to_string(np), kDagrad};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {.cwd = cwd.string(), .env = kMpiEnv, .timeout = std::chrono::milliseconds(240000)});
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void expect_same_tensors(const dagrad::TensorMap& a, const dagrad::TensorMap& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.count(name)) << what << ": " << name;
    const dagrad::Tensor& other = b.at(name);
    ASSERT_EQ(tensor.nbytes(), other.nbytes()) << what << ": " << name;
    EXPECT_EQ(0, std::memcmp(tensor.raw(), other.raw(), tensor.nbytes())) << what << ": " << name << " differs";
  }
}

// Weights, state (batch-norm running statistics) and momentum buffers, bitwise.
void expect_same_model(const fs::path& a, const fs::path& b) {
  const dagrad::Model x = dagrad::load(a.string()), y = dagrad::load(b.string());
  expect_same_tensors(x.parameters, y.parameters, "parameters of " + b.string());
  expect_same_tensors(x.state, y.state, "state of " + b.string());
  ASSERT_TRUE(x.training && y.training);
  EXPECT_EQ(x.training->step, y.training->step);
  expect_same_tensors(x.training->buffers, y.training->buffers, "momentum of " + b.string());
}

int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// One epoch on 360 images: five batches of 64, which split into the canonical subtrees for 1, 2
// and 4 processes, and a last batch of 40 (10 groups), which does not and is computed whole.
std::vector<std::string> short_run(const std::string& model, const std::string& name) {
  return {"train", "--model", model, "--epochs", "1", "--batch", "64", "--limit-train", "360", "--limit-test", "100",
          "--schedule", "constant", "--lr", "0.05", "--seed", "3", "--threads", "1", "--out", name + ".dagrad",
          "--step-log", name + ".steps.csv"};
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
  return args;
}

}  // namespace

// resnet_ref has batch norm in training mode: its statistics span the global batch, combined across
// the processes inside each step.
TEST(MpiTrain, ResnetRefGivesTheSameLossesAndWeightsOn1_2And4Processes) {
  REQUIRE_MPIRUN();
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_resnet");
  for (int np : {0, 2, 4}) {
    const std::string name = "np" + std::to_string(np);
    const ProcessResult r = run_dagrad(np, short_run("resnet_ref", name), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    if (np > 0) {
      EXPECT_NE(r.out.find("data parallel: MPI"), std::string::npos) << r.out;
      // Rank 0 alone prints: one summary line.
      EXPECT_EQ(r.out.find("training resnet_ref"), r.out.rfind("training resnet_ref")) << r.out;
    }
  }
  const std::string steps = bytes_of(dir / "np0.steps.csv");
  EXPECT_EQ(count_lines(steps), 1 + 6) << steps;
  for (const char* other : {"np2", "np4"}) {
    EXPECT_EQ(bytes_of(dir / (std::string(other) + ".steps.csv")), steps) << other;
    expect_same_model(dir / "np0.dagrad", dir / (std::string(other) + ".dagrad"));
  }
}

// LeNet has no batch norm, so --accumulate may split a batch: 4 micro-batches on one process, and
// 2 processes x 2 micro-batches, against whole batches.
TEST(MpiTrain, AccumulateGivesTheSameLossesAndWeightsAsWholeBatches) {
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_accumulate");
  ProcessResult r = run_dagrad(0, short_run("lenet", "whole"), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = run_dagrad(0, with(short_run("lenet", "k4"), {"--accumulate", "4"}), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("one process x 4 micro-batches"), std::string::npos) << r.out;
  const std::string steps = bytes_of(dir / "whole.steps.csv");
  EXPECT_EQ(count_lines(steps), 1 + 6) << steps;
  EXPECT_EQ(bytes_of(dir / "k4.steps.csv"), steps);
  expect_same_model(dir / "whole.dagrad", dir / "k4.dagrad");
  REQUIRE_MPIRUN();
  r = run_dagrad(2, with(short_run("lenet", "np2k2"), {"--accumulate", "2"}), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(bytes_of(dir / "np2k2.steps.csv"), steps);
  expect_same_model(dir / "whole.dagrad", dir / "np2k2.dagrad");
}

TEST(MpiTrain, AccumulateRefusesTrainingBatchNormAndSuggestsMpirun) {
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_accumulate_bn");
  const ProcessResult r = run_dagrad(0, with(short_run("resnet_ref", "m"), {"--accumulate", "2"}), dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("--accumulate 2 cannot give the result of one batch of 64"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("batch norms normalize by statistics over the whole batch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mpirun -np N"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.dagrad"));
}

TEST(MpiTrain, BatchThatDoesNotSplitIntoSubtreesFailsAtStart) {
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_split");
  ProcessResult r = run_dagrad(0, with(short_run("lenet", "m"), {"--accumulate", "3"}), dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("batch 64 does not split over 1 process x 3 micro-batches: the batch is 16 groups of 4 images"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("use a batch of 48 or 96 images"), std::string::npos) << r.err;
  REQUIRE_MPIRUN();
  std::vector<std::string> args = short_run("lenet", "m");
  *std::find(args.begin(), args.end(), "64") = "100";
  r = run_dagrad(4, args, dir);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("batch 100 does not split over 4 processes x 1 micro-batch: the batch is 25 groups of 4 images"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("use a batch of 64 or 128 images"), std::string::npos) << r.err;
  // Every rank fails alike; the first to abort ends the others, so any one of them may be the one heard.
  EXPECT_TRUE(std::regex_search(r.err, std::regex("dagrad train \\(rank [0-3] of 4\\): error: train: batch 100"))) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.dagrad"));
}

TEST(MpiTrain, RanksWithDifferentFlagsFailAtStartNamingTheRank) {
  REQUIRE_MPIRUN();
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_flags");
  // One job, two programs (Open MPI's MPMD syntax): rank 1 asks for another learning rate.
  std::vector<std::string> argv{mpirun_path(), "--oversubscribe", "-np", "1", kDagrad};
  const std::vector<std::string> run = short_run("lenet", "m");
  argv.insert(argv.end(), run.begin(), run.end());
  argv.insert(argv.end(), {":", "-np", "1", kDagrad});
  std::vector<std::string> other = run;
  *(std::find(other.begin(), other.end(), "--lr") + 1) = "0.1";
  argv.insert(argv.end(), other.begin(), other.end());
  const ProcessResult r = run_process(argv, {.cwd = dir.string(), .env = kMpiEnv, .timeout = std::chrono::milliseconds(120000)});
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("launch check: the flags of rank 1 differ from rank 0's (2 processes)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.dagrad"));
}

// A rank killed mid-epoch: mpirun stops the others and exits non-zero within seconds; the last
// checkpoint loads and the run resumes on one process to the same weights as an unbroken run.
TEST(MpiTrain, KilledRankStopsTheJobAndTheRunResumesWithAnotherProcessCount) {
  REQUIRE_MPIRUN();
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_train_fault");
  auto run = [](const std::string& name) {
    return std::vector<std::string>{"train", "--model", "resnet_ref", "--epochs", "3", "--batch", "64", "--limit-train", "640",
                                    "--limit-test", "64", "--schedule", "cosine", "--seed", "5", "--threads", "1",
                                    "--out", name + ".dagrad"};
  };
  std::vector<std::string> argv{"/bin/bash", std::string(DAGRAD_SOURCE_DIR) + "/tests/mpi/kill_rank.sh", (dir / "cut.checkpoint.dagrad").string(),
                                "1", "30", mpirun_path(), "--oversubscribe", "-np", "2", kDagrad};
  const std::vector<std::string> args = run("cut");
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = run_process(argv, {.cwd = dir.string(), .env = kMpiEnv, .timeout = std::chrono::milliseconds(300000)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("exit=(\\d+) seconds=([0-9.]+)"))) << describe(r);
  EXPECT_NE(std::stoi(m[1]), 0) << describe(r);
  EXPECT_LT(std::stod(m[2]), 30.0) << describe(r);
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;  // mpirun names the killed rank
  EXPECT_FALSE(fs::exists(dir / "cut.dagrad"));

  const dagrad::Model checkpoint = dagrad::load((dir / "cut.checkpoint.dagrad").string());
  ASSERT_TRUE(checkpoint.training);
  EXPECT_GE(checkpoint.training->epoch, 1);
  EXPECT_LT(checkpoint.training->epoch, 3);

  r = run_dagrad(0, {"train", "--resume", "cut.checkpoint.dagrad"}, dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = run_dagrad(0, run("whole"), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_same_model(dir / "whole.dagrad", dir / "cut.dagrad");
}

TEST(MpiEvaluate, ProcessesSplitTheTestSetAndPrintTheSameTotals) {
  REQUIRE_MPIRUN();
  const fs::path dir = dagrad::testing::fresh_scratch_dir("mpi_evaluate");
  ProcessResult r = run_dagrad(0, {"train", "--model", "lenet", "--epochs", "1", "--batch", "64", "--limit-train", "256",
                                   "--limit-test", "64", "--threads", "1", "--out", "m.dagrad"}, dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // 1000 images in batches of 128: 8 batches, the last of 104, over 3 processes (3, 3 and 2 batches).
  const std::vector<std::string> args{"evaluate", "m.dagrad", "--limit", "1000", "--batch", "128", "--threads", "1"};
  const ProcessResult one = run_dagrad(0, args, dir);
  ASSERT_EQ(one.exit_code, 0) << describe(one);
  const ProcessResult three = run_dagrad(3, args, dir);
  ASSERT_EQ(three.exit_code, 0) << describe(three);
  const std::regex seconds(", [0-9.]+ s\n");
  EXPECT_EQ(std::regex_replace(three.out, seconds, "\n"), std::regex_replace(one.out, seconds, "\n"));
  EXPECT_NE(one.out.find("/1000)"), std::string::npos) << one.out;
}

// The dagrad tool refuses nonsense when it parses it: usage errors (exit 2) that name the flag,
// the bad value and the valid names; work that cannot fit in memory fails fast (exit 1).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/zoo.h"
#include "process.h"

namespace {

using dagrad::testing::describe;
using dagrad::testing::run_tool;

void expect_usage(const std::vector<std::string>& args, const std::string& message) {
  auto r = run_tool(args);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find(message), std::string::npos) << "wanted: " << message << "\n" << describe(r);
  EXPECT_NE(r.err.find("--help"), std::string::npos) << describe(r);
}

TEST(ToolsCliValidation, UnknownModelListsEveryZooName) {
  auto r = run_tool({"summary", "--model", "nope"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("unknown --model 'nope'; valid: "), std::string::npos) << describe(r);
  for (const auto& entry : dagrad::models::zoo_models()) EXPECT_NE(r.err.find(entry.name), std::string::npos) << entry.name;
}

TEST(ToolsCliValidation, NumbersAreCheckedWhenParsed) {
  expect_usage({"summary", "--model", "resnet_ref", "--batch", "abc"}, "--batch must be an integer, got 'abc'");
  expect_usage({"summary", "--model", "resnet_ref", "--batch", "99999999999999999999"},
               "--batch must be an integer from -9223372036854775808 to 9223372036854775807, got '99999999999999999999'");
  expect_usage({"summary", "--model", "resnet_ref", "--batch=-3"}, "--batch must be at least 1, got -3");
  expect_usage({"summary", "--model", "resnet_ref", "--seed=-1"}, "--seed must be a non-negative integer, got '-1'");
  expect_usage({"bench", "--threads", "5000"}, "--threads must be 0 (all cores) or from 1 to 1024, got 5000");
  expect_usage({"bench", "--steps", "0"}, "--steps must be at least 1, got 0");
  expect_usage({"gradcheck", "--entries", "0"}, "--entries must be at least 1, got 0");
  expect_usage({"validate", "x.dagrad", "--max-bytes", "0"}, "--max-bytes must be at least 1, got 0");
  expect_usage({"profile", "--model", "resnet_ref", "--top=-1"}, "--top must be at least 0, got -1");
}

TEST(ToolsCliValidation, UnknownNamesListTheValidOnes) {
  expect_usage({"gradcheck", "--op", "nope"}, "unknown --op 'nope'; valid: ");
  expect_usage({"gradcheck", "--model", "nope"}, "unknown --model 'nope'; valid: ");
  expect_usage({"evaluate", "x.dagrad", "--split", "tst"}, "unknown --split 'tst'; valid: test, train");
  expect_usage({"dump-grads", "--model", "resnet_ref", "--format", "xml"}, "unknown --format 'xml'; valid: text, json");
  expect_usage({"export", "--model", "nope", "--out", "x.dagrad"}, "unknown --model 'nope'; valid: ");
}

TEST(ToolsCliValidation, OutputFolderCheckedBeforeWork) {
  auto r = run_tool({"export", "--model", "resnet_ref", "--out", "/nonexistent-dagrad-dir/x.dagrad"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("--out '/nonexistent-dagrad-dir/x.dagrad'"), std::string::npos) << describe(r);
}

TEST(ToolsCliValidation, OversizedBatchFailsFastWithTheNumbers) {
  auto r = run_tool({"bench", "--model", "resnet_ref", "--batch", "10000000"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("bench of 'resnet_ref' with --batch 10000000 needs "), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(" bytes) are available ("), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("pass --ignore-memory-check to run anyway"), std::string::npos) << describe(r);
}

TEST(ToolsCliValidation, SummaryAtHugeBatchPrintsTotals) {
  // VGG-16's training step at batch 10^8 passes int64 FLOPs; the totals must still be positive.
  auto r = run_tool({"summary", "--model", "vgg16", "--batch", "100000000"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const std::string key : {"forward FLOPs / image", "training step / image"}) {
    std::size_t at = r.out.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_EQ(line.find('-'), std::string::npos) << line;
    EXPECT_NE(line.find(" GFLOP"), std::string::npos) << line;
  }
}

}  // namespace

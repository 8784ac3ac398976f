// Papercuts a newcomer meets first, run as a user runs the tool (no shell): `dagrad models`, the
// batch of dump-grads on a file, defaults in --help, summary's last line, the JSON of ops and bench.
#include <gtest/gtest.h>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <sstream>

#include "models/signature.h"
#include "models/zoo.h"
#include "process.h"

namespace {

namespace fs = std::filesystem;
using dagrad::testing::describe;
using dagrad::testing::run_tool;

fs::path scratch(const std::string& name) { return dagrad::testing::fresh_scratch_dir("newcomer_test_" + name); }

}  // namespace

// `dagrad train --help` sends newcomers to `dagrad models`, which lists every zoo model with what
// --model needs to know; --json gives the same as data.
TEST(DagradModels, ListsEveryZooModelAsTextAndJson) {
  auto help = run_tool({"train", "--help"});
  ASSERT_EQ(help.exit_code, 0) << describe(help);
  EXPECT_TRUE(std::regex_search(help.out, std::regex("dagrad\\s+models"))) << describe(help);  // Boost may wrap it

  auto text = run_tool({"models"});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  auto json = run_tool({"models", "--json"});
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  const nlohmann::json rows = nlohmann::json::parse(json.out);
  const auto& zoo = dagrad::models::zoo_models();
  ASSERT_EQ(rows.size(), zoo.size());
  for (std::size_t i = 0; i < zoo.size(); ++i) {
    const dagrad::Graph g = dagrad::models::build_model(zoo[i].name);
    EXPECT_EQ(rows[i]["name"], zoo[i].name);
    EXPECT_EQ(rows[i]["description"], zoo[i].description);
    EXPECT_EQ(rows[i]["input_shape"].get<dagrad::Shape>(), zoo[i].input_shape);
    EXPECT_EQ(rows[i]["classes"], zoo[i].classes);
    EXPECT_EQ(rows[i]["parameters"], g.parameter_count());
    // The text table has a row starting with the name and holding the parameter count.
    std::regex row("(^|\n)" + zoo[i].name + " .* " + std::to_string(g.parameter_count()) + "  ");
    EXPECT_TRUE(std::regex_search(text.out, row)) << zoo[i].name << "\n" << text.out;
  }
  EXPECT_EQ(run_tool({"models", "--bogus"}).exit_code, 2);
}

// A model file keeps its own batch: dump-grads on it without --batch used to fail with "input
// 'image' expects f32[1,1,28,28], got f32[8,1,28,28]".
TEST(DagradDumpGrads, FileWithoutBatchUsesTheFilesOwnBatch) {
  auto dir = scratch("dump");
  const std::string file = (dir / "lenet.dagrad").string();
  auto exported = run_tool({"export", "--model", "lenet", "--out", file});
  ASSERT_EQ(exported.exit_code, 0) << describe(exported);
  auto data = run_tool({"dump-grads", file, "--threads", "1"});
  EXPECT_EQ(data.exit_code, 0) << describe(data);
  EXPECT_NE(data.out.find("loss "), std::string::npos) << describe(data);
  auto random = run_tool({"dump-grads", file, "--random", "--threads", "1"});
  EXPECT_EQ(random.exit_code, 0) << describe(random);
  auto batched = run_tool({"dump-grads", file, "--random", "--batch", "3", "--threads", "1", "--format", "json"});
  ASSERT_EQ(batched.exit_code, 0) << describe(batched);
  const nlohmann::json report = nlohmann::json::parse(batched.out, nullptr, false);
  EXPECT_FALSE(report.is_discarded()) << describe(batched);
  fs::remove_all(dir);
}

// Every subcommand's --help shows doubles in their shortest form ("0.05", not 0.050000000000000003).
TEST(DagradHelp, DefaultsAreShownInTheirShortestForm) {
  auto top = run_tool({"--help"});
  ASSERT_EQ(top.exit_code, 0) << describe(top);
  std::istringstream lines(top.out);
  std::string line;
  int commands = 0;
  const std::regex long_digits("[0-9]\\.[0-9]{12,}");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, std::regex("  ([a-z-]+)  +.*"))) continue;
    auto help = run_tool({m[1].str(), "--help"});
    EXPECT_EQ(help.exit_code, 0) << describe(help);
    EXPECT_FALSE(std::regex_search(help.out, long_digits)) << m[1] << "\n" << help.out;
    ++commands;
  }
  EXPECT_GE(commands, 13);
  auto train = run_tool({"train", "--help"});
  EXPECT_NE(train.out.find("(=0.05)"), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("(=0.0005)"), std::string::npos) << train.out;
}

TEST(DagradSummary, OutputEndsWithANewline) {
  auto r = run_tool({"summary", "--model", "lenet"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n') << describe(r);
}

// `dagrad ops --json`: one JSON object per line, one line per registered op.
TEST(DagradOps, JsonLinesParse) {
  auto r = run_tool({"ops", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::istringstream lines(r.out);
  std::string line;
  std::size_t count = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json op = nlohmann::json::parse(line);
    EXPECT_TRUE(op["op"].is_string()) << line;
    EXPECT_TRUE(op["inputs"].is_array()) << line;
    EXPECT_TRUE(op["attrs"].is_array()) << line;
    EXPECT_TRUE(op["differentiable"].is_boolean()) << line;
    ++count;
  }
  EXPECT_GT(count, 30u);
}

// bench times the trainer's own step; a short run reports its figures.
TEST(DagradBench, TimesTheTrainersStep) {
  auto r = run_tool({"bench", "--model", "lenet", "--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["train_images_per_s"].get<double>(), 0);
  EXPECT_GT(j["infer_images_per_s"].get<double>(), 0);
  EXPECT_GT(j["plan_peak_bytes"].get<std::int64_t>(), 0);
}

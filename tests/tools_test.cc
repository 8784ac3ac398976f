// The dagrad tool as a user runs it: dump-grads output that numpy loads, and gradients that agree
// with float64 finite differences.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autodiff/gradcheck.h"
#include "models/zoo.h"
#include "runtime/runtime.h"
#include "tests/process.h"

namespace {

using dagrad::testing::describe;
using dagrad::testing::ProcessResult;
using dagrad::testing::run_process;
using dagrad::testing::run_tool;

int run(std::vector<std::string> args) { return run_tool(std::move(args)).exit_code; }

std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("dagrad_tools_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

// Reads a float32 .npy written by dump-grads (little-endian, C order).
std::vector<float> read_npy_f32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error("not an npy file: " + path.string());
  std::size_t header = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  if (bytes.find("'<f4'") == std::string::npos) throw std::runtime_error("not float32: " + path.string());
  std::vector<float> values((bytes.size() - 10 - header) / 4);
  std::memcpy(values.data(), bytes.data() + 10 + header, values.size() * 4);
  return values;
}

}  // namespace

TEST(DagradTool, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"dump-grads", "--no-such-flag"}), 2);
  EXPECT_EQ(run({"no-such-command"}), 2);
  EXPECT_EQ(run({"dump-grads", "--model", "resnet_tiny", "--random", "--format", "yaml"}), 2);
  EXPECT_EQ(run({"dump-grads", "--model", "no_such_model", "--random"}), 2);  // the list of valid names is usage help
  EXPECT_EQ(run({"summary", "--help"}), 0);
}

TEST(DagradTool, DumpGradsWritesNpyFilesNumpyLoads) {
  auto dir = scratch("npy");
  ASSERT_EQ(run({"dump-grads", "--model", "resnet_tiny", "--random", "--batch", "2", "--activations", "--format", "json", "--out", dir.string()}), 0);
  ASSERT_TRUE(std::filesystem::exists(dir / "index.json"));
  // numpy loads every file listed in the index, with the shape the graph gives it.
  dagrad::Graph g = dagrad::models::build_model("resnet_tiny", {.batch = 2});
  std::string script = "import json,numpy,sys; d=sys.argv[1]; idx=json.load(open(d+'/index.json')); "
                       "shapes={k: numpy.load(d+'/'+f).shape for k,f in idx.items()}; "
                       "print(len(shapes)); print(shapes['grad:stem.conv1.w'])";
  ProcessResult numpy = run_process({"/usr/bin/python3", "-c", script, dir.string()});
  ASSERT_EQ(numpy.exit_code, 0) << describe(numpy);
  std::istringstream result(numpy.out);
  std::size_t count = 0;
  std::string shape;
  result >> count;
  std::getline(result >> std::ws, shape);
  EXPECT_GT(count, g.values_of_kind(dagrad::ValueKind::parameter).size());  // gradients plus activations
  EXPECT_EQ(shape, "(4, 2, 3, 3)");
  std::filesystem::remove_all(dir);
}

// The gradients dump-grads writes for resnet_ref (float32) agree with float64 central differences
// of the same model: the same initializer seed, the same random batch, float32 weights widened.
TEST(DagradTool, DumpedResnetRefGradientsAgreeWithFiniteDifferences) {
  using namespace dagrad;
  auto dir = scratch("fd");
  ASSERT_EQ(run({"dump-grads", "--model", "resnet_ref", "--random", "--seed", "5", "--batch", "2", "--out", dir.string()}), 0);

  Graph g32 = models::build_model("resnet_ref", {.batch = 2, .seed = 5});
  TensorMap feeds = autodiff::random_inputs(g32, 5);
  for (auto& [name, tensor] : runtime::initialize_parameters(g32)) feeds.emplace(name, tensor);
  for (auto& [name, tensor] : feeds)
    if (tensor.dtype() == DType::f32) tensor = tensor.to(DType::f64);
  Graph g64 = models::build_model("resnet_ref", {.batch = 2, .dtype = DType::f64, .seed = 5});
  runtime::Plan loss_plan = runtime::compile(g64, {}, {g64.loss()});
  auto loss_at = [&] { return runtime::run(loss_plan, runtime::feeds_from({&feeds})).at(g64.loss()).at(0); };

  int compared = 0;
  for (const std::string name : {"stem.conv1.w", "stage2.block0.conv1.w", "stage3.block1.bn2.gamma", "head.fc1.w", "head.fc1.b"}) {
    ASSERT_TRUE(feeds.count(name)) << name;
    std::vector<float> dumped = read_npy_f32(dir / ("grad_" + name + ".npy"));
    Tensor& w = feeds.at(name);
    ASSERT_EQ(static_cast<std::int64_t>(dumped.size()), w.numel()) << name;
    for (std::int64_t e : {std::int64_t{0}, w.numel() / 2, w.numel() - 1}) {
      double x0 = w.at(e), eps = 1e-6;
      w.data<double>()[e] = x0 + eps;
      double plus = loss_at();
      w.data<double>()[e] = x0 - eps;
      double minus = loss_at();
      w.data<double>()[e] = x0;
      double numeric = (plus - minus) / (2 * eps);
      EXPECT_NEAR(dumped[e], numeric, 1e-4 + 2e-3 * std::abs(numeric)) << name << " entry " << e;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 15);
  std::filesystem::remove_all(dir);
}

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::vector<std::string> folder_listing(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

// Tools and tests run programs with an argument vector (posix_spawn), never through a shell that
// would reinterpret a user's path. The needles are assembled so this file does not match itself.
TEST(NoShell, SourceTreeNeverCallsSystemOrPopen) {
  namespace fs = std::filesystem;
  const std::vector<std::string> needles = {std::string("sys") + "tem", std::string("po") + "pen"};
  std::vector<std::string> found;
  std::size_t scanned = 0;
  fs::path root = DAGRAD_SOURCE_DIR;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory()) {
      if (name == ".git" || name.rfind("build", 0) == 0) it.disable_recursion_pending();
      continue;
    }
    const std::string ext = it->path().extension().string();
    if (ext != ".cc" && ext != ".h" && ext != ".cpp") continue;
    ++scanned;
    std::ifstream in(it->path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number)
      for (const std::string& needle : needles)
        for (std::size_t at = line.find(needle); at != std::string::npos; at = line.find(needle, at + 1)) {
          std::size_t after = at + needle.size();
          while (after < line.size() && line[after] == ' ') ++after;
          if ((at == 0 || !is_identifier_char(line[at - 1])) && after < line.size() && line[after] == '(')
            found.push_back(fs::relative(it->path(), root).string() + ":" + std::to_string(number) + ": " + line);
        }
  }
  EXPECT_GT(scanned, 50u) << "the walk found too few sources under " << root;
  for (const std::string& hit : found) ADD_FAILURE() << "a shell call: " << hit;
}

// A folder name that a shell would split, unquote or execute; the drawing still lands in it, and
// nothing runs.
TEST(DagradToolDumpGraph, SvgIntoFolderWithShellCharacters) {
  auto dir = scratch("svg");
  auto folder = dir / "Bob's models \"v2\" $(touch pwned) `touch pwned2`";
  std::filesystem::create_directories(folder);
  dagrad::testing::ProcessOptions options;
  options.cwd = dir.string();
  ProcessResult r = run_tool({"dump-graph", "--model", "resnet_tiny", "--format", "svg", "-o", (folder / "g.svg").string()}, options);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(slurp(folder / "g.svg").find("<svg"), std::string::npos);
  EXPECT_EQ(folder_listing(folder), std::vector<std::string>{"g.svg"}) << "no temporary left behind";
  EXPECT_EQ(folder_listing(dir), std::vector<std::string>{folder.filename().string()}) << "nothing was executed";
  std::filesystem::remove_all(dir);
}

// Paths that start with '-' are file names, not flags of `dot`.
TEST(DagradToolDumpGraph, PngToPathStartingWithDash) {
  auto dir = scratch("dash");
  std::filesystem::create_directories(dir);
  dagrad::testing::ProcessOptions options;
  options.cwd = dir.string();
  for (const std::string out : {"-x.png", "./-y.png"}) {
    ProcessResult r = run_tool({"dump-graph", "--model", "resnet_tiny", "--format", "png", "-o", out}, options);
    ASSERT_EQ(r.exit_code, 0) << out << "\n" << describe(r);
    EXPECT_EQ(slurp(dir / std::filesystem::path(out).filename()).substr(1, 3), "PNG") << out;
  }
  EXPECT_EQ(folder_listing(dir), (std::vector<std::string>{"-x.png", "-y.png"}));
  std::filesystem::remove_all(dir);
}

TEST(DagradToolDumpGraph, MissingOutputFolderFailsBeforeAnyWork) {
  auto dir = scratch("missing");
  std::filesystem::create_directories(dir);
  for (const std::string format : {"svg", "json"}) {
    const std::string out = (dir / "no such folder" / ("g." + format)).string();
    ProcessResult r = run_tool({"dump-graph", "--model", "resnet_tiny", "--format", format, "-o", out});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find(out), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << describe(r);
    EXPECT_EQ(count_lines(r.err), 1u) << describe(r);
  }
  EXPECT_TRUE(folder_listing(dir).empty());
  std::filesystem::remove_all(dir);
}

TEST(DagradToolDumpGraph, WithoutGraphvizSaysHowToGetIt) {
  auto dir = scratch("nodot");
  std::filesystem::create_directories(dir / "empty_path");
  dagrad::testing::ProcessOptions options;
  options.env["PATH"] = (dir / "empty_path").string();
  ProcessResult r = run_tool({"dump-graph", "--model", "resnet_tiny", "--format", "svg", "-o", (dir / "g.svg").string()}, options);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("apt-get install graphviz"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("--format dot"), std::string::npos) << describe(r);
  EXPECT_EQ(folder_listing(dir), std::vector<std::string>{"empty_path"}) << "no target and no temporary";
  std::filesystem::remove_all(dir);
}

// A failed render keeps the previous drawing: dot writes a temporary that only replaces the target
// on success.
TEST(DagradToolDumpGraph, FailingDotKeepsOldTargetAndReportsItsStderr) {
  auto dir = scratch("baddot");
  std::filesystem::create_directories(dir / "bin");
  {
    std::ofstream fake(dir / "bin" / "dot");
    fake << "#!/bin/sh\necho 'dot: out of crayons' >&2\nexit 3\n";
  }
  std::filesystem::permissions(dir / "bin" / "dot", std::filesystem::perms::owner_all);
  { std::ofstream(dir / "g.svg") << "old drawing"; }
  dagrad::testing::ProcessOptions options;
  options.env["PATH"] = (dir / "bin").string();
  ProcessResult r = run_tool({"dump-graph", "--model", "resnet_tiny", "--format", "svg", "-o", (dir / "g.svg").string()}, options);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("exit status 3"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("out of crayons"), std::string::npos) << describe(r);
  EXPECT_EQ(slurp(dir / "g.svg"), "old drawing");
  EXPECT_EQ(folder_listing(dir), (std::vector<std::string>{"bin", "g.svg"}));
  std::filesystem::remove_all(dir);
}

// Output lost on the way to stdout (a full disk, here /dev/full) is an error, not exit 0.
TEST(DagradToolStdout, FailedWriteToStandardOutputIsAnError) {
  dagrad::testing::ProcessOptions options;
  options.stdout_path = "/dev/full";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"ops", "--json"},
                                                std::vector<std::string>{"dump-graph", "--model", "resnet_tiny", "--format", "json"},
                                                std::vector<std::string>{"--help"}}) {
    ProcessResult r = run_tool(args, options);
    EXPECT_EQ(r.exit_code, 1) << args[0] << "\n" << describe(r);
    EXPECT_NE(r.err.find("cannot write standard output"), std::string::npos) << args[0] << "\n" << describe(r);
    EXPECT_EQ(count_lines(r.err), 1u) << describe(r);
  }
}

// A malformed file gives dagrad's one line, and no log line of libprotobuf's before it.
TEST(DagradToolProtobufQuiet, MalformedFilesGiveOneLine) {
  auto dir = scratch("quiet");
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "bad.dagrad.txt") << "magic: \"dagrad.model\"\nformat_version: 1\ngraph { node {{ \n"; }
  // Field 1 (magic, a proto3 string) holding invalid UTF-8: libprotobuf itself logs about this.
  { std::ofstream(dir / "utf8.dagrad", std::ios::binary) << std::string("\x0a\x04\xff\xfe\xfd\xfc", 6); }
  for (const std::string file : {"bad.dagrad.txt", "utf8.dagrad"}) {
    const std::string path = (dir / file).string();
    ProcessResult validate = run_tool({"validate", path});
    EXPECT_EQ(validate.exit_code, 1) << describe(validate);
    EXPECT_EQ(validate.err.find("libprotobuf"), std::string::npos) << describe(validate);
    EXPECT_EQ(count_lines(validate.out + validate.err), 1u) << describe(validate);
    ProcessResult summary = run_tool({"summary", path});
    EXPECT_EQ(summary.exit_code, 1) << describe(summary);
    EXPECT_EQ(count_lines(summary.err), 1u) << describe(summary);
    EXPECT_EQ(summary.err.rfind("dagrad summary: error: ", 0), 0u) << describe(summary);
  }
  std::filesystem::remove_all(dir);
}

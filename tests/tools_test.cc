// The dagrad tool as a user runs it: dump-grads output that numpy loads, and gradients that agree
// with float64 finite differences.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autodiff/gradcheck.h"
#include "models/zoo.h"
#include "runtime/runtime.h"

namespace {

const std::string kTool = std::string(DAGRAD_BINARY_DIR) + "/tools/dagrad";

int run(const std::string& command) {
  int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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
  EXPECT_EQ(run(kTool + " dump-grads --no-such-flag"), 2);
  EXPECT_EQ(run(kTool + " no-such-command"), 2);
  EXPECT_EQ(run(kTool + " dump-grads --model resnet_tiny --random --format yaml"), 2);
  EXPECT_EQ(run(kTool + " dump-grads --model no_such_model --random"), 1);
  EXPECT_EQ(run(kTool + " summary --help"), 0);
}

TEST(DagradTool, DumpGradsWritesNpyFilesNumpyLoads) {
  auto dir = scratch("npy");
  ASSERT_EQ(run(kTool + " dump-grads --model resnet_tiny --random --batch 2 --activations --format json --out " + dir.string()), 0);
  ASSERT_TRUE(std::filesystem::exists(dir / "index.json"));
  // numpy loads every file listed in the index, with the shape the graph gives it.
  dagrad::Graph g = dagrad::models::build_model("resnet_tiny", {.batch = 2});
  std::string script = "import json,numpy,sys; d=sys.argv[1]; idx=json.load(open(d+'/index.json')); "
                       "shapes={k: numpy.load(d+'/'+f).shape for k,f in idx.items()}; "
                       "print(len(shapes)); print(shapes['grad:stem.conv1.w'])";
  std::string out = (dir / "numpy.txt").string();
  ASSERT_EQ(std::system(("/usr/bin/python3 -c \"" + script + "\" " + dir.string() + " > " + out).c_str()), 0);
  std::ifstream result(out);
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
  ASSERT_EQ(run(kTool + " dump-grads --model resnet_ref --random --seed 5 --batch 2 --out " + dir.string()), 0);

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

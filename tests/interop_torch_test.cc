// Models exported by PyTorch: tests/onnx_torch_models.py exports torchvision's resnet18, resnet50,
// mobilenet_v2, densenet121 and vgg16 with torch.onnx.export (eval form and training form with the
// loss in the graph, opsets 13 and 17) and saves PyTorch's outputs and autograd's gradients. Each
// file is imported with interop::import_onnx and run by dagrad on the same inputs:
//   - every graph output (eval: the logits, train: the loss) within a relative 1e-4 of PyTorch's;
//   - train: every parameter gradient (autodiff::grad_parameters on the imported graph) within a
//     relative 1e-4 of autograd's (the rule below), by the ONNX initializer names;
//   - the imported model exports back to ONNX (interop::export_onnx), passes ONNX's full checker,
//     and its re-import runs bitwise equal to the first import.
//
// The comparison rule, per tensor (a = dagrad, b = PyTorch float32):
//   error = max_i |a_i - b_i| / max(max_i |b_i|, 1e-30)    and    norm error = ||a - b||_2 / ||b||_2
// Outputs: error <= 1e-4. Gradients: norm error <= max(1e-4, 4 x PyTorch's own float32 norm error
// on that tensor against the same model in float64, measured by the script), and where PyTorch's
// float32 max error is within 1e-4/4, also error <= 1e-4 except for up to kKinkOutliers elements.
// Why:
//   - float32 rounds differently in dagrad and PyTorch, so a ReLU whose input is within rounding
//     of 0 may pass the gradient in one and block it in the other, which moves a few gradient
//     elements by a large fraction and leaves the rest of the tensor alone (the outliers);
//   - deep nets with batch norm in training mode on a small batch amplify rounding: ResNet-50's
//     float32 gradients in PyTorch itself are up to 29% (3% in norm) away from its float64 ones
//     here, so no float32 implementation can match them to 1e-4; there dagrad must be about as
//     close to the float64 gradient as PyTorch's float32 is (|a - b| <= |a - b64| + |b - b64|).
// Where PyTorch's float32 is accurate (ResNet-18: 1e-5) the bound is the plain 1e-4. Where the
// float64 gradient is ~0 (PyTorch's float32 norm error > 1: the loss does not depend on the
// parameter), dagrad's gradient norm must be at most 10x PyTorch's rounding noise.
//
// The cases are made at test time by /usr/bin/python3 (Debian's torch 1.13); the test is skipped
// only when that python cannot import torch, torchvision and onnx. DAGRAD_TORCH_CASES=DIR reuses
// cases made before by `onnx_torch_models.py DIR` instead of exporting again.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "autodiff/grad.h"
#include "interop/onnx.h"
#include "process.h"
#include "proto/npy.h"
#include "runtime/runtime.h"

namespace {

namespace fs = std::filesystem;
using dagrad::DType;
using dagrad::Model;
using dagrad::Tensor;
using dagrad::TensorMap;
using dagrad::ValueId;
using dagrad::testing::describe;
using dagrad::testing::run_process;

constexpr const char* kPython = "/usr/bin/python3";
constexpr double kTolerance = 1e-4;
// Gradient elements allowed beyond the tolerance per tensor (ReLU kinks; see the top comment).
constexpr std::int64_t kKinkOutliers = 8;

struct Difference {
  double max_relative = 0;    // max |a-b| / max |b|
  double norm_relative = 0;   // ||a-b||_2 / ||b||_2
  std::int64_t outliers = 0;  // elements with |a-b| > tolerance * max |b|
  double max_relative_without_outliers = 0;
  double got_norm = 0, want_norm = 0;  // ||a||_2, ||b||_2
};

Difference compare(const Tensor& got, const Tensor& want, double tolerance) {
  double want_max = 0, want_norm = 0, diff_norm = 0, got_norm = 0;
  std::vector<double> diffs(static_cast<std::size_t>(want.numel()));
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    const double a = got.at(i), b = want.at(i);
    want_max = std::max(want_max, std::abs(b));
    want_norm += b * b;
    got_norm += a * a;
    diff_norm += (a - b) * (a - b);
    diffs[static_cast<std::size_t>(i)] = std::isnan(a) ? INFINITY : std::abs(a - b);
  }
  const double scale = std::max(want_max, 1e-30);
  Difference d;
  d.got_norm = std::sqrt(got_norm);
  d.want_norm = std::sqrt(want_norm);
  d.norm_relative = std::sqrt(diff_norm) / std::max(std::sqrt(want_norm), 1e-30);
  for (double diff : diffs) {
    const double rel = diff / scale;
    d.max_relative = std::max(d.max_relative, rel);
    if (rel > tolerance) ++d.outliers;
    else d.max_relative_without_outliers = std::max(d.max_relative_without_outliers, rel);
  }
  return d;
}

std::string format(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2e", x);
  return buffer;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

bool torch_available(std::string& why) {
  auto r = run_process({kPython, "-c", "import torch, torchvision, onnx"});
  if (r.exit_code == 0) return true;
  why = std::string(kPython) + " cannot import torch, torchvision and onnx (Debian python3-torch, "
        "python3-torchvision, python3-onnx; scripts/deps.sh installs them): " + r.err.substr(0, 300);
  return false;
}

// The folder holding <case>/ and manifest.json for `model`: made now by the script, or taken from
// DAGRAD_TORCH_CASES.
const char* reused_cases() {
  const char* dir = std::getenv("DAGRAD_TORCH_CASES");
  return dir && *dir ? dir : nullptr;
}

fs::path make_cases(const std::string& model) {
  if (const char* reuse = reused_cases()) return reuse;
  fs::path dir = dagrad::testing::fresh_scratch_dir("onnx_torch_" + model);
  auto r = run_process({kPython, std::string(DAGRAD_SOURCE_DIR) + "/tests/onnx_torch_models.py", dir.string(), "--models", model},
                       {.timeout = std::chrono::minutes(10)});
  if (r.exit_code != 0) throw std::runtime_error("onnx_torch_models.py failed: " + describe(r));
  std::printf("%s", r.out.c_str());
  return dir;
}

TensorMap load_inputs(const fs::path& case_dir, const nlohmann::json& files) {
  TensorMap inputs;
  for (const auto& [name, file] : files.items()) inputs.emplace(name, dagrad::load_npy((case_dir / file.get<std::string>()).string()));
  return inputs;
}

struct CaseRun {
  std::vector<std::pair<std::string, Tensor>> outputs;  // by ONNX output name, in graph order
  std::vector<std::pair<std::string, Tensor>> grads;    // by parameter name (train only)
};

// Runs the imported model on the inputs: its outputs, and for a training import with a loss the
// gradients of every parameter.
CaseRun run_model(const Model& model, const TensorMap& inputs, bool training) {
  const dagrad::Graph& g = model.graph;
  CaseRun result;
  std::vector<ValueId> fetch(g.outputs().begin(), g.outputs().end());
  dagrad::runtime::RunResult values;
  if (!training) {
    auto plan = dagrad::runtime::compile(g, {.threads = 2}, fetch);
    values = dagrad::runtime::run(plan, dagrad::runtime::feeds_from({&inputs, &model.parameters, &model.state}));
    for (ValueId id : g.outputs()) result.outputs.emplace_back(g.value(id).name, values.at(id));
    return result;
  }
  if (g.loss() == dagrad::kNoValue) throw std::runtime_error("the training import has no loss");
  dagrad::autodiff::Gradients grads = dagrad::autodiff::grad_parameters(g);
  for (auto [wrt, grad] : grads.graph.gradients()) fetch.push_back(grad);
  auto plan = dagrad::runtime::compile(grads.graph, {.threads = 2}, fetch);
  values = dagrad::runtime::run(plan, dagrad::runtime::feeds_from({&inputs, &model.parameters, &model.state}));
  for (ValueId id : g.outputs()) result.outputs.emplace_back(g.value(id).name, values.at(id));
  for (auto [wrt, grad] : grads.graph.gradients()) result.grads.emplace_back(grads.graph.value(wrt).name, values.at(grad));
  return result;
}

class TorchExport : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchExport, ImportedRunsLikePyTorchAndExportsBack) {
  std::string why;
  if (!torch_available(why)) GTEST_SKIP() << why;
  const fs::path dir = make_cases(GetParam());
  nlohmann::json manifest;
  std::ifstream(dir / "manifest.json") >> manifest;
  int cases = 0;
  for (const auto& c : manifest.at("cases")) {
    if (c.at("model") != GetParam()) continue;
    ++cases;
    const std::string label = c.at("dir");
    SCOPED_TRACE(label);
    const fs::path case_dir = dir / label;
    const bool training = c.at("mode") == "train";
    const std::int64_t batch = c.at("batch");

    const auto start = std::chrono::steady_clock::now();
    Model model;
    try {
      model = dagrad::interop::import_onnx((case_dir / "model.onnx").string(), {.batch = batch, .training = training});
    } catch (const std::exception& e) {
      ADD_FAILURE() << "import: " << e.what();
      continue;
    }
    const double import_seconds = seconds_since(start);
    const TensorMap inputs = load_inputs(case_dir, c.at("inputs"));

    CaseRun run;
    try {
      run = run_model(model, inputs, training);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "run: " << e.what();
      continue;
    }

    // Outputs: strict, no outliers.
    std::ostringstream report;
    report << label << ": import " << format(import_seconds) << " s, peak RSS " << static_cast<int>(peak_rss_mib()) << " MiB";
    ASSERT_EQ(run.outputs.size(), c.at("outputs").size());
    for (const auto& [name, tensor] : run.outputs) {
      ASSERT_TRUE(c.at("outputs").contains(name)) << "dagrad output '" << name << "' is not one of PyTorch's";
      const Tensor want = dagrad::load_npy((case_dir / c.at("outputs").at(name).get<std::string>()).string());
      ASSERT_EQ(tensor.shape(), want.shape()) << name;
      const Difference d = compare(tensor, want, kTolerance);
      EXPECT_LE(d.max_relative, kTolerance) << "output " << name;
      report << "; output " << name << " rel " << format(d.max_relative);
    }

    // Gradients: every parameter of the import has autograd's gradient and the other way round.
    if (training) {
      EXPECT_EQ(run.grads.size(), c.at("grads").size()) << "parameters with a gradient in dagrad vs in PyTorch";
      double worst = 0, worst_norm = 0;
      std::string worst_name;
      std::int64_t outliers = 0, tensors_with_outliers = 0, widened = 0, vanishing = 0;
      for (const auto& [name, tensor] : run.grads) {
        if (!c.at("grads").contains(name)) {
          ADD_FAILURE() << "dagrad has a gradient for '" << name << "', PyTorch does not";
          continue;
        }
        const Tensor want = dagrad::load_npy((case_dir / c.at("grads").at(name).get<std::string>()).string());
        ASSERT_EQ(tensor.shape(), want.shape()) << name;
        const auto& torch_error = c.at("torch_float32_error").at(name);  // [max, norm] of float32 vs float64
        const double bound_max = std::max(kTolerance, 4 * torch_error.at(0).get<double>());
        const double bound_norm = std::max(kTolerance, 4 * torch_error.at(1).get<double>());
        const Difference d = compare(tensor, want, bound_max);
        if (torch_error.at(1).get<double>() > 1) {
          // The float64 gradient is ~0 (1e-16): the loss does not depend on this parameter, e.g.
          // the shift of a batch norm whose output only reaches the loss through another
          // training-mode batch norm, which subtracts it again. Both float32 values are rounding
          // noise, so dagrad's must only be no larger than PyTorch's.
          EXPECT_LE(d.got_norm, 10 * d.want_norm + 1e-30) << "gradient " << name << " should be rounding noise, as PyTorch's is";
          ++vanishing;
          continue;
        }
        widened += bound_max > kTolerance || bound_norm > kTolerance;
        EXPECT_LE(d.norm_relative, bound_norm) << "gradient " << name << " (relative norm error; PyTorch float32 vs float64: "
                                               << torch_error.at(1) << ")";
        // Where float32 itself is that loose, single elements say nothing: only the norm is held.
        if (bound_max == kTolerance) {
          EXPECT_LE(d.outliers, kKinkOutliers) << "gradient " << name << ": elements beyond " << bound_max << ", max rel "
                                             << d.max_relative << " (PyTorch float32 vs float64: " << torch_error.at(0) << ")";
        }
        outliers += d.outliers;
        tensors_with_outliers += d.outliers > 0;
        if (d.max_relative_without_outliers > worst) worst = d.max_relative_without_outliers, worst_name = name;
        worst_norm = std::max(worst_norm, d.norm_relative);
      }
      report << "; grads " << run.grads.size() << ", worst rel " << format(worst) << " (" << worst_name << "), worst norm rel "
             << format(worst_norm) << ", kink outliers " << outliers << " in " << tensors_with_outliers << " tensors, "
             << widened << " tensors with a bound widened by PyTorch's float32 error, " << vanishing
             << " vanishing (float64 ~0)";
    }

    // PyTorch's file -> dagrad -> ONNX: the checker passes and the re-import runs bitwise equal.
    try {
      const fs::path exported = case_dir / "dagrad_export.onnx";
      dagrad::interop::export_onnx(model, exported.string(), {.opset = c.at("opset").get<int>()});
      dagrad::interop::check_onnx_file(exported.string());
      Model again = dagrad::interop::import_onnx(exported.string(), {.batch = batch, .training = training});
      CaseRun rerun = run_model(again, inputs, training);
      ASSERT_EQ(rerun.outputs.size(), run.outputs.size());
      for (std::size_t i = 0; i < run.outputs.size(); ++i)
        EXPECT_TRUE(dagrad::bitwise_equal(rerun.outputs[i].second, run.outputs[i].second)) << "re-imported output " << run.outputs[i].first;
      // By name: the exporter may list the nodes, and so the gradients, in another valid order.
      std::map<std::string, const Tensor*> first_grads;
      for (const auto& [name, tensor] : run.grads) first_grads[name] = &tensor;
      ASSERT_EQ(rerun.grads.size(), run.grads.size());
      for (const auto& [name, tensor] : rerun.grads) {
        auto it = first_grads.find(name);
        EXPECT_TRUE(it != first_grads.end() && dagrad::bitwise_equal(tensor, *it->second)) << "re-imported gradient " << name;
      }
      report << "; exported, checked, re-import bitwise equal";
      fs::remove(exported);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "export back to ONNX: " << e.what();
    }
    std::printf("%s\n", report.str().c_str());
    std::fflush(stdout);
  }
  EXPECT_EQ(cases, 4) << "cases of " << GetParam() << " in " << (dir / "manifest.json").string();
  if (!reused_cases()) fs::remove_all(dir);  // vgg16's four files alone are 2 GB
}

INSTANTIATE_TEST_SUITE_P(TorchVision, TorchExport,
                         ::testing::Values("resnet18", "resnet50", "mobilenet_v2", "densenet121", "vgg16"),
                         [](const auto& info) { return info.param; });

}  // namespace

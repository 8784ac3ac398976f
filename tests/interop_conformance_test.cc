// ONNX's own conformance data (Debian's libonnx-testdata): every case whose ops are all in the
// list dagrad imports is imported, run on test_data_set_0's inputs and compared with its outputs
// at ONNX's backend-test tolerance (|got - want| <= 1e-7 + 1e-3 |want|, NaN equal to NaN). Cases
// that need what is out of scope (3-D convolution and pooling, tensors other than float32,
// float64 and int64, random training-mode dropout) must fail with the clear "not supported"
// error. The cases that fail otherwise are listed with reasons in
// tests/data/onnx_conformance_expected.txt; the test asserts that exact set, so both a
// regression and an unexpected pass show.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "interop/onnx.h"
#include "interop/onnx_import_context.h"
#include "onnx/onnx_pb.h"
#include "runtime/runtime.h"

namespace fs = std::filesystem;
using namespace dagrad;

namespace {

const char* kDataRoot = "/usr/share/libonnx-testdata/data";

// The op types of issue 12's list: a case is in scope when all its ops are here.
const std::set<std::string> kInScopeOps = {
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Relu", "LeakyRelu",
    "Clip", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Div", "Sum", "Gemm", "MatMul", "Flatten", "Reshape",
    "BatchNormalization", "Dropout", "Softmax", "LogSoftmax", "SoftmaxCrossEntropyLoss", "Concat", "Pad", "Identity",
    "Constant", "ReduceMean", "Transpose", "Squeeze", "Unsqueeze"};

struct Case {
  std::string name;  // "node/test_conv_with_strides_padding"
  fs::path dir;
  onnx::ModelProto model;
  std::set<std::string> ops;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_dagrad_type(int t) {
  return t == onnx::TensorProto_DataType_FLOAT || t == onnx::TensorProto_DataType_DOUBLE ||
         t == onnx::TensorProto_DataType_INT64;
}

// Why a case needs what is out of scope, or "" when it does not.
std::string out_of_scope_reason(const Case& c) {
  const auto& g = c.model.graph();
  for (const auto& v : g.input())
    if (!v.type().has_tensor_type()) return "sequence or optional input";
  for (const auto& v : g.input())
    if (v.type().has_tensor_type() && !is_dagrad_type(v.type().tensor_type().elem_type()))
      return "input type " + std::to_string(v.type().tensor_type().elem_type());
  for (const auto& v : g.output())
    if (v.type().has_tensor_type() && !is_dagrad_type(v.type().tensor_type().elem_type()))
      return "output type " + std::to_string(v.type().tensor_type().elem_type());
  for (const auto& t : g.initializer())
    if (!is_dagrad_type(t.data_type())) return "initializer type";
  for (const auto& n : g.node()) {
    for (const auto& a : n.attribute()) {
      if (a.name() == "kernel_shape" && a.ints_size() >= 3) return "3-D window";
      if (a.name() == "value" && a.has_t() && !is_dagrad_type(a.t().data_type())) return "constant type";
    }
    if (n.op_type() == "Dropout" && n.input_size() >= 3 && !n.input(2).empty()) return "training-mode dropout";
  }
  for (const auto& v : g.input()) {
    const auto& shape = v.type().tensor_type().shape();
    if (shape.dim_size() == 5) {
      for (const auto& n : g.node())
        if (n.op_type() == "Conv" || n.op_type() == "ConvTranspose" || n.op_type().find("Pool") != std::string::npos)
          return "3-D convolution or pooling";
    }
  }
  return "";
}

std::vector<Case> in_scope_cases() {
  std::vector<Case> cases;
  for (const char* group : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    const fs::path root = fs::path(kDataRoot) / group;
    if (!fs::exists(root)) continue;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
      if (!fs::exists(dir / "model.onnx") || !fs::exists(dir / "test_data_set_0")) continue;
      Case c{std::string(group) + "/" + dir.filename().string(), dir, {}, {}};
      if (!c.model.ParseFromString(read_bytes(dir / "model.onnx"))) continue;
      bool all_in = true;
      for (const auto& n : c.model.graph().node()) {
        c.ops.insert(n.op_type());
        all_in = all_in && kInScopeOps.count(n.op_type()) && (n.domain().empty() || n.domain() == "ai.onnx");
      }
      if (all_in && !c.ops.empty()) cases.push_back(std::move(c));
    }
  }
  return cases;
}

std::vector<fs::path> data_files(const fs::path& set, const char* prefix) {
  std::vector<fs::path> files;
  for (int k = 0;; ++k) {
    const fs::path p = set / (std::string(prefix) + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

// "" when the case passes, else what went wrong.
std::string run_case(const Case& c) {
  const fs::path set = c.dir / "test_data_set_0";
  const auto input_files = data_files(set, "input_");
  const auto output_files = data_files(set, "output_");
  std::vector<std::string> graph_inputs;
  std::set<std::string> initializers;
  for (const auto& t : c.model.graph().initializer()) initializers.insert(t.name());
  for (const auto& v : c.model.graph().input())
    if (!initializers.count(v.name())) graph_inputs.push_back(v.name());
  if (input_files.size() != graph_inputs.size())
    return "test data has " + std::to_string(input_files.size()) + " inputs, the graph " + std::to_string(graph_inputs.size());
  TensorMap inputs;
  interop::OnnxImportOptions options;
  for (std::size_t k = 0; k < input_files.size(); ++k) {
    Tensor t = interop::read_onnx_tensor_file(input_files[k].string());
    if (k == 0 && t.rank() > 0 && t.shape()[0] > 0) options.batch = t.shape()[0];
    inputs[graph_inputs[k]] = std::move(t);
  }
  Model model = interop::detail::import_onnx_bytes_bound(read_bytes(c.dir / "model.onnx"), c.name + "/model.onnx",
                                                         c.dir.string(), options, inputs);
  std::vector<ValueId> fetch;
  for (const auto& out : c.model.graph().output()) fetch.push_back(model.graph.at(out.name()));
  const runtime::Plan plan = runtime::compile(model.graph, {}, fetch);
  runtime::Feeds feeds = runtime::feeds_from({&model.parameters, &model.state});
  for (const auto& [name, t] : inputs)
    if (model.graph.find(name) && model.graph.value(model.graph.at(name)).kind == ValueKind::input) feeds[name] = &t;
  const runtime::RunResult result = runtime::run(plan, feeds);
  if (output_files.size() != fetch.size()) return "output count differs";
  for (std::size_t k = 0; k < fetch.size(); ++k) {
    const Tensor want = interop::read_onnx_tensor_file(output_files[k].string());
    const Tensor& got = result.at(fetch[k]);
    if (got.shape() != want.shape())
      return "output " + std::to_string(k) + " shape " + to_string(got.shape()) + ", expected " + to_string(want.shape());
    if (got.dtype() != want.dtype()) return "output " + std::to_string(k) + " dtype differs";
    for (std::int64_t i = 0; i < want.numel(); ++i) {
      const double g = got.at(i), w = want.at(i);
      if (std::isnan(w) && std::isnan(g)) continue;
      if (!(std::abs(g - w) <= 1e-7 + 1e-3 * std::abs(w)) && !(std::isinf(w) && g == w)) {
        std::ostringstream s;
        s << "output " << k << "[" << i << "] = " << g << ", expected " << w;
        return s.str();
      }
    }
  }
  return "";
}

std::map<std::string, std::string> expected_failures() {
  std::map<std::string, std::string> expected;
  std::ifstream in(std::string(DAGRAD_SOURCE_DIR) + "/tests/data/onnx_conformance_expected.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    expected[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return expected;
}

}  // namespace

TEST(OnnxConformance, InScopeCasesPassOrFailAsExpected) {
  if (!fs::exists(kDataRoot)) GTEST_SKIP() << "libonnx-testdata is not installed";
  const std::vector<Case> cases = in_scope_cases();
  ASSERT_GT(cases.size(), 250u);
  struct Tally { int pass = 0, fail = 0, out_of_scope = 0; };
  std::map<std::string, Tally> per_op;
  std::map<std::string, std::string> failures;
  int pass = 0, out_of_scope = 0;
  for (const Case& c : cases) {
    const std::string scope = out_of_scope_reason(c);
    std::string error;
    try {
      error = run_case(c);
    } catch (const Error& e) {
      error = e.what();
    } catch (const std::exception& e) {
      error = std::string("non-dagrad exception: ") + e.what();
    }
    if (!scope.empty()) {
      ++out_of_scope;
      const bool clear = error.find("not supported") != std::string::npos || error.find("unsupported") != std::string::npos;
      EXPECT_TRUE(clear) << c.name << " (" << scope << ") must fail with a clear unsupported error, got: "
                         << (error.empty() ? "a pass" : error);
      for (const auto& op : c.ops) ++per_op[op].out_of_scope;
      continue;
    }
    if (error.empty()) ++pass;
    else failures[c.name] = error;
    for (const auto& op : c.ops) (error.empty() ? per_op[op].pass : per_op[op].fail)++;
  }
  const int in_scope = static_cast<int>(cases.size()) - out_of_scope;
  std::cout << "ONNX conformance: " << cases.size() << " cases use only the listed ops; " << out_of_scope
            << " need what is out of scope (and fail with the unsupported error); " << pass << " of " << in_scope
            << " others pass\n";
  std::cout << std::left << std::setw(26) << "op" << std::setw(7) << "pass" << std::setw(7) << "fail" << "out of scope\n";
  for (const auto& [op, t] : per_op)
    std::cout << std::left << std::setw(26) << op << std::setw(7) << t.pass << std::setw(7) << t.fail << t.out_of_scope << "\n";
  for (const auto& [name, why] : failures) std::cout << "FAIL " << name << ": " << why << "\n";

  const auto expected = expected_failures();
  for (const auto& [name, why] : failures)
    EXPECT_TRUE(expected.count(name)) << "unexpected failure (a regression): " << name << ": " << why;
  for (const auto& [name, why] : expected)
    EXPECT_TRUE(failures.count(name)) << "expected failure now passes (or left the set): " << name << " (" << why
                                      << "); remove it from tests/data/onnx_conformance_expected.txt";
  EXPECT_GE(pass * 100, in_scope * 97) << "below 97% of the in-scope cases";
}

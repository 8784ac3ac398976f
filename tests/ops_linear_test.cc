// Naive triple-loop float64 references for matmul and dense (run on their declared examples),
// plus shape errors and a golden product.
#include <gtest/gtest.h>

#include <functional>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

bool flag(const AttrMap& attrs, const char* name) { return attrs.count(name) && std::get<bool>(attrs.at(name)); }

// Element (i, j) of X or of X^T, X stored row-major as a 2-D tensor.
double element(const Tensor& x, bool transposed, std::int64_t i, std::int64_t j) {
  return transposed ? x.at(j * x.shape()[1] + i) : x.at(i * x.shape()[1] + j);
}

std::vector<Tensor> matmul_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  bool ta = flag(attrs, "transpose_a"), tb = flag(attrs, "transpose_b");
  std::int64_t m = in[0].shape()[ta ? 1 : 0], k = in[0].shape()[ta ? 0 : 1], n = in[1].shape()[tb ? 0 : 1];
  Tensor y = zeros_f64({m, n});
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p) at(y, i * n + j) += element(in[0], ta, i, p) * element(in[1], tb, p, j);
  return {y};
}

std::vector<Tensor> dense_reference(const std::vector<Tensor>& in, const AttrMap&) {
  std::vector<Tensor> product = matmul_reference({in[0], in[1]}, {});
  Tensor& y = product[0];
  if (in.size() == 3) {
    std::int64_t m = y.shape()[1];
    for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) += in[2].at(i % m);
  }
  return product;
}

OpExample matmul_example(const char* label, bool ta, bool tb, Shape a, Shape b) {
  return {.label = label, .attrs = {{"transpose_a", ta}, {"transpose_b", tb}},
          .inputs = {{.shape = std::move(a)}, {.shape = std::move(b)}}};
}

}  // namespace

DAGRAD_OP_REFERENCES(linear) {
  return {
      {"matmul", {matmul_reference}},
      {"dense", {dense_reference}},
  };
}

namespace {

std::string build_error(const std::function<void(Graph&)>& build) {
  Graph g;
  try {
    build(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Value input(Graph& g, const char* name, Shape shape, DType dtype = DType::f32) { return g.input(name, {dtype, std::move(shape)}); }

}  // namespace

TEST(LinearErrors, MatmulInnerDimsMismatch) {
  std::string msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3}), input(g, "b", {4, 5})); });
  EXPECT_NE(msg.find("op 'matmul'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4,5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("inner dims"), std::string::npos) << msg;
  // Transposing b makes the same shapes compatible only when its last dim matches.
  msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3}), input(g, "b", {4, 5}), false, true); });
  EXPECT_NE(msg.find("(transposed)"), std::string::npos) << msg;
  EXPECT_EQ(build_error([](Graph& g) { ops::matmul(input(g, "a", {3, 2}), input(g, "b", {4, 3}), true, true); }), "");
}

TEST(LinearErrors, MatmulRank) {
  std::string msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3, 4}), input(g, "b", {4, 5})); });
  EXPECT_NE(msg.find("op 'matmul'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3,4]"), std::string::npos) << msg;
}

TEST(LinearErrors, MatmulDtypeMismatch) {
  std::string msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3}), input(g, "b", {3, 5}, DType::f64)); });
  EXPECT_NE(msg.find("op 'matmul'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("same dtype"), std::string::npos) << msg;
}

TEST(LinearErrors, DenseBiasMismatch) {
  std::string msg = build_error([](Graph& g) { ops::dense(input(g, "x", {2, 3}), input(g, "w", {3, 4}), input(g, "b", {3})); });
  EXPECT_NE(msg.find("op 'dense'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bias must have shape [4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3,4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got [3]"), std::string::npos) << msg;
}

TEST(LinearErrors, DenseFeatureMismatch) {
  std::string msg = build_error([](Graph& g) { ops::dense(input(g, "x", {2, 3}), input(g, "w", {5, 4})); });
  EXPECT_NE(msg.find("op 'dense'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("x [2,3] has 3 features but w [5,4] expects 5"), std::string::npos) << msg;
}

TEST(LinearErrors, DenseDtypeMismatch) {
  std::string msg = build_error([](Graph& g) { ops::dense(input(g, "x", {2, 3}), input(g, "w", {3, 4}), input(g, "b", {4}, DType::f64)); });
  EXPECT_NE(msg.find("op 'dense'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("same dtype"), std::string::npos) << msg;
}

TEST(Matmul, GoldenProduct) {
  Tensor a = Tensor::from<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from<double>({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor y = autodiff::run_op("matmul", {}, {a, b})[0];
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.at(0), 58);
  EXPECT_EQ(y.at(1), 64);
  EXPECT_EQ(y.at(2), 139);
  EXPECT_EQ(y.at(3), 154);
}

// Products large enough that the kernel splits the rows of op(a) into several blocks.
TEST(Matmul, RowBlocksMatchReference) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      OpExample example = matmul_example("blocks", ta, tb, ta ? Shape{128, 40} : Shape{40, 128}, Shape{128, 128});
      std::vector<Tensor> inputs = autodiff::example_inputs(example, 3);
      Tensor want = matmul_reference(inputs, example.attrs)[0];
      Tensor got = autodiff::run_op("matmul", example.attrs, inputs)[0];
      ASSERT_EQ(got.shape(), want.shape());
      for (std::int64_t i = 0; i < got.numel(); ++i) ASSERT_NEAR(got.at(i), want.at(i), 1e-10) << "ta " << ta << " tb " << tb << " entry " << i;
    }
  }
}

TEST(Dense, EmptyBatch) {
  Tensor x(DType::f32, {0, 3});
  Tensor w(DType::f32, {3, 2});
  Tensor bias(DType::f32, {2});
  EXPECT_EQ(autodiff::run_op("dense", {}, {x, w, bias})[0].shape(), (Shape{0, 2}));
}

}  // namespace dagrad::testing

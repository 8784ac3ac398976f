// Naive triple-loop float64 references for matmul (batched, broadcast batch dims) and dense
// (run on their declared examples), plus shape errors, a golden product and determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

bool flag(const AttrMap& attrs, const char* name) { return attrs.count(name) && std::get<bool>(attrs.at(name)); }

// Element (i, j) of matrix X or of X^T, X the [rows, cols] matrix stored row-major at `offset`.
double element(const Tensor& x, std::int64_t offset, bool transposed, std::int64_t i, std::int64_t j) {
  const std::int64_t cols = x.shape().back();
  return transposed ? x.at(offset + j * cols + i) : x.at(offset + i * cols + j);
}

// The batch dims of a shape (all but the last two), left-padded with 1 to `rank`.
Shape padded_batch(const Shape& s, std::size_t rank) {
  Shape b(rank - (s.size() - 2), 1);
  b.insert(b.end(), s.begin(), s.end() - 2);
  return b;
}

// From the definition: y[b, i, j] = sum_p op(a)[b_a, i, p] op(b)[b_b, p, j], where b_a and b_b are
// the batch index b with the dims an input was broadcast along set to 0.
std::vector<Tensor> matmul_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  bool ta = flag(attrs, "transpose_a"), tb = flag(attrs, "transpose_b");
  const Shape& sa = in[0].shape();
  const Shape& sb = in[1].shape();
  const std::size_t ra = sa.size(), rb = sb.size(), rank = std::max(ra, rb) - 2;
  std::int64_t m = sa[ra - (ta ? 1 : 2)], k = sa[ra - (ta ? 2 : 1)], n = sb[rb - (tb ? 2 : 1)];
  Shape ba = padded_batch(sa, rank), bb = padded_batch(sb, rank), by(rank);
  for (std::size_t d = 0; d < rank; ++d) by[d] = std::max(ba[d], bb[d]);
  Shape y_shape = by;
  y_shape.push_back(m);
  y_shape.push_back(n);
  Tensor y = zeros_f64(y_shape);
  std::int64_t batches = 1;
  for (std::int64_t d : by) batches *= d;
  for (std::int64_t batch = 0; batch < batches; ++batch) {
    std::int64_t rest = batch, flat_a = 0, flat_b = 0, scale_a = 1, scale_b = 1;
    for (std::size_t d = rank; d-- > 0;) {
      const std::int64_t index = rest % by[d];
      rest /= by[d];
      flat_a += (ba[d] == 1 ? 0 : index) * scale_a;
      flat_b += (bb[d] == 1 ? 0 : index) * scale_b;
      scale_a *= ba[d];
      scale_b *= bb[d];
    }
    const std::int64_t oa = flat_a * sa[ra - 2] * sa[ra - 1], ob = flat_b * sb[rb - 2] * sb[rb - 1];
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t p = 0; p < k; ++p)
          at(y, (batch * m + i) * n + j) += element(in[0], oa, ta, i, p) * element(in[1], ob, tb, p, j);
  }
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
  std::string msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {4}), input(g, "b", {4, 5})); });
  EXPECT_NE(msg.find("op 'matmul'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a (input 0) must have rank >= 2 ([..., M, K]), got shape [4]"), std::string::npos) << msg;
  msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3, 4}), input(g, "b", {}), false, true); });
  EXPECT_NE(msg.find("b (input 1) must have rank >= 2 ([..., K, N]), got shape []"), std::string::npos) << msg;
  // A batch of matrices times one matrix is fine: [2,3,4] x [4,5] = [2,3,5].
  EXPECT_EQ(build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3, 4}), input(g, "b", {4, 5})); }), "");
}

TEST(LinearErrors, MatmulBatchDimsDoNotBroadcast) {
  std::string msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 3, 4}), input(g, "b", {3, 4, 5})); });
  EXPECT_NE(msg.find("op 'matmul'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("batch dims [2] of a [2,3,4] and [3] of b [3,4,5] do not broadcast"), std::string::npos) << msg;
  msg = build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 1, 3, 4}), input(g, "b", {5, 3, 4, 5}, DType::f32), true, false); });
  EXPECT_NE(msg.find("inner dims differ"), std::string::npos) << msg;
  EXPECT_EQ(build_error([](Graph& g) { ops::matmul(input(g, "a", {2, 1, 3, 4}), input(g, "b", {5, 4, 5})); }), "");
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

// Batched products large enough for several row blocks per batch, with broadcast batch dims,
// against the reference; and the same bits for 1 and 2 threads.
TEST(Matmul, BatchedBlocksMatchReferenceAndThreadCounts) {
  OpExample example = matmul_example("batched_blocks", false, true, {3, 1, 80, 64}, {2, 96, 64});
  std::vector<Tensor> inputs = autodiff::example_inputs(example, 5);
  Tensor want = matmul_reference(inputs, example.attrs)[0];
  Tensor got = autodiff::run_op("matmul", example.attrs, inputs)[0];
  ASSERT_EQ(got.shape(), (Shape{3, 2, 80, 96}));
  for (std::int64_t i = 0; i < got.numel(); ++i) ASSERT_NEAR(got.at(i), want.at(i), 1e-10) << "entry " << i;

  Graph g;
  Value a = g.input("a", {DType::f32, {3, 1, 80, 64}});
  Value b = g.input("b", {DType::f32, {2, 96, 64}});
  Value y = ops::matmul(a, b, false, true);
  runtime::TensorMap feeds;
  feeds.emplace("a", inputs[0].to(DType::f32));
  feeds.emplace("b", inputs[1].to(DType::f32));
  std::vector<Tensor> runs;
  for (int threads : {1, 2})
    runs.push_back(runtime::run(runtime::compile(g, {.threads = threads}, {y.id()}), runtime::feeds_from({&feeds})).at(y.id()));
  EXPECT_TRUE(bitwise_equal(runs[0], runs[1]));
}

// A batch of one is the 2-D product, bit for bit (the same row blocks and BLAS calls).
TEST(Matmul, BatchOfOneIsTheTwoDimensionalProduct) {
  OpExample example = matmul_example("one", true, false, {1, 300, 200}, {1, 300, 150});
  std::vector<Tensor> inputs = autodiff::example_inputs(example, 6);
  Tensor batched = autodiff::run_op("matmul", example.attrs, inputs)[0];
  Tensor plain = autodiff::run_op("matmul", example.attrs, {inputs[0].reshaped({300, 200}), inputs[1].reshaped({300, 150})})[0];
  ASSERT_EQ(batched.numel(), plain.numel());
  EXPECT_EQ(std::memcmp(batched.raw(), plain.raw(), plain.nbytes()), 0);
}

// Empty products: K = 0 gives zeros (in poisoned buffers: every element written), M = 0 or a batch
// dim of 0 an empty result.
TEST(Matmul, EmptyDims) {
  struct Case { Shape a, b, y; };
  for (const Case& c : {Case{{2, 0}, {0, 3}, {2, 3}}, Case{{2, 3, 0}, {2, 0, 4}, {2, 3, 4}}, Case{{0, 3}, {3, 4}, {0, 4}},
                        Case{{0, 2, 3}, {3, 4}, {0, 2, 4}}}) {
    Graph g;
    Value y = ops::matmul(input(g, "a", c.a, DType::f64), input(g, "b", c.b, DType::f64));
    runtime::TensorMap feeds;
    feeds.emplace("a", Tensor(DType::f64, c.a));
    feeds.emplace("b", Tensor(DType::f64, c.b));
    Tensor got = runtime::run(runtime::compile(g, {.poison_buffers = true}, {y.id()}), runtime::feeds_from({&feeds})).at(y.id());
    ASSERT_EQ(got.shape(), c.y);
    for (std::int64_t i = 0; i < got.numel(); ++i) EXPECT_EQ(got.at(i), 0) << to_string(c.a) << " x " << to_string(c.b) << " entry " << i;
  }
}

TEST(Dense, EmptyBatch) {
  Tensor x(DType::f32, {0, 3});
  Tensor w(DType::f32, {3, 2});
  Tensor bias(DType::f32, {2});
  EXPECT_EQ(autodiff::run_op("dense", {}, {x, w, bias})[0].shape(), (Shape{0, 2}));
}

}  // namespace dagrad::testing

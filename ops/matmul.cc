// matmul: y = op(a) op(b) for 2-D a and b, op(X) = X or X^T. Gradients are matmuls again:
//   y = a b      da = dy b^T     db = a^T dy
//   y = a^T b    da = b dy^T     db = a dy
//   y = a b^T    da = dy b       db = dy^T a
//   y = a^T b^T  da = b^T dy^T   db = dy^T a^T
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct MatmulAttrs {
  bool transpose_a = false;
  bool transpose_b = false;
  template <class V> void fields(V& v) {
    v("transpose_a", transpose_a);
    v("transpose_b", transpose_b);
  }
};
}  // namespace

Value matmul(Value a, Value b, bool transpose_a, bool transpose_b) {
  return a.graph().add_node("matmul", {a, b}, write_attrs(MatmulAttrs{transpose_a, transpose_b}))[0];
}

void register_matmul(OpRegistry& registry) {
  auto example = [](const char* label, bool ta, bool tb, Shape a, Shape b) {
    return OpExample{.label = label,
                     .attrs = {{"transpose_a", ta}, {"transpose_b", tb}},
                     .inputs = {{.shape = std::move(a)}, {.shape = std::move(b)}}};
  };
  registry.add(define_op<MatmulAttrs>({
      .name = "matmul",
      .doc = "Matrix product of 2-D tensors, y[M,N] = op(a)[M,K] op(b)[K,N], op = identity or transpose.",
      .inputs = {"a", "b"},
      .examples = {example("nn", false, false, {3, 4}, {4, 5}), example("tn", true, false, {4, 3}, {4, 5}),
                   example("nt", false, true, {3, 4}, {5, 4}), example("tt", true, true, {4, 3}, {5, 4}),
                   example("vector_like", false, false, {1, 6}, {6, 1})},
      .infer = [](const MatmulAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        c.expect_rank(0, 2);
        c.expect_rank(1, 2);
        const Shape& sa = c.shape(0);
        const Shape& sb = c.shape(1);
        std::int64_t m = a.transpose_a ? sa[1] : sa[0], ka = a.transpose_a ? sa[0] : sa[1];
        std::int64_t kb = a.transpose_b ? sb[1] : sb[0], n = a.transpose_b ? sb[0] : sb[1];
        if (ka != kb)
          c.fail("inner dims differ: a ", to_string(sa), a.transpose_a ? " (transposed)" : "", " gives K = ", ka, ", b ",
                 to_string(sb), a.transpose_b ? " (transposed)" : "", " gives K = ", kb);
        return std::vector{TensorType{c.dtype(0), {m, n}}};
      },
      .forward = [](const MatmulAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& ta = k.input(0);
          const Tensor& tb = k.input(1);
          Tensor& ty = k.output(0);
          const std::int64_t m = ty.dim(0), n = ty.dim(1);
          const std::int64_t kk = a.transpose_a ? ta.dim(0) : ta.dim(1);
          const std::int64_t lda = ta.dim(1), ldb = tb.dim(1);
          const T* pa = ta.data<T>().data();
          const T* pb = tb.data<T>().data();
          T* py = ty.data<T>().data();
          // Row blocks of a size fixed by the problem alone, so each block's BLAS call (and result)
          // does not depend on the thread count.
          const std::int64_t rows = std::max<std::int64_t>(8, (std::int64_t{1} << 18) / std::max<std::int64_t>(1, n * kk));
          kernels::parallel_chunks(m, rows, [&](std::int64_t s, std::int64_t e) {
            const T* block_a = a.transpose_a ? pa + s : pa + s * lda;
            kernels::gemm<T>(a.transpose_a, a.transpose_b, e - s, n, kk, T(1), block_a, lda, pb, ldb, T(0), py + s * n, n);
          });
        });
      },
      .grad = [](const MatmulAttrs& at, GradContext& g) {
        Value a = g.input(0), b = g.input(1), dy = g.dy();
        std::vector<Value> grads(2);
        if (g.needs(0))
          grads[0] = at.transpose_a ? matmul(b, dy, at.transpose_b, true) : matmul(dy, b, false, !at.transpose_b);
        if (g.needs(1))
          grads[1] = at.transpose_b ? matmul(dy, a, true, at.transpose_a) : matmul(a, dy, !at.transpose_a, false);
        return grads;
      },
      .flops = [](const MatmulAttrs& a, const FlopContext& c) {
        const Shape& y = c.output(0);
        return c.product({2, y[0], y[1], a.transpose_a ? c.input(0)[0] : c.input(0)[1]});
      },
  }));
}

}  // namespace dagrad::ops

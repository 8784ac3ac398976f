// matmul: y = op(a) op(b), op(X) = X or X^T on the last two dims. 2-D, or batched:
// a [..., M, K] (or [..., K, M] transposed), b [..., K, N], y [..., M, N], where the batch dims
// (all but the last two) broadcast as in numpy. Gradients are matmuls again, summed back over the
// batch dims an input was broadcast along (sum_to):
//   y = a b      da = dy b^T     db = a^T dy
//   y = a^T b    da = b dy^T     db = a dy
//   y = a b^T    da = dy b       db = dy^T a
//   y = a^T b^T  da = b^T dy^T   db = dy^T a^T
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/broadcast.h"
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

Shape batch_dims(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

// The sum of dy (a gradient in the broadcast batch shape) back to input `shape`.
Value unbroadcast(Value dy, const Shape& shape) { return dy.shape() == shape ? dy : sum_to(dy, shape); }
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
      .doc = "Matrix product y[..., M, N] = op(a)[..., M, K] op(b)[..., K, N], op = identity or transpose of the "
             "last two dims; the batch dims broadcast (numpy).",
      .inputs = {"a", "b"},
      .examples = {example("nn", false, false, {3, 4}, {4, 5}), example("tn", true, false, {4, 3}, {4, 5}),
                   example("nt", false, true, {3, 4}, {5, 4}), example("tt", true, true, {4, 3}, {5, 4}),
                   example("vector_like", false, false, {1, 6}, {6, 1}),
                   example("batched", false, false, {2, 3, 4}, {2, 4, 5}),
                   example("batched_tt", true, true, {2, 4, 3}, {2, 5, 4}),
                   example("batch_broadcast_a", false, false, {3, 4}, {2, 4, 2}),
                   example("batch_broadcast_b", false, true, {2, 2, 3, 4}, {5, 4}),
                   example("batch_ones", true, false, {2, 1, 4, 3}, {1, 3, 4, 2})},
      .infer = [](const MatmulAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        const Shape& sa = c.shape(0);
        const Shape& sb = c.shape(1);
        if (sa.size() < 2) c.fail("a (input 0) must have rank >= 2 ([..., M, K]), got shape ", to_string(sa));
        if (sb.size() < 2) c.fail("b (input 1) must have rank >= 2 ([..., K, N]), got shape ", to_string(sb));
        const std::size_t ra = sa.size(), rb = sb.size();
        std::int64_t m = a.transpose_a ? sa[ra - 1] : sa[ra - 2], ka = a.transpose_a ? sa[ra - 2] : sa[ra - 1];
        std::int64_t kb = a.transpose_b ? sb[rb - 1] : sb[rb - 2], n = a.transpose_b ? sb[rb - 2] : sb[rb - 1];
        if (ka != kb)
          c.fail("inner dims differ: a ", to_string(sa), a.transpose_a ? " (transposed)" : "", " gives K = ", ka, ", b ",
                 to_string(sb), a.transpose_b ? " (transposed)" : "", " gives K = ", kb);
        const Shape ba = batch_dims(sa), bb = batch_dims(sb);
        const std::size_t rank = std::max(ba.size(), bb.size());
        Shape y(rank);
        for (std::size_t i = 0; i < rank; ++i) {
          const std::int64_t da = i < rank - ba.size() ? 1 : ba[i - (rank - ba.size())];
          const std::int64_t db = i < rank - bb.size() ? 1 : bb[i - (rank - bb.size())];
          if (da != db && da != 1 && db != 1)
            c.fail("batch dims ", to_string(ba), " of a ", to_string(sa), " and ", to_string(bb), " of b ", to_string(sb),
                   " do not broadcast");
          y[i] = da == 1 ? db : da;
        }
        y.push_back(m);
        y.push_back(n);
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const MatmulAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& ta = k.input(0);
          const Tensor& tb = k.input(1);
          Tensor& ty = k.output(0);
          const Shape& sy = ty.shape();
          const std::int64_t m = sy[sy.size() - 2], n = sy.back();
          const std::int64_t kk = a.transpose_a ? ta.shape()[ta.rank() - 2] : ta.shape().back();
          const std::int64_t lda = ta.shape().back(), ldb = tb.shape().back();
          const std::int64_t a_matrix = ta.shape()[ta.rank() - 2] * lda, b_matrix = tb.shape()[tb.rank() - 2] * ldb;
          // Where each batch's matrices start: one odometer walk over the output's batch dims (none
          // for a single product, which allocates nothing beyond the 2-D kernel's needs).
          const Shape by = batch_dims(sy);
          std::int64_t batches = 1;
          for (std::int64_t d : by) batches *= d;
          std::vector<std::int64_t> a_at, b_at;
          if (batches > 1) {
            a_at.resize(batches);
            b_at.resize(batches);
            kernels::BroadcastCursor ca(batch_dims(ta.shape()), by, 0), cb(batch_dims(tb.shape()), by, 0);
            for (std::int64_t i = 0; i < batches; ++i, ca.next(), cb.next()) {
              a_at[i] = ca.offset() * a_matrix;
              b_at[i] = cb.offset() * b_matrix;
            }
          }
          const T* pa = ta.data<T>().data();
          const T* pb = tb.data<T>().data();
          T* py = ty.data<T>().data();
          // Blocks of rows of one batch's product, of a size fixed by the problem alone, so each
          // block's BLAS call (and result) does not depend on the thread count. A 2-D product's
          // rows may be a batch of images (dense's input gradient): BLAS rounds a row differently
          // with its place in the block, so they go in aligned blocks of one canonical group
          // (batch_groups.h), the same blocks whatever slice of the batch a run holds.
          const std::int64_t work = std::max<std::int64_t>(1, n * kk);
          const std::int64_t rows = batches == 1 && ta.rank() == 2 ? kernels::kImagesPerGroup
                                                                  : std::max<std::int64_t>(8, (std::int64_t{1} << 18) / work);
          const std::int64_t blocks = (m + rows - 1) / rows;
          const std::int64_t per_chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 18) / (std::min(m, rows) * work + 1));
          kernels::parallel_chunks(batches * blocks, per_chunk, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t u = s; u < e; ++u) {
              const std::int64_t batch = u / blocks, first = (u % blocks) * rows, last = std::min(m, first + rows);
              const std::int64_t at_a = batches > 1 ? a_at[batch] : 0, at_b = batches > 1 ? b_at[batch] : 0;
              const T* block_a = pa + at_a + (a.transpose_a ? first : first * lda);
              kernels::gemm<T>(a.transpose_a, a.transpose_b, last - first, n, kk, T(1), block_a, lda, pb + at_b, ldb, T(0),
                               py + batch * m * n + first * n, n);
            }
          });
        });
      },
      .grad = [](const MatmulAttrs& at, GradContext& g) {
        Value a = g.input(0), b = g.input(1), dy = g.dy();
        std::vector<Value> grads(2);
        if (g.needs(0))
          grads[0] = unbroadcast(at.transpose_a ? matmul(b, dy, at.transpose_b, true) : matmul(dy, b, false, !at.transpose_b),
                                 g.shape(0));
        if (g.needs(1))
          grads[1] = unbroadcast(at.transpose_b ? matmul(dy, a, true, at.transpose_a) : matmul(a, dy, !at.transpose_a, false),
                                 g.shape(1));
        return grads;
      },
      .flops = [](const MatmulAttrs& a, const FlopContext& c) {
        const Shape& y = c.output(0);
        const Shape& sa = c.input(0);
        return c.times_dims(2 * (a.transpose_a ? sa[sa.size() - 2] : sa.back()), y, 0);
      },
      // A 2-D product that contracts over the batch sums it in GEMM order (dense_grad_weight does not).
      .batch_reduction = [](const MatmulAttrs& a, const BatchContext& b) {
        (void)a;
        // Contracting a batch-carrying matrix over its rows (x^T dy) sums over the batch in GEMM order.
        const bool a_rows = b.batched[0] && b.infer.shape(0).size() == 2 && a.transpose_a;
        const bool b_rows = b.batched[1] && b.infer.shape(1).size() == 2 && !a.transpose_b;
        return a_rows || b_rows ? BatchReduction::non_canonical : BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops

// dropout: in training, y = x * mask where mask is 0 with probability p and 1/(1-p) otherwise
// (inverted dropout, so inference is the identity). The mask is drawn from a counter-based hash of
// (seed, the run's step seed, element index in the global batch): reproducible for any thread count, fresh each step,
// and identical between the evaluations of one step. Gradient: dy * mask.
#include "graph/op.h"
#include "ops/kernels/counter_hash.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct DropoutAttrs {
  double p = 0.5;
  std::int64_t seed = 0;
  bool training = true;
  template <class V> void fields(V& v) {
    v("p", p);
    v("seed", seed);
    v("training", training);
  }
};

template <class T> void forward(const DropoutAttrs& a, KernelContext& k) {
  const T* x = k.input(0).data<T>().data();
  T* y = k.output(0).data<T>().data();
  T* mask = k.output(1).data<T>().data();
  const bool identity = !a.training || a.p == 0;
  const T kept = static_cast<T>(1.0 / (1.0 - a.p));
  const std::uint64_t seed = static_cast<std::uint64_t>(a.seed);
  const std::uint64_t step = k.step_seed();
  // Elements are keyed by their index in the global batch (graph/batch_slice.h), so a slice of a
  // data-parallel step draws the masks the whole batch would.
  const Tensor& tx = k.input(0);
  const std::int64_t per_image = tx.rank() > 0 && tx.dim(0) > 0 ? tx.numel() / tx.dim(0) : 0;
  const std::uint64_t first = static_cast<std::uint64_t>(k.batch_slice().first_image * per_image);
  kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      if (identity) {
        mask[i] = T(1);
        y[i] = x[i];
        continue;
      }
      const bool keep = kernels::counter_uniform(seed, step, first + static_cast<std::uint64_t>(i)) >= a.p;
      mask[i] = keep ? kept : T(0);
      y[i] = x[i] * mask[i];
    }
  });
}
}  // namespace

DropoutOutputs dropout(Value x, double p, std::uint64_t seed, bool training) {
  std::vector<Value> out =
      x.graph().add_node("dropout", {x}, write_attrs(DropoutAttrs{p, static_cast<std::int64_t>(seed), training}));
  return {out[0], out[1]};
}

void register_dropout(OpRegistry& registry) {
  registry.add(define_op<DropoutAttrs>({
      .name = "dropout",
      .doc = "Inverted dropout: zeroes entries with probability p in training and scales the rest by 1/(1-p).",
      .inputs = {"x"},
      .outputs = {"y", "mask"},
      .examples = {{.label = "train", .attrs = {{"p", 0.3}, {"seed", std::int64_t{7}}}, .inputs = {{.shape = {4, 5}}}},
                   {.label = "inference", .attrs = {{"training", false}}, .inputs = {{.shape = {2, 3, 2, 2}}}},
                   {.label = "train_p0", .attrs = {{"p", 0.0}}, .inputs = {{.shape = {3, 4}}}}},
      .infer = [](const DropoutAttrs& a, InferContext& c) {
        c.expect_float(0);
        if (!(a.p >= 0 && a.p < 1)) c.fail("p must be in [0, 1), got ", a.p);
        return std::vector{c.input(0), c.input(0)};
      },
      .forward = [](const DropoutAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k); });
      },
      .grad = [](const DropoutAttrs&, GradContext& g) {
        if (!g.dy(0).valid()) return std::vector<Value>{};
        return std::vector{mul(g.dy(0), g.output(1))};
      },
  }));
}

}  // namespace dagrad::ops

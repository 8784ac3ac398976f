// batch_norm_grad: the backward of batch_norm's y from the statistics it used.
//   xhat = (x - mean) * invstd, dgamma = sum(dy * xhat), dbeta = sum(dy) per channel;
//   training:  dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
//   inference: dx = dy * gamma * invstd (the statistics are constants).
#include <span>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/channels.h"
#include "ops/kernels/channel_runs.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct BatchNormGradAttrs {
  bool training = true;
  template <class V> void fields(V& v) { v("training", training); }
};

// relu_y not null: dy is relu_grad(relu_y, dy), computed on the fly (a fused step).
template <class T> void forward(const BatchNormGradAttrs& a, KernelContext& k, const T* relu_y) {
  const kernels::ChannelLayout l = kernels::channel_layout(k.input(0).shape());
  const T* x = k.input(0).data<T>().data();
  const T* gamma = k.input(1).data<T>().data();
  const T* mean = k.input(2).data<T>().data();
  const T* invstd = k.input(3).data<T>().data();
  const T* dy = k.input(4).data<T>().data();
  T* dx = k.output(0).data<T>().data();
  T* dgamma = k.output(1).data<T>().data();
  T* dbeta = k.output(2).data<T>().data();
  const std::size_t channels = static_cast<std::size_t>(l.channels);
  const kernels::ChannelRuns<T>& runs = kernels::channel_runs<T>();
  // sums[0][c] = sum(dy), sums[1][c] = sum(dy * xhat) over the batch in the canonical order (per
  // image lane sums over the contiguous H*W run). dbeta and dgamma are this run's own sums (rounded
  // per group, batch_groups.h): the trainer combines parameter gradients across a step's slices.
  // dx needs the global batch's sums: the combiner finishes them.
  std::vector<double> sums(2 * channels);
  T* const own[2] = {dbeta, dgamma};
  auto term = [&](std::int64_t n, std::int64_t c, double* acc) {
    const std::int64_t offset = l.offset(n, c);
    double run_dy, run_dy_xhat;
    runs.gradient_sums(l.inner, x + offset, dy + offset, relu_y ? relu_y + offset : nullptr, mean[c], invstd[c], run_dy,
                       run_dy_xhat);
    acc[0] += run_dy;
    acc[1] += run_dy_xhat;
  };
  const BatchSlice& slice = k.batch_slice();
  const double count = static_cast<double>(slice.global_batch_or(l.batch) * l.inner);
  auto input_gradient = [&](std::int64_t c) {
    const double mu = mean[c], is = invstd[c];
    const double sum_dy = sums[static_cast<std::size_t>(c)], sum_dy_xhat = sums[channels + static_cast<std::size_t>(c)];
    const double factor = gamma[c] * is;
    // dx = factor/M * (M dy - sum_dy - xhat sum_dy_xhat) = k_dy dy + k_x (x - mu) + k_0.
    const double k_dy = factor, k_x = -factor / count * is * sum_dy_xhat, k_0 = -factor / count * sum_dy;
    for (std::int64_t n = 0; n < l.batch; ++n) {
      const std::int64_t offset = l.offset(n, c);
      runs.input_gradient(l.inner, a.training ? x + offset : nullptr, dy + offset, relu_y ? relu_y + offset : nullptr,
                          dx + offset, k_dy, k_x, mu, k_0);
    }
  };
  if (!(a.training && slice.combiner)) {
    // The sums are final: each channel's dx follows its sums while x and dy are still in cache.
    kernels::canonical_channel_sums<2, T>(l, sums.data(), own, term, input_gradient);
    return;
  }
  kernels::canonical_channel_sums<2, T>(l, sums.data(), own, term);
  slice.combiner->combine(std::span<double>(sums));
  const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / std::max<std::int64_t>(1, l.per_channel()));
  kernels::parallel_chunks(l.channels, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) input_gradient(c);
  });
}
}  // namespace

std::vector<Value> batch_norm_grad(Value x, Value gamma, Value mean, Value invstd, Value dy, bool training) {
  return x.graph().add_node("batch_norm_grad", {x, gamma, mean, invstd, dy}, write_attrs(BatchNormGradAttrs{training}));
}

void register_batch_norm_grad(OpRegistry& registry) {
  const ExampleInput invstd{.shape = {3}, .low = 0.5, .high = 1.5};
  registry.add(define_op<BatchNormGradAttrs>({
      .name = "batch_norm_grad",
      .doc = "Backward of batch_norm: dx, dgamma, dbeta from x, gamma, the statistics used and dy.",
      .inputs = {"x", "gamma", "mean", "invstd", "dy"},
      .outputs = {"dx", "dgamma", "dbeta"},
      .examples = {{.label = "train_nchw", .attrs = {{"training", true}},
                    .inputs = {{.shape = {2, 3, 2, 2}}, {.shape = {3}}, {.shape = {3}}, invstd, {.shape = {2, 3, 2, 2}}}},
                   {.label = "infer_nc", .attrs = {{"training", false}},
                    .inputs = {{.shape = {4, 3}}, {.shape = {3}}, {.shape = {3}}, invstd, {.shape = {4, 3}}}}},
      .infer = [](const BatchNormGradAttrs&, InferContext& c) {
        const kernels::ChannelLayout l = kernels::check_channel_inputs(c, 0, {1, 2, 3}, {"gamma", "mean", "invstd"});
        c.expect_same_dtype(0, 4);
        c.expect_same_shape(0, 4);
        const TensorType per_channel{c.dtype(0), {l.channels}};
        return std::vector{c.input(0), per_channel, per_channel};
      },
      .forward = [](const BatchNormGradAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k, static_cast<const T*>(nullptr)); });
      },
      // relu_grad(y, dy) -> batch_norm_grad, the backward of relu(batch_norm(x)), in one sweep.
      .grad_prologue_input = 4,
      .forward_with_grad_prologue = [](const BatchNormGradAttrs& a, KernelContext& k, const ActivationGradPrologue& p) {
        if (p.activation != Activation::relu || !p.y || p.y->shape() != k.input(4).shape() ||
            p.y->dtype() != k.input(4).dtype())
          fail("op 'batch_norm_grad' node '", k.node().name, "': its dy prologue takes relu's output of dy's shape ",
               to_string(k.input(4).shape()));
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k, p.y->data<T>().data()); });
      },
      .batch_reduction = [](const BatchNormGradAttrs&, const BatchContext&) { return BatchReduction::canonical; },
  }));
}

}  // namespace dagrad::ops

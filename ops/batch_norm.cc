// batch_norm: y = gamma * (x - mean) * invstd + beta per channel of [N,C] or [N,C,H,W] inputs.
// Training normalizes with the batch statistics (biased variance) and updates the running ones
// PyTorch-style with the unbiased variance (running_var_unbiased, the default) or ONNX-style with the
// population variance; inference uses the running statistics. Running
// statistics are not differentiable. Gradient: batch_norm_grad for y, plus the (rarely used)
// contributions of the statistics outputs, so that every float output is differentiated exactly.
#include <cmath>
#include <span>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/channels.h"
#include "ops/kernels/channel_runs.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct BatchNormAttrs {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
  // The batch variance folded into running_var: var * M/(M-1) (PyTorch) or var (ONNX). Files from
  // before the attribute load as true, their behaviour.
  bool running_var_unbiased = true;
  template <class V> void fields(V& v) {
    v("training", training);
    v("momentum", momentum);
    v("eps", eps);
    v("running_var_unbiased", running_var_unbiased);
  }
  // The batch variance's contribution to running_var, M values per channel (the unbiased form
  // keeps its old arithmetic, so results stay bitwise as before).
  double running_var_step(double var, double m) const {
    return running_var_unbiased ? momentum * var * m / (m - 1) : momentum * var;
  }
  // d running_var_step / d x_i = slope * (x_i - mean).
  double running_var_slope(double m) const { return running_var_unbiased ? 2.0 * momentum / (m - 1.0) : 2.0 * momentum / m; }
};

// A [C] vector viewed so that it broadcasts along the channel axis of a tensor of rank `rank`.
Value channel_view(Value v, int rank) { return rank == 2 ? v : reshape(v, {v.dim(0), 1, 1}); }

// d/dx of <mean, dmean> + <invstd, dinvstd> + <running_mean', drm> + <running_var', drv> in training:
// each is a per-channel constant plus a per-channel multiple of (x - mean).
Value statistics_gradient(const BatchNormAttrs& a, GradContext& g) {
  Value x = g.input(0), mean = g.output(1), invstd = g.output(2);
  const double m = static_cast<double>(kernels::channel_layout(x.shape()).per_channel());
  Value constant, slope;
  auto accumulate = [](Value& total, Value term) { total = total.valid() ? add(total, term) : term; };
  if (g.dy(1).valid()) accumulate(constant, scale(g.dy(1), 1.0 / m));
  if (g.dy(3).valid()) accumulate(constant, scale(g.dy(3), a.momentum / m));
  // d invstd / dx = -invstd^3 (x - mean) / M.
  if (g.dy(2).valid()) accumulate(slope, scale(mul(g.dy(2), mul(invstd, mul(invstd, invstd))), -1.0 / m));
  // d (momentum * var * M/(M-1)) / dx = 2 momentum (x - mean) / (M - 1); without the M/(M-1), / M.
  if (g.dy(4).valid()) accumulate(slope, scale(g.dy(4), a.running_var_slope(m)));
  Value dx;
  if (slope.valid()) dx = mul(add(x, channel_view(scale(mean, -1.0), x.rank())), channel_view(slope, x.rank()));
  if (constant.valid())
    dx = dx.valid() ? add(dx, channel_view(constant, x.rank())) : broadcast_to(channel_view(constant, x.rank()), x.shape());
  return dx;
}

// y = x * scale + shift per channel: the one place of this arithmetic, shared by the kernel and
// the fold into a preceding convolution (channel_affine), so fused and separate runs agree bitwise.
struct ChannelMap {
  double scale, shift;
};
template <class T> ChannelMap channel_map(T gamma, T beta, double mean, double invstd) {
  const double scale = gamma * invstd;
  return {scale, beta - mean * scale};
}
template <class T> double inference_invstd(T running_var, double eps) {
  return 1.0 / std::sqrt(static_cast<double>(running_var) + eps);
}

template <class T> void forward(const BatchNormAttrs& a, KernelContext& k, const ChannelEpilogue& epilogue) {
  const kernels::ChannelLayout l = kernels::channel_layout(k.input(0).shape());
  const T* x = k.input(0).data<T>().data();
  const T* gamma = k.input(1).data<T>().data();
  const T* beta = k.input(2).data<T>().data();
  const T* running_mean = k.input(3).data<T>().data();
  const T* running_var = k.input(4).data<T>().data();
  T* y = k.output(0).data<T>().data();
  T* mean_out = k.output(1).data<T>().data();
  T* invstd_out = k.output(2).data<T>().data();
  T* running_mean_out = k.output(3).data<T>().data();
  T* running_var_out = k.output(4).data<T>().data();
  const T* residual = epilogue.residual ? epilogue.residual->data<T>().data() : nullptr;
  const bool relu = epilogue.activation == Activation::relu;
  const kernels::ChannelRuns<T>& runs = kernels::channel_runs<T>();
  const double momentum = a.momentum;
  std::vector<double> mean(static_cast<std::size_t>(l.channels)), invstd(mean.size());
  auto normalize = [&](std::int64_t c) {
    const double mu = mean[static_cast<std::size_t>(c)], is = invstd[static_cast<std::size_t>(c)];
    mean_out[c] = static_cast<T>(mu);
    invstd_out[c] = static_cast<T>(is);
    const auto [scale, shift] = channel_map(gamma[c], beta[c], mu, is);
    for (std::int64_t n = 0; n < l.batch; ++n) {
      const std::int64_t at = l.offset(n, c);
      runs.normalize(l.inner, x + at, residual ? residual + at : nullptr, relu, y + at, scale, shift);
    }
  };
  if (a.training) {
    // The statistics of the global batch: per-channel sums in the canonical batch order (per image
    // a lane sum over the contiguous H*W run), finished across the step's slices by the combiner,
    // then divided by the global count. Two passes (mean, then squared deviations) for accuracy.
    const BatchSlice& slice = k.batch_slice();
    // Statistics of a slice alone would change what the model computes (and could not be combined
    // afterwards like a gradient): a slice of a larger batch must have a combiner.
    if (slice.global_batch > 0 && slice.global_batch != l.batch && !slice.combiner)
      fail("op 'batch_norm' node '", k.node().name, "': training on ", l.batch, " images of a global batch of ",
           slice.global_batch, " needs a batch combiner for the global batch statistics (run the slices together, "
           "not one after another)");
    const double count = static_cast<double>(slice.global_batch_or(l.batch) * l.inner);
    std::vector<double> sums(mean.size());
    auto add_values = [&](std::int64_t n, std::int64_t c, double* acc) {
      acc[0] += runs.sum(l.inner, x + l.offset(n, c));
    };
    auto add_squared_deviations = [&](std::int64_t n, std::int64_t c, double* acc) {
      acc[0] += runs.squared_deviations(l.inner, x + l.offset(n, c), mean[static_cast<std::size_t>(c)]);
    };
    auto statistics = [&](std::int64_t c) {
      const double var = sums[static_cast<std::size_t>(c)] / count;
      invstd[static_cast<std::size_t>(c)] = 1.0 / std::sqrt(var + a.eps);
      running_mean_out[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean[static_cast<std::size_t>(c)]);
      running_var_out[c] = static_cast<T>((1 - momentum) * running_var[c] + a.running_var_step(var, count));
    };
    if (!slice.combiner) {
      // The sums are final: each channel's mean, variance and output follow one another while the
      // channel is still in cache (the same arithmetic as the passes below).
      kernels::canonical_channel_sums<1, T>(l, sums.data(), nullptr, add_values, [&](std::int64_t c) {
        mean[static_cast<std::size_t>(c)] = sums[static_cast<std::size_t>(c)] / count;
        kernels::canonical_sums_of_channel<1, T>(l, c, sums.data(), nullptr, add_squared_deviations);
        statistics(c);
        normalize(c);
      });
      return;
    }
    kernels::canonical_channel_sums<1, T>(l, sums.data(), nullptr, add_values);
    slice.combiner->combine(std::span<double>(sums));
    for (std::size_t c = 0; c < sums.size(); ++c) mean[c] = sums[c] / count;
    kernels::canonical_channel_sums<1, T>(l, sums.data(), nullptr, add_squared_deviations);
    slice.combiner->combine(std::span<double>(sums));
    for (std::int64_t c = 0; c < l.channels; ++c) statistics(c);
  } else {
    for (std::int64_t c = 0; c < l.channels; ++c) {
      mean[static_cast<std::size_t>(c)] = running_mean[c];
      invstd[static_cast<std::size_t>(c)] = inference_invstd(running_var[c], a.eps);
      running_mean_out[c] = running_mean[c];
      running_var_out[c] = running_var[c];
    }
  }
  const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / std::max<std::int64_t>(1, l.per_channel()));
  kernels::parallel_chunks(l.channels, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) normalize(c);
  });
}
}  // namespace

BatchNormOutputs batch_norm(Value x, Value gamma, Value beta, Value running_mean, Value running_var, bool training,
                            double momentum, double eps, bool running_var_unbiased) {
  std::vector<Value> out = x.graph().add_node("batch_norm", {x, gamma, beta, running_mean, running_var},
                                              write_attrs(BatchNormAttrs{training, momentum, eps, running_var_unbiased}));
  return {out[0], out[1], out[2], out[3], out[4]};
}

void register_batch_norm(OpRegistry& registry) {
  const ExampleInput positive_var{.shape = {3}, .low = 0.5, .high = 1.5};
  registry.add(define_op<BatchNormAttrs>({
      .name = "batch_norm",
      .doc = "Batch normalization over N (and H, W) per channel, with running statistics.",
      .inputs = {"x", "gamma", "beta", "running_mean", "running_var"},
      .outputs = {"y", "mean", "invstd", "running_mean_out", "running_var_out"},
      .nondifferentiable_inputs = {3, 4},
      .examples = {{.label = "train_nc", .attrs = {{"training", true}},
                    .inputs = {{.shape = {4, 3}}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "train_nchw", .attrs = {{"training", true}},
                    .inputs = {{.shape = {2, 3, 2, 2}}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "infer_nchw", .attrs = {{"training", false}},
                    .inputs = {{.shape = {2, 3, 2, 2}}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "train_nchw_momentum", .attrs = {{"training", true}, {"momentum", 0.3}, {"eps", 1e-3}},
                    .inputs = {{.shape = {2, 3, 2, 3}, .low = -2, .high = 3}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "train_nc_population_var", .attrs = {{"training", true}, {"running_var_unbiased", false}},
                    .inputs = {{.shape = {4, 3}}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "train_nchw_population_var",
                    .attrs = {{"training", true}, {"momentum", 0.9}, {"eps", 1e-3}, {"running_var_unbiased", false}},
                    .inputs = {{.shape = {2, 3, 2, 3}, .low = -2, .high = 3}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}},
                   {.label = "infer_nc", .attrs = {{"training", false}},
                    .inputs = {{.shape = {5, 3}}, {.shape = {3}}, {.shape = {3}}, {.shape = {3}}, positive_var}}},
      .infer = [](const BatchNormAttrs& a, InferContext& c) {
        const kernels::ChannelLayout l =
            kernels::check_channel_inputs(c, 0, {1, 2, 3, 4}, {"gamma", "beta", "running_mean", "running_var"});
        if (!(a.eps > 0)) c.fail("eps must be positive, got ", a.eps);
        if (!(a.momentum >= 0 && a.momentum <= 1)) c.fail("momentum must be in [0, 1], got ", a.momentum);
        // The unbiased variance divides by M - 1; the population variance of one value is 0.
        if (a.training && a.running_var_unbiased && l.per_channel() < 2)
          c.fail("training with running_var_unbiased needs more than one value per channel, got ", l.per_channel(), " for x ",
                 to_string(c.shape(0)));
        const TensorType stat{c.dtype(0), {l.channels}};
        return std::vector{c.input(0), stat, stat, stat, stat};
      },
      .forward = [](const BatchNormAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k, ChannelEpilogue{}); });
      },
      .grad = [](const BatchNormAttrs& a, GradContext& g) {
        std::vector<Value> grads(3);
        if (g.dy(0).valid()) grads = batch_norm_grad(g.input(0), g.input(1), g.output(1), g.output(2), g.dy(0), a.training);
        // In inference the statistics outputs are the running inputs: they do not depend on x.
        if (a.training && g.needs(0)) {
          Value extra = statistics_gradient(a, g);
          if (extra.valid()) grads[0] = grads[0].valid() ? add(grads[0], extra) : extra;
        }
        return grads;
      },
      // A training step's relu(batch_norm(x)) and relu(batch_norm(x) + residual), the layers of a
      // residual network, in one sweep: y is written once, as its readers' result.
      .forward_with_epilogue = [](const BatchNormAttrs& a, KernelContext& k, const ChannelEpilogue& e) {
        if (e.scale || e.shift)
          fail("op 'batch_norm' node '", k.node().name, "': its epilogue takes a residual and an activation, not an affine map");
        if (e.residual && (e.residual->shape() != k.input(0).shape() || e.residual->dtype() != k.input(0).dtype()))
          fail("op 'batch_norm' node '", k.node().name, "': the residual added to y is ", to_string(e.residual->shape()),
               ", y is ", to_string(k.input(0).shape()));
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k, e); });
      },
      .epilogue_residual = true,
      // Inference: y = x * scale[c] + shift[c] from the running statistics, foldable into a convolution.
      .is_channel_affine = [](const BatchNormAttrs& a) { return !a.training; },
      .channel_affine = [](const BatchNormAttrs& a, std::span<const Tensor* const> in, std::span<double> scale,
                           std::span<double> shift) {
        dispatch_float(in[1]->dtype(), [&]<class T>() {
          const T* gamma = in[1]->data<T>().data();
          const T* beta = in[2]->data<T>().data();
          const T* mean = in[3]->data<T>().data();
          const T* var = in[4]->data<T>().data();
          for (std::size_t c = 0; c < scale.size(); ++c) {
            const ChannelMap m = channel_map(gamma[c], beta[c], static_cast<double>(mean[c]), inference_invstd(var[c], a.eps));
            scale[c] = m.scale;
            shift[c] = m.shift;
          }
        });
      },
      // Training: the statistics are canonical sums over the global batch (their gradients, in
      // batch_norm_grad, too).
      .batch_reduction = [](const BatchNormAttrs& a, const BatchContext&) {
        return a.training ? BatchReduction::canonical : BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops

// The canonical batch reduction (ops/kernels/batch_groups.h, graph/batch_slice.h): a training step
// run as slices of its global batch, concurrently with a combiner (MPI ranks) or one after another
// without one (gradient accumulation), gives bitwise the loss, the gradients and the batch-norm
// running statistics of one run over the whole batch.
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"
#include "runtime/canonical_batch.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad {
namespace {

using ::testing::HasSubstr;
using kernels::tree_combine;

// Values of many magnitudes, so that a different summation order shows up in the low bits.
std::vector<float> spread_values(std::int64_t count, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const double unit = static_cast<double>(seed >> 11) / 9007199254740992.0;  // [0, 1)
    x = static_cast<float>((unit - 0.5) * std::pow(10.0, static_cast<double>((seed >> 7) % 7) - 3.0));
  }
  return v;
}

bool same_bits(const float* a, const float* b, std::int64_t n) {
  return std::memcmp(a, b, static_cast<std::size_t>(n) * sizeof(float)) == 0;
}

// ---- the ops' plain references (their examples run as forward, gradient-check and poison rows) --

std::vector<Tensor> batch_sum_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Shape& shape = in[0].shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  std::vector<bool> reduced(shape.size(), false);
  reduced[0] = true;
  if (attrs.count("axes"))
    for (std::int64_t a : std::get<std::vector<std::int64_t>>(attrs.at("axes"))) reduced[a < 0 ? a + rank : a] = true;
  Shape out_shape;
  for (std::int64_t d = 0; d < rank; ++d)
    if (!reduced[d]) out_shape.push_back(shape[d]);
  Tensor y = testing::zeros_f64(out_shape);
  for (std::int64_t i = 0; i < in[0].numel(); ++i) {
    std::int64_t rest = i, out = 0, scale = 1;
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      const std::int64_t index = rest % shape[d];
      rest /= shape[d];
      if (reduced[d]) continue;
      out += index * scale;
      scale *= shape[d];
    }
    testing::at(y, out) += in[0].at(i);
  }
  return {y};
}

std::vector<Tensor> dense_grad_weight_reference(const std::vector<Tensor>& in, const AttrMap&) {
  const std::int64_t n = in[0].shape()[0], k = in[0].shape()[1], m = in[1].shape()[1];
  Tensor y = testing::zeros_f64({k, m});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t a = 0; a < k; ++a)
      for (std::int64_t b = 0; b < m; ++b) testing::at(y, a * m + b) += in[0].at(i * k + a) * in[1].at(i * m + b);
  return {y};
}

DAGRAD_OP_REFERENCES(canonical_batch) {
  return {
      {"batch_sum", {batch_sum_reference}},
      {"dense_grad_weight", {dense_grad_weight_reference}},
  };
}

// ---- the reduction itself ---------------------------------------------------------------------

// The canonical tree spelled out: the partials of the groups (images in order), combined level by level.
std::vector<float> reference_sum(const std::vector<float>& per_image, std::int64_t images, std::int64_t size) {
  const std::int64_t groups = kernels::batch_groups(images);
  std::vector<float> nodes(static_cast<std::size_t>(std::max<std::int64_t>(1, groups) * size), 0.0f);
  for (std::int64_t g = 0; g < groups; ++g)
    for (std::int64_t n = g * 4; n < std::min(images, g * 4 + 4); ++n)
      for (std::int64_t e = 0; e < size; ++e) nodes[g * size + e] += per_image[n * size + e];
  tree_combine(nodes.data(), groups, size, size);
  nodes.resize(static_cast<std::size_t>(size));
  return nodes;
}

TEST(CanonicalBatch, BlockwiseSumIsTheTreeForAnyGroupCount) {
  const std::int64_t size = 37;
  for (std::int64_t images = 0; images <= 150; images += images < 20 ? 1 : 7) {
    const std::vector<float> per_image = spread_values(images * size, 11 + images);
    const std::vector<float> want = reference_sum(per_image, images, size);
    // All groups at once, and blocks of 1, 2, 4 groups (a tiny scratch budget) merged as a counter.
    for (std::int64_t budget : {std::int64_t{1} << 24, 2 * size, 4 * size, 7 * size, 12 * size}) {
      std::vector<float> got(static_cast<std::size_t>(size), -1.0f);
      kernels::canonical_batch_sum<float>(images, size, got.data(), [&](std::int64_t first, std::int64_t count, float* node) {
        std::fill(node, node + size, 0.0f);
        for (std::int64_t n = first; n < first + count; ++n)
          for (std::int64_t e = 0; e < size; ++e) node[e] += per_image[n * size + e];
      }, budget);
      EXPECT_TRUE(same_bits(got.data(), want.data(), size)) << images << " images, scratch " << budget;
    }
  }
}

TEST(CanonicalBatch, AlignedSlicesAreSubtrees) {
  const std::int64_t size = 5, images = 64;
  const std::vector<float> per_image = spread_values(images * size, 3);
  const std::vector<float> whole = reference_sum(per_image, images, size);
  for (std::int64_t parts : {2, 4, 8, 16}) {
    ASSERT_TRUE(kernels::splits_into_subtrees(images, parts));
    const std::int64_t share = images / parts;
    std::vector<float> roots;
    for (std::int64_t p = 0; p < parts; ++p) {
      std::vector<float> slice(per_image.begin() + p * share * size, per_image.begin() + (p + 1) * share * size);
      const std::vector<float> root = reference_sum(slice, share, size);
      roots.insert(roots.end(), root.begin(), root.end());
    }
    tree_combine(roots.data(), parts, size, size);
    EXPECT_TRUE(same_bits(roots.data(), whole.data(), size)) << parts << " parts";
  }
  EXPECT_FALSE(kernels::splits_into_subtrees(64, 3));
  EXPECT_FALSE(kernels::splits_into_subtrees(48, 2));  // 12 groups: slices of 6 are not subtrees
  EXPECT_TRUE(kernels::splits_into_subtrees(30, 2));   // 8 groups, the last one short
}

// The filter gradient of every convolution path: a batch of 16 split into 2 and 4 slices, each
// slice's gradient a subtree, combined in the tree: bitwise the whole batch's.
struct ConvCase {
  std::string label;
  kernels::ConvGeometry g;
  kernels::ConvPath path;
};

kernels::ConvGeometry geometry(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t f, std::int64_t k,
                               std::int64_t stride, std::int64_t pad, std::int64_t groups = 1) {
  kernels::ConvGeometry g;
  g.n = n, g.c = c, g.h = hw, g.w = hw, g.f = f, g.kh = k, g.kw = k, g.sh = stride, g.sw = stride;
  g.ph = g.ph_end = g.pw = g.pw_end = pad;
  g.groups = groups;
  g.oh = (hw + 2 * pad - k) / stride + 1;
  g.ow = g.oh;
  return g;
}

TEST(CanonicalBatch, ConvFilterGradientSlicesCombineToTheWholeBatch) {
  const std::vector<ConvCase> cases = {
      {"direct_3x3", geometry(16, 16, 14, 16, 3, 1, 1), kernels::ConvPath::direct},
      {"im2col_3x3", geometry(16, 16, 14, 16, 3, 1, 1), kernels::ConvPath::im2col},
      {"im2col_stride2", geometry(16, 8, 9, 12, 3, 2, 1), kernels::ConvPath::im2col},
      {"pointwise", geometry(16, 8, 7, 12, 1, 1, 0), kernels::ConvPath::automatic},
      {"row_split_large_filter", geometry(16, 64, 4, 256, 4, 1, 1), kernels::ConvPath::im2col},
      {"grouped", geometry(16, 8, 6, 8, 3, 1, 1, 2), kernels::ConvPath::automatic},
      {"depthwise", geometry(16, 8, 9, 8, 3, 1, 1, 8), kernels::ConvPath::automatic},
      {"winograd", geometry(16, 16, 14, 16, 3, 1, 1), kernels::ConvPath::winograd},
  };
  for (const ConvCase& c : cases) {
    const kernels::ConvGeometry& g = c.g;
    const std::int64_t in_size = g.c * g.h * g.w, out_size = g.f * g.oh * g.ow, dw_size = g.f * g.patch_size();
    const std::vector<float> x = spread_values(g.n * in_size, 5), dy = spread_values(g.n * out_size, 6);
    kernels::set_conv_path_for_testing(c.path);
    std::vector<float> whole(static_cast<std::size_t>(dw_size));
    kernels::conv_backward_filter<float>(g, x.data(), dy.data(), whole.data());
    // Against a plain reference, loosely: the order differs, the value must not.
    double worst = 0;
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t ci = 0; ci < g.group_channels(); ++ci)
        for (std::int64_t i = 0; i < g.kh; ++i)
          for (std::int64_t j = 0; j < g.kw; ++j) {
            double sum = 0, scale = 0;
            const std::int64_t channel = (f / g.group_filters()) * g.group_channels() + ci;
            for (std::int64_t n = 0; n < g.n; ++n)
              for (std::int64_t oy = 0; oy < g.oh; ++oy)
                for (std::int64_t ox = 0; ox < g.ow; ++ox) {
                  const std::int64_t y = oy * g.sh - g.ph + i, xx = ox * g.sw - g.pw + j;
                  if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue;
                  const double term = double(dy[((n * g.f + f) * g.oh + oy) * g.ow + ox]) * x[((n * g.c + channel) * g.h + y) * g.w + xx];
                  sum += term;
                  scale += std::abs(term);
                }
            const double got = whole[((f * g.group_channels() + ci) * g.kh + i) * g.kw + j];
            worst = std::max(worst, std::abs(got - sum) / (scale + 1e-30));
          }
    EXPECT_LT(worst, 1e-5) << c.label;
    for (std::int64_t parts : {2, 4}) {
      kernels::ConvGeometry part = g;
      part.n = g.n / parts;
      std::vector<float> roots(static_cast<std::size_t>(parts * dw_size));
      for (std::int64_t p = 0; p < parts; ++p)
        kernels::conv_backward_filter<float>(part, x.data() + p * part.n * in_size, dy.data() + p * part.n * out_size,
                                             roots.data() + p * dw_size);
      tree_combine(roots.data(), parts, dw_size, dw_size);
      EXPECT_TRUE(same_bits(roots.data(), whole.data(), dw_size)) << c.label << " in " << parts << " slices";
      // The forward pass and the input gradient of a slice are its images of the whole batch's.
      const std::vector<float> w = spread_values(dw_size, 7);
      std::vector<float> y(static_cast<std::size_t>(g.n * out_size)), y_part(static_cast<std::size_t>(part.n * out_size));
      std::vector<float> dx(static_cast<std::size_t>(g.n * in_size)), dx_part(static_cast<std::size_t>(part.n * in_size));
      kernels::conv_forward<float>(g, x.data(), w.data(), nullptr, y.data());
      kernels::conv_backward_input<float>(g, dy.data(), w.data(), dx.data());
      for (std::int64_t p = 0; p < parts; ++p) {
        kernels::conv_forward<float>(part, x.data() + p * part.n * in_size, w.data(), nullptr, y_part.data());
        EXPECT_TRUE(same_bits(y_part.data(), y.data() + p * part.n * out_size, part.n * out_size)) << c.label << " forward";
        kernels::conv_backward_input<float>(part, dy.data() + p * part.n * out_size, w.data(), dx_part.data());
        EXPECT_TRUE(same_bits(dx_part.data(), dx.data() + p * part.n * in_size, part.n * in_size)) << c.label << " input gradient";
      }
    }
    kernels::set_conv_path_for_testing(kernels::ConvPath::automatic);
  }
}

// ---- whole training steps ------------------------------------------------------------------------

// Finishes in-run sums across the slices of one step running on std::threads: every slice deposits
// its values, and after a barrier each one combines all slices' values in the canonical tree (slice
// order) for itself.
class ThreadCombiner {
 public:
  explicit ThreadCombiner(int slices) : slices_(slices), sync_(slices), floats_(slices), doubles_(slices) {}

  class Participant : public BatchCombiner {
   public:
    Participant(ThreadCombiner& shared, int slice) : shared_(shared), slice_(slice) {}
    void combine(std::span<float> values) override { shared_.combine(slice_, values, shared_.floats_); }
    void combine(std::span<double> values) override { shared_.combine(slice_, values, shared_.doubles_); }

   private:
    ThreadCombiner& shared_;
    int slice_;
  };

 private:
  template <class T> void combine(int slice, std::span<T> values, std::vector<std::vector<T>>& deposits) {
    deposits[slice].assign(values.begin(), values.end());
    sync_.arrive_and_wait();
    const auto size = static_cast<std::int64_t>(values.size());
    std::vector<T> nodes;
    for (const std::vector<T>& d : deposits) {
      EXPECT_EQ(static_cast<std::int64_t>(d.size()), size) << "slices combine different counts";
      nodes.insert(nodes.end(), d.begin(), d.end());
    }
    nodes.resize(static_cast<std::size_t>(slices_ * size));
    tree_combine(nodes.data(), slices_, size, size);
    std::copy(nodes.begin(), nodes.begin() + size, values.begin());
    sync_.arrive_and_wait();  // nobody deposits the next values before all have read these
  }

  int slices_;
  std::barrier<> sync_;
  std::vector<std::vector<float>> floats_;
  std::vector<std::vector<double>> doubles_;
};

// Images in [-1, 1) and labels in [0, 3) (every zoo model has at least 3 classes) from a fixed sequence.
runtime::TensorMap batch_inputs(const Graph& g, std::int64_t batch) {
  runtime::TensorMap feeds;
  std::uint64_t seed = 99;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    EXPECT_EQ(t.dim(0), batch);
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (v.type.dtype == DType::i64) t.data<std::int64_t>()[i] = static_cast<std::int64_t>(next() % 3);
      else t.data<float>()[i] = static_cast<float>(next() % 65536) / 32768.0f - 1.0f;
    }
    feeds.emplace(v.name, std::move(t));
  }
  return feeds;
}

// Rows [first, first + count) of every input.
runtime::TensorMap slice_inputs(const runtime::TensorMap& whole, std::int64_t first, std::int64_t count) {
  runtime::TensorMap out;
  for (const auto& [name, t] : whole) {
    Shape shape = t.shape();
    const std::int64_t row = t.numel() / shape[0];
    shape[0] = count;
    Tensor s(t.dtype(), shape);
    const std::size_t bytes = t.dtype() == DType::i64 ? sizeof(std::int64_t) : sizeof(float);
    std::memcpy(s.raw(), static_cast<const char*>(t.raw()) + first * row * bytes, static_cast<std::size_t>(count * row) * bytes);
    out.emplace(name, std::move(s));
  }
  return out;
}

// One step's results, by value name: the loss, every parameter gradient, every state update.
using StepValues = std::map<std::string, Tensor>;

struct Step {
  Graph graph;
  runtime::Plan plan;
};

Step training_step(const std::string& model, std::int64_t batch, int threads) {
  Graph forward = models::build_model(model, {.batch = batch, .seed = 3, .training = true});
  Graph g = autodiff::grad_parameters(forward).graph;
  runtime::Plan plan = runtime::compile(g, {.threads = threads});
  return {std::move(g), std::move(plan)};
}

StepValues step_values(const Graph& g, const runtime::RunResult& r) {
  StepValues out;
  out.emplace("loss", r.at(g.loss()));
  for (auto [wrt, grad] : g.gradients()) out.emplace("grad/" + g.value(wrt).name, r.at(grad));
  for (auto [state, next] : g.state_updates()) out.emplace("next/" + g.value(state).name, r.at(next));
  return out;
}

// Combines the slices' values of `name` in the canonical tree (slice order).
Tensor combine_slices(const std::vector<StepValues>& slices, const std::string& name) {
  const Tensor& first = slices.front().at(name);
  const std::int64_t size = first.numel();
  std::vector<float> nodes;
  for (const StepValues& s : slices) {
    const auto values = s.at(name).data<float>();
    nodes.insert(nodes.end(), values.begin(), values.end());
  }
  tree_combine(nodes.data(), static_cast<std::int64_t>(slices.size()), size, size);
  Tensor out(DType::f32, first.shape());
  std::copy(nodes.begin(), nodes.begin() + size, out.data<float>().begin());
  return out;
}

void expect_step_equal(const StepValues& whole, const std::vector<StepValues>& slices, bool loss_combined_in_run,
                       const std::string& what) {
  for (const auto& [name, tensor] : whole) {
    Tensor got;
    if (name.starts_with("next/")) {
      for (const StepValues& s : slices)
        EXPECT_TRUE(bitwise_equal(s.at(name), tensor)) << what << ": " << name << " differs in a slice";
      continue;
    }
    if (name == "loss" && loss_combined_in_run) {
      for (const StepValues& s : slices) EXPECT_TRUE(bitwise_equal(s.at(name), tensor)) << what << ": the combined loss";
      continue;
    }
    got = combine_slices(slices, name);
    EXPECT_TRUE(bitwise_equal(got, tensor)) << what << ": " << name << " " << got.data<float>()[0] << " vs "
                                            << tensor.data<float>()[0];
  }
}

// One training step over `batch` images, then as `parts` slices run at once on std::threads, each
// with its own plan and a combiner.
void check_concurrent_slices(const std::string& model, std::int64_t batch, int parts, int threads) {
  const std::string what = model + " batch " + std::to_string(batch) + " in " + std::to_string(parts) + " slices, " +
                           std::to_string(threads) + " threads";
  Step whole_step = training_step(model, batch, threads);
  const runtime::TensorMap weights = runtime::initialize_parameters(whole_step.graph);
  const runtime::TensorMap inputs = batch_inputs(whole_step.graph, batch);
  const StepValues whole =
      step_values(whole_step.graph, runtime::run(whole_step.plan, runtime::feeds_from({&weights, &inputs})));
  ASSERT_TRUE(std::isfinite(whole.at("loss").data<float>()[0]));

  const std::int64_t share = batch / parts;
  ThreadCombiner combiner(parts);
  std::vector<Step> steps;
  std::vector<runtime::TensorMap> slice_feeds;
  for (int p = 0; p < parts; ++p) {
    steps.push_back(training_step(model, share, threads));
    slice_feeds.push_back(slice_inputs(inputs, p * share, share));
  }
  std::vector<StepValues> results(static_cast<std::size_t>(parts));
  std::vector<std::string> errors(static_cast<std::size_t>(parts));
  std::vector<std::thread> workers;
  for (int p = 0; p < parts; ++p)
    workers.emplace_back([&, p] {
      ThreadCombiner::Participant participant(combiner, p);
      runtime::RunSettings settings;
      settings.batch = {.global_batch = batch, .first_image = p * share, .combiner = &participant};
      try {
        results[p] = step_values(steps[p].graph, runtime::run(steps[p].plan, runtime::feeds_from({&weights, &slice_feeds[p]}), settings));
      } catch (const std::exception& e) {
        errors[p] = e.what();
      }
    });
  for (std::thread& t : workers) t.join();
  for (const std::string& e : errors) ASSERT_EQ(e, "") << what;
  expect_step_equal(whole, results, true, what);
}

TEST(CanonicalBatch, ResnetRefStepInConcurrentSlicesIsBitwiseTheWholeBatch) {
  for (int threads : {1, 2})
    for (int parts : {2, 4}) check_concurrent_slices("resnet_ref", 32, parts, threads);
}

TEST(CanonicalBatch, LenetStepInConcurrentSlicesIsBitwiseTheWholeBatch) {
  for (int threads : {1, 2})
    for (int parts : {2, 4}) check_concurrent_slices("lenet", 32, parts, threads);
}

// Gradient accumulation: micro-batches one after another, no combiner; each run's loss and
// gradients are its subtree roots, combined afterwards.
TEST(CanonicalBatch, LenetMicroBatchesWithoutCombinerAreBitwiseTheWholeBatch) {
  const std::int64_t batch = 32;
  for (int threads : {1, 2}) {
    Step whole_step = training_step("lenet", batch, threads);
    const runtime::TensorMap weights = runtime::initialize_parameters(whole_step.graph);
    const runtime::TensorMap inputs = batch_inputs(whole_step.graph, batch);
    const StepValues whole =
        step_values(whole_step.graph, runtime::run(whole_step.plan, runtime::feeds_from({&weights, &inputs})));
    for (int parts : {2, 4, 8}) {
      const std::int64_t share = batch / parts;
      Step micro = training_step("lenet", share, threads);  // one plan, runs one after another
      std::vector<StepValues> results;
      for (int p = 0; p < parts; ++p) {
        const runtime::TensorMap feeds = slice_inputs(inputs, p * share, share);
        runtime::RunSettings settings;
        settings.batch = {.global_batch = batch, .first_image = p * share};
        results.push_back(step_values(micro.graph, runtime::run(micro.plan, runtime::feeds_from({&weights, &feeds}), settings)));
      }
      expect_step_equal(whole, results, false,
                        "lenet in " + std::to_string(parts) + " micro-batches, " + std::to_string(threads) + " threads");
    }
  }
}

TEST(CanonicalBatch, MicroBatchWithIgnoredLabelsAndNoCombinerIsRefused) {
  Graph g;
  Value logits = g.input("logits", {DType::f32, {4, 3}});
  Value labels = g.input("labels", {DType::i64, {4}});
  g.set_loss(ops::softmax_cross_entropy(logits, labels, {.ignore_index = 1}));
  runtime::Plan plan = runtime::compile(g);
  Tensor x(DType::f32, {4, 3}), l(DType::i64, {4});
  for (std::int64_t i = 0; i < 4; ++i) l.data<std::int64_t>()[i] = i % 3;
  runtime::Feeds feeds{{"logits", &x}, {"labels", &l}};
  runtime::RunSettings settings;
  settings.batch = {.global_batch = 8, .first_image = 0};
  EXPECT_THAT([&] { runtime::run(plan, feeds, settings); },
              ::testing::ThrowsMessage<Error>(HasSubstr("ignore_index in a slice of a larger batch without a combiner")));
}

TEST(CanonicalBatch, BatchNormSliceWithoutCombinerIsRefused) {
  Step step = training_step("resnet_tiny", 4, 1);
  const runtime::TensorMap weights = runtime::initialize_parameters(step.graph);
  const runtime::TensorMap inputs = batch_inputs(step.graph, 4);
  runtime::RunSettings settings;
  settings.batch = {.global_batch = 8, .first_image = 4};
  EXPECT_THAT([&] { runtime::run(step.plan, runtime::feeds_from({&weights, &inputs}), settings); },
              ::testing::ThrowsMessage<Error>(HasSubstr("needs a batch combiner for the global batch statistics")));
  // The whole batch given as such (global_batch = the run's batch) needs none.
  settings.batch = {.global_batch = 4, .first_image = 0};
  EXPECT_NO_THROW(runtime::run(step.plan, runtime::feeds_from({&weights, &inputs}), settings));
}

TEST(CanonicalBatch, DropoutMasksFollowTheGlobalImageIndex) {
  auto masks = [](std::int64_t batch, std::int64_t first) {
    Graph g;
    Value x = g.input("x", {DType::f32, {batch, 3, 5}});
    const ops::DropoutOutputs d = ops::dropout(x, 0.5, 42, true);
    g.mark_output(d.mask);
    runtime::Plan plan = runtime::compile(g);
    Tensor input(DType::f32, {batch, 3, 5});
    runtime::RunSettings settings{.step_seed = 7};
    settings.batch = {.global_batch = 8, .first_image = first};
    return runtime::run(plan, {{"x", &input}}, settings).at(g.outputs().at(0));
  };
  const Tensor whole = masks(8, 0);
  for (std::int64_t first : {0, 4}) {
    const Tensor part = masks(4, first);
    EXPECT_TRUE(same_bits(part.data<float>().data(), whole.data<float>().data() + first * 15, 4 * 15)) << first;
  }
  EXPECT_FALSE(same_bits(masks(4, 4).data<float>().data(), whole.data<float>().data(), 4 * 15));
}

// Every per-image value (forward and backward) of a slice is bitwise its rows of the whole batch's:
// kernels that put several images into one BLAS call use aligned blocks of a group.
TEST(CanonicalBatch, LenetSliceComputesItsRowsOfEveryValueOfTheWholeBatch) {
  const std::int64_t batch = 32;
  auto build = [](std::int64_t b) {
    Graph forward = models::build_model("lenet", {.batch = b, .seed = 3, .training = true});
    return autodiff::grad_parameters(forward).graph;
  };
  auto results = [](const Graph& g) {
    std::vector<ValueId> all;
    for (std::size_t v = 0; v < g.values().size(); ++v)
      if (g.values()[v].kind == ValueKind::result) all.push_back(static_cast<ValueId>(v));
    return all;
  };
  const Graph whole_graph = build(batch);
  const runtime::Plan whole_plan = runtime::compile(whole_graph, {.threads = 2}, results(whole_graph));
  const runtime::TensorMap weights = runtime::initialize_parameters(whole_graph);
  const runtime::TensorMap inputs = batch_inputs(whole_graph, batch);
  const runtime::RunResult whole = runtime::run(whole_plan, runtime::feeds_from({&weights, &inputs}));
  for (std::int64_t share : {4, 8, 16}) {
    const Graph slice_graph = build(share);
    const runtime::Plan slice_plan = runtime::compile(slice_graph, {.threads = 2}, results(slice_graph));
    for (std::int64_t first = 0; first < batch; first += share) {
      const runtime::TensorMap part = slice_inputs(inputs, first, share);
      runtime::RunSettings settings;
      settings.batch = {.global_batch = batch, .first_image = first};
      const runtime::RunResult slice = runtime::run(slice_plan, runtime::feeds_from({&weights, &part}), settings);
      for (std::int32_t index : whole_graph.topological_order()) {
        for (ValueId id : whole_graph.nodes()[static_cast<std::size_t>(index)].outputs) {
          const ValueInfo& info = whole_graph.value(id);
          if (info.type.dtype != DType::f32 || info.type.shape.empty() || info.type.shape[0] != batch) continue;
          const Tensor& w = whole.at(id);
          const Tensor& s = slice.at(slice_graph.at(info.name));
          EXPECT_TRUE(same_bits(w.data<float>().data() + first * (w.numel() / batch), s.data<float>().data(), s.numel()))
              << info.name << " of images " << first << ".." << first + share - 1;
        }
      }
    }
  }
}

TEST(CanonicalBatch, ZooTrainingGraphsDeclareTheirBatchSums) {
  for (const std::string model : {"resnet_ref", "lenet", "resnet18", "resnet_tiny", "resnet20"}) {
    Graph forward = models::build_model(model, {.batch = 2, .seed = 1, .training = true});
    const Graph g = autodiff::grad_parameters(forward).graph;
    EXPECT_THAT(runtime::non_canonical_batch_nodes(g), ::testing::IsEmpty()) << model;
  }
  // A hand-written bias gradient that sums over the batch with sum_to is named.
  Graph g;
  Value x = g.input("x", {DType::f32, {4, 3}});
  Value w = g.parameter("w", {DType::f32, {3, 2}}, {});
  Value y = ops::matmul(x, w);
  g.mark_output(ops::sum_to(y, {2}));
  g.mark_output(ops::matmul(x, y, true, false));
  g.mark_output(ops::reduce_sum(y, {1}));  // per image: fine
  EXPECT_THAT(runtime::non_canonical_batch_nodes(g),
              ::testing::UnorderedElementsAre(HasSubstr("(sum_to)"), HasSubstr("(matmul)")));
}

}  // namespace
}  // namespace dagrad

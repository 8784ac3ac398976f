// Batch norm in a training step, fused and separate, on resnet_ref's batch-norm shapes (batch 64):
// relu(batch_norm(x)), relu(batch_norm(x) + r), and the backward relu_grad -> batch_norm_grad, each
// compiled with runtime fusion on and off (runtime/passes.h fuse_training_steps), best of N runs,
// in GB/s of the tensors the separate ops would read and write at least once.
// Usage: dagrad_bench_batch_norm [--threads N] [--repeats N] [--batch N] [--cpu-time]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/gemm.h"
#include "ops/ops.h"
#include "runtime/runtime.h"

namespace {

using namespace dagrad;

bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

Tensor filled(const Shape& shape, std::uint32_t seed, double low, double high) {
  Tensor t(DType::f32, shape);
  for (float& v : t.data<float>()) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<float>(low + (high - low) * static_cast<double>(seed >> 8) / 16777216.0);
  }
  return t;
}

// Best time of `repeats` runs of the graph's outputs, fused and separate.
void measure(const char* label, const Graph& g, const runtime::TensorMap& feeds, double tensors, std::int64_t elements,
             int threads, int repeats) {
  double best[2] = {1e30, 1e30};
  for (int fused = 0; fused < 2; ++fused) {
    const runtime::Plan plan = runtime::compile(g, {.threads = threads, .fuse = fused == 1});
    const runtime::Feeds f = runtime::feeds_from({&feeds});
    for (int r = 0; r <= repeats; ++r) {
      const double start = now_seconds();
      runtime::run(plan, f);
      if (r > 0) best[fused] = std::min(best[fused], now_seconds() - start);
    }
  }
  const double bytes = tensors * static_cast<double>(elements) * 4;
  std::printf("%-34s separate %7.3f ms %6.1f GB/s   fused %7.3f ms %6.1f GB/s   %.2fx\n", label, best[0] * 1e3,
              bytes / best[0] * 1e-9, best[1] * 1e3, bytes / best[1] * 1e-9, best[0] / best[1]);
}

void bench_shape(const Shape& shape, int threads, int repeats) {
  const Shape chan{shape[1]};
  const std::int64_t elements = shape[0] * shape[1] * shape[2] * shape[3];
  runtime::TensorMap feeds;
  feeds.emplace("x", filled(shape, 1, -2, 2));
  feeds.emplace("r", filled(shape, 2, -1, 1));
  feeds.emplace("y", filled(shape, 3, -0.5, 1));
  feeds.emplace("dy", filled(shape, 4, -1, 1));
  feeds.emplace("gamma", filled(chan, 5, 0.5, 1.5));
  feeds.emplace("beta", filled(chan, 6, -0.5, 0.5));
  feeds.emplace("mean", filled(chan, 7, -0.1, 0.1));
  feeds.emplace("var", filled(chan, 8, 0.5, 1.5));
  const std::string where = to_string(shape);
  auto forward = [&](bool residual) {
    Graph g;
    Value x = g.input("x", {DType::f32, shape});
    ops::BatchNormOutputs o = ops::batch_norm(x, g.input("gamma", {DType::f32, chan}), g.input("beta", {DType::f32, chan}),
                                              g.input("mean", {DType::f32, chan}), g.input("var", {DType::f32, chan}),
                                              true, 0.1, 1e-5, true);
    Value y = residual ? ops::add(o.y, g.input("r", {DType::f32, shape})) : o.y;
    for (Value v : {ops::relu(y), o.mean, o.invstd, o.running_mean, o.running_var}) g.mark_output(v);
    return g;
  };
  // x read, y written; the residual sum reads two tensors and writes one more.
  measure(("relu(bn(x)) " + where).c_str(), forward(false), feeds, 2, elements, threads, repeats);
  measure(("relu(bn(x) + r) " + where).c_str(), forward(true), feeds, 3, elements, threads, repeats);
  Graph b;
  Value dy = ops::relu_grad(b.input("y", {DType::f32, shape}), b.input("dy", {DType::f32, shape}));
  for (Value v : ops::batch_norm_grad(b.input("x", {DType::f32, shape}), b.input("gamma", {DType::f32, chan}),
                                      b.input("mean", {DType::f32, chan}), b.input("var", {DType::f32, chan}), dy, true))
    b.mark_output(v);
  // x, y and dy read, dx written.
  measure(("bn_grad(relu_grad(y, dy)) " + where).c_str(), b, feeds, 4, elements, threads, repeats);
}

}  // namespace

int main(int argc, char** argv) {
  dagrad::kernels::restart_with_better_blas_core(argv);  // see ops/kernels/gemm.h
  int threads = 1, repeats = 20;
  std::int64_t batch = 64;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--repeats N] [--batch N] [--cpu-time]\n", argv[0]);
      return 2;
    }
  }
  if (threads < 1 || repeats < 1 || batch < 1) {
    std::fprintf(stderr, "--threads, --repeats and --batch must be >= 1\n");
    return 2;
  }
  std::printf("kernels %s, %d thread(s), batch %lld\n", dagrad::kernels::isa_name(dagrad::kernels::active_isa()), threads,
              static_cast<long long>(batch));
  for (const dagrad::Shape& shape : {dagrad::Shape{batch, 16, 28, 28}, dagrad::Shape{batch, 32, 14, 14}, dagrad::Shape{batch, 64, 7, 7}})
    bench_shape(shape, threads, repeats);
  return 0;
}

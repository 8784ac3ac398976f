// Kernel microbenchmarks for the reference ResNet (resnet_ref, batch 64 by default):
//  - the yardsticks measured in the same run: single-threaded sgemm GFLOP/s and the FMA peak of
//    one core on the active instruction-set path (independent vector FMAs from registers);
//  - convolution forward, backward-data and backward-filter GFLOP/s per layer shape, with the
//    per-thread fraction of the FMA peak and of the sgemm rate; resnet_ref's layers (batch 64 by
//    default), ResNet-18's stem and first stage (batch 16), then ResNeXt-50 32x4d's grouped 3x3
//    convolutions (batch 16 by default);
//  - relu, add and batch-norm forward/backward GB/s through the runtime (one-node plans);
//  - per-node overhead: a chain of 1000 tiny elementwise nodes, microseconds per node.
// Usage: dagrad_bench_kernels [--threads N] [--batch N] [--grouped-batch N] [--isa NAME] [--cpu-time]
//                             [--resnet-ref-only]
// (--isa baseline|avx2|avx512 forces a kernel path, as DAGRAD_ISA does; --resnet-ref-only stops
// after resnet_ref's convolutions, for quick before/after comparisons of the conv kernels.)
#include <oneapi/tbb/task_arena.h>

#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ops/kernels/conv.h"
#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/gemm.h"
#include "ops/ops.h"
#include "runtime/runtime.h"

namespace {

using namespace dagrad;
using Clock = std::chrono::steady_clock;

// With --cpu-time, seconds are the process's CPU time (summed over threads) instead of wall
// time: on a shared, loaded machine that still measures the work per thread reliably.
bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Best-of-`repeats` seconds of one call, after a warm-up call.
double best_seconds(int repeats, const std::function<void()>& f) {
  f();
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const double start = now_seconds();
    f();
    best = std::min(best, now_seconds() - start);
  }
  return best;
}

std::vector<float> random_floats(std::int64_t n, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

double sgemm_gflops(std::int64_t m, std::int64_t n, std::int64_t k) {
  std::vector<float> a = random_floats(m * k, 1), b = random_floats(k * n, 2), c(static_cast<std::size_t>(m * n));
  double s = best_seconds(10, [&] { kernels::gemm<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n); });
  return 2.0 * m * n * k / s * 1e-9;
}

// One core's FMA peak: 24 (AVX2: 12) independent chains of vector FMAs (more than latency x ports
// on x86 cores), counted as 2 FLOPs per lane, on the widest vectors of the active path.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) float fma_loop_avx512(long iterations) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i)
#pragma GCC unroll 24
    for (auto& x : acc) x = _mm512_fmadd_ps(x, a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 24; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float l[16];
  _mm512_store_ps(l, sum);
  return l[0] + l[15];
}
__attribute__((target("avx2,fma"))) float fma_loop_avx2(long iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (auto& x : acc) x = _mm256_fmadd_ps(x, a, b);
  alignas(32) float l[8];
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  _mm256_store_ps(l, sum);
  return l[0] + l[7];
}
#endif

// GFLOP/s of one core's FMAs on the active path (SSE multiply + add on the baseline).
double fma_peak_gflops() {
  // Short runs, best of many: on a shared machine some run finds the core quiet.
  const long iterations = 5'000'000;
  volatile float sink = 0;
  switch (kernels::active_isa()) {
#if defined(__x86_64__)
    case kernels::Isa::avx512: {
      const double s = best_seconds(30, [&] { sink = fma_loop_avx512(iterations); });
      return 2.0 * 16 * 24 * static_cast<double>(iterations) / s * 1e-9;
    }
    case kernels::Isa::avx2: {
      const double s = best_seconds(30, [&] { sink = fma_loop_avx2(iterations); });
      return 2.0 * 8 * 12 * static_cast<double>(iterations) / s * 1e-9;
    }
#endif
    default: {
      float acc[32];
      for (int i = 0; i < 32; ++i) acc[i] = static_cast<float>(i);
      const double s = best_seconds(30, [&] {
        for (long i = 0; i < iterations / 4; ++i)
          for (auto& x : acc) x = x * 0.999f + 0.001f;
        sink = acc[0] + acc[31];
      });
      return 2.0 * 32 * static_cast<double>(iterations / 4) / s * 1e-9;
    }
  }
}

struct ConvShape {
  const char* name;
  std::int64_t c, hw, f, k, stride, pad;
  std::int64_t groups = 1;
};

void bench_convs(tbb::task_arena& arena, int threads, std::int64_t batch, double sgemm_rate, double fma_peak, const char* title,
                 const std::vector<ConvShape>& shapes) {
  std::printf("\n%s, batch %lld, %d threads, isa %s (GFLOP/s; per-thread share of the FMA peak, of the sgemm rate)\n",
              title, static_cast<long long>(batch), threads, kernels::isa_name(kernels::active_isa()));
  std::printf("%-24s %22s %22s %22s\n", "layer", "forward", "backward-data", "backward-filter");
  for (const ConvShape& s : shapes) {
    const std::int64_t stride[2] = {s.stride, s.stride}, pad[2] = {s.pad, s.pad};
    kernels::ConvGeometry g = kernels::conv_geometry(Shape{batch, s.c, s.hw, s.hw}, Shape{s.f, s.c / s.groups, s.k, s.k},
                                                     kernels::ConvSpec{.stride = stride, .pad = pad, .groups = s.groups});
    std::vector<float> x = random_floats(g.n * g.c * g.h * g.w, 3), w = random_floats(g.f * g.patch_size(), 4);
    std::vector<float> y(static_cast<std::size_t>(g.n * g.f * g.out_pixels())), dx(x.size()), dw(w.size());
    // Multiply-adds count 2; a grouped filter [F, C/groups, K, K] has patch_size() taps.
    const double flops = 2.0 * g.n * g.f * g.out_pixels() * g.patch_size();
    auto rate = [&](const std::function<void()>& f) { return flops / best_seconds(10, [&] { arena.execute(f); }) * 1e-9; };
    double fwd = rate([&] { kernels::conv_forward<float>(g, x.data(), w.data(), nullptr, y.data()); });
    double bwd_data = rate([&] { kernels::conv_backward_input<float>(g, y.data(), w.data(), dx.data()); });
    double bwd_filter = rate([&] { kernels::conv_backward_filter<float>(g, x.data(), y.data(), dw.data()); });
    // CPU-time rates are already per thread.
    auto pct = [&](double r, double of) { return 100.0 * r / (g_cpu_time ? 1 : threads) / of; };
    auto cell = [&](double r) {
      char text[64];
      std::snprintf(text, sizeof text, "%6.1f (%3.0f%%, %3.0f%%)", r, pct(r, fma_peak), pct(r, sgemm_rate));
      return std::string(text);
    };
    std::printf("%-24s %22s %22s %22s\n", s.name, cell(fwd).c_str(), cell(bwd_data).c_str(), cell(bwd_filter).c_str());
  }
}

// The distinct convolution shapes of resnet_ref on 1x28x28 images.
const std::vector<ConvShape> kResnetRefShapes = {
    {"stem 1->16 3x3 28", 1, 28, 16, 3, 1, 1},       {"s1 16->16 3x3 28", 16, 28, 16, 3, 1, 1},
    {"s2 16->32 3x3/2 28", 16, 28, 32, 3, 2, 1},     {"s2 32->32 3x3 14", 32, 14, 32, 3, 1, 1},
    {"s2 sc 16->32 1x1/2 28", 16, 28, 32, 1, 2, 0},  {"s3 32->64 3x3/2 14", 32, 14, 64, 3, 2, 1},
    {"s3 64->64 3x3 7", 64, 7, 64, 3, 1, 1},         {"s3 sc 32->64 1x1/2 14", 32, 14, 64, 1, 2, 0},
};

// ResNet-18's stem and first stage on 3x224x224 images (batch 16 by default).
const std::vector<ConvShape> kResnet18Shapes = {
    {"stem 3->64 7x7/2 224", 3, 224, 64, 7, 2, 3},
    {"s1 64->64 3x3 56", 64, 56, 64, 3, 1, 1},
};

// The grouped 3x3 convolutions of ResNeXt-50 32x4d's stages (32 groups of 4, 8, 16, 32 channels),
// on 224x224 images: the stride-2 ones open stages 2-4. Batch 16 by default (--grouped-batch).
const std::vector<ConvShape> kResnextShapes = {
    {"s1 128 g32 3x3 56", 128, 56, 128, 3, 1, 1, 32},    {"s1 128 g32 3x3 28", 128, 28, 128, 3, 1, 1, 32},
    {"s2 256 g32 3x3/2 56", 256, 56, 256, 3, 2, 1, 32},  {"s2 256 g32 3x3 28", 256, 28, 256, 3, 1, 1, 32},
    {"s3 512 g32 3x3 14", 512, 14, 512, 3, 1, 1, 32},    {"s4 1024 g32 3x3 7", 1024, 7, 1024, 3, 1, 1, 32},
};

// One-node plans through the runtime: bytes moved per second.
void bench_elementwise(int threads, std::int64_t batch) {
  std::printf("\nelementwise and batch norm through the runtime, %d threads (GB/s)\n", threads);
  const Shape shape{batch, 16, 28, 28};
  const std::int64_t bytes = element_count(shape) * 4;
  auto measure = [&](const char* label, int tensors_moved, const std::function<std::vector<Value>(Graph&)>& build) {
    Graph g;
    std::vector<Value> outs = build(g);
    for (Value v : outs) g.mark_output(v);
    runtime::Plan plan = runtime::compile(g, {.threads = threads});
    TensorMap feeds_storage;
    std::uint32_t seed = 7;
    for (ValueId id : plan.feeds()) {
      const ValueInfo& v = g.value(id);
      Tensor t(v.type.dtype, v.type.shape);
      std::vector<float> r = random_floats(t.numel(), seed++);
      for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v.name.find("var") != std::string::npos ? 1.0f + std::abs(r[i]) : r[i];
      feeds_storage.emplace(v.name, std::move(t));
    }
    runtime::Feeds feeds = runtime::feeds_from({&feeds_storage});
    double s = best_seconds(10, [&] { runtime::run(plan, feeds); });
    std::printf("%-28s %8.2f GB/s  (%.3f ms)\n", label, tensors_moved * static_cast<double>(bytes) / s * 1e-9, s * 1e3);
  };
  const TensorType act{DType::f32, shape}, chan{DType::f32, {16}};
  measure("relu", 2, [&](Graph& g) { return std::vector{ops::relu(g.input("x", act))}; });
  measure("relu_grad", 3, [&](Graph& g) { return std::vector{ops::relu_grad(g.input("y", act), g.input("dy", act))}; });
  measure("add", 3, [&](Graph& g) { return std::vector{ops::add(g.input("a", act), g.input("b", act))}; });
  measure("batch_norm (train)", 3, [&](Graph& g) {
    ops::BatchNormOutputs o = ops::batch_norm(g.input("x", act), g.input("gamma", chan), g.input("beta", chan),
                                              g.input("mean", chan), g.input("var", chan), true, 0.1, 1e-5);
    return std::vector{o.y};
  });
  measure("batch_norm_grad (train)", 4, [&](Graph& g) {
    return ops::batch_norm_grad(g.input("x", act), g.input("gamma", chan), g.input("mean", chan), g.input("invstd_var", chan),
                                g.input("dy", act), true);
  });
}

void bench_node_overhead(int threads) {
  Graph g;
  Value v = g.input("x", {DType::f32, {4}});
  for (int i = 0; i < 1000; ++i) v = ops::relu(v);
  g.mark_output(v);
  runtime::Plan plan = runtime::compile(g, {.threads = threads});
  Tensor x(DType::f32, {4});
  runtime::Feeds feeds{{"x", &x}};
  double s = best_seconds(20, [&] { runtime::run(plan, feeds); });
  std::printf("\nper-node overhead: %.3f us per node (a chain of 1000 relu nodes on 4 floats, %d threads)\n", s * 1e6 / 1000, threads);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::int64_t batch = 64, grouped_batch = 16;
  bool resnet_ref_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--resnet-ref-only")) resnet_ref_only = true;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--grouped-batch") && i + 1 < argc) grouped_batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      try {
        kernels::force_isa(kernels::parse_isa(argv[++i]));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--batch N] [--grouped-batch N] [--isa baseline|avx2|avx512] [--cpu-time] "
                   "[--resnet-ref-only]\n",
                   argv[0]);
      return 2;
    }
  }
  if (g_cpu_time) std::printf("(rates per CPU-second summed over threads)\n");
  if (threads < 1 || batch < 2 || grouped_batch < 1) {
    std::fprintf(stderr, "--threads must be >= 1, --batch >= 2 and --grouped-batch >= 1\n");
    return 2;
  }
  tbb::task_arena arena(threads);
  const double sgemm = sgemm_gflops(256, 256, 256), peak = fma_peak_gflops();
  std::printf("kernel path: %s (detected %s)\n", kernels::isa_name(kernels::active_isa()), kernels::isa_name(kernels::detected_isa()));
  std::printf("one core's FMA peak on this path: %.1f GFLOP/s\n", peak);
  std::printf("single-threaded sgemm 256x256x256: %.1f GFLOP/s; conv-like 16x784x144: %.1f; 64x49x576: %.1f\n", sgemm,
              sgemm_gflops(16, 784, 144), sgemm_gflops(64, 49, 576));
  bench_convs(arena, threads, batch, sgemm, peak, "convolution (resnet_ref)", kResnetRefShapes);
  if (resnet_ref_only) return 0;
  bench_convs(arena, threads, grouped_batch, sgemm, peak, "convolution (ResNet-18 stem and stage 1)", kResnet18Shapes);
  bench_convs(arena, threads, grouped_batch, sgemm, peak, "grouped convolution (ResNeXt-50 32x4d)", kResnextShapes);
  bench_elementwise(threads, batch);
  bench_node_overhead(threads);
  return 0;
}

// Winograd F(2x2,3x3) and F(4x4,3x3) (ops/kernels/conv_winograd.h) against the current
// convolution path (kernels::conv_forward / conv_backward_input / conv_backward_filter, which pick
// the direct kernels or im2col + sgemm) on the stride-1 3x3 layers of resnet_ref (batch 64) and
// ResNet-18 (batch 16), forward, backward-data and backward-filter, at 1 and 2 threads.
//
// GFLOP/s are counted by the direct convolution's FLOPs (2 * N * F * OH * OW * C * 9) for every
// method, so Winograd's rate can exceed the machine's sgemm rate; % is the rate per thread over
// the single-threaded sgemm rate measured in the same run. Best of --repeats timed calls after a
// warm-up call. The last column names the fastest method per pass at the largest thread count.
// --cpu-time divides by the process's CPU time instead (rates per CPU-second, so a 2-thread rate
// is already per thread): steadier on a loaded machine.
// Usage: dagrad_bench_winograd [--repeats N] [--threads-max N] [--only resnet_ref|resnet18] [--cpu-time]
#include <oneapi/tbb/task_arena.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ops/kernels/conv.h"
#include "ops/kernels/conv_winograd.h"
#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/gemm.h"

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
  const double s = best_seconds(10, [&] { kernels::gemm<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n); });
  return 2.0 * m * n * k / s * 1e-9;
}

struct Layer {
  const char* model;
  const char* name;
  std::int64_t batch, channels, size;
};

const std::vector<Layer> kLayers = {
    {"resnet_ref", "16->16 3x3 28x28", 64, 16, 28},   {"resnet_ref", "32->32 3x3 14x14", 64, 32, 14},
    {"resnet_ref", "64->64 3x3 7x7", 64, 64, 7},      {"resnet18", "s1 64->64 3x3 56x56", 16, 64, 56},
    {"resnet18", "s2 128->128 3x3 28x28", 16, 128, 28}, {"resnet18", "s3 256->256 3x3 14x14", 16, 256, 14},
    {"resnet18", "s4 512->512 3x3 7x7", 16, 512, 7},
};

enum Method { kCurrent, kF2, kF4, kMethods };
const char* const kMethodNames[kMethods] = {"current", "F(2x2)", "F(4x4)"};
enum Pass { kForward, kData, kFilter, kPasses };
const char* const kPassNames[kPasses] = {"forward", "backward-data", "backward-filter"};

}  // namespace

int main(int argc, char** argv) {
  dagrad::kernels::restart_with_better_blas_core(argv);  // see ops/kernels/gemm.h
  int repeats = 5, threads_max = 2;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads-max") && i + 1 < argc) threads_max = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--repeats N] [--threads-max N] [--only resnet_ref|resnet18] [--cpu-time]\n", argv[0]);
      return 2;
    }
  }
  if (repeats < 1 || threads_max < 1) {
    std::fprintf(stderr, "--repeats and --threads-max must be >= 1\n");
    return 2;
  }
  const double sgemm = sgemm_gflops(256, 256, 256);
  std::printf("kernels ISA path %s; single-threaded sgemm 256x256x256: %.1f GFLOP/s\n",
              kernels::isa_name(kernels::active_isa()), sgemm);
  std::printf("GFLOP/s by the direct convolution's FLOPs%s; (%%) = per thread, of the 1-thread sgemm rate\n\n",
              g_cpu_time ? " per CPU-second" : "");
  std::printf("%-24s %-16s", "layer", "pass");
  for (int t = 1; t <= threads_max; ++t)
    for (int m = 0; m < kMethods; ++m) std::printf(" %8s %dt    ", kMethodNames[m], t);
  std::printf(" fastest at %dt\n", threads_max);

  for (const Layer& layer : kLayers) {
    if (!only.empty() && only != layer.model) continue;
    const std::int64_t stride[2] = {1, 1}, pad[2] = {1, 1};
    const kernels::ConvGeometry g = kernels::conv_geometry(
        Shape{layer.batch, layer.channels, layer.size, layer.size}, Shape{layer.channels, layer.channels, 3, 3},
        kernels::ConvSpec{.stride = stride, .pad = pad});
    std::vector<float> x = random_floats(g.n * g.c * g.h * g.w, 3), w = random_floats(g.f * g.c * 9, 4);
    std::vector<float> dy = random_floats(g.n * g.f * g.oh * g.ow, 5), y(dy.size()), dx(x.size()), dw(w.size());
    const double flops = 2.0 * g.n * g.f * g.out_pixels() * g.c * 9;
    double rate[kPasses][8][kMethods] = {};
    for (int t = 1; t <= threads_max; ++t) {
      tbb::task_arena arena(t);
      for (int m = 0; m < kMethods; ++m) {
        const auto tile = m == kF4 ? kernels::winograd::Tile::f4x4 : kernels::winograd::Tile::f2x2;
        auto measure = [&](const std::function<void()>& f) { return flops / best_seconds(repeats, [&] { arena.execute(f); }) * 1e-9; };
        if (m == kCurrent) {
          rate[kForward][t][m] = measure([&] { kernels::conv_forward<float>(g, x.data(), w.data(), nullptr, y.data()); });
          rate[kData][t][m] = measure([&] { kernels::conv_backward_input<float>(g, dy.data(), w.data(), dx.data()); });
          rate[kFilter][t][m] = measure([&] { kernels::conv_backward_filter<float>(g, x.data(), dy.data(), dw.data()); });
        } else {
          rate[kForward][t][m] = measure([&] { kernels::winograd::forward(g, x.data(), w.data(), nullptr, y.data(), nullptr, tile); });
          rate[kData][t][m] = measure([&] { kernels::winograd::backward_input(g, dy.data(), w.data(), dx.data(), tile); });
          rate[kFilter][t][m] = measure([&] { kernels::winograd::backward_filter_batch(g, x.data(), dy.data(), dw.data(), tile); });
        }
      }
    }
    for (int p = 0; p < kPasses; ++p) {
      std::printf("%-24s %-16s", p == 0 ? (std::string(layer.name) + " b" + std::to_string(layer.batch)).c_str() : "",
                  kPassNames[p]);
      for (int t = 1; t <= threads_max; ++t)
        for (int m = 0; m < kMethods; ++m) std::printf(" %6.1f (%3.0f%%)", rate[p][t][m], 100.0 * rate[p][t][m] / (g_cpu_time ? 1 : t) / sgemm);
      int best = kCurrent;
      for (int m = 0; m < kMethods; ++m)
        if (rate[p][threads_max][m] > rate[p][threads_max][best]) best = m;
      std::printf(" %s (%.2fx current)\n", kMethodNames[best], rate[p][threads_max][best] / rate[p][threads_max][kCurrent]);
    }
    std::fflush(stdout);
  }
  return 0;
}

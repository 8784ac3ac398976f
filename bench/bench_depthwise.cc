// The depthwise 3x3 kernel on MobileNetV2's depthwise layers, in GB/s and GFLOP/s beside a STREAM
// triad (a[i] = b[i] + s * c[i], float32, three 64 MiB arrays) measured in the same process with
// the same thread count: the kernel is memory-bound (9 multiply-adds per output), so its share of
// the triad rate is the number that says how good it is.
// Bytes: x read + y written + the filter (the triad's convention: no write-allocate traffic).
// FLOPs: 18 per output (9 multiplies, 9 adds).
// "warm" is the best of --repeats runs back to back (the layer's tensors may sit in the L3 cache);
// "cold" is the best of runs that each follow a 1 GiB write that evicts them.
// --backward adds the input- and filter-gradient kernels (warm). --cpu-time times by process CPU
// time (summed over threads, so rates are per thread) instead of wall time: steadier on a machine
// other jobs share, since both the kernel and the triad are measured the same way.
// Usage: dagrad_bench_depthwise [--threads N] [--batch N] [--repeats N] [--backward] [--cpu-time]
#include <oneapi/tbb/global_control.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "ops/kernels/conv_depthwise.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/gemm.h"

namespace {

using namespace dagrad;

bool g_cpu_time = false;  // process CPU time (summed over threads): steadier on a shared machine

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double seconds(const std::function<void()>& f) {
  const double start = now_seconds();
  f();
  return now_seconds() - start;
}

// Written in parallel (first touch spreads the pages like the timed loops use them), then kept.
std::vector<float> filled(std::int64_t count, float value) {
  std::vector<float> v(static_cast<std::size_t>(count));
  kernels::parallel_chunks(count, kernels::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    std::fill(v.data() + begin, v.data() + end, value);
  });
  return v;
}

// Evicts the caches: a parallel write of 1 GiB, several times the L3 size.
void flush_caches() {
  static std::vector<float> junk = filled(std::int64_t{1} << 28, 0.0f);
  float* p = junk.data();
  kernels::parallel_chunks(static_cast<std::int64_t>(junk.size()), 1 << 20, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) p[i] += 1.0f;
  });
}

// Best time of `repeats` runs (after one warm-up run), each preceded by a cache flush when cold.
double best_seconds(int repeats, bool cold, const std::function<void()>& f) {
  f();
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    if (cold) flush_caches();
    best = std::min(best, seconds(f));
  }
  return best;
}

double triad_gbs(int repeats, bool cold) {
  const std::int64_t n = (std::int64_t{64} << 20) / 4;  // 64 MiB of float32 per array
  std::vector<float> a = filled(n, 0.0f), b = filled(n, 1.0f), c = filled(n, 2.0f);
  const float s = 3.0f;
  float* __restrict pa = a.data();
  const float* __restrict pb = b.data();
  const float* __restrict pc = c.data();
  const double t = best_seconds(repeats, cold, [&] {
    kernels::parallel_chunks(n, 1 << 16, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) pa[i] = pb[i] + s * pc[i];
    });
  });
  return 3.0 * static_cast<double>(n) * 4 / t * 1e-9;
}

struct Layer {
  const char* name;
  std::int64_t c, hw, stride;
};

struct Rates {
  double ms, gbs, gflops;
};

kernels::ConvGeometry geometry(const Layer& l, std::int64_t batch) {
  kernels::ConvGeometry g;
  g.n = batch, g.c = l.c, g.h = l.hw, g.w = l.hw;
  g.f = l.c, g.kh = 3, g.kw = 3, g.groups = l.c;
  g.sh = g.sw = l.stride, g.ph = g.pw = g.ph_end = g.pw_end = 1;
  g.oh = (l.hw + 2 - 3) / l.stride + 1, g.ow = g.oh;
  return g;
}

Rates depthwise(const Layer& l, std::int64_t batch, int repeats, bool cold) {
  const kernels::ConvGeometry g = geometry(l, batch);
  std::vector<float> x = filled(g.n * g.c * g.h * g.w, 0.5f), w = filled(g.f * 9, 0.25f);
  std::vector<float> y = filled(g.n * g.f * g.oh * g.ow, 0.0f);
  const double t = best_seconds(repeats, cold, [&] {
    kernels::depthwise3x3_forward<float>(g, x.data(), w.data(), nullptr, y.data(), nullptr);
  });
  const double bytes = 4.0 * static_cast<double>(x.size() + y.size() + w.size());
  const double flops = 18.0 * static_cast<double>(y.size());
  return {t * 1e3, bytes / t * 1e-9, flops / t * 1e-9};
}

// The gradient kernels, warm: GB/s of dy, w and dx (input gradient); of x, dy and dw (filter gradient).
void gradients(const Layer& l, std::int64_t batch, int repeats) {
  const kernels::ConvGeometry g = geometry(l, batch);
  std::vector<float> x = filled(g.n * g.c * g.h * g.w, 0.5f), w = filled(g.f * 9, 0.25f);
  std::vector<float> dy = filled(g.n * g.f * g.oh * g.ow, 1.0f), dx = filled(static_cast<std::int64_t>(x.size()), 0.0f),
                     dw(w.size());
  const double bytes = 4.0 * static_cast<double>(x.size() + dy.size() + w.size());
  const double input = best_seconds(repeats, false, [&] {
    kernels::depthwise3x3_backward_input<float>(g, dy.data(), w.data(), dx.data());
  });
  const double filter = best_seconds(repeats, false, [&] {
    kernels::depthwise3x3_backward_filter<float>(g, x.data(), dy.data(), dw.data());
  });
  std::printf("%-17s %9.3f %8.1f %9.3f %8.1f\n", l.name, input * 1e3, bytes / input * 1e-9, filter * 1e3,
              bytes / filter * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  dagrad::kernels::restart_with_better_blas_core(argv);  // see ops/kernels/gemm.h
  std::vector<int> thread_counts = {1, 2};
  std::int64_t batch = 16;
  int repeats = 10;
  bool backward = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) thread_counts = {std::atoi(argv[++i])};
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--backward")) backward = true;
    else if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--batch N] [--repeats N] [--backward] [--cpu-time]\n", argv[0]);
      return 2;
    }
  }
  if (thread_counts[0] < 1 || batch < 1 || repeats < 1) {
    std::fprintf(stderr, "--threads, --batch and --repeats must be >= 1\n");
    return 2;
  }
  // MobileNetV2's depthwise 3x3 layers (pad 1), input size and stride.
  const Layer layers[] = {
      {"C=32 112x112 s1", 32, 112, 1}, {"C=96 112->56 s2", 96, 112, 2}, {"C=144 56x56 s1", 144, 56, 1},
      {"C=144 56->28 s2", 144, 56, 2}, {"C=192 28x28 s1", 192, 28, 1}, {"C=384 14x14 s1", 384, 14, 1},
      {"C=576 14x14 s1", 576, 14, 1},  {"C=576 14->7 s2", 576, 14, 2},  {"C=960 7x7 s1", 960, 7, 1},
  };
  for (int threads : thread_counts) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    const double triad_warm = triad_gbs(repeats, false), triad_cold = triad_gbs(repeats, true);
    std::printf("\ndepthwise 3x3 float32, batch %lld, %d thread%s, best of %d%s\n", static_cast<long long>(batch), threads,
                threads == 1 ? "" : "s", repeats, g_cpu_time ? ", CPU time (rates per thread)" : "");
    std::printf("STREAM triad (3 x 64 MiB): warm %.1f GB/s, cold %.1f GB/s\n", triad_warm, triad_cold);
    std::printf("%-17s %9s %8s %8s %7s %9s %8s %8s %7s\n", "layer", "warm ms", "GB/s", "GFLOP/s", "/triad", "cold ms",
                "GB/s", "GFLOP/s", "/triad");
    for (const Layer& l : layers) {
      const Rates warm = depthwise(l, batch, repeats, false), cold = depthwise(l, batch, repeats, true);
      std::printf("%-17s %9.3f %8.1f %8.1f %7.2f %9.3f %8.1f %8.1f %7.2f\n", l.name, warm.ms, warm.gbs, warm.gflops,
                  warm.gbs / triad_warm, cold.ms, cold.gbs, cold.gflops, cold.gbs / triad_cold);
    }
    if (!backward) continue;
    std::printf("gradient kernels (warm)\n%-17s %9s %8s %9s %8s\n", "layer", "input ms", "GB/s", "filter ms", "GB/s");
    for (const Layer& l : layers) gradients(l, batch, repeats);
  }
  return 0;
}

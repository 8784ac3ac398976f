// The instruction-set paths (cpu_isa.h): every path this CPU supports, forced in turn, runs the
// direct convolution's forward, input-gradient and filter-gradient kernels against a plain
// reference in double, and gives bitwise the same results with 1, 2 and 3 threads. A path the CPU
// lacks is reported as skipped, never passed silently.
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "graph/error.h"
#include "ops/kernels/conv.h"
#include "ops/kernels/conv_direct.h"
#include "ops/kernels/cpu_isa.h"

namespace dagrad::kernels {
namespace {

constexpr Isa kAllIsas[] = {Isa::baseline, Isa::avx2, Isa::avx512};

// Restores the path that was active and the measured convolution choice however the test ends.
struct ForcedIsa {
  explicit ForcedIsa(Isa isa) : previous(active_isa()) { force_isa(isa); }
  ~ForcedIsa() {
    force_isa(previous);
    set_conv_path_for_testing(ConvPath::automatic);
  }
  Isa previous;
};

struct Layer {
  const char* name;
  std::int64_t n, c, hw, f, k, stride, pad;
};

// resnet_ref's layers, ResNet-18's first stage, and shapes off every tile size: F not a multiple
// of 16 or 32, pixel counts leaving short filter-lane tiles, taps not a multiple of 3, stride 3.
const Layer kLayers[] = {
    {"stem_1to16_28", 3, 1, 28, 16, 3, 1, 1},      {"s1_16to16_28", 2, 16, 28, 16, 3, 1, 1},
    {"s2_16to32_28_stride2", 3, 16, 28, 32, 3, 2, 1}, {"s2_32to32_14", 3, 32, 14, 32, 3, 1, 1},
    {"s3_32to64_14_stride2", 2, 32, 14, 64, 3, 2, 1}, {"s3_64to64_7", 3, 64, 7, 64, 3, 1, 1},
    {"resnet18_s1_64to64_56", 1, 64, 56, 64, 3, 1, 1}, {"narrow_48_filters_7", 2, 16, 7, 48, 3, 1, 1},
    {"wide_odd_3to20_33", 2, 3, 33, 20, 3, 1, 1},  {"k5_5to7_13", 2, 5, 13, 7, 5, 1, 2},
    {"k2_stride3_2to6_40", 2, 2, 40, 6, 2, 3, 1},  {"k3_stride2_3to16_27_nopad", 3, 3, 27, 16, 3, 2, 0},
};

std::vector<float> values(std::int64_t count, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

struct Case {
  ConvGeometry g;
  std::vector<float> x, w, dy;
  std::vector<double> y, dx, dw;  // from the definition, in double
};

Case make_case(const Layer& l) {
  const std::int64_t stride[2] = {l.stride, l.stride}, pad[2] = {l.pad, l.pad};
  Case r;
  const ConvGeometry g = r.g = conv_geometry(Shape{l.n, l.c, l.hw, l.hw}, Shape{l.f, l.c, l.k, l.k}, stride, pad);
  r.x = values(g.n * g.c * g.h * g.w, 11), r.w = values(g.f * g.patch_size(), 12), r.dy = values(g.n * g.f * g.out_pixels(), 13);
  r.y.assign(r.dy.size(), 0.0), r.dx.assign(r.x.size(), 0.0), r.dw.assign(r.w.size(), 0.0);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox) {
          const std::int64_t out = ((n * g.f + f) * g.oh + oy) * g.ow + ox;
          for (std::int64_t c = 0; c < g.c; ++c)
            for (std::int64_t i = 0; i < g.kh; ++i)
              for (std::int64_t j = 0; j < g.kw; ++j) {
                const std::int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const std::int64_t xi = ((n * g.c + c) * g.h + iy) * g.w + ix, wi = ((f * g.c + c) * g.kh + i) * g.kw + j;
                r.y[out] += double(r.w[wi]) * r.x[xi];
                r.dx[xi] += double(r.w[wi]) * r.dy[out];
                r.dw[wi] += double(r.dy[out]) * r.x[xi];
              }
        }
  return r;
}

// float32 sums of up to a few thousand products of values in [-1, 1].
void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-4 + 2e-5 * std::abs(want[i])) << what << ", element " << i;
}

struct Results {
  std::vector<float> y, dx, dw;
};

// The three passes through conv.h, with `threads` worker threads; stale outputs are overwritten.
Results run_passes(const Case& r, int threads) {
  Results out{std::vector<float>(r.y.size(), 7.0f), std::vector<float>(r.x.size(), 7.0f), std::vector<float>(r.w.size(), 7.0f)};
  tbb::task_arena arena(threads);
  arena.execute([&] {
    conv_forward<float>(r.g, r.x.data(), r.w.data(), nullptr, out.y.data());
    conv_backward_input<float>(r.g, r.dy.data(), r.w.data(), out.dx.data());
    conv_backward_filter<float>(r.g, r.x.data(), r.dy.data(), out.dw.data());
  });
  return out;
}

TEST(KernelsIsa, NamesRoundTripAndUnknownNamesFail) {
  for (Isa isa : kAllIsas) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  EXPECT_THROW(parse_isa("sse9"), Error);
  EXPECT_TRUE(isa_supported(Isa::baseline));
  EXPECT_TRUE(isa_supported(detected_isa()));
}

// Every supported path, every layer: the three passes through conv.h (whichever kernel the path
// picks), the direct kernels themselves wherever the path has them, and bitwise equality across
// thread counts.
TEST(KernelsIsa, EverySupportedPathMatchesTheReference) {
  std::string skipped;
  for (Isa isa : kAllIsas) {
    if (!isa_supported(isa)) {
      skipped += std::string(" ") + isa_name(isa);
      continue;
    }
    ForcedIsa forced(isa);
    ASSERT_EQ(active_isa(), isa);
    for (const Layer& l : kLayers) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + l.name);
      const Case r = make_case(l);
      const ConvGeometry& g = r.g;
      const Results one = run_passes(r, 1);
      expect_close(one.y, r.y, "forward");
      expect_close(one.dx, r.dx, "input gradient");
      expect_close(one.dw, r.dw, "filter gradient");
      for (int threads : {2, 3}) {
        const Results many = run_passes(r, threads);
        EXPECT_EQ(many.y, one.y) << threads << " threads, forward";
        EXPECT_EQ(many.dx, one.dx) << threads << " threads, input gradient";
        EXPECT_EQ(many.dw, one.dw) << threads << " threads, filter gradient";
      }

      // The direct kernels called directly: the 3x3 layers must have them on AVX2 and AVX-512
      // (a dispatch that quietly fell back to im2col fails here), and none on the baseline.
      const direct::Method forward = direct::forward_method(g), gradient = direct::filter_gradient_method(g);
      if (isa == Isa::baseline) {
        EXPECT_EQ(forward, direct::Method::none);
        EXPECT_EQ(gradient, direct::Method::none);
        continue;
      }
      if (l.k == 3 && g.ow >= 12) {
        EXPECT_NE(forward, direct::Method::none);
      }
      if (forward != direct::Method::none) {
        std::vector<float> packed(static_cast<std::size_t>(direct::packed_filter_size(g)));
        direct::pack_filters(g, r.w.data(), packed.data());
        std::vector<float> y(r.y.size(), 7.0f);
        const std::int64_t in_size = g.c * g.h * g.w, out_size = g.f * g.out_pixels();
        for (std::int64_t n = 0; n < g.n; ++n) direct::forward_packed(g, r.x.data() + n * in_size, packed.data(), y.data() + n * out_size);
        expect_close(y, r.y, "direct forward");
      }
      if (gradient != direct::Method::none) {
        std::vector<float> dw(r.w.size(), 7.0f);
        direct::backward_filter(g, r.x.data(), r.dy.data(), g.n, dw.data());
        expect_close(dw, r.dw, "direct filter gradient");
      }
    }
  }
  if (!skipped.empty()) std::printf("[  SKIPPED ] paths this CPU lacks:%s\n", skipped.c_str());
}

// The direct kernels forced on a 3x3 layer with all three passes: present on AVX2 and AVX-512,
// a clear error on the baseline (which has none).
TEST(KernelsIsa, ForcingDirectKernelsOnTheBaselineFails) {
  const Case r = make_case(kLayers[1]);
  ForcedIsa forced(Isa::baseline);
  set_conv_path_for_testing(ConvPath::direct);
  std::vector<float> y(r.y.size());
  EXPECT_THROW(conv_forward<float>(r.g, r.x.data(), r.w.data(), nullptr, y.data()), Error);
  EXPECT_THROW(direct::pack_filters(r.g, r.w.data(), y.data()), Error);
}

TEST(KernelsIsa, ForcingAPathTheCpuLacksFails) {
  for (Isa isa : kAllIsas)
    if (!isa_supported(isa)) {
      EXPECT_THROW(force_isa(isa), Error) << isa_name(isa);
    }
}

}  // namespace
}  // namespace dagrad::kernels

// The fast convolution kernels (im2col + GEMM over image groups, the AVX2 direct kernels on
// wide maps, per-thread scratch) against a plain convolution written from the definition, on the layer shapes of the reference
// ResNet, including batches that leave a partial image group.
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/kernels/conv.h"

namespace dagrad::kernels {
namespace {

struct Layer {
  std::int64_t n, c, hw, f, k, stride, pad;
};

// A readable test name and failure print, e.g. "n3_c16_f32_k3_s2_p1_28x28", instead of gtest's byte dump.
std::string layer_name(const Layer& l) {
  return "n" + std::to_string(l.n) + "_c" + std::to_string(l.c) + "_f" + std::to_string(l.f) + "_k" + std::to_string(l.k) +
         "_s" + std::to_string(l.stride) + "_p" + std::to_string(l.pad) + "_" + std::to_string(l.hw) + "x" +
         std::to_string(l.hw);
}
void PrintTo(const Layer& l, std::ostream* out) { *out << layer_name(l); }

std::vector<float> values(std::int64_t count, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

// x [N,C,H,W] at (n, c, iy, ix), or 0 outside the image (the padding).
double input_at(const ConvGeometry& g, const std::vector<float>& x, std::int64_t n, std::int64_t c, std::int64_t iy,
                std::int64_t ix) {
  if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return 0;
  return x[((n * g.c + c) * g.h + iy) * g.w + ix];
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4 + 1e-4 * std::abs(want[i])) << what << " element " << i;
}

struct Reference {
  ConvGeometry g;
  std::vector<float> x, w, dy, bias;
  std::vector<double> y, dx, dw;
};

// Inputs drawn for the layer and its outputs computed from the definition, in double.
Reference reference(const Layer& l) {
  const std::int64_t stride[2] = {l.stride, l.stride}, pad[2] = {l.pad, l.pad};
  Reference r;
  const ConvGeometry g = r.g = conv_geometry(Shape{l.n, l.c, l.hw, l.hw}, Shape{l.f, l.c, l.k, l.k}, stride, pad);
  r.x = values(g.n * g.c * g.h * g.w, 1), r.w = values(g.f * g.patch_size(), 2);
  r.dy = values(g.n * g.f * g.out_pixels(), 3), r.bias = values(g.f, 4);
  const std::vector<float>&x = r.x, &w = r.w, &dy = r.dy, &bias = r.bias;
  std::vector<double> y_ref(dy.size()), dx_ref(x.size(), 0.0), dw_ref(w.size(), 0.0);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox) {
          const std::int64_t out = ((n * g.f + f) * g.oh + oy) * g.ow + ox;
          double sum = bias[f];
          for (std::int64_t c = 0; c < g.c; ++c)
            for (std::int64_t i = 0; i < g.kh; ++i)
              for (std::int64_t j = 0; j < g.kw; ++j) {
                const std::int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
                const std::int64_t wi = ((f * g.c + c) * g.kh + i) * g.kw + j;
                sum += w[wi] * input_at(g, x, n, c, iy, ix);
                if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
                  dx_ref[((n * g.c + c) * g.h + iy) * g.w + ix] += w[wi] * double(dy[out]);
                  dw_ref[wi] += dy[out] * input_at(g, x, n, c, iy, ix);
                }
              }
          y_ref[out] = sum;
        }

  r.y = std::move(y_ref), r.dx = std::move(dx_ref), r.dw = std::move(dw_ref);
  return r;
}

// The three passes against the reference; stale values in the outputs must be overwritten.
void check_kernels(const Reference& r) {
  const ConvGeometry& g = r.g;
  std::vector<float> y(r.y.size(), 7.0f), dx(r.x.size(), 7.0f), dw(r.w.size(), 7.0f);
  conv_forward<float>(g, r.x.data(), r.w.data(), r.bias.data(), y.data());
  conv_backward_input<float>(g, r.dy.data(), r.w.data(), dx.data());
  conv_backward_filter<float>(g, r.x.data(), r.dy.data(), dw.data());
  expect_close(y, r.y, "forward");
  expect_close(dx, r.dx, "backward-input");
  expect_close(dw, r.dw, "backward-filter");
}

class ConvKernels : public ::testing::TestWithParam<Layer> {};

TEST_P(ConvKernels, MatchDirectReference) { check_kernels(reference(GetParam())); }

// Restores the measured choice however the test ends.
struct ForcedPath {
  explicit ForcedPath(ConvPath path) { set_conv_path_for_testing(path); }
  ~ForcedPath() { set_conv_path_for_testing(ConvPath::automatic); }
};

// Each path forced on layers where both exist (3x3 filters, pixel and filter lanes): a build
// whose direct kernels are missing fails here instead of quietly running im2col everywhere.
class ConvPaths : public ::testing::TestWithParam<Layer> {};

TEST_P(ConvPaths, DirectMatchesReference) {
  const Reference r = reference(GetParam());
  ForcedPath forced(ConvPath::direct);
  check_kernels(r);
}

TEST_P(ConvPaths, Im2colMatchesReference) {
  const Reference r = reference(GetParam());
  ForcedPath forced(ConvPath::im2col);
  check_kernels(r);
}

TEST(ConvPaths, ForcingDirectWhereItCannotRunFails) {
  const Reference r = reference(Layer{2, 3, 8, 4, 1, 1, 0});  // 1x1: no direct kernel
  ForcedPath forced(ConvPath::direct);
  std::vector<float> y(r.y.size());
  EXPECT_THROW(conv_forward<float>(r.g, r.x.data(), r.w.data(), nullptr, y.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(BothPaths, ConvPaths,
                         ::testing::Values(Layer{2, 16, 28, 16, 3, 1, 1},   // pixel lanes
                                           Layer{3, 16, 28, 32, 3, 2, 1},   // stride 2
                                           Layer{4, 32, 14, 32, 3, 1, 1},   // filter lanes
                                           Layer{3, 64, 7, 64, 3, 1, 1},    // filter lanes, narrow map
                                           Layer{2, 5, 13, 7, 5, 1, 2}),    // off the tile sizes
                         [](const ::testing::TestParamInfo<Layer>& info) { return layer_name(info.param); });

INSTANTIATE_TEST_SUITE_P(ResnetRefShapes, ConvKernels,
                         ::testing::Values(Layer{3, 1, 28, 16, 3, 1, 1}, Layer{2, 16, 28, 16, 3, 1, 1},
                                           Layer{3, 16, 28, 32, 3, 2, 1}, Layer{5, 32, 14, 32, 3, 1, 1},
                                           Layer{3, 16, 28, 32, 1, 2, 0}, Layer{8, 32, 14, 64, 3, 2, 1},
                                           Layer{8, 64, 7, 64, 3, 1, 1}, Layer{7, 32, 14, 64, 1, 2, 0},
                                           Layer{9, 8, 5, 4, 1, 1, 0}, Layer{4, 3, 9, 5, 3, 2, 0},
                                           Layer{2, 256, 4, 160, 3, 1, 1},  // filter rows split
                                           // direct kernels: filter and tap counts off the tile
                                           // sizes, odd widths, stride 3
                                           Layer{2, 3, 27, 5, 3, 2, 0}, Layer{3, 2, 40, 6, 2, 3, 1},
                                           Layer{2, 5, 13, 7, 5, 1, 2},
                                           // filter-lane kernels: 25 pixels and 20 taps, off the
                                           // tile of 3; 96 filters
                                           Layer{3, 5, 6, 96, 2, 1, 0}),
                         [](const ::testing::TestParamInfo<Layer>& info) { return layer_name(info.param); });

}  // namespace
}  // namespace dagrad::kernels

// The direct convolution's per-thread state: the index tables it keeps for the last geometry and
// the padded image buffer it reuses must never leak one geometry's values into another's. Each
// geometry's results, computed alone, must come back bitwise when geometries alternate on one
// thread (a stale table or an unwritten padding cell would change them).
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "ops/kernels/conv.h"
#include "ops/kernels/conv_direct.h"
#include "ops/kernels/cpu_isa.h"

namespace dagrad::kernels {
namespace {

struct Layer {
  std::int64_t n, c, hw, f, k, stride, pad;
};

// Large before small and back: strides 1-3, padding 0-2, filter lanes and pixel lanes.
const Layer kLayers[] = {
    {4, 16, 28, 16, 3, 1, 1}, {4, 3, 27, 16, 3, 2, 0}, {4, 32, 14, 32, 3, 1, 1}, {3, 16, 28, 32, 3, 2, 1},
    {2, 5, 13, 7, 5, 1, 2},   {2, 2, 40, 6, 2, 3, 1},  {4, 64, 7, 64, 3, 1, 1},  {4, 1, 28, 16, 3, 1, 1},
};

std::vector<float> values(std::int64_t count, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    // Nonzero everywhere, so that a padding cell left holding image data changes a result.
    x = static_cast<float>(seed >> 8) / 8388608.0f + 0.5f;
  }
  return v;
}

struct Outputs {
  std::vector<float> y, dw;
};

Outputs run(const Layer& l) {
  const std::int64_t stride[2] = {l.stride, l.stride}, pad[2] = {l.pad, l.pad};
  const ConvGeometry g = conv_geometry(Shape{l.n, l.c, l.hw, l.hw}, Shape{l.f, l.c, l.k, l.k}, stride, pad);
  const std::vector<float> x = values(g.n * g.c * g.h * g.w, 1), w = values(g.f * g.patch_size(), 2),
                           dy = values(g.n * g.f * g.out_pixels(), 3);
  Outputs out;
  if (direct::forward_method(g) != direct::Method::none) {
    std::vector<float> packed(static_cast<std::size_t>(direct::packed_filter_size(g)));
    direct::pack_filters(g, w.data(), packed.data());
    out.y.assign(static_cast<std::size_t>(g.n * g.f * g.out_pixels()), 7.0f);
    const std::int64_t in_size = g.c * g.h * g.w, out_size = g.f * g.out_pixels();
    for (std::int64_t n = 0; n < g.n; ++n)
      direct::forward_packed(g, x.data() + n * in_size, packed.data(), out.y.data() + n * out_size);
  }
  if (direct::filter_gradient_method(g) != direct::Method::none) {
    out.dw.assign(w.size(), 7.0f);
    direct::backward_filter(g, x.data(), dy.data(), g.n, out.dw.data());
  }
  return out;
}

TEST(ConvDirect, GeometriesAlternatingOnOneThreadGiveTheirOwnResults) {
  if (active_isa() == Isa::baseline) GTEST_SKIP() << "no direct kernels on the baseline path";
  std::vector<Outputs> alone;
  for (const Layer& l : kLayers) alone.push_back(run(l));
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < std::size(kLayers); ++i) {
      // Forward order in round 0, backward in round 1: every geometry follows a different one.
      const std::size_t k = round == 0 ? i : std::size(kLayers) - 1 - i;
      const Outputs again = run(kLayers[k]);
      EXPECT_EQ(again.y, alone[k].y) << "layer " << k << ", round " << round;
      EXPECT_EQ(again.dw, alone[k].dw) << "layer " << k << ", round " << round;
    }
}

}  // namespace
}  // namespace dagrad::kernels

#include "ops/kernels/conv_winograd.h"

#include <algorithm>

#include "graph/error.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/scratch.h"

namespace dagrad::kernels::winograd {
namespace {

// Scratch tags (scratch.h): 40 the transformed filters, held by the calling thread across its
// parallel loop; 41-44 and 46 used inside chunk bodies and by backward_filter (which callers run
// inside their own chunks); 45 backward_filter_batch's group partials (calling thread).
constexpr int kFilterTag = 40, kInputTag = 41, kProductTag = 42, kRowsTag = 43, kGradTag = 44, kPartialTag = 45,
              kFilterTempTag = 46;

// A stride-1 3x3 convolution as the tile loops see it: input [C, H, W] whose pixel (0, 0) sits at
// (pt, pl) of the zero-padded plane (a negative offset crops), output [F, OH, OW], covered by
// tiles_h x tiles_w tiles of m x m outputs.
struct Layout {
  std::int64_t m, alpha, taps;  // output tile side, input tile side m + 2, alpha^2
  std::int64_t c, f, h, w, oh, ow, pt, pl;
  std::int64_t tiles_h, tiles_w;
  std::int64_t q;      // columns of each of the m phases of a padded row: tiles_w + 1
  std::int64_t width;  // a padded row: m * q
  std::int64_t in_size() const { return c * h * w; }
  std::int64_t out_size() const { return f * oh * ow; }
};

Layout make_layout(std::int64_t m, std::int64_t c, std::int64_t f, std::int64_t h, std::int64_t w, std::int64_t oh,
                   std::int64_t ow, std::int64_t pt, std::int64_t pl) {
  Layout l{};
  l.m = m;
  l.alpha = m + 2;
  l.taps = l.alpha * l.alpha;
  l.c = c, l.f = f, l.h = h, l.w = w, l.oh = oh, l.ow = ow, l.pt = pt, l.pl = pl;
  l.tiles_h = (oh + m - 1) / m;
  l.tiles_w = (ow + m - 1) / m;
  // Tile tw reads padded columns tw*m .. tw*m + m + 1: phase j % m at column tw + j / m, j / m <= 1.
  l.q = l.tiles_w + 1;
  l.width = m * l.q;
  return l;
}

// The forward convolution's layout, and the input gradient's (the forward convolution of dy by
// the flipped, transposed filters, with padding 2 - pad).
Layout forward_layout(const ConvGeometry& g, Tile tile) {
  return make_layout(static_cast<std::int64_t>(tile), g.c, g.f, g.h, g.w, g.oh, g.ow, g.ph, g.pw);
}
Layout input_gradient_layout(const ConvGeometry& g, Tile tile) {
  return make_layout(static_cast<std::int64_t>(tile), g.f, g.c, g.oh, g.ow, g.h, g.w, 2 - g.ph, 2 - g.pw);
}

// Tile rows (of one or several images) per parallel chunk: enough tiles that the products are
// efficient GEMMs, few enough that a chunk's transformed inputs and products (1 MiB) stay in L2:
// ResNet-18's 64-channel 56x56 layer ran 1.3x faster than with 2 MiB, the others alike. From
// the shapes only.
constexpr std::int64_t kChunkFloats = std::int64_t{1} << 18;
constexpr std::int64_t kMinColumns = 64;
std::int64_t rows_per_chunk(const Layout& l) {
  const std::int64_t columns = std::max(kMinColumns, kChunkFloats / (l.taps * (l.c + l.f)));
  return std::max<std::int64_t>(1, (columns + l.tiles_w - 1) / l.tiles_w);
}

// ---- 1-D transforms over n lanes (tiles or columns), one fixed operation order each ----

// out_k = sum_j B^T[k][j] in_j (alpha inputs, alpha outputs).
template <int M> void input_1d(const float* const* in, float* const* out, std::int64_t n) {
  if constexpr (M == 2) {
    const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], a1 = d1[i], a2 = d2[i], a3 = d3[i];
      o0[i] = a0 - a2;
      o1[i] = a1 + a2;
      o2[i] = a2 - a1;
      o3[i] = a1 - a3;
    }
  } else {
    const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], a1 = d1[i], a2 = d2[i], a3 = d3[i], a4 = d4[i], a5 = d5[i];
      o0[i] = (a0 * 4.0f - a2 * 5.0f) + a4;
      o1[i] = (a3 + a4) - (a1 + a2) * 4.0f;
      o2[i] = (a4 - a3) + (a1 - a2) * 4.0f;
      o3[i] = (a4 - a2) + (a3 - a1) * 2.0f;
      o4[i] = (a4 - a2) - (a3 - a1) * 2.0f;
      o5[i] = (a1 * 4.0f - a3 * 5.0f) + a5;
    }
  }
}

// out_i = sum_k A^T[i][k] in_k (alpha inputs, m outputs).
template <int M> void output_1d(const float* const* in, float* const* out, std::int64_t n) {
  if constexpr (M == 2) {
    const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3];
    float *o0 = out[0], *o1 = out[1];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], a1 = d1[i], a2 = d2[i], a3 = d3[i];
      o0[i] = (a0 + a1) + a2;
      o1[i] = (a1 - a2) - a3;
    }
  } else {
    const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], s12 = d1[i] + d2[i], d12 = d1[i] - d2[i], s34 = d3[i] + d4[i], d34 = d3[i] - d4[i];
      o0[i] = (a0 + s12) + s34;
      o1[i] = d12 + d34 * 2.0f;
      o2[i] = s12 + s34 * 4.0f;
      o3[i] = (d12 + d34 * 8.0f) + d5[i];
    }
  }
}

// The adjoint of output_1d: out_k = sum_i A^T[i][k] in_i (m inputs, alpha outputs).
template <int M> void output_adjoint_1d(const float* const* in, float* const* out, std::int64_t n) {
  if constexpr (M == 2) {
    const float *d0 = in[0], *d1 = in[1];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], a1 = d1[i];
      o0[i] = a0;
      o1[i] = a0 + a1;
      o2[i] = a0 - a1;
      o3[i] = -a1;
    }
  } else {
    const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma GCC ivdep
    for (std::int64_t i = 0; i < n; ++i) {
      const float a0 = d0[i], a1 = d1[i], a2 = d2[i], a3 = d3[i];
      o0[i] = a0;
      o1[i] = (a0 + a1) + (a2 + a3);
      o2[i] = (a0 - a1) + (a2 - a3);
      o3[i] = (a0 + a1 * 2.0f) + (a2 * 4.0f + a3 * 8.0f);
      o4[i] = (a0 - a1 * 2.0f) + (a2 * 4.0f - a3 * 8.0f);
      o5[i] = a3;
    }
  }
}

// G [alpha x 3] of the filter transform G g G^T, in double.
template <int M> constexpr double kG[M + 2][3] = {};
template <> constexpr double kG<2>[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
template <>
constexpr double kG<4>[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

// ---- filters ----

// U [taps][F][C] = G g G^T of every filter g = w[f][c] (transposed: w[c][f] flipped in space, for
// the input gradient). Computed in double, vectorized over channels; filters in parallel chunks.
template <int M> void transform_filters(const Layout& l, const float* w, bool transposed, float* u) {
  constexpr int alpha = M + 2;
  const std::int64_t c_count = l.c, grain = std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, l.c * l.taps));
  parallel_chunks(l.f, grain, [&](std::int64_t f0, std::int64_t f1) {
    double* taps = scratch<double, kFilterTempTag>((9 + 3 * alpha) * c_count);  // [9][C], then [alpha][3][C]
    double* half = taps + 9 * c_count;
    for (std::int64_t f = f0; f < f1; ++f) {
      for (std::int64_t c = 0; c < c_count; ++c) {
        const float* g = transposed ? w + (c * l.f + f) * 9 : w + (f * l.c + c) * 9;
        for (int k = 0; k < 9; ++k) taps[k * c_count + c] = transposed ? g[8 - k] : g[k];
      }
      // half[k][b] = sum_a G[k][a] g[a][b]
      for (int k = 0; k < alpha; ++k)
        for (int b = 0; b < 3; ++b) {
          double* out = half + (k * 3 + b) * c_count;
          const double g0 = kG<M>[k][0], g1 = kG<M>[k][1], g2 = kG<M>[k][2];
          const double *t0 = taps + b * c_count, *t1 = taps + (3 + b) * c_count, *t2 = taps + (6 + b) * c_count;
#pragma GCC ivdep
          for (std::int64_t c = 0; c < c_count; ++c) out[c] = (g0 * t0[c] + g1 * t1[c]) + g2 * t2[c];
        }
      // U[k][l] = sum_b half[k][b] G[l][b]
      for (int k = 0; k < alpha; ++k)
        for (int j = 0; j < alpha; ++j) {
          float* out = u + ((k * alpha + j) * l.f + f) * c_count;
          const double g0 = kG<M>[j][0], g1 = kG<M>[j][1], g2 = kG<M>[j][2];
          const double *h0 = half + (k * 3) * c_count, *h1 = h0 + c_count, *h2 = h1 + c_count;
#pragma GCC ivdep
          for (std::int64_t c = 0; c < c_count; ++c) out[c] = static_cast<float>((h0[c] * g0 + h1[c] * g1) + h2[c] * g2);
        }
    }
  });
}

// dw [F][C][3][3] = G^T dU G of every dU [taps][F][C], in double, vectorized over channels.
template <int M> void untransform_filter_gradient(const Layout& l, const float* du, float* dw) {
  constexpr int alpha = M + 2;
  const std::int64_t c_count = l.c, tap_stride = l.f * l.c;
  double* half = scratch<double, kFilterTempTag>((3 * alpha + 9) * c_count);  // [alpha][3][C], then [9][C]
  double* taps = half + 3 * alpha * c_count;
  for (std::int64_t f = 0; f < l.f; ++f) {
    // half[k][b] = sum_j dU[k][j] G[j][b]
    for (int k = 0; k < alpha; ++k)
      for (int b = 0; b < 3; ++b) {
        double* out = half + (k * 3 + b) * c_count;
        std::fill(out, out + c_count, 0.0);
        for (int j = 0; j < alpha; ++j) {
          const double gj = kG<M>[j][b];
          const float* d = du + (k * alpha + j) * tap_stride + f * l.c;
#pragma GCC ivdep
          for (std::int64_t c = 0; c < c_count; ++c) out[c] += static_cast<double>(d[c]) * gj;
        }
      }
    // dw[a][b] = sum_k G[k][a] half[k][b]
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double* out = taps + (a * 3 + b) * c_count;
        std::fill(out, out + c_count, 0.0);
        for (int k = 0; k < alpha; ++k) {
          const double gk = kG<M>[k][a];
          const double* h = half + (k * 3 + b) * c_count;
#pragma GCC ivdep
          for (std::int64_t c = 0; c < c_count; ++c) out[c] += gk * h[c];
        }
      }
    float* out = dw + f * l.c * 9;
    for (std::int64_t c = 0; c < c_count; ++c)
      for (int t = 0; t < 9; ++t) out[c * 9 + t] = static_cast<float>(taps[t * c_count + c]);
  }
}

// ---- inputs, outputs, output gradients ----

// Padded rows th0*m .. th1*m + 1 of one input channel plane, each split into its m phases:
// rows[r][p][q] = padded[th0*m + r][q*m + p].
void pad_rows(const Layout& l, const float* plane, std::int64_t th0, std::int64_t th1, float* rows) {
  const std::int64_t count = (th1 - th0) * l.m + l.alpha - l.m;
  for (std::int64_t r = 0; r < count; ++r) {
    float* out = rows + r * l.width;
    const std::int64_t iy = th0 * l.m + r - l.pt;
    if (iy < 0 || iy >= l.h) {
      std::fill(out, out + l.width, 0.0f);
      continue;
    }
    const float* in = plane + iy * l.w;
    for (std::int64_t p = 0; p < l.m; ++p) {
      // Phase p, column q reads input column q*m + p - pl: inside the row for q in [first, last).
      float* phase = out + p * l.q;
      const std::int64_t offset = p - l.pl;
      const std::int64_t first = std::clamp<std::int64_t>(offset >= 0 ? 0 : (-offset + l.m - 1) / l.m, 0, l.q);
      const std::int64_t last = std::clamp<std::int64_t>(l.w - offset > 0 ? (l.w - offset + l.m - 1) / l.m : 0, first, l.q);
      std::fill(phase, phase + first, 0.0f);
      for (std::int64_t q = first; q < last; ++q) phase[q] = in[q * l.m + offset];
      std::fill(phase + last, phase + l.q, 0.0f);
    }
  }
}

// V [taps][C][ld] (columns from `column`) = B^T d B of the tiles of tile rows [u0, u1), counted
// over consecutive images (u = image * tiles_h + tile row) from x.
template <int M>
void transform_inputs(const Layout& l, const float* x, std::int64_t u0, std::int64_t u1, float* v, std::int64_t ld) {
  constexpr int alpha = M + 2;
  const std::int64_t max_rows = std::min(u1 - u0, l.tiles_h);
  float* rows = scratch<float, kRowsTag>((max_rows * M + alpha) * l.width + alpha * l.width);
  float* vertical = rows + (max_rows * M + alpha) * l.width;  // [alpha][width]
  for (std::int64_t u = u0; u < u1;) {
    const std::int64_t image = u / l.tiles_h, th0 = u % l.tiles_h, th1 = std::min(l.tiles_h, th0 + (u1 - u));
    for (std::int64_t c = 0; c < l.c; ++c) {
      pad_rows(l, x + image * l.in_size() + c * l.h * l.w, th0, th1, rows);
      for (std::int64_t th = th0; th < th1; ++th) {
        const float* in[alpha];
        float* out[alpha];
        for (int r = 0; r < alpha; ++r) in[r] = rows + ((th - th0) * M + r) * l.width;
        for (int k = 0; k < alpha; ++k) out[k] = vertical + k * l.width;
        input_1d<M>(in, out, l.width);
        const std::int64_t column = (u - u0 + th - th0) * l.tiles_w;
        for (int k = 0; k < alpha; ++k) {
          for (int j = 0; j < alpha; ++j) in[j] = vertical + k * l.width + (j % M) * l.q + j / M;
          for (int j = 0; j < alpha; ++j) out[j] = v + ((k * alpha + j) * l.c + c) * ld + column;
          input_1d<M>(in, out, l.tiles_w);
        }
      }
    }
    u += th1 - th0;
  }
}

// y of tile rows [u0, u1) = A^T M A of the products M [taps][F][ld], then the bias and epilogue
// as conv.cc's finish_outputs applies them.
template <int M>
void transform_outputs(const Layout& l, const float* product, std::int64_t ld, std::int64_t u0, std::int64_t u1,
                       const float* bias, const ChannelEpilogue* epilogue, float* y) {
  constexpr int alpha = M + 2;
  const std::int64_t tw = l.tiles_w, row_width = M * tw;
  float* horizontal = scratch<float, kRowsTag>(alpha * M * tw + M * M * tw + row_width);  // [alpha][M][tw]
  float* tile_rows = horizontal + alpha * M * tw;                                          // [M][M][tw]
  float* row = tile_rows + M * M * tw;
  for (std::int64_t u = u0; u < u1; ++u) {
    const std::int64_t image = u / l.tiles_h, th = u % l.tiles_h, column = (u - u0) * tw;
    const std::int64_t out_rows = std::min<std::int64_t>(M, l.oh - th * M);
    for (std::int64_t f = 0; f < l.f; ++f) {
      const float* in[alpha];
      float* out[alpha];
      for (int k = 0; k < alpha; ++k) {
        for (int j = 0; j < alpha; ++j) in[j] = product + ((k * alpha + j) * l.f + f) * ld + column;
        for (int i = 0; i < M; ++i) out[i] = horizontal + (k * M + i) * tw;
        output_1d<M>(in, out, tw);
      }
      for (int i = 0; i < M; ++i) {  // column i of every tile
        for (int k = 0; k < alpha; ++k) in[k] = horizontal + (k * M + i) * tw;
        for (int r = 0; r < M; ++r) out[r] = tile_rows + (r * M + i) * tw;
        output_1d<M>(in, out, tw);
      }
      float* plane = y + (image * l.f + f) * l.oh * l.ow;
      for (std::int64_t r = 0; r < out_rows; ++r) {
        for (std::int64_t t = 0; t < tw; ++t)
          for (int i = 0; i < M; ++i) row[t * M + i] = tile_rows[(r * M + i) * tw + t];
        float* dst = plane + (th * M + r) * l.ow;
        std::copy(row, row + l.ow, dst);
        if (bias)
          for (std::int64_t p = 0; p < l.ow; ++p) dst[p] += bias[f];
        if (epilogue) {
          if (epilogue->scale) {
            const double scale = epilogue->scale[f], shift = epilogue->shift[f];
            for (std::int64_t p = 0; p < l.ow; ++p) dst[p] = static_cast<float>(dst[p] * scale + shift);
          }
          if (epilogue->activation == Activation::relu)
            for (std::int64_t p = 0; p < l.ow; ++p) dst[p] = dst[p] > 0.0f ? dst[p] : 0.0f;
        }
      }
    }
  }
}

// D [taps][F][ld] = A dY A^T of the output-gradient tiles of tile rows [u0, u1) (zero past OH, OW).
template <int M>
void transform_output_gradients(const Layout& l, const float* dy, std::int64_t u0, std::int64_t u1, float* d,
                                std::int64_t ld) {
  constexpr int alpha = M + 2;
  const std::int64_t tw = l.tiles_w, width = M * tw;
  float* rows = scratch<float, kRowsTag>(M * width + alpha * width);  // [M][M phases][tw]
  float* vertical = rows + M * width;                                  // [alpha][M phases][tw]
  for (std::int64_t u = u0; u < u1; ++u) {
    const std::int64_t image = u / l.tiles_h, th = u % l.tiles_h, column = (u - u0) * tw;
    for (std::int64_t f = 0; f < l.f; ++f) {
      const float* plane = dy + (image * l.f + f) * l.oh * l.ow;
      for (std::int64_t i = 0; i < M; ++i) {
        float* out = rows + i * width;
        const std::int64_t oy = th * M + i;
        if (oy >= l.oh) {
          std::fill(out, out + width, 0.0f);
          continue;
        }
        for (std::int64_t p = 0; p < M; ++p)
          for (std::int64_t t = 0; t < tw; ++t) {
            const std::int64_t ox = t * M + p;
            out[p * tw + t] = ox < l.ow ? plane[oy * l.ow + ox] : 0.0f;
          }
      }
      const float* in[alpha];
      float* out[alpha];
      for (int i = 0; i < M; ++i) in[i] = rows + i * width;
      for (int k = 0; k < alpha; ++k) out[k] = vertical + k * width;
      output_adjoint_1d<M>(in, out, width);
      for (int k = 0; k < alpha; ++k) {
        for (int p = 0; p < M; ++p) in[p] = vertical + k * width + p * tw;
        for (int j = 0; j < alpha; ++j) out[j] = d + ((k * alpha + j) * l.f + f) * ld + column;
        output_adjoint_1d<M>(in, out, tw);
      }
    }
  }
}

// ---- passes ----

template <int M>
void convolve(const Layout& l, std::int64_t images, const float* x, const float* w, bool transposed, const float* bias,
              const ChannelEpilogue* epilogue, float* y) {
  if (images <= 0) return;
  float* u = scratch<float, kFilterTag>(l.taps * l.f * l.c);  // calling thread's; see scratch.h
  transform_filters<M>(l, w, transposed, u);
  auto tile_rows = [&](std::int64_t u0, std::int64_t u1) {
    const std::int64_t columns = (u1 - u0) * l.tiles_w;
    float* v = scratch<float, kInputTag>(l.taps * l.c * columns);
    float* product = scratch<float, kProductTag>(l.taps * l.f * columns);
    transform_inputs<M>(l, x, u0, u1, v, columns);
    for (std::int64_t t = 0; t < l.taps; ++t)
      gemm<float>(false, false, l.f, columns, l.c, 1.0f, u + t * l.f * l.c, l.c, v + t * l.c * columns, columns, 0.0f,
                  product + t * l.f * columns, columns);
    transform_outputs<M>(l, product, columns, u0, u1, bias, epilogue, y);
  };
  // A chunk holds tile rows of one image, or whole images in aligned blocks of 1, 2 or 4 (a
  // divisor of kImagesPerGroup): an image's GEMM columns then sit at the same place whichever
  // slice of the batch the run computes (OpenBLAS may round a column by its place in the block),
  // so a data-parallel slice gives its images bitwise what the whole batch gives them.
  const std::int64_t rows = rows_per_chunk(l);
  if (rows >= l.tiles_h) {
    std::int64_t per_chunk = 1;
    while (2 * per_chunk <= kImagesPerGroup && kImagesPerGroup % (2 * per_chunk) == 0 && 2 * per_chunk * l.tiles_h <= rows)
      per_chunk *= 2;
    parallel_chunks(images, per_chunk, [&](std::int64_t i0, std::int64_t i1) { tile_rows(i0 * l.tiles_h, i1 * l.tiles_h); });
  } else {
    const std::int64_t blocks = (l.tiles_h + rows - 1) / rows;
    parallel_chunks(images * blocks, 1, [&](std::int64_t b, std::int64_t) {
      const std::int64_t first = (b / blocks) * l.tiles_h, r0 = (b % blocks) * rows;
      tile_rows(first + r0, first + std::min(l.tiles_h, r0 + rows));
    });
  }
}

template <int M> void filter_gradient(const Layout& l, std::int64_t images, const float* x, const float* dy, float* dw) {
  float* du = scratch<float, kGradTag>(l.taps * l.f * l.c);
  const std::int64_t units = images * l.tiles_h, per_block = rows_per_chunk(l);
  // Blocks of tile rows in order, each one GEMM per tap accumulated into dU.
  for (std::int64_t u0 = 0; u0 < units; u0 += per_block) {
    const std::int64_t u1 = std::min(units, u0 + per_block), columns = (u1 - u0) * l.tiles_w;
    float* v = scratch<float, kInputTag>(l.taps * l.c * columns);
    float* d = scratch<float, kProductTag>(l.taps * l.f * columns);
    transform_inputs<M>(l, x, u0, u1, v, columns);
    transform_output_gradients<M>(l, dy, u0, u1, d, columns);
    for (std::int64_t t = 0; t < l.taps; ++t)
      gemm<float>(false, true, l.f, l.c, columns, 1.0f, d + t * l.f * columns, columns, v + t * l.c * columns, columns,
                  u0 == 0 ? 0.0f : 1.0f, du + t * l.f * l.c, l.c);
  }
  untransform_filter_gradient<M>(l, du, dw);
}

void check(const ConvGeometry& g, const char* pass) {
  if (!applies(g))
    fail("Winograd convolution ", pass, ": needs a 3x3 filter, stride 1, dilation 1, one group and non-negative padding; got ",
         g.kh, "x", g.kw, " filter, stride ", g.sh, "x", g.sw, ", dilation ", g.dh, "x", g.dw, ", ", g.groups,
         " groups, input ", g.c, "x", g.h, "x", g.w, " to ", g.f, "x", g.oh, "x", g.ow);
}

}  // namespace

bool applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 && g.ph >= 0 &&
         g.pw >= 0 && g.ph_end >= 0 && g.pw_end >= 0 && g.c >= 1 && g.f >= 1 && g.h >= 1 && g.w >= 1 && g.oh >= 1 &&
         g.ow >= 1 && g.n >= 0;
}

void forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
             const ChannelEpilogue* epilogue, Tile tile) {
  check(g, "forward");
  const Layout l = forward_layout(g, tile);
  if (tile == Tile::f2x2) convolve<2>(l, g.n, x, w, false, bias, epilogue, y);
  else convolve<4>(l, g.n, x, w, false, bias, epilogue, y);
}

void backward_input(const ConvGeometry& g, const float* dy, const float* w, float* dx, Tile tile) {
  check(g, "input gradient");
  const Layout l = input_gradient_layout(g, tile);
  if (tile == Tile::f2x2) convolve<2>(l, g.n, dy, w, true, nullptr, nullptr, dx);
  else convolve<4>(l, g.n, dy, w, true, nullptr, nullptr, dx);
}

void backward_filter(const ConvGeometry& g, const float* x, const float* dy, std::int64_t images, float* dw, Tile tile) {
  check(g, "filter gradient");
  const Layout l = forward_layout(g, tile);
  if (images <= 0) {
    std::fill(dw, dw + g.f * g.c * 9, 0.0f);
    return;
  }
  if (tile == Tile::f2x2) filter_gradient<2>(l, images, x, dy, dw);
  else filter_gradient<4>(l, images, x, dy, dw);
}

void backward_filter_batch(const ConvGeometry& g, const float* x, const float* dy, float* dw, Tile tile) {
  check(g, "filter gradient");
  const std::int64_t groups = batch_groups(g.n), dw_size = g.f * g.c * 9;
  const std::int64_t in_size = g.c * g.h * g.w, out_size = g.f * g.oh * g.ow;
  if (groups <= 1) {
    backward_filter(g, x, dy, g.n, dw, tile);
    return;
  }
  float* partial = scratch<float, kPartialTag>(groups * dw_size);  // calling thread's
  parallel_chunks(groups, 1, [&](std::int64_t group, std::int64_t) {
    const std::int64_t first = group * kImagesPerGroup, count = std::min(g.n - first, kImagesPerGroup);
    backward_filter(g, x + first * in_size, dy + first * out_size, count, partial + group * dw_size, tile);
  });
  parallel_chunks(dw_size, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    tree_combine(partial + begin, groups, dw_size, end - begin);
    std::copy(partial + begin, partial + end, dw + begin);
  });
}

}  // namespace dagrad::kernels::winograd

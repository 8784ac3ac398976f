#include "ops/kernels/conv.h"

#include <atomic>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "ops/kernels/batch_groups.h"
#include "ops/kernels/conv_depthwise.h"
#include "ops/kernels/conv_direct.h"
#include "ops/kernels/conv_winograd.h"
#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/scratch.h"

namespace dagrad::kernels {
namespace {

// One image (of the geometry's c channels) zero-padded to [C, PH, PW] (the pads before and after
// each dim), so that every im2col row is a plain strided copy with no bounds tests (short per-row
// copies with edge tests cost more than the GEMM).
template <class T> const T* padded_image(const ConvGeometry& g, const T* x, T* padded) {
  const std::int64_t hp = g.padded_h(), wp = g.padded_w();
  if (hp == g.h && wp == g.w) return x;
  std::fill(padded, padded + g.c * hp * wp, T(0));
  for (std::int64_t c = 0; c < g.c; ++c)
    for (std::int64_t y = 0; y < g.h; ++y) {
      const T* in = x + (c * g.h + y) * g.w;
      T* out = padded + (c * hp + y + g.ph) * wp + g.pw;
      for (std::int64_t i = 0; i < g.w; ++i) out[i] = in[i];
    }
  return padded;
}

// Rows (c, i, j) and columns (oy, ox) of the im2col matrix of one image: the input value under
// kernel tap (i, j) (dilated: i * dh, j * dw) of output pixel (oy, ox), or 0 in the padding. Row r
// starts at col + r * ld. Reads the geometry's c channels from x (a group's slice of an image).
template <class T> void im2col(const ConvGeometry& g, const T* x, T* col, std::int64_t ld) {
  const std::int64_t hp = g.padded_h(), wp = g.padded_w();
  const T* padded = padded_image(g, x, scratch<T, 2>(g.c * hp * wp));
  const std::int64_t ow = g.ow, sw = g.sw;
  for (std::int64_t c = 0; c < g.c; ++c)
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          const T* in = padded + (c * hp + oy * g.sh + i * g.dh) * wp + j * g.dw;
          T* out = row + oy * ow;
          if (sw == 1) {
            for (std::int64_t ox = 0; ox < ow; ++ox) out[ox] = in[ox];
          } else {
            for (std::int64_t ox = 0; ox < ow; ++ox) out[ox] = in[ox * sw];
          }
        }
      }
}

// The adjoint of im2col: adds every column entry back onto the input pixel it was read from (in a
// padded image whose interior is then copied out), in a fixed order.
template <class T> void col2im(const ConvGeometry& g, const T* col, std::int64_t ld, T* x) {
  const std::int64_t hp = g.padded_h(), wp = g.padded_w();
  const bool pads = hp != g.h || wp != g.w;
  T* padded = pads ? scratch<T, 2>(g.c * hp * wp) : x;
  std::fill(padded, padded + g.c * hp * wp, T(0));
  const std::int64_t ow = g.ow, sw = g.sw;
  for (std::int64_t c = 0; c < g.c; ++c)
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          T* out = padded + (c * hp + oy * g.sh + i * g.dh) * wp + j * g.dw;
          const T* in = row + oy * ow;
          if (sw == 1) {
            for (std::int64_t ox = 0; ox < ow; ++ox) out[ox] += in[ox];
          } else {
            for (std::int64_t ox = 0; ox < ow; ++ox) out[ox * sw] += in[ox];
          }
        }
      }
  if (!pads) return;
  for (std::int64_t c = 0; c < g.c; ++c)
    for (std::int64_t y = 0; y < g.h; ++y) {
      const T* in = padded + (c * hp + y + g.ph) * wp + g.pw;
      T* out = x + (c * g.h + y) * g.w;
      for (std::int64_t i = 0; i < g.w; ++i) out[i] = in[i];
    }
}

// One group of a grouped convolution as a convolution of its own: Cg channels, Fg filters. Its
// slices of x, w and y are contiguous within each image (x_group, w_group and y_group apart).
ConvGeometry group_view(const ConvGeometry& g) {
  ConvGeometry v = g;
  v.c = g.group_channels();
  v.f = g.group_filters();
  v.groups = 1;
  return v;
}

// Where a group's slices of x, y and w start relative to the image's (or w's) first element.
struct GroupSlices {
  explicit GroupSlices(const ConvGeometry& g)
      : view(group_view(g)), patch(view.patch_size()), pixels(g.out_pixels()), x_group(view.c * g.h * g.w),
        y_group(view.f * pixels), w_group(view.f * patch) {}
  ConvGeometry view;
  std::int64_t patch, pixels, x_group, y_group, w_group;
};

// (image, group) pairs per parallel chunk: about 64k multiply-adds each, from the shape only.
std::int64_t group_grain(const ConvGeometry& g) {
  const std::int64_t work = std::max<std::int64_t>(1, g.group_filters() * g.patch_size() * g.out_pixels());
  return std::max<std::int64_t>(1, (std::int64_t{1} << 16) / work);
}

// Images per GEMM: enough output pixels side by side for an efficient product even on small maps
// (7x7), at most one canonical group (batch_groups.h) and a power of two, so the GEMMs are aligned
// blocks of the group: BLAS rounds a column differently with its place in the product, and a run
// over an aligned slice of the batch must see the same blocks as the whole batch. A function of the
// shape only, so the arithmetic does not depend on the thread count either.
inline std::int64_t images_per_gemm(const ConvGeometry& g) {
  constexpr std::int64_t kMinColumns = 256;
  const std::int64_t pixels = std::max<std::int64_t>(1, g.out_pixels());
  const std::int64_t wanted = (kMinColumns + pixels - 1) / pixels;
  std::int64_t images = 1;
  while (images * 2 <= std::min(wanted, kImagesPerGroup)) images *= 2;
  return std::clamp<std::int64_t>(images, 1, std::max<std::int64_t>(1, g.n));
}

// Filter gradients with at least this many elements are split by filter rows instead.
constexpr std::int64_t kRowSplitElements = std::int64_t{1} << 18;
constexpr std::int64_t kFilterRowBlock = 64;

// Adds the bias and applies the epilogue to `images` consecutive output images [F, OH, OW].
template <class T>
void finish_outputs(const ConvGeometry& g, const T* bias, const ChannelEpilogue* epilogue, T* y, std::int64_t images) {
  const std::int64_t pixels = g.out_pixels();
  if (bias)
    for (std::int64_t j = 0; j < images; ++j)
      for (std::int64_t f = 0; f < g.f; ++f) {
        T* row = y + (j * g.f + f) * pixels;
        for (std::int64_t p = 0; p < pixels; ++p) row[p] += bias[f];
      }
  if (epilogue)
    for (std::int64_t j = 0; j < images; ++j)
      for (std::int64_t f = 0; f < g.f; ++f) {
        T* row = y + (j * g.f + f) * pixels;
        if (epilogue->scale) {
          const double scale = epilogue->scale[f], shift = epilogue->shift[f];
          for (std::int64_t p = 0; p < pixels; ++p) row[p] = static_cast<T>(row[p] * scale + shift);
        }
        if (epilogue->activation == Activation::relu)
          for (std::int64_t p = 0; p < pixels; ++p) row[p] = row[p] > T(0) ? row[p] : T(0);
      }
}

}  // namespace


template <class T> void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  conv_forward<T>(g, x, w, bias, y, nullptr);
}

namespace {
std::atomic<ConvPath> forced_path{ConvPath::automatic};

// Whether a pass with this direct method takes the direct kernels (which assume a plain geometry).
bool use_direct(const ConvGeometry& g, direct::Method method, const char* pass) {
  if (!g.plain()) method = direct::Method::none;
  switch (forced_path.load(std::memory_order_relaxed)) {
    case ConvPath::im2col: return false;
    case ConvPath::winograd: break;
    case ConvPath::direct:
      if (method == direct::Method::none)
        fail("convolution path forced to direct, but the ", pass,
             " has no direct kernel for this geometry on the ", isa_name(active_isa()),
             " path (the baseline path has none; otherwise a 1x1 filter, groups, dilation or uneven padding)");
      return true;
    case ConvPath::automatic: break;
  }
  return method != direct::Method::none;
}
// Winograd F(2x2, 3x3) (conv_winograd.h) for the stride-1 3x3 layers where it measured faster
// than the direct kernels and im2col + sgemm (bench/dagrad_bench_winograd, AVX-512, OpenBLAS
// SkylakeX kernels): ResNet-18's 128- and 256-channel stages, 1.0-1.6x in all three passes. On
// narrower layers (resnet_ref's 16-64 channels, ResNet-18's 64) the direct kernels are 1.6-2.7x
// faster, and on 7x7 maps the transforms cost more than they save. The input gradient is the
// forward convolution of dy, so it follows the same rule through conv_forward.
bool use_winograd(const ConvGeometry& g) {
  if (!winograd::applies(g)) return false;
  switch (forced_path.load(std::memory_order_relaxed)) {
    case ConvPath::winograd: return true;
    case ConvPath::automatic: return g.c >= 128 && g.f >= 128 && g.ow >= 14 && g.oh >= 14;
    default: return false;
  }
}
// Depthwise 3x3 convolutions take their own kernels unless the general path is forced.
bool use_depthwise(const ConvGeometry& g) {
  return g.depthwise() && forced_path.load(std::memory_order_relaxed) != ConvPath::im2col && depthwise3x3_applies(g);
}

// Grouped convolutions: each (image, group) pair is an ungrouped convolution of the group's slices.
template <class T>
void grouped_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, const ChannelEpilogue* epilogue) {
  const GroupSlices slices(g);
  const ConvGeometry& v = slices.view;
  const std::int64_t patch = slices.patch, pixels = slices.pixels;
  const std::int64_t x_group = slices.x_group, y_group = slices.y_group, w_group = slices.w_group;
  parallel_chunks(g.n * g.groups, group_grain(g), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t n = i / g.groups, group = i % g.groups;
      const T* xg = x + n * g.c * g.h * g.w + group * x_group;
      T* yg = y + n * g.f * pixels + group * y_group;
      const T* cols = xg;
      if (!v.pointwise()) {
        T* col = scratch<T, 0>(patch * pixels);
        im2col(v, xg, col, pixels);
        cols = col;
      }
      gemm<T>(false, false, v.f, pixels, patch, T(1), w + group * w_group, patch, cols, pixels, T(0), yg, pixels);
    }
  });
  if (bias || epilogue)
    parallel_chunks(g.n, 1, [&](std::int64_t n, std::int64_t) { finish_outputs(g, bias, epilogue, y + n * g.f * pixels, 1); });
}

template <class T> void grouped_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  const GroupSlices slices(g);
  const ConvGeometry& v = slices.view;
  const std::int64_t patch = slices.patch, pixels = slices.pixels;
  const std::int64_t x_group = slices.x_group, y_group = slices.y_group, w_group = slices.w_group;
  parallel_chunks(g.n * g.groups, group_grain(g), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t n = i / g.groups, group = i % g.groups;
      const T* dyg = dy + n * g.f * pixels + group * y_group;
      T* dxg = dx + n * g.c * g.h * g.w + group * x_group;
      if (v.pointwise()) {  // the column gradient w^T dy is dx itself
        gemm<T>(true, false, patch, pixels, v.f, T(1), w + group * w_group, patch, dyg, pixels, T(0), dxg, pixels);
        continue;
      }
      T* col = scratch<T, 0>(patch * pixels);
      gemm<T>(true, false, patch, pixels, v.f, T(1), w + group * w_group, patch, dyg, pixels, T(0), col, pixels);
      col2im(v, col, pixels, dxg);
    }
  });
}

// Each group's filter gradient sums the images in order: groups in parallel, no partial sums.
template <class T> void grouped_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  const GroupSlices slices(g);
  const ConvGeometry& v = slices.view;
  const std::int64_t patch = slices.patch, pixels = slices.pixels;
  const std::int64_t x_group = slices.x_group, y_group = slices.y_group, w_group = slices.w_group;
  const std::int64_t grain = std::max<std::int64_t>(1, group_grain(g) / std::max<std::int64_t>(1, g.n));
  parallel_chunks(g.groups, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t group = begin; group < end; ++group) {
      T* dwg = dw + group * w_group;
      for (std::int64_t n = 0; n < g.n; ++n) {
        const T* xg = x + n * g.c * g.h * g.w + group * x_group;
        const T* dyg = dy + n * g.f * pixels + group * y_group;
        const T* cols = xg;
        if (!v.pointwise()) {
          T* col = scratch<T, 0>(patch * pixels);
          im2col(v, xg, col, pixels);
          cols = col;
        }
        gemm<T>(false, true, v.f, patch, pixels, T(1), dyg, pixels, cols, pixels, n == 0 ? T(0) : T(1), dwg, patch);
      }
    }
  });
}

}  // namespace

void set_conv_path_for_testing(ConvPath path) { forced_path.store(path, std::memory_order_relaxed); }

template <class T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, const ChannelEpilogue* epilogue) {
  if (use_depthwise(g)) {
    depthwise3x3_forward<T>(g, x, w, bias, y, epilogue);
    return;
  }
  if (g.groups > 1) {
    grouped_forward<T>(g, x, w, bias, y, epilogue);
    return;
  }
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  if constexpr (std::is_same_v<T, float>) {
    if (use_winograd(g)) {
      winograd::forward(g, x, w, bias, y, epilogue);
      return;
    }
    if (use_direct(g, direct::forward_method(g), "forward pass")) {
      // Packed once here, on the calling thread, and read by every image's chunk.
      float* packed = scratch<float, 5>(direct::packed_filter_size(g));
      direct::pack_filters(g, w, packed);
      parallel_chunks(g.n, 1, [&](std::int64_t n, std::int64_t) {
        float* yn = y + n * g.f * pixels;
        direct::forward_packed(g, x + n * in_size, packed, yn);
        finish_outputs(g, bias, epilogue, yn, 1);
      });
      return;
    }
  }
  const std::int64_t per_gemm = images_per_gemm(g);
  parallel_chunks(g.n, per_gemm, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t images = end - begin, ld = images * pixels;
    T* yn = y + begin * g.f * pixels;
    if (images == 1 && g.pointwise()) {
      gemm<T>(false, false, g.f, pixels, patch, T(1), w, patch, x + begin * in_size, pixels, T(0), yn, pixels);
    } else {
      // im2col of the images side by side: [patch, images * pixels].
      T* col = scratch<T, 0>(patch * ld);
      for (std::int64_t j = 0; j < images; ++j) im2col(g, x + (begin + j) * in_size, col + j * pixels, ld);
      if (images == 1) {
        gemm<T>(false, false, g.f, pixels, patch, T(1), w, patch, col, ld, T(0), yn, pixels);
      } else {
        T* product = scratch<T, 1>(g.f * ld);  // [F, images * pixels], then scattered to NCHW
        gemm<T>(false, false, g.f, ld, patch, T(1), w, patch, col, ld, T(0), product, ld);
        for (std::int64_t j = 0; j < images; ++j)
          for (std::int64_t f = 0; f < g.f; ++f)
            std::copy(product + f * ld + j * pixels, product + f * ld + (j + 1) * pixels, yn + (j * g.f + f) * pixels);
      }
    }
    finish_outputs(g, bias, epilogue, yn, images);
  });
}

template <class T> void conv_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  if (use_depthwise(g)) {
    depthwise3x3_backward_input<T>(g, dy, w, dx);
    return;
  }
  if (g.groups > 1) {
    grouped_backward_input<T>(g, dy, w, dx);
    return;
  }
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  // A stride-1 convolution's input gradient is the forward convolution of dy (padded by
  // k - 1 - pad) with the filters flipped in space and transposed in channels: an im2col + GEMM of
  // the forward's shape instead of a GEMM with only F terms per output and a scattering col2im.
  // Its GEMM has C rows, so it pays only with enough input channels.
  if (g.plain() && g.sh == 1 && g.sw == 1 && !g.pointwise() && g.ph <= g.kh - 1 && g.pw <= g.kw - 1 && g.f > 0 &&
      g.c >= 8) {
    ConvGeometry t = g;
    t.c = g.f;
    t.h = g.oh;
    t.w = g.ow;
    t.f = g.c;
    t.ph = t.ph_end = g.kh - 1 - g.ph;
    t.pw = t.pw_end = g.kw - 1 - g.pw;
    t.oh = g.h;
    t.ow = g.w;
    T* flipped = scratch<T, 6>(g.c * g.f * g.kh * g.kw);  // calling thread's; see scratch.h
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t c = 0; c < g.c; ++c)
        for (std::int64_t i = 0; i < g.kh; ++i)
          for (std::int64_t j = 0; j < g.kw; ++j)
            flipped[((c * g.f + f) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)] = w[((f * g.c + c) * g.kh + i) * g.kw + j];
    conv_forward<T>(t, dy, flipped, nullptr, dx);
    return;
  }
  const std::int64_t per_gemm = images_per_gemm(g);
  parallel_chunks(g.n, per_gemm, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t images = end - begin, ld = images * pixels;
    const T* dyn = dy + begin * g.f * pixels;
    if (images == 1 && g.pointwise()) {  // the column gradient w^T dy is dx itself
      gemm<T>(true, false, patch, pixels, g.f, T(1), w, patch, dyn, pixels, T(0), dx + begin * in_size, pixels);
      return;
    }
    const T* dy_columns = dyn;  // [F, images * pixels]
    if (images > 1) {
      T* gathered = scratch<T, 1>(g.f * ld);
      for (std::int64_t j = 0; j < images; ++j)
        for (std::int64_t f = 0; f < g.f; ++f)
          std::copy(dyn + (j * g.f + f) * pixels, dyn + (j * g.f + f + 1) * pixels, gathered + f * ld + j * pixels);
      dy_columns = gathered;
    }
    T* col = scratch<T, 0>(patch * ld);
    gemm<T>(true, false, patch, ld, g.f, T(1), w, patch, dy_columns, ld, T(0), col, ld);
    for (std::int64_t j = 0; j < images; ++j) {
      T* dxn = dx + (begin + j) * in_size;
      if (g.pointwise()) {
        for (std::int64_t c = 0; c < g.c; ++c) std::copy(col + c * ld + j * pixels, col + c * ld + (j + 1) * pixels, dxn + c * pixels);
      } else {
        col2im(g, col + j * pixels, ld, dxn);
      }
    }
  });
}

namespace {

// dw = the filter gradient of the g.n (at most kImagesPerGroup) images of one canonical group,
// summed in image order; every path's arithmetic is a function of the group's shapes alone.
template <class T> void group_filter_gradient(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  const std::int64_t dw_size = g.f * patch;
  if (use_depthwise(g)) {
    depthwise3x3_backward_filter<T>(g, x, dy, dw);
    return;
  }
  if (g.groups > 1) {
    grouped_backward_filter<T>(g, x, dy, dw);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (use_winograd(g)) {
      winograd::backward_filter(g, x, dy, g.n, dw);
      return;
    }
    if (use_direct(g, direct::filter_gradient_method(g), "filter gradient")) {
      direct::backward_filter(g, x, dy, g.n, dw);
      return;
    }
  }
  const std::int64_t per_gemm = images_per_gemm(g);
  // Blocks of filter rows in parallel (the whole gradient in one block when it is small), each
  // summing the images in order, in GEMMs of per_gemm images.
  const std::int64_t row_block = dw_size >= kRowSplitElements && g.f >= 2 * kFilterRowBlock ? kFilterRowBlock : g.f;
  parallel_chunks(g.f, row_block, [&](std::int64_t f0, std::int64_t f1) {
    const std::int64_t rows = f1 - f0;
    for (std::int64_t start = 0; start < g.n; start += per_gemm) {
      const std::int64_t images = std::min(per_gemm, g.n - start), ld = images * pixels;
      const T* dy_columns = dy + (start * g.f + f0) * pixels;
      if (images > 1) {
        T* gathered = scratch<T, 1>(rows * ld);
        for (std::int64_t j = 0; j < images; ++j)
          for (std::int64_t f = f0; f < f1; ++f) {
            const T* src = dy + ((start + j) * g.f + f) * pixels;
            std::copy(src, src + pixels, gathered + (f - f0) * ld + j * pixels);
          }
        dy_columns = gathered;
      }
      const T* cols = x + start * in_size;
      if (images > 1 || !g.pointwise()) {
        T* col = scratch<T, 0>(patch * ld);
        for (std::int64_t j = 0; j < images; ++j) im2col(g, x + (start + j) * in_size, col + j * pixels, ld);
        cols = col;
      }
      gemm<T>(false, true, rows, patch, ld, T(1), dy_columns, ld, cols, ld, start == 0 ? T(0) : T(1), dw + f0 * patch, patch);
    }
  });
}

}  // namespace

// The canonical batch reduction (batch_groups.h): one partial per group of images, combined in
// the fixed tree, so a run over an aligned slice of the batch computes a subtree of the whole sum.
template <class T> void conv_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  const std::int64_t pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  const std::int64_t dw_size = g.f * g.patch_size();
  if (dw_size == 0) return;
  canonical_batch_sum<T>(g.n, dw_size, dw, [&](std::int64_t first, std::int64_t count, T* node) {
    ConvGeometry part = g;
    part.n = count;
    group_filter_gradient<T>(part, x + first * in_size, dy + first * g.f * pixels, node);
  });
}

#define DAGRAD_INSTANTIATE_CONV(T)                                                                \
  template void conv_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*);           \
  template void conv_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*, const ChannelEpilogue*); \
  template void conv_backward_input<T>(const ConvGeometry&, const T*, const T*, T*);              \
  template void conv_backward_filter<T>(const ConvGeometry&, const T*, const T*, T*);
DAGRAD_INSTANTIATE_CONV(float)
DAGRAD_INSTANTIATE_CONV(double)
#undef DAGRAD_INSTANTIATE_CONV

}  // namespace dagrad::kernels

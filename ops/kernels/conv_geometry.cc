// Shape validation and geometry of convolutions. Kept apart from the kernels in conv.cc because
// it is cold, string-heavy code: the kernels are built at -O3, where GCC 12 reports false
// -Wrestrict warnings inside std::string concatenation (GCC bug 105329).
#include <limits>
#include <string>
#include <vector>

#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::kernels {
namespace {

std::string joined(std::span<const std::int64_t> dims, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? separator : "") + std::to_string(dims[i]);
  return s;
}
std::string bracketed(std::span<const std::int64_t> dims) { return "[" + joined(dims, ",") + "]"; }

}  // namespace

ConvGeometry conv_geometry(const InferContext& c, const Shape& x, const Shape& w, const ConvSpec& spec) {
  const std::size_t spatial = spec.stride.size();
  const std::size_t rank = spatial + 2;
  const char* x_layout = spatial == 1 ? "[N,C,L]" : "[N,C,H,W]";
  const char* w_layout = spatial == 1 ? "[F,C/groups,K]" : "[F,C/groups,KH,KW]";
  if (x.size() != rank)
    c.fail("x must have rank ", rank, " ", x_layout, ", got shape ", to_string(x), " of rank ", x.size());
  if (w.size() != rank)
    c.fail("filter must have rank ", rank, " ", w_layout, ", got shape ", to_string(w), " of rank ", w.size());
  for (std::int64_t d : x)
    if (d < 0) c.fail("x shape ", to_string(x), " has a negative dim");
  for (std::int64_t d : w)
    if (d < 0) c.fail("filter shape ", to_string(w), " has a negative dim");
  if (spec.pad.size() != spatial && spec.pad.size() != 2 * spatial)
    c.fail("pad must have ", spatial, " values (both sides) or ", 2 * spatial, " (", spatial == 1 ? "[left,right]" : "[top,left,bottom,right]",
           "), got ", bracketed(spec.pad));
  if (!spec.dilation.empty() && spec.dilation.size() != spatial)
    c.fail("dilation must have ", spatial, " values, got ", bracketed(spec.dilation));
  if (spec.groups < 1) c.fail("groups must be at least 1, got ", spec.groups);
  if (x[1] % spec.groups != 0 || w[0] % spec.groups != 0)
    c.fail("groups ", spec.groups, " must divide both the ", x[1], " channels of x ", to_string(x), " and the ", w[0],
           " filters of ", to_string(w));
  if (x[1] / spec.groups != w[1])
    c.fail("x ", to_string(x), " has ", x[1], " channels", spec.groups > 1 ? " in " + std::to_string(spec.groups) + " groups" : "",
           " but the filter ", to_string(w), " expects ", w[1], " channels", spec.groups > 1 ? " per group" : "",
           spec.groups > 1 ? " (" + std::to_string(x[1] / spec.groups) + " per group)" : "");
  for (std::int64_t p : spec.pad)
    if (p < 0) c.fail("pad must be non-negative, got ", bracketed(spec.pad));
  for (std::size_t i = 0; i < spatial; ++i) {
    if (spec.stride[i] <= 0) c.fail("stride must be positive, got ", bracketed(spec.stride));
    if (!spec.dilation.empty() && spec.dilation[i] <= 0) c.fail("dilation must be positive, got ", bracketed(spec.dilation));
    if (w[2 + i] < 1) c.fail("filter ", to_string(w), " has an empty kernel");
  }
  std::vector<std::int64_t> input(x.begin() + 2, x.end()), kernel(w.begin() + 2, w.end()), padded(spatial), extent(spatial);
  const std::int64_t big = std::numeric_limits<std::int64_t>::max() / 4;
  for (std::size_t i = 0; i < spatial; ++i) {
    const std::int64_t begin = spec.pad[i], end = spec.pad[spec.pad.size() == spatial ? i : spatial + i];
    if (begin > big || end > big || input[i] > big) c.fail("pad ", bracketed(spec.pad), " is too large");
    padded[i] = input[i] + begin + end;
    const std::int64_t dilation = spec.dilation.empty() ? 1 : spec.dilation[i];
    if (dilation > big / std::max<std::int64_t>(1, kernel[i])) c.fail("dilation ", bracketed(spec.dilation), " is too large");
    extent[i] = dilation * (kernel[i] - 1) + 1;
  }
  for (std::size_t i = 0; i < spatial; ++i)
    if (extent[i] > padded[i])
      c.fail("kernel ", joined(kernel, "x"), " of filter ", to_string(w),
             extent == kernel ? "" : " dilated by " + bracketed(spec.dilation) + " (extent " + joined(extent, "x") + ")",
             " is larger than the padded input ", joined(padded, "x"), " (input ", joined(input, "x"), " of x ",
             to_string(x), ", pad ", bracketed(spec.pad), ")");

  ConvGeometry g = conv_geometry(x, w, spec);
  Shape out = conv_output_shape(g, static_cast<int>(spatial));
  try {
    element_count(out);
    element_count({g.c, g.kh, g.kw, g.oh, g.ow});  // the im2col buffer of one image
  } catch (const Error& e) {
    c.fail("the convolution is too large: ", e.what());
  }
  return g;
}

ConvGeometry conv_geometry(const InferContext& c, const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad) {
  return conv_geometry(c, x, w, ConvSpec{.stride = stride, .pad = pad});
}

ConvGeometry conv_geometry(const Shape& x, const Shape& w, const ConvSpec& spec) {
  const std::size_t spatial = spec.stride.size();
  auto end_pad = [&](std::size_t i) { return spec.pad[spec.pad.size() == spatial ? i : spatial + i]; };
  auto dilation = [&](std::size_t i) { return spec.dilation.empty() ? std::int64_t{1} : spec.dilation[i]; };
  ConvGeometry g;
  g.n = x[0];
  g.c = x[1];
  g.f = w[0];
  g.groups = spec.groups;
  const std::size_t last = spatial - 1;
  g.w = x.back();
  g.kw = w.back();
  g.sw = spec.stride[last];
  g.pw = spec.pad[last];
  g.pw_end = end_pad(last);
  g.dw = dilation(last);
  g.ow = (g.w + g.pw + g.pw_end - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  if (spatial == 2) {
    g.h = x[2];
    g.kh = w[2];
    g.sh = spec.stride[0];
    g.ph = spec.pad[0];
    g.ph_end = end_pad(0);
    g.dh = dilation(0);
    g.oh = (g.h + g.ph + g.ph_end - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  }
  return g;
}

ConvGeometry conv_geometry(const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad) {
  return conv_geometry(x, w, ConvSpec{.stride = stride, .pad = pad});
}

Conv2dParams conv2d_params(const ops::ConvOptions& o) {
  Conv2dParams p;
  if (!o.stride.empty()) p.stride = o.stride;
  if (!o.pad.empty()) p.pad = o.pad;
  if (!o.dilation.empty()) p.dilation = o.dilation;
  p.groups = o.groups;
  return p;
}

ops::ConvOptions conv_options(const Conv2dParams& p) {
  return {.stride = p.stride, .pad = p.pad, .dilation = p.dilation, .groups = p.groups};
}

void Conv2dParams::check_lengths(const InferContext& c) const {
  if (stride.size() != 2) c.fail("stride must have 2 values [height,width], got ", bracketed(stride));
  if (dilation.size() != 2) c.fail("dilation must have 2 values [height,width], got ", bracketed(dilation));
}

Shape conv_output_shape(const ConvGeometry& g, int spatial_dims) {
  if (spatial_dims == 1) return {g.n, g.f, g.ow};
  return {g.n, g.f, g.oh, g.ow};
}

}  // namespace dagrad::kernels

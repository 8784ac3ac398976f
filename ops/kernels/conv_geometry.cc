// Shape validation and geometry of convolutions. Kept apart from the kernels in conv.cc because
// it is cold, string-heavy code: the kernels are built at -O3, where GCC 12 reports false
// -Wrestrict warnings inside std::string concatenation (GCC bug 105329).
#include <limits>
#include <string>
#include <vector>

#include "ops/kernels/conv.h"

namespace dagrad::kernels {
namespace {

std::string joined(std::span<const std::int64_t> dims, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? separator : "") + std::to_string(dims[i]);
  return s;
}
std::string bracketed(std::span<const std::int64_t> dims) { return "[" + joined(dims, ",") + "]"; }

}  // namespace

ConvGeometry conv_geometry(const InferContext& c, const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad) {
  const std::size_t spatial = stride.size();
  const std::size_t rank = spatial + 2;
  const char* x_layout = spatial == 1 ? "[N,C,L]" : "[N,C,H,W]";
  const char* w_layout = spatial == 1 ? "[F,C,K]" : "[F,C,KH,KW]";
  if (x.size() != rank)
    c.fail("x must have rank ", rank, " ", x_layout, ", got shape ", to_string(x), " of rank ", x.size());
  if (w.size() != rank)
    c.fail("filter must have rank ", rank, " ", w_layout, ", got shape ", to_string(w), " of rank ", w.size());
  for (std::int64_t d : x)
    if (d < 0) c.fail("x shape ", to_string(x), " has a negative dim");
  for (std::int64_t d : w)
    if (d < 0) c.fail("filter shape ", to_string(w), " has a negative dim");
  if (x[1] != w[1])
    c.fail("x ", to_string(x), " has ", x[1], " channels but the filter ", to_string(w), " expects ", w[1], " channels");
  for (std::size_t i = 0; i < spatial; ++i) {
    if (stride[i] <= 0) c.fail("stride must be positive, got ", bracketed(stride));
    if (pad[i] < 0) c.fail("pad must be non-negative, got ", bracketed(pad));
    if (w[2 + i] < 1) c.fail("filter ", to_string(w), " has an empty kernel");
  }
  std::vector<std::int64_t> input(x.begin() + 2, x.end()), kernel(w.begin() + 2, w.end()), padded(spatial);
  for (std::size_t i = 0; i < spatial; ++i) {
    if (pad[i] > (std::numeric_limits<std::int64_t>::max() - input[i]) / 2)
      c.fail("pad ", bracketed(pad), " is too large");
    padded[i] = input[i] + 2 * pad[i];
  }
  for (std::size_t i = 0; i < spatial; ++i)
    if (kernel[i] > padded[i])
      c.fail("kernel ", joined(kernel, "x"), " of filter ", to_string(w), " is larger than the padded input ",
             joined(padded, "x"), " (input ", joined(input, "x"), " of x ", to_string(x), ", pad ", bracketed(pad), ")");

  ConvGeometry g = conv_geometry(x, w, stride, pad);
  Shape out = conv_output_shape(g, static_cast<int>(spatial));
  try {
    element_count(out);
    element_count({g.c, g.kh, g.kw, g.oh, g.ow});  // the im2col buffer of one image
  } catch (const Error& e) {
    c.fail("the convolution is too large: ", e.what());
  }
  return g;
}

ConvGeometry conv_geometry(const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad) {
  ConvGeometry g;
  g.n = x[0];
  g.c = x[1];
  g.f = w[0];
  g.w = x.back();
  g.kw = w.back();
  g.sw = stride.back();
  g.pw = pad.back();
  g.ow = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
  if (stride.size() == 2) {
    g.h = x[2];
    g.kh = w[2];
    g.sh = stride[0];
    g.ph = pad[0];
    g.oh = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
  }
  return g;
}

Shape conv_output_shape(const ConvGeometry& g, int spatial_dims) {
  if (spatial_dims == 1) return {g.n, g.f, g.ow};
  return {g.n, g.f, g.oh, g.ow};
}

}  // namespace dagrad::kernels

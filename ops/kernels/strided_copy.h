#pragma once
// dst[sum i_d * dst_strides[d]] = src[sum i_d * src_strides[d]] for every index i of `shape`: the
// one loop behind transpose, slice and concat (strides in elements, any sign-free layout). Pure
// copies, so any chunking gives the same bits; the chunks are still fixed by the shape.
//
// Dims of extent 1 are dropped and dims contiguous in both src and dst are merged first. Then:
// rows contiguous in both are memcpy'd; when the dst-contiguous dim is strided in src but another
// dim is contiguous in src (a transpose that moves the last dim), the copy runs in square tiles so
// both sides stream through cache lines; anything else is a plain strided loop per row.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "graph/tensor.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

struct StridedLayout {
  std::vector<std::int64_t> shape, src, dst;  // extents and the two stride lists
};

// `layout` without extent-1 dims and with mergeable neighbours merged; empty shape: one element.
inline StridedLayout simplify_layout(const StridedLayout& in) {
  StridedLayout out;
  for (std::size_t d = 0; d < in.shape.size(); ++d) {
    if (in.shape[d] == 1) continue;
    if (!out.shape.empty() && out.src.back() == in.src[d] * in.shape[d] && out.dst.back() == in.dst[d] * in.shape[d]) {
      out.shape.back() *= in.shape[d];
      out.src.back() = in.src[d];
      out.dst.back() = in.dst[d];
      continue;
    }
    out.shape.push_back(in.shape[d]);
    out.src.push_back(in.src[d]);
    out.dst.push_back(in.dst[d]);
  }
  return out;
}

// Offsets of the multi-index of flat index `flat` over dims [0, count) of `l` (row-major).
inline void layout_offsets(const StridedLayout& l, std::size_t count, std::int64_t flat, std::int64_t& src, std::int64_t& dst) {
  src = dst = 0;
  for (std::size_t d = count; d-- > 0;) {
    const std::int64_t i = flat % l.shape[d];
    flat /= l.shape[d];
    src += i * l.src[d];
    dst += i * l.dst[d];
  }
}

// T is only a carrier of the element's bytes (float, double, int64 all copy alike).
template <class T> void strided_copy_typed(const StridedLayout& full, const T* src, T* dst) {
  for (std::int64_t e : full.shape)
    if (e == 0) return;
  const StridedLayout l = simplify_layout(full);
  const std::size_t rank = l.shape.size();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const std::size_t last = rank - 1;
  const std::int64_t width = l.shape[last];

  // Contiguous rows on both sides: memcpy, splitting long rows so a fully contiguous copy still spreads.
  if (l.src[last] == 1 && l.dst[last] == 1) {
    const std::int64_t rows = element_count(l.shape) / width;
    const std::int64_t piece = std::min(width, kElementwiseGrain);
    const std::int64_t pieces_per_row = (width + piece - 1) / piece;
    const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / piece);
    parallel_chunks(rows * pieces_per_row, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t w = b; w < e; ++w) {
        std::int64_t s, d;
        layout_offsets(l, last, w / pieces_per_row, s, d);
        const std::int64_t begin = (w % pieces_per_row) * piece, count = std::min(piece, width - begin);
        std::memcpy(dst + d + begin, src + s + begin, static_cast<std::size_t>(count) * sizeof(T));
      }
    });
    return;
  }

  // A dim (other than the last) contiguous in src while the last is contiguous in dst: tiles.
  std::size_t across = rank;
  for (std::size_t d = 0; d < last; ++d)
    if (l.src[d] == 1) across = d;
  if (across < rank && l.dst[last] == 1) {
    constexpr std::int64_t kTile = 32;
    const std::int64_t height = l.shape[across];
    const std::int64_t tiles_i = (height + kTile - 1) / kTile, tiles_j = (width + kTile - 1) / kTile;
    // The other dims, as a layout of their own.
    StridedLayout outer;
    for (std::size_t d = 0; d < last; ++d)
      if (d != across) {
        outer.shape.push_back(l.shape[d]);
        outer.src.push_back(l.src[d]);
        outer.dst.push_back(l.dst[d]);
      }
    const std::int64_t outer_count = element_count(outer.shape);
    const std::int64_t sj = l.src[last], di = l.dst[across];
    parallel_chunks(outer_count * tiles_i * tiles_j, std::max<std::int64_t>(1, kElementwiseGrain / (kTile * kTile)),
                    [&](std::int64_t b, std::int64_t e) {
                      for (std::int64_t w = b; w < e; ++w) {
                        const std::int64_t tile = w % (tiles_i * tiles_j);
                        std::int64_t s, d;
                        layout_offsets(outer, outer.shape.size(), w / (tiles_i * tiles_j), s, d);
                        const std::int64_t i0 = (tile / tiles_j) * kTile, j0 = (tile % tiles_j) * kTile;
                        const std::int64_t i1 = std::min(height, i0 + kTile), j1 = std::min(width, j0 + kTile);
                        // Through a buffer in L1, so each side touches each of its cache lines once per
                        // tile: direct strided stores thrash the cache when the stride is a power of two.
                        T buffer[kTile][kTile];
                        for (std::int64_t j = j0; j < j1; ++j)
                          for (std::int64_t i = i0; i < i1; ++i) buffer[j - j0][i - i0] = src[s + i + j * sj];
                        for (std::int64_t i = i0; i < i1; ++i)
                          for (std::int64_t j = j0; j < j1; ++j) dst[d + i * di + j] = buffer[j - j0][i - i0];
                      }
                    });
    return;
  }

  // Anything else: one strided row at a time.
  const std::int64_t rows = element_count(l.shape) / width;
  parallel_chunks(rows, std::max<std::int64_t>(1, kElementwiseGrain / width), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      std::int64_t s, d;
      layout_offsets(l, last, r, s, d);
      for (std::int64_t j = 0; j < width; ++j) dst[d + j * l.dst[last]] = src[s + j * l.src[last]];
    }
  });
}

// The copy for elements of `element_size` bytes (4 or 8: every dtype).
inline void strided_copy(const StridedLayout& layout, const void* src, void* dst, std::size_t element_size) {
  if (element_size == 4)
    strided_copy_typed(layout, static_cast<const std::uint32_t*>(src), static_cast<std::uint32_t*>(dst));
  else
    strided_copy_typed(layout, static_cast<const std::uint64_t*>(src), static_cast<std::uint64_t*>(dst));
}

// Row-major strides of a shape, in elements.
inline std::vector<std::int64_t> row_major_strides(const Shape& shape) {
  std::vector<std::int64_t> strides(shape.size(), 1);
  for (std::size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

}  // namespace dagrad::kernels

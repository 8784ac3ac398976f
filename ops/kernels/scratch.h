#pragma once
// Per-thread scratch buffers that only grow, so kernels allocate nothing after their first call.
// A buffer is identified by its element type and a tag; a chunk body never waits on other TBB work
// while it holds one, so no other chunk can run on the same thread and reuse it meanwhile.
#include <cstdint>
#include <vector>

namespace dagrad::kernels {

// Tags in use: 0-2 im2col/GEMM buffers (conv.cc), 3-5 the direct convolution (conv_direct.cc).
template <class T, int Tag> T* scratch(std::int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

}  // namespace dagrad::kernels

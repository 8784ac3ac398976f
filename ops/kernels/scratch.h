#pragma once
// Per-thread scratch buffers that only grow, so kernels allocate nothing after their first call.
// A buffer is identified by its element type and a tag; a chunk body never waits on other TBB work
// while it holds one, so no other chunk can run on the same thread and reuse it meanwhile.
#include <cstdint>
#include <vector>

namespace dagrad::kernels {

// Tags in use: 0-2 im2col/GEMM buffers and 3, 4, 8 direct-convolution buffers, used inside chunk
// bodies; 5-7 buffers a kernel's calling thread holds across its parallel loop (packed and flipped
// filters, partial sums). While it waits in that loop the thread runs only that loop's chunks
// (parallel_chunks isolates them), so the two sets never overlap. Tag 9 holds the canonical batch
// sum's partials (batch_groups.h) on its calling thread, whose chunks may call kernels using 0-8.
template <class T, int Tag> T* scratch(std::int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

}  // namespace dagrad::kernels

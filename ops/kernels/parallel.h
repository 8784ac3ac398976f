#pragma once
// Parallel loops whose chunking depends only on the problem size, never on the thread count, so
// any per-chunk arithmetic (and any reduction over chunks in index order) is bitwise reproducible.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdint>

namespace dagrad::kernels {

// Calls body(begin, end) over [0, n) in chunks of exactly `grain` items (the last may be shorter).
template <class Body> void parallel_chunks(std::int64_t n, std::int64_t grain, const Body& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    body(std::int64_t{0}, n);
    return;
  }
  std::int64_t chunks = (n + grain - 1) / grain;
  // Isolated: while the calling thread waits for the chunks it runs only these chunks, never an
  // unrelated task such as another concurrent run's whole plan (a delegated task_arena::execute).
  // Kernels rely on this to keep per-thread scratch across the loop (see scratch.h).
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::int64_t>(0, chunks, 1),
        [&](const tbb::blocked_range<std::int64_t>& r) {
          for (std::int64_t c = r.begin(); c != r.end(); ++c) body(c * grain, std::min(n, (c + 1) * grain));
        },
        tbb::simple_partitioner());
  });
}

// Elementwise grain: large enough to amortize task overhead, small enough to spread.
inline constexpr std::int64_t kElementwiseGrain = 16384;

}  // namespace dagrad::kernels

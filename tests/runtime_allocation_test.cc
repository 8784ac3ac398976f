// A plan's steady state: after the first run, a training step of resnet_ref allocates tensor
// storage only for the values it returns, and (almost) nothing else on the heap. Counted through
// a replacement of the global operator new in this test binary and dagrad's own tensor counter;
// one thread, because per-thread kernel scratch grows on the first run that thread takes part in.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "runtime/runtime.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::int64_t> g_heap_bytes{0};

void* counted_allocation(std::size_t size, std::size_t alignment) {
  if (g_counting.load(std::memory_order_relaxed)) g_heap_bytes.fetch_add(static_cast<std::int64_t>(size));
  void* p = alignment > alignof(std::max_align_t) ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                                                  : std::malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) { return counted_allocation(size, 0); }
void* operator new[](std::size_t size) { return counted_allocation(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return counted_allocation(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return counted_allocation(size, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace dagrad::runtime {
namespace {

TEST(RuntimeAllocation, SteadyStateTrainingStepAllocatesOnlyItsFetchedTensors) {
  Graph forward = models::build_model("resnet_ref", {.batch = 8, .seed = 1, .training = true});
  const Graph g = autodiff::grad_parameters(forward).graph;
  const Plan plan = compile(g, {.threads = 1});
  const TensorMap weights = initialize_parameters(g);
  TensorMap inputs;
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    inputs.emplace(v.name, Tensor(v.type.dtype, v.type.shape));  // zeros: labels 0, blank images
  }
  const Feeds feeds = feeds_from({&weights, &inputs});
  for (int warm_up = 0; warm_up < 2; ++warm_up) run(plan, feeds, 1);

  const TensorAllocationStats before = tensor_allocation_stats();
  g_heap_bytes = 0;
  g_counting = true;
  RunResult result = run(plan, feeds, 1);
  g_counting = false;
  const TensorAllocationStats after = tensor_allocation_stats();

  std::int64_t fetched_bytes = 0;
  for (ValueId id : plan.fetches()) fetched_bytes += (static_cast<std::int64_t>(result.at(id).nbytes()) + 63) / 64 * 64;
  EXPECT_EQ(after.bytes - before.bytes, fetched_bytes) << "tensor storage beyond the fetched values";
  EXPECT_LE(after.allocations - before.allocations, static_cast<std::int64_t>(plan.fetches().size()));
  // The result map's nodes and the shapes of the returned tensors; a kernel that allocated a
  // buffer per call (a filter gradient's partial sums are 8 x 147 KB here) would exceed this.
  EXPECT_LT(g_heap_bytes.load(), 64 * 1024) << "heap bytes allocated by one steady-state run";
}

}  // namespace
}  // namespace dagrad::runtime

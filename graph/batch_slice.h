#pragma once
// Data-parallel steps. The global batch of a training step may be split into contiguous slices
// (one per MPI rank, or one per micro-batch of gradient accumulation); a run then computes one
// slice. Ops that sum over the batch use the canonical reduction of ops/kernels/batch_groups.h:
// partial sums over fixed groups of images, combined in a fixed binary tree. A slice that holds a
// power-of-two number of whole groups, aligned, is a subtree of that tree, so its sum is exactly a
// node of the single-process sum. Sums that must span the global batch inside a run (batch-norm
// statistics and their gradients, the loss) are finished by the slice's combiner; parameter
// gradients leave the run as the slice's subtree sums and the trainer combines them.
#include <cstdint>
#include <span>

namespace dagrad {

class BatchCombiner {
 public:
  virtual ~BatchCombiner() = default;
  // Every participant calls this in the same order with the same number of values: its own slice's
  // subtree sums. On return `values` holds, on every participant, the sum of all participants'
  // values combined in the canonical tree (participants in global image order), bitwise the same
  // everywhere.
  virtual void combine(std::span<float> values) = 0;
  virtual void combine(std::span<double> values) = 0;
};

struct BatchSlice {
  // Images in the whole step; 0 means the run's own batch is the whole batch.
  std::int64_t global_batch = 0;
  // The global index of the run's first image (dropout masks and groups are keyed by it).
  std::int64_t first_image = 0;
  // Finishes in-run sums over the global batch; null when the run's batch is the whole batch.
  BatchCombiner* combiner = nullptr;

  // The batch the loss and batch statistics are normalized by.
  std::int64_t global_batch_or(std::int64_t run_batch) const { return global_batch > 0 ? global_batch : run_batch; }
};

}  // namespace dagrad

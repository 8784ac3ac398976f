#pragma once
// The canonical reduction over a batch. Images are taken in groups of kImagesPerGroup by their
// global index (the last group of a batch may be shorter). Every sum over the batch is computed as
// one partial per group (the group's images in order), and the partials are combined in one fixed
// binary tree: level by level, node i of a level is node 2i + node 2i+1 of the level below (left
// + right), and an odd last node moves up unchanged. A run that holds 2^k whole groups starting at
// a multiple of 2^k groups therefore computes exactly one node of that tree, whatever the thread
// count, the number of processes or micro-batches: the single-process sum is the same tree with
// every node computed in one place. See graph/batch_slice.h.
#include <algorithm>
#include <cstdint>
#include <span>

#include "ops/kernels/parallel.h"
#include "ops/kernels/scratch.h"

namespace dagrad::kernels {

inline constexpr std::int64_t kImagesPerGroup = 4;

// Groups of a batch of `images` (the last may be partial).
constexpr std::int64_t batch_groups(std::int64_t images) { return (images + kImagesPerGroup - 1) / kImagesPerGroup; }

constexpr bool is_power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Whether `global_images` split into `parts` contiguous slices of whole groups puts 2^k groups in
// each slice (the last slice's last group may be partial), so that every slice is a subtree.
constexpr bool splits_into_subtrees(std::int64_t global_images, std::int64_t parts) {
  const std::int64_t groups = batch_groups(global_images);
  return parts > 0 && groups % parts == 0 && is_power_of_two(groups / parts);
}

// Combines `count` equally sized nodes stored `stride` values apart, each `size` values long, in the
// canonical tree; the root is left in nodes[0 .. size). Elementwise, so each value's sum order is
// the tree's and does not depend on how the elements are split across threads.
template <class T> void tree_combine(T* nodes, std::int64_t count, std::int64_t stride, std::int64_t size) {
  for (std::int64_t step = 1; step < count; step *= 2)
    for (std::int64_t i = 0; i + step < count; i += 2 * step) {
      T* left = nodes + i * stride;
      const T* right = nodes + (i + step) * stride;
      for (std::int64_t e = 0; e < size; ++e) left[e] += right[e];
    }
}

// tree_combine with the elements split into chunks fixed by `size` (each chunk combines its own
// elements in the tree's order), so the result is the same for any thread count.
template <class T> void parallel_tree_combine(T* nodes, std::int64_t count, std::int64_t stride, std::int64_t size) {
  if (count < 2) return;
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / count);
  parallel_chunks(size, grain, [&](std::int64_t begin, std::int64_t end) {
    tree_combine(nodes + begin, count, stride, end - begin);
  });
}

// Scratch a canonical sum may hold (elements of T): more groups than fit are summed block by block.
inline constexpr std::int64_t kCanonicalScratchElements = std::int64_t{1} << 24;

// out[0 .. size) = the canonical sum over `images` images, where group_partial(first, count, node)
// writes into node[0 .. size) the partial sum of the `count` (<= kImagesPerGroup) images from
// `first` on (a function of those images alone). Groups run in parallel. When all partials do not
// fit in `max_scratch` elements, groups are taken in aligned blocks of a power of two (each block
// a subtree) and the block roots are merged like a binary counter: equal subtrees as soon as both
// exist, the rest right to left at the end, which is exactly tree_combine's tree (its odd last
// node moving up). An empty batch sums to 0. Uses the calling thread's scratch tag 9.
template <class T, class GroupPartial>
void canonical_batch_sum(std::int64_t images, std::int64_t size, T* out, const GroupPartial& group_partial,
                         std::int64_t max_scratch = kCanonicalScratchElements) {
  const std::int64_t groups = batch_groups(images);
  if (size <= 0) return;
  if (groups == 0) {
    std::fill(out, out + size, T(0));
    return;
  }
  if (groups == 1) {
    group_partial(std::int64_t{0}, images, out);
    return;
  }
  auto compute = [&](std::int64_t first_group, std::int64_t count, T* nodes) {
    parallel_chunks(count, 1, [&](std::int64_t i, std::int64_t) {
      const std::int64_t first = (first_group + i) * kImagesPerGroup;
      group_partial(first, std::min(kImagesPerGroup, images - first), nodes + i * size);
    });
  };
  std::int64_t levels = 1;  // counter entries alive at once: at most one per power of two below groups, plus one
  while ((std::int64_t{1} << (levels - 1)) < groups) ++levels;
  if (groups * size <= max_scratch) {
    T* nodes = scratch<T, 9>(groups * size);
    compute(0, groups, nodes);
    parallel_tree_combine(nodes, groups, size, size);
    std::copy(nodes, nodes + size, out);
    return;
  }
  std::int64_t block = 1;
  while (block * 2 < groups && (block * 2 + levels) * size <= max_scratch) block *= 2;
  T* blocks = scratch<T, 9>((block + levels) * size);
  T* counter = blocks + block * size;
  std::int64_t weights[64];  // groups under each counter entry; an entry lives at counter + i * size
  std::int64_t entries = 0;
  auto merge_top = [&] {
    T* left = counter + (entries - 2) * size;
    const T* right = counter + (entries - 1) * size;
    parallel_chunks(size, kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) left[i] += right[i];
    });
    weights[entries - 2] += weights[entries - 1];
    --entries;
  };
  for (std::int64_t first_group = 0; first_group < groups; first_group += block) {
    const std::int64_t count = std::min(block, groups - first_group);
    compute(first_group, count, blocks);
    parallel_tree_combine(blocks, count, size, size);
    std::copy(blocks, blocks + size, counter + entries * size);
    weights[entries++] = count;
    while (entries >= 2 && weights[entries - 2] == weights[entries - 1]) merge_top();
  }
  while (entries >= 2) merge_top();
  std::copy(counter, counter + size, out);
}

}  // namespace dagrad::kernels

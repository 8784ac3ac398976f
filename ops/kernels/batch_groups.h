#pragma once
// The canonical reduction over a batch. Images are taken in groups of kImagesPerGroup by their
// global index (the last group of a batch may be shorter). Every sum over the batch is computed as
// one partial per group (the group's images in order), and the partials are combined in one fixed
// binary tree: level by level, node i of a level is node 2i + node 2i+1 of the level below (left
// + right), and an odd last node moves up unchanged. A run that holds 2^k whole groups starting at
// a multiple of 2^k groups therefore computes exactly one node of that tree, whatever the thread
// count, the number of processes or micro-batches: the single-process sum is the same tree with
// every node computed in one place. See graph/batch_slice.h.
#include <cstdint>
#include <span>

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

}  // namespace dagrad::kernels

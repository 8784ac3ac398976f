#pragma once
// The compiler's passes. compile() runs them in order over one Schedule; each is a plain function
// that reads what earlier passes filled in and adds its own part, so tests can run and check one
// pass at a time and a new optimization is a new pass (plus op traits), not a branch in compile().
#include <cstdint>
#include <vector>

#include "graph/graph.h"
#include "graph/op.h"

namespace dagrad::runtime {

struct Options;

// One executed position of the order: a node, possibly with later nodes fused into its kernel.
struct Step {
  std::int32_t node = -1;              // index into the graph's nodes
  bool fused_away = false;             // runs inside an earlier step's kernel; skipped
  // Epilogue fused into this step's kernel: the channel-affine node folded in (inference), or the
  // residual add (training-mode batch norm), and the activation node after it (positions in the
  // order, -1: none), and the activation they apply.
  std::int32_t affine = -1;
  std::int32_t residual_step = -1;
  std::int32_t activation_step = -1;
  Activation activation = Activation::none;
  // A prologue: this step is an activation's gradient (relu_grad) whose only reader, at position
  // `prologue_reader`, computes it on the fly from the same inputs (batch_norm_grad); the step runs
  // that reader's kernel here. -1: none.
  std::int32_t prologue_reader = -1;
  std::vector<ValueId> reads;          // values read from outside the fused group
  std::vector<ValueId> writes;         // values the step writes: its last member's outputs
  bool zero_fill = false;              // clear the reused output buffers before the kernel runs
  bool fused() const { return affine >= 0 || residual_step >= 0 || activation_step >= 0 || prologue_reader >= 0; }
  // The positions computed by this step, itself first.
  std::vector<std::int32_t> members(std::int32_t self) const;
  // Dependencies: the positions that wait for this one, and how many this one waits for.
  std::vector<std::int32_t> successors;
  std::int32_t predecessor_count = 0;
};

// What the plan knows of one value.
struct ValueState {
  bool kept = false;             // fetched: returned to the caller in a fresh tensor
  std::int32_t last_reader = -1; // position of its last reader, -1 if none
  std::int32_t slot = -1;        // buffer slot, -1 for fed, constant, fetched or unwritten values
};

struct Schedule {
  std::vector<ValueId> fetches;          // sorted, unique
  std::vector<ValueId> feeds;            // inputs, parameters and state the plan reads
  std::vector<std::int32_t> order;       // node indices in execution order
  std::vector<Step> steps;               // per position of order
  std::vector<ValueState> values;        // per value id
  std::vector<TensorType> slot_types;    // per slot
  std::int64_t peak_bytes = 0;
  std::int64_t slot_bytes = 0;
};

// fetch (empty: the graph's outputs, gradients and state updates), sorted and range-checked.
void select_fetches(Schedule& s, const Graph& g, std::vector<ValueId> fetch);
// order = the nodes the fetches depend on, topologically; feeds = the outside values they read.
void prune(Schedule& s, const Graph& g);
// Per value: whether it is kept and the position of its last reader.
void liveness(Schedule& s, const Graph& g);
// Bytes of the largest set of results alive at once (fed tensors belong to the caller).
void measure_peak(Schedule& s, const Graph& g);
// A kernel that accepts a ChannelEpilogue absorbs a channel-affine node reading its output and an
// activation after that (an inference convolution, batch norm, relu) when the intermediate values
// have no other reader, the affine map's parameters are fed and its other outputs are unused.
void fuse_inference_epilogues(Schedule& s, const Graph& g);
// Training steps, where results must stay bitwise those of the separate ops: a kernel with
// OpSpec::epilogue_residual (batch_norm) absorbs relu(y), add(y, r) and relu(add(y, r)) after it when
// y and the sum have no other reader and r is computed before it; an activation's gradient whose
// only reader takes it through a prologue (relu_grad -> batch_norm_grad) runs inside that reader.
void fuse_training_steps(Schedule& s, const Graph& g);
// Per step: what it reads and writes, and whether its outputs need clearing; then each value's
// last reader again, by the steps that run (a fused step reads its members' inputs where it runs).
void describe_steps(Schedule& s, const Graph& g);
// Buffer slots by liveness: a result takes a free slot of its type (the most recently freed, warm
// in cache), or the slot of its op's in_place_input dying here. Fetched results get fresh tensors.
void assign_slots(Schedule& s, const Graph& g);
// A reader waits for the value's producer; a slot's writer for its previous writer and readers.
void dependency_edges(Schedule& s);

// All of them in order.
Schedule build_schedule(const Graph& g, const Options& options, std::vector<ValueId> fetch);

}  // namespace dagrad::runtime

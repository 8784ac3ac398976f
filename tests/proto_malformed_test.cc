// The malformed-file corpus: each case breaks one thing in a valid file (binary bytes or a text
// edit) and asserts the specific error, which names the file and, where it applies, the node
// (name and index) or value and the field. Nothing may crash, abort or throw anything but Error.
//
// DAGRAD_WRITE_MALFORMED_CORPUS=DIR dagrad_tests --gtest_filter='ProtoMalformed*' writes every case
// to DIR (tests/data/malformed holds the committed copy that seeds the fuzzer).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/proto_testing.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

struct MalformedCase {
  std::string name;
  std::string bytes;
  bool text = false;
  std::string expected;  // a substring of the error
  std::string file_name() const { return name + (text ? ".dagrad.txt" : ".dagrad"); }
};

// Replaces the first occurrence of `from`; a missing `from` means the base file changed and the
// case no longer tests what it says, so it fails loudly.
std::string edit(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("malformed case: text to replace not found: " + from);
  return text.replace(at, from.size(), to);
}

Model conv_model() {
  Model model;
  Graph& g = model.graph;
  Value x = g.input("x", {DType::f32, {1, 2, 5, 5}});
  Value w = g.parameter("w", {DType::f32, {3, 2, 3, 3}}, {.kind = "he_normal", .fan_in = 18, .seed = 3});
  Value y = ops::max_pool2d(ops::conv2d(x, w, {}, {1, 1}, {1, 1}), {2, 2}, {2, 2});
  g.set_loss(ops::reduce_sum(ops::global_avg_pool(y), {0, 1}));
  initialize(model);
  return model;
}

// The newer ops, one node each, to break their attributes: a grouped conv, ceil-mode max pooling,
// concat, transpose, reflect padding, a mean over axes and a softmax on an axis.
Model modern_model() {
  Model model;
  Graph& g = model.graph;
  Value x = g.input("x", {DType::f32, {1, 4, 6, 6}});
  Value w = g.parameter("w", {DType::f32, {4, 2, 3, 3}}, {.kind = "he_normal", .fan_in = 18, .seed = 3});
  Value y = ops::conv2d(x, w, {}, ops::ConvOptions{.pad = {1, 1}, .groups = 2});
  Value pooled = ops::max_pool2d(y, {2, 2}, {2, 2}, {0, 0}, ops::PoolOptions{.ceil_mode = true});
  Value joined = ops::concat({y, x}, 1);
  Value nhwc = ops::transpose(joined, {0, 2, 3, 1});
  Value padded = ops::pad(nhwc, {0, 1, 0, 0, 0, 1, 0, 0}, ops::PadMode::reflect);
  Value mean = ops::reduce_mean(padded, {1, 2});
  Value probs = ops::softmax(mean, 1);
  g.set_loss(ops::add(ops::reduce_sum(probs, {0, 1}), ops::reduce_sum(pooled, {0, 1, 2, 3})));
  initialize(model);
  return model;
}

Model small_with_training() {
  Model model = small_model();
  model.training.emplace();
  model.training->hyperparameters = {{"lr", 0.1}};
  model.training->step = 3;
  return model;
}

const std::vector<MalformedCase>& malformed_cases() {
  static const std::vector<MalformedCase> cases = [] {
    const std::string bin = serialize(small_model());
    const std::string txt = serialize_text(small_model());
    const std::string conv = serialize_text(conv_model());
    const std::string train = serialize_text(small_with_training());
    const std::string modern = serialize_text(modern_model());
    std::vector<MalformedCase> c;
    auto binary = [&](std::string name, std::string bytes, std::string expected) {
      c.push_back({std::move(name), std::move(bytes), false, std::move(expected)});
    };
    auto text = [&](std::string name, std::string bytes, std::string expected) {
      c.push_back({std::move(name), std::move(bytes), true, std::move(expected)});
    };
    const std::string x_value = "name: \"x\"\n    dtype: F32\n    shape: 2\n    shape: 3\n    kind: INPUT";
    const std::string w_value = "name: \"w\"\n    dtype: F32\n    shape: 2\n    shape: 3\n    kind: PARAMETER";
    const std::string w_tensor = "name: \"w\"\n  dtype: F32\n  dims: 2\n  dims: 3\n  raw";
    const std::string scale_attr = "    attrs {\n      name: \"factor\"\n      f: 0.5\n    }\n";
    const std::string relu_node = "name: \"relu\"\n    op: \"relu\"\n    op_version: 1\n    inputs: \"add\"\n    outputs: \"relu\"";
    const std::string graph_end = "  loss: \"reduce_sum\"\n}\n";
    const std::string conv_x = "shape: 1\n    shape: 2\n    shape: 5\n    shape: 5\n    kind: INPUT";

    // -- not a dagrad file, truncated, header
    binary("empty", "", "empty file");
    binary("truncated_half", bin.substr(0, bin.size() / 2), "truncated or corrupt dagrad file");
    binary("truncated_in_header", bin.substr(0, 20), "truncated or corrupt dagrad file");
    binary("garbage", std::string(64, '\xff'), "not a dagrad file");
    binary("png_header", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10", 24), "not a dagrad");
    binary("other_protobuf", std::string("\x08\x01\x10\x02", 4), "not a dagrad model file (field 'magic' is ''");
    text("wrong_magic", edit(txt, "magic: \"dagrad.model\"", "magic: \"dagrad.modex\""), "field 'magic' is 'dagrad.modex'");
    text("text_syntax_error", txt.substr(0, txt.size() / 3) + "}}}", "invalid dagrad text file: line ");
    text("text_not_dagrad", "hello: world\n", "not a dagrad text file");
    text("newer_format", edit(edit(txt, "format_version: 1", "format_version: 7"), "min_reader_version: 1", "min_reader_version: 7"),
         "needs a reader of format version 7 or newer");
    text("missing_format_version", edit(txt, "format_version: 1\n", ""), "field 'format_version' is missing");
    text("duplicate_metadata_key", edit(txt, "metadata {", "metadata {\n  key: \"model\"\n}\nmetadata {"),
         "field 'metadata[1]': duplicate key 'model'");

    // -- values
    text("empty_value_name", edit(txt, "name: \"x\"\n    dtype", "name: \"\"\n    dtype"), "value (index 0) field 'name': empty name");
    text("duplicate_value_name", edit(txt, "name: \"c\"\n    dtype", "name: \"x\"\n    dtype"),
         "value 'x' (index 2) field 'name': duplicate value name (first at index 0)");
    text("negative_dim", edit(txt, x_value, "name: \"x\"\n    dtype: F32\n    shape: -2\n    shape: 3\n    kind: INPUT"),
         "value 'x' (index 0) field 'shape[0]': negative dimension -2 in [-2,3]");
    text("dims_overflow",
         edit(txt, x_value, "name: \"x\"\n    dtype: F32\n    shape: 4294967296\n    shape: 4294967296\n    kind: INPUT"),
         "value 'x' (index 0) field 'shape': element count of [4294967296,4294967296] overflows int64");
    text("invalid_value_kind", edit(txt, "kind: INPUT", "kind: VALUE_KIND_UNSPECIFIED"),
         "value 'x' (index 0) field 'kind': invalid value kind 0");
    text("invalid_dtype", edit(txt, x_value, "name: \"x\"\n    dtype: DATA_TYPE_UNSPECIFIED\n    shape: 2\n    shape: 3\n    kind: INPUT"),
         "value 'x' (index 0) field 'dtype': invalid data type 0");
    text("integer_parameter", edit(txt, w_value, "name: \"w\"\n    dtype: I64\n    shape: 2\n    shape: 3\n    kind: PARAMETER"),
         "value 'w' (index 1) field 'dtype': a parameter must be f32 or f64, got i64");
    text("unknown_initializer", edit(txt, "kind: \"he_normal\"", "kind: \"gaussian\""),
         "value 'w' (index 1) field 'init.kind': unknown initializer 'gaussian'");
    text("zero_fan_in", edit(txt, "fan_in: 3\n", "fan_in: 0\n"), "value 'w' (index 1) field 'init.fan_in': he_normal needs a positive fan_in");
    text("orphan_result", edit(txt, "  nodes {", "  values {\n    name: \"orphan\"\n    dtype: F32\n    kind: RESULT\n  }\n  nodes {"),
         "value 'orphan' (index 12) field 'kind': a result that no node produces");

    // -- nodes and attributes
    text("empty_node_name", edit(txt, "name: \"mul\"\n    op: \"mul\"", "name: \"\"\n    op: \"mul\""),
         "node (index 1) field 'name': empty name");
    text("duplicate_node_name", edit(txt, "name: \"add\"\n    op: \"add\"", "name: \"mul\"\n    op: \"add\""),
         "node 'mul' (index 2) field 'name': duplicate node name (first at index 1)");
    text("unknown_op", edit(txt, "op: \"relu\"", "op: \"frobnicate\""), "node 'relu' (index 3) field 'op': unknown op 'frobnicate'");
    text("unsupported_op_version", edit(txt, "op: \"relu\"\n    op_version: 1", "op: \"relu\"\n    op_version: 9"),
         "node 'relu' (index 3) field 'op_version': op 'relu' version 9 is not supported (this build has version 1)");
    text("missing_attribute", edit(txt, scale_attr, ""), "node 'scale' (index 6) field 'attrs': op 'scale': missing required attribute 'factor'");
    text("mistyped_attribute", edit(txt, "f: 0.5", "s: \"half\""), "node 'scale' (index 6) field 'attrs': op 'scale': attribute 'factor' must be");
    text("duplicate_attribute", edit(txt, scale_attr, scale_attr + "    attrs {\n      name: \"factor\"\n      f: 2\n    }\n"),
         "node 'scale' (index 6) field 'attrs[1]': duplicate attribute 'factor'");
    text("unknown_attribute", edit(txt, scale_attr, scale_attr + "    attrs {\n      name: \"bogus\"\n      i: 1\n    }\n"),
         "node 'scale' (index 6) field 'attrs': op 'scale': unknown attribute 'bogus'");
    text("attribute_without_value", edit(txt, scale_attr, scale_attr + "    attrs {\n      name: \"bogus\"\n    }\n"),
         "node 'scale' (index 6) field 'attrs[1]': attribute 'bogus' has no value");
    text("dangling_input", edit(txt, "inputs: \"x\"", "inputs: \"nope\""), "node 'mul' (index 1) field 'inputs[0]': no value named 'nope'");
    text("too_many_inputs", edit(txt, relu_node, edit(relu_node, "inputs: \"add\"", "inputs: \"add\"\n    inputs: \"x\"")),
         "node 'relu' (index 3) field 'inputs': op 'relu' takes 1 inputs, got 2");
    text("missing_output", edit(txt, "    outputs: \"relu\"\n", ""), "node 'relu' (index 3) field 'outputs': op 'relu' has 1 outputs, the node lists 0");
    text("output_not_a_result", edit(txt, "    outputs: \"relu\"\n", "    outputs: \"x\"\n"),
         "node 'relu' (index 3) field 'outputs[0]': value 'x' (index 0) has kind input, not result");
    text("duplicate_producer", edit(txt, "outputs: \"mul_1\"", "outputs: \"mul\""),
         "node 'mul_1' (index 5) field 'outputs[0]': value 'mul' (index 5) is already produced by node 'mul' (index 1)");
    text("self_loop", edit(txt, "inputs: \"x\"", "inputs: \"mul\""),
         "node 'mul' (index 1) field 'inputs[0]': the node reads its own output 'mul' (self-loop)");
    text("cycle", edit(txt, "inputs: \"x\"", "inputs: \"relu\""), "field 'graph.nodes': the graph has a cycle through node '");
    text("shape_rule_rejects", edit(txt, x_value, "name: \"x\"\n    dtype: F32\n    shape: 2\n    shape: 4\n    kind: INPUT"),
         "node 'mul' (index 1): op 'mul' node 'mul'");
    text("stored_result_type_differs",
         edit(txt, "name: \"relu\"\n    dtype: F32\n    shape: 2\n    shape: 3", "name: \"relu\"\n    dtype: F32\n    shape: 2\n    shape: 4"),
         "node 'relu' (index 3) field 'outputs[0]': value 'relu' (index 7) is stored as f32[2,4] but the graph infers f32[2,3]");

    // -- tensors
    {
      std::string without = txt;
      without.erase(txt.find("parameters {"), txt.find("state {") - txt.find("parameters {"));
      text("missing_parameter_tensor", without, "value 'w' (index 1): no tensor in field 'parameters'");
    }
    text("duplicate_tensor", edit(txt, "state {", txt.substr(txt.find("state {"), txt.find("constants {") - txt.find("state {")) + "state {"),
         "state[1] 's' field 'name': duplicate tensor");
    text("tensor_of_unknown_value", edit(txt, "parameters {\n  name: \"w\"", "parameters {\n  name: \"q\""),
         "parameters[0] 'q' field 'name': the graph has no parameter of that name");
    text("raw_size_mismatch", edit(txt, w_tensor, "name: \"w\"\n  dtype: F32\n  dims: 2\n  dims: 4\n  raw"),
         "parameters[0] 'w' field 'raw': 24 bytes, expected 32 for f32[2,4]");
    text("stored_shape_differs", edit(txt, w_tensor, "name: \"w\"\n  dtype: F32\n  dims: 3\n  dims: 2\n  raw"),
         "parameters[0] 'w' field 'dims': stored f32[3,2] differs from the graph's f32[2,3]");
    text("tensor_dtype_differs", edit(txt, w_tensor, "name: \"w\"\n  dtype: F64\n  dims: 3\n  raw"),
         "parameters[0] 'w' field 'dims': stored f64[3] differs from the graph's f32[2,3]");
    text("tensor_negative_dim", edit(txt, w_tensor, "name: \"w\"\n  dtype: F32\n  dims: -2\n  dims: 3\n  raw"),
         "parameters[0] 'w' field 'dims[0]': negative dimension -2");
    text("tensor_dims_overflow", edit(txt, w_tensor, "name: \"w\"\n  dtype: F32\n  dims: 3037000500\n  dims: 3037000500\n  raw"),
         "parameters[0] 'w' field 'dims': element count of [3037000500,3037000500] overflows int64");
    text("tensor_bytes_overflow", edit(txt, w_tensor, "name: \"w\"\n  dtype: F32\n  dims: 4611686018427387904\n  raw"),
         "parameters[0] 'w' field 'dims': byte count of [4611686018427387904] overflows int64");
    {
      std::size_t at = txt.find("crc32c: ") + 8;
      std::string corrupted = txt;
      corrupted.replace(at, corrupted.find('\n', at) - at, "12345");
      text("checksum_mismatch_text", corrupted, "parameters[0] 'w' field 'crc32c': checksum mismatch (stored 12345");
    }
    {
      const Model model = small_model();
      const Tensor& w = model.parameters.at("w");
      std::string raw(static_cast<const char*>(w.raw()), w.nbytes());
      std::string corrupted = bin;
      std::size_t at = corrupted.find(raw);
      if (at == std::string::npos) throw std::logic_error("malformed case: weights not found in the binary file");
      corrupted[at + 5] ^= 0x10;  // one flipped bit in the weights
      binary("checksum_mismatch_binary", corrupted, "parameters[0] 'w' field 'crc32c': checksum mismatch");
    }

    // -- graph declarations
    text("loss_not_scalar", edit(txt, "loss: \"reduce_sum\"", "loss: \"relu\""), "graph field 'loss': the loss 'relu' must be a scalar, got f32[2,3]");
    text("dangling_loss", edit(txt, "loss: \"reduce_sum\"", "loss: \"nope\""), "graph field 'loss': no value named 'nope'");
    text("dangling_graph_output", edit(txt, "  outputs: \"relu\"\n  outputs: \"reduce_sum\"", "  outputs: \"nope\"\n  outputs: \"reduce_sum\""),
         "graph field 'outputs[0]': no value named 'nope'");
    text("gradient_type_mismatch", edit(txt, graph_end, "  loss: \"reduce_sum\"\n  gradients {\n    first: \"w\"\n    second: \"c\"\n  }\n}\n"),
         "graph field 'gradients[0]': gradient type f32[3] differs from f32[2,3]");
    text("state_update_of_input", edit(txt, graph_end, "  loss: \"reduce_sum\"\n  state_updates {\n    first: \"x\"\n    second: \"relu\"\n  }\n}\n"),
         "graph field 'state_updates[0].first': value 'x' (index 0) is not a state value");

    // -- training state
    text("duplicate_hyperparameter", edit(train, "hyperparameters {", "hyperparameters {\n    name: \"lr\"\n  }\n  hyperparameters {"),
         "field 'training.hyperparameters[1]': duplicate hyperparameter 'lr'");
    text("negative_step", edit(train, "step: 3", "step: -3"), "field 'training.step': negative step -3");

    // -- convolution and pooling geometry (checked by the ops' shape rules, named by node)
    text("zero_stride", edit(conv, "name: \"stride\"\n      ints {\n        values: 1", "name: \"stride\"\n      ints {\n        values: 0"),
         "node 'conv2d' (index 0): op 'conv2d' node 'conv2d' with inputs");
    text("negative_pad", edit(conv, "name: \"pad\"\n      ints {\n        values: 1", "name: \"pad\"\n      ints {\n        values: -1"),
         "pad must be non-negative");
    text("zero_window", edit(conv, "name: \"window\"\n      ints {\n        values: 2", "name: \"window\"\n      ints {\n        values: 0"),
         "node 'max_pool2d_with_indices' (index 1): op 'max_pool2d_with_indices'");
    text("kernel_larger_than_padded_input",
         edit(edit(conv, conv_x, "shape: 1\n    shape: 2\n    shape: 2\n    shape: 2\n    kind: INPUT"),
              "name: \"pad\"\n      ints {\n        values: 1\n        values: 1", "name: \"pad\"\n      ints {\n        values: 0\n        values: 0"),
         "is larger than the padded input");
    text("channel_mismatch", edit(conv, conv_x, "shape: 1\n    shape: 4\n    shape: 5\n    shape: 5\n    kind: INPUT"),
         "has 4 channels but the filter [3,2,3,3] expects 2 channels");
    text("wrong_list_length", edit(conv, "name: \"stride\"\n      ints {\n        values: 1", "name: \"stride\"\n      ints {\n        values: 1\n        values: 1"),
         "node 'conv2d' (index 0): op 'conv2d' node 'conv2d' with inputs (f32[1,2,5,5], f32[3,2,3,3]): stride must have 2 values [height,width], got [1,1,1]");
    text("missing_filter_input", edit(conv, "inputs: \"w\"\n", ""), "node 'conv2d' (index 0) field 'inputs': op 'conv2d' takes 2 to 3 inputs, got 1");

    // -- the newer ops' attributes (issue 11): each checked by the op's shape rule at load
    const std::string pool_dilation = "name: \"ceil_mode\"\n      b: true\n    }\n    attrs {\n      name: \"dilation\"\n      ints {\n        values: 1";
    const std::string pool_window = "name: \"window\"\n      ints {\n        values: 2";
    const std::string reflect_pads = "name: \"pads\"\n      ints {\n        values: 0\n        values: 1";
    text("conv_groups_not_dividing", edit(modern, "name: \"groups\"\n      i: 2", "name: \"groups\"\n      i: 3"),
         "node 'conv2d' (index 0): op 'conv2d' node 'conv2d' with inputs (f32[1,4,6,6], f32[4,2,3,3]): groups 3 must divide both the 4 "
         "channels of x [1,4,6,6] and the 4 filters of [4,2,3,3]");
    text("conv_groups_mismatch_filter", edit(modern, "name: \"groups\"\n      i: 2", "name: \"groups\"\n      i: 4"),
         "x [1,4,6,6] has 4 channels in 4 groups but the filter [4,2,3,3] expects 2 channels per group (1 per group)");
    text("conv_zero_dilation", edit(modern, "name: \"dilation\"\n      ints {\n        values: 1", "name: \"dilation\"\n      ints {\n        values: 0"),
         "node 'conv2d' (index 0): op 'conv2d' node 'conv2d' with inputs (f32[1,4,6,6], f32[4,2,3,3]): dilation must be positive, got [0,1]");
    text("conv_pad_three_values", edit(modern, "name: \"pad\"\n      ints {\n        values: 1", "name: \"pad\"\n      ints {\n        values: 1\n        values: 1"),
         "pad must have 2 values (both sides) or 4 ([top,left,bottom,right]), got [1,1,1]");
    text("pool_zero_dilation", edit(modern, pool_dilation, edit(pool_dilation, "values: 1", "values: 0")),
         "node 'max_pool2d_with_indices' (index 1): op 'max_pool2d_with_indices' node 'max_pool2d_with_indices' with inputs "
         "(f32[1,4,6,6]): height dilation 0 must be positive");
    text("pool_window_larger_than_input", edit(modern, pool_window, "name: \"window\"\n      ints {\n        values: 9"),
         "height window 9 is larger than the padded input height");
    text("concat_other_dims_differ", edit(modern, "inputs: \"conv2d\"\n    inputs: \"x\"", "inputs: \"conv2d\"\n    inputs: \"max_pool2d_with_indices:y\""),
         "node 'concat' (index 2): op 'concat' node 'concat' with inputs (f32[1,4,6,6], f32[1,4,3,3]): input 1 has shape [1,4,3,3] but "
         "input 0 has [1,4,6,6]: every dim but axis 1 must be equal");
    text("concat_axis_out_of_range", edit(modern, "name: \"axis\"\n      i: 1", "name: \"axis\"\n      i: 4"),
         "node 'concat' (index 2): op 'concat' node 'concat' with inputs (f32[1,4,6,6], f32[1,4,6,6]): attribute 'axis' = 4 is out of "
         "range for rank 4");
    text("transpose_not_a_permutation", edit(modern, "values: 0\n        values: 2\n        values: 3\n        values: 1",
                                             "values: 0\n        values: 2\n        values: 2\n        values: 1"),
         "node 'transpose' (index 3): op 'transpose' node 'transpose' with inputs (f32[1,8,6,6]): attribute 'perm' = [0,2,2,1] is not a "
         "permutation of the dims of a rank-4 input");
    text("pad_unknown_mode", edit(modern, "s: \"reflect\"", "s: \"wrap\""),
         "node 'pad' (index 4): op 'pad' node 'pad' with inputs (f32[1,6,6,8]): attribute 'mode' = 'wrap' is not one of constant, reflect, edge");
    text("pad_reflect_wider_than_dim", edit(modern, reflect_pads, edit(reflect_pads, "values: 1", "values: 6")),
         "mode 'reflect' needs pads smaller than the dim: dim 1 has extent 6, pads 6 and 1");
    text("reduce_axis_out_of_range", edit(modern, "values: 1\n        values: 2\n      }\n    }\n    attrs {\n      name: \"keepdims\"",
                                          "values: 1\n        values: 5\n      }\n    }\n    attrs {\n      name: \"keepdims\""),
         "node 'reduce_mean' (index 5): op 'reduce_mean' node 'reduce_mean' with inputs (f32[1,8,6,8]): attribute 'axes' = [1,5]: axis 5 is "
         "out of range for rank 4");
    text("softmax_axis_out_of_range", edit(modern, "name: \"axis\"\n      i: 1\n    }\n    inputs: \"reduce_mean\"",
                                           "name: \"axis\"\n      i: 3\n    }\n    inputs: \"reduce_mean\""),
         "node 'softmax' (index 6): op 'softmax' node 'softmax' with inputs (f32[1,8]): attribute 'axis' = 3 is out of range for rank 2");
    return c;
  }();
  return cases;
}

class ProtoMalformed : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ProtoMalformed, RejectedWithSpecificError) {
  const MalformedCase& c = malformed_cases().at(GetParam());
  try {
    Model model = c.text ? parse_text(c.bytes, c.file_name()) : parse(c.bytes, c.file_name());
    FAIL() << c.name << " loaded without an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(c.expected)) << c.name;
    EXPECT_THAT(e.what(), HasSubstr(c.file_name() + ": ")) << "the error must name the file";
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "errors are one line";
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, ProtoMalformed, ::testing::Range<std::size_t>(0, malformed_cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) { return malformed_cases()[info.param].name; });

TEST(ProtoMalformedCorpus, HasAtLeastFortyDistinctCases) {
  std::set<std::string> names;
  for (const MalformedCase& c : malformed_cases()) names.insert(c.name);
  EXPECT_EQ(names.size(), malformed_cases().size());
  EXPECT_GE(names.size(), 40u);
  if (const char* dir = std::getenv("DAGRAD_WRITE_MALFORMED_CORPUS")) {
    std::filesystem::create_directories(dir);
    for (const MalformedCase& c : malformed_cases())
      std::ofstream(std::string(dir) + "/" + c.file_name(), std::ios::binary) << c.bytes;
  }
}

TEST(ProtoMalformedCorpus, FileLargerThanLimitIsRefusedUnread) {
  std::string dir = scratch_dir("too_large");
  save(small_model(), dir + "/m.dagrad");
  try {
    load(dir + "/m.dagrad", {.max_bytes = 100});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir + "/m.dagrad: file is "));
    EXPECT_THAT(e.what(), HasSubstr("larger than the limit of 100 bytes"));
  }
  EXPECT_EQ(LoadOptions{}.max_bytes, std::int64_t{1} << 30);
  EXPECT_THROW(load(dir + "/missing.dagrad"), Error);
  EXPECT_THROW(load(dir), Error);  // a folder
}

// Crashes the fuzzer found, kept as regression tests: each must fail with an Error, nothing worse.
TEST(ProtoMalformedCorpus, FuzzRegressionsFailCleanly) {
  std::filesystem::path dir = std::filesystem::path(DAGRAD_SOURCE_DIR) / "tests/data/fuzz_regressions";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no fuzz regressions recorded";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string data = bytes.str();
    SCOPED_TRACE(entry.path().filename().string());
    try {
      Model model = data.rfind("magic", 0) == 0 ? parse_text(data, "regression") : parse(data, "regression");
      runtime::compile(model.graph);
    } catch (const Error&) {
    }
  }
}

TEST(ProtoMalformedCorpus, CommittedCorpusStillFails) {
  std::filesystem::path dir = std::filesystem::path(DAGRAD_SOURCE_DIR) / "tests/data/malformed";
  ASSERT_TRUE(std::filesystem::exists(dir));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string name = entry.path().filename().string();
    bool is_text = name.size() > 4 && name.substr(name.size() - 4) == ".txt";
    EXPECT_THROW(is_text ? parse_text(bytes.str(), name) : parse(bytes.str(), name), Error) << name;
    ++files;
  }
  EXPECT_GE(files, 40);
}

}  // namespace
}  // namespace dagrad::testing

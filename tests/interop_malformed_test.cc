// The malformed-ONNX corpus: each row damages a small valid model (x -> Conv -> Relu -> y) in one
// way, writes it to a folder of its own and imports it. The import must throw dagrad::Error whose
// message names the file and what is wrong; anything else (another exception, a crash, a sanitizer
// report) fails. Most rows are caught by interop/onnx_validate.cc before translation; the last ones
// by the importer's per-op rules.
//
// DAGRAD_ONNX_MALFORMED_OUT=DIR additionally copies every row's file into DIR (the fuzzer's seeds,
// fuzz/run.sh).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "graph/error.h"
#include "interop/onnx.h"
#include "onnx/onnx_pb.h"

namespace fs = std::filesystem;

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;
using onnx::AttributeProto;
using onnx::TensorProto;

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, int elem, const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  auto* shape = t->mutable_shape();
  for (std::int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

TensorProto* add_float_initializer(onnx::GraphProto* g, const std::string& name, const std::vector<std::int64_t>& dims) {
  TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(TensorProto::FLOAT);
  std::int64_t count = 1;
  for (std::int64_t d : dims) t->add_dims(d), count *= d;
  for (std::int64_t i = 0; i < count; ++i) t->add_float_data(0.01f * static_cast<float>(i % 17) - 0.05f);
  return t;
}

AttributeProto* add_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& values) {
  AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INTS);
  for (std::int64_t v : values) a->add_ints(v);
  return a;
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

// x [1,3,8,8] -> Conv(w [4,3,3,3], b [4], pads 1) -> c -> Relu -> y [1,4,8,8]; opset 13, IR 8.
onnx::ModelProto valid_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("dagrad malformed corpus");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("malformed");
  set_tensor_type(g->add_input(), "x", TensorProto::FLOAT, {1, 3, 8, 8});
  add_float_initializer(g, "w", {4, 3, 3, 3});
  add_float_initializer(g, "b", {4});
  onnx::NodeProto* conv = add_node(g, "Conv", "conv1", {"x", "w", "b"}, {"c"});
  add_ints(conv, "kernel_shape", {3, 3});
  add_ints(conv, "pads", {1, 1, 1, 1});
  add_node(g, "Relu", "relu1", {"c"}, {"y"});
  set_tensor_type(g->add_output(), "y", TensorProto::FLOAT, {1, 4, 8, 8});
  return m;
}

onnx::GraphProto& graph(onnx::ModelProto& m) { return *m.mutable_graph(); }
onnx::TensorProto& weight(onnx::ModelProto& m) { return *graph(m).mutable_initializer(0); }
onnx::NodeProto& conv(onnx::ModelProto& m) { return *graph(m).mutable_node(0); }
onnx::NodeProto& relu(onnx::ModelProto& m) { return *graph(m).mutable_node(1); }

std::string serialized(const onnx::ModelProto& m) {
  std::string bytes;
  m.SerializeToString(&bytes);
  return bytes;
}

// Makes the weight external: its 432 bytes of zeros go to the model folder's `file` unless `write`
// is false; the location, offset and length are as given ("" leaves a key out).
void make_external(onnx::ModelProto& m, const std::string& location, const std::string& offset = "", const std::string& length = "") {
  TensorProto& w = weight(m);
  w.clear_float_data();
  w.set_data_location(TensorProto::EXTERNAL);
  auto entry = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    auto* e = w.add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  entry("location", location);
  entry("offset", offset);
  entry("length", length);
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct MalformedCase {
  std::string name;
  // The file's bytes: a damaged model, or raw bytes for the rows below the protobuf level.
  std::function<std::string()> bytes;
  std::vector<std::string> expected;  // substrings of the error, besides the file name
  std::function<void(const fs::path& dir)> setup = nullptr;  // files beside the model (external data)
};
// gtest prints a row by its name (not its bytes) in test listings and ctest's log.
void PrintTo(const MalformedCase& row, std::ostream* os) { *os << row.name; }

MalformedCase model_case(std::string name, std::function<void(onnx::ModelProto&)> damage, std::vector<std::string> expected,
                         std::function<void(const fs::path&)> setup = nullptr) {
  return {std::move(name),
          [damage] {
            onnx::ModelProto m = valid_model();
            damage(m);
            return serialized(m);
          },
          std::move(expected), std::move(setup)};
}

std::vector<MalformedCase> malformed_cases() {
  using M = onnx::ModelProto;
  const std::string zeros432(432, '\0');
  return {
      // ---- not a model at all ---------------------------------------------------------------------
      {"truncated", [] { std::string b = serialized(valid_model()); return b.substr(0, b.size() / 2); },
       {"not an ONNX model", "protobuf parse failed"}},
      {"not_a_protobuf", [] { return std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01 plain text", 22); },
       {"not an ONNX model"}},
      {"empty_file", [] { return std::string(); }, {"no graph"}},
      model_case("missing_graph", [](M& m) { m.clear_graph(); }, {"no graph"}),
      // ---- versions and opsets --------------------------------------------------------------------
      model_case("missing_ir_version", [](M& m) { m.clear_ir_version(); }, {"field 'ir_version' is missing"}),
      model_case("ir_version_9", [](M& m) { m.set_ir_version(9); }, {"ir_version 9 is not supported", "3 to 8"}),
      model_case("opset_0", [](M& m) { m.mutable_opset_import(0)->set_version(0); },
                 {"default ONNX domain's version 0 is not supported", "opsets 1 to 17"}),
      model_case("opset_18", [](M& m) { m.mutable_opset_import(0)->set_version(18); },
                 {"default ONNX domain's version 18 is not supported"}),
      model_case("no_default_opset", [](M& m) { m.mutable_opset_import(0)->set_domain("com.example"); },
                 {"opset_import has no version for the default ONNX domain", "'com.example'"}),
      model_case("opset_listed_twice", [](M& m) { *m.add_opset_import() = m.opset_import(0); },
                 {"opset_import lists domain 'ai.onnx' twice"}),
      model_case("node_in_unknown_domain",
                 [](M& m) {
                   auto* op = m.add_opset_import();
                   op->set_domain("com.example");
                   op->set_version(1);
                   relu(m).set_domain("com.example");
                 },
                 {"node 'relu1' (Relu, index 1) is in domain 'com.example'", "only the default ONNX domain"}),
      model_case("node_domain_not_imported", [](M& m) { relu(m).set_domain("ai.onnx.ml"); },
                 {"node 'relu1' (Relu, index 1) is in domain 'ai.onnx.ml', which opset_import does not list"}),
      // ---- names and order ------------------------------------------------------------------------
      model_case("dangling_input", [](M& m) { relu(m).set_input(0, "nowhere"); },
                 {"node 'relu1' (Relu, index 1): input 0 'nowhere' is not defined"}),
      model_case("cycle",
                 [](M& m) {
                   conv(m).set_input(0, "y");  // conv reads relu's output, relu reads conv's
                 },
                 {"the graph has a cycle", "node 'conv1' (Conv, index 0)", "node 'relu1' (Relu, index 1)"}),
      model_case("self_loop", [](M& m) { relu(m).set_input(0, "y"); }, {"the graph has a cycle: node 'relu1' (Relu, index 1) -> node 'relu1'"}),
      model_case("not_topologically_sorted", [](M& m) { graph(m).mutable_node()->SwapElements(0, 1); },
                 {"node 'relu1' (Relu, index 0): input 0 'c' is produced later by node 'conv1' (Conv, index 1)", "topological order"}),
      model_case("duplicate_initializer", [](M& m) { *graph(m).add_initializer() = weight(m); },
                 {"initializer 'w' (index 2) is already defined as initializer 'w' (index 0)"}),
      model_case("duplicate_graph_input", [](M& m) { *graph(m).add_input() = graph(m).input(0); },
                 {"graph input 'x' is listed twice"}),
      model_case("output_redefines_an_input", [](M& m) { relu(m).set_output(0, "x"); },
                 {"output 0 'x' of node 'relu1' (Relu, index 1) is already defined as graph input 'x'"}),
      model_case("two_nodes_write_one_value", [](M& m) { relu(m).set_output(0, "c"); },
                 {"output 0 'c' of node 'relu1' (Relu, index 1) is already defined as output 0 'c' of node 'conv1'"}),
      model_case("graph_output_undefined", [](M& m) { graph(m).mutable_output(0)->set_name("nothing"); },
                 {"graph output 'nothing' is not defined"}),
      model_case("no_graph_outputs", [](M& m) { graph(m).clear_output(); }, {"the graph has no outputs"}),
      model_case("node_without_op_type", [](M& m) { relu(m).clear_op_type(); }, {"node 1 'relu1' has no op_type"}),
      // ---- node arity and attributes against ONNX's schemas ---------------------------------------
      model_case("too_few_inputs", [](M& m) { conv(m).mutable_input()->RemoveLast(), conv(m).mutable_input()->RemoveLast(); },
                 {"node 'conv1' (Conv, index 0) has 1 inputs but Conv (opset 11) takes 2 to 3"}),
      model_case("too_many_inputs", [](M& m) { relu(m).add_input("x"); }, {"node 'relu1' (Relu, index 1) has 2 inputs but Relu (opset 13) takes 1"}),
      model_case("required_input_left_empty", [](M& m) { conv(m).set_input(1, ""); },
                 {"node 'conv1' (Conv, index 0): input 1 (W) of Conv (opset 11) is required but left empty"}),
      model_case("attribute_of_wrong_type",  // Conv kernel_shape as a float
                 [](M& m) {
                   AttributeProto* a = conv(m).mutable_attribute(0);
                   a->clear_ints();
                   a->set_type(AttributeProto::FLOAT);
                   a->set_f(3.0f);
                 },
                 {"node 'conv1' (Conv, index 0): attribute 'kernel_shape' of Conv (opset 11) must be INTS, got FLOAT"}),
      model_case("attribute_type_disagrees_with_value",
                 [](M& m) {
                   AttributeProto* a = conv(m).mutable_attribute(1);
                   a->set_f(1.5f);  // declared INTS, also holds a float
                 },
                 {"attribute 'pads' is declared INTS but holds a FLOAT value"}),
      model_case("attribute_without_type", [](M& m) { conv(m).mutable_attribute(1)->clear_type(); },
                 {"node 'conv1' (Conv, index 0): attribute 'pads' has no valid type"}),
      model_case("attribute_given_twice", [](M& m) { *conv(m).add_attribute() = conv(m).attribute(0); },
                 {"attribute 'kernel_shape' is given twice"}),
      model_case("missing_required_attribute",
                 [](M& m) {
                   onnx::NodeProto* n = add_node(&graph(m), "Concat", "join", {"y", "y"}, {"z"});
                   (void)n;
                   graph(m).mutable_output(0)->set_name("z");
                 },
                 {"node 'join' (Concat, index 2): Concat (opset 13) needs attribute 'axis', which is missing"}),
      // ---- tensors ----------------------------------------------------------------------------------
      model_case("negative_dim", [](M& m) { weight(m).set_dims(0, -4); },
                 {"initializer 'w' (index 0) has a negative dim -4 at position 0", "field 'dims' [-4,3,3,3]"}),
      model_case("raw_data_size_mismatch",
                 [](M& m) {
                   weight(m).clear_float_data();
                   weight(m).set_raw_data(std::string(100, '\0'));
                 },
                 {"initializer 'w' (index 0): field 'raw_data' has 100 bytes but dims [4,3,3,3] of FLOAT need 432"}),
      model_case("float_data_count_mismatch", [](M& m) { weight(m).mutable_float_data()->RemoveLast(); },
                 {"initializer 'w' (index 0): field 'float_data' has 107 values but dims [4,3,3,3] of FLOAT need 108"}),
      model_case("data_in_the_wrong_field",
                 [](M& m) {
                   weight(m).clear_float_data();
                   for (int i = 0; i < 108; ++i) weight(m).add_int64_data(i);
                 },
                 {"initializer 'w' (index 0) keeps its FLOAT data in field 'int64_data'; that type's field is 'float_data'"}),
      model_case("data_in_two_fields", [](M& m) { weight(m).set_raw_data(std::string(432, '\0')); },
                 {"initializer 'w' (index 0) holds its data in both field 'raw_data' and field 'float_data'"}),
      model_case("no_data", [](M& m) { weight(m).clear_float_data(); }, {"initializer 'w' (index 0) has no data", "need 108 elements"}),
      model_case("unknown_data_type", [](M& m) { weight(m).set_data_type(99); }, {"initializer 'w' (index 0) has unknown data type 99"}),
      model_case("huge_dims",  // 1e12 x 1e12 declared, no data behind it
                 [](M& m) {
                   weight(m).clear_dims();
                   weight(m).add_dims(1000000000000);
                   weight(m).add_dims(1000000000000);
                 },
                 {"initializer 'w' (index 0) declares more than 2^31 elements", "[1000000000000,1000000000000]"}),
      model_case("dims_overflow_int64",
                 [](M& m) {
                   weight(m).clear_dims();
                   for (int i = 0; i < 4; ++i) weight(m).add_dims(std::int64_t{1} << 40);
                 },
                 {"initializer 'w' (index 0) declares more than 2^31 elements"}),
      model_case("huge_input_dims",
                 [](M& m) {
                   auto* shape = graph(m).mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
                   shape->mutable_dim(2)->set_dim_value(1000000000000);
                   shape->mutable_dim(3)->set_dim_value(1000000000000);
                 },
                 {"graph input 'x' declares more than 2^31 elements"}),
      model_case("negative_input_dim",
                 [](M& m) { graph(m).mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3); },
                 {"graph input 'x' has a negative dim -3 at position 1"}),
      model_case("input_not_a_tensor",
                 [](M& m) { graph(m).mutable_input(0)->mutable_type()->mutable_sequence_type()->mutable_elem_type(); },
                 {"graph input 'x' is not a tensor"}),
      model_case("input_of_undefined_type",
                 [](M& m) { graph(m).mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(0); },
                 {"graph input 'x' has data type UNDEFINED"}),
      model_case("tensor_segment", [](M& m) { weight(m).mutable_segment()->set_begin(0); }, {"initializer 'w' (index 0) is a segment"}),
      model_case("sparse_initializer", [](M& m) { graph(m).add_sparse_initializer()->mutable_values()->set_name("s"); },
                 {"field 'sparse_initializer'", "dense initializers only"}),
      model_case("constant_attribute_tensor_mismatch",
                 [](M& m) {
                   onnx::NodeProto* k = add_node(&graph(m), "Constant", "k", {}, {"k_out"});
                   AttributeProto* a = k->add_attribute();
                   a->set_name("value");
                   a->set_type(AttributeProto::TENSOR);
                   a->mutable_t()->set_data_type(TensorProto::INT64);
                   a->mutable_t()->add_dims(4);
                   a->mutable_t()->set_raw_data(std::string(12, '\0'));
                 },
                 {"node 'k' (Constant, index 2): attribute 'value': field 'raw_data' has 12 bytes but dims [4] of INT64 need 32"}),
      // ---- external data ------------------------------------------------------------------------
      model_case("external_parent_dir", [](M& m) { make_external(m, "../w.bin"); }, {"external_data 'location' '../w.bin' has a '..' part"}),
      model_case("external_absolute", [](M& m) { make_external(m, "/etc/passwd"); },
                 {"external_data 'location' '/etc/passwd' is an absolute path"}),
      model_case("external_dot_dot_inside", [](M& m) { make_external(m, "sub/../../w.bin"); }, {"has a '..' part"}),
      model_case("external_missing_file", [](M& m) { make_external(m, "w.bin"); }, {"external_data 'location' 'w.bin'", "does not exist"}),
      model_case("external_offset_past_end", [](M& m) { make_external(m, "w.bin", "1000"); },
                 {"external_data 'offset' 1000 is past the end of 'w.bin' (432 bytes)"},
                 [zeros432](const fs::path& dir) { write_file(dir / "w.bin", zeros432); }),
      model_case("external_length_past_end", [](M& m) { make_external(m, "w.bin", "100", "432"); },
                 {"external_data 'offset' 100 + 'length' 432 pass the end of 'w.bin' (432 bytes)"},
                 [zeros432](const fs::path& dir) { write_file(dir / "w.bin", zeros432); }),
      model_case("external_size_mismatch", [](M& m) { make_external(m, "w.bin"); },
                 {"external data in 'w.bin' has 400 bytes", "dims [4,3,3,3] of FLOAT need 432"},
                 [](const fs::path& dir) { write_file(dir / "w.bin", std::string(400, '\0')); }),
      model_case("external_bad_offset", [](M& m) { make_external(m, "w.bin", "-5"); },
                 {"external_data 'offset' '-5' is not a non-negative integer"},
                 [zeros432](const fs::path& dir) { write_file(dir / "w.bin", zeros432); }),
      model_case("external_no_location", [](M& m) { make_external(m, "", "0"); }, {"external_data has no 'location'"}),
      model_case("external_symlink_out_of_folder", [](M& m) { make_external(m, "link.bin"); },
                 {"external_data 'location' 'link.bin' resolves to", "outside the model's folder"},
                 [](const fs::path& dir) {
                   write_file(dir.parent_path() / (dir.filename().string() + "_outside.bin"), std::string(432, '\0'));
                   fs::create_symlink(dir.parent_path() / (dir.filename().string() + "_outside.bin"), dir / "link.bin");
                 }),
      model_case("external_directory", [](M& m) { make_external(m, "folder"); }, {"is not a regular file"},
                 [](const fs::path& dir) { fs::create_directory(dir / "folder"); }),
      // ---- caught by the importer's rules (interop/onnx_rules.cc) --------------------------------
      model_case("unsupported_op", [](M& m) { relu(m).set_op_type("LpNormalization"); }, {"LpNormalization"}),
      model_case("conv_channel_mismatch",
                 [](M& m) {
                   graph(m).mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(5);
                 },
                 {"conv1", "channels"}),
      model_case("conv_kernel_shape_disagrees_with_weight", [](M& m) { conv(m).mutable_attribute(0)->set_ints(0, 5); }, {"conv1", "kernel_shape"}),
      model_case("integer_input_to_conv",
                 [](M& m) { graph(m).mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::INT32); },
                 {"'x'", "INT32"}),
  };
}

class OnnxMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(OnnxMalformed, ImportFailsWithAClearError) {
  const MalformedCase& c = GetParam();
  const fs::path dir = fs::path(::testing::TempDir()) / ("dagrad_onnx_malformed_" + std::to_string(getpid()) + "_" + c.name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string bytes = c.bytes();
  const fs::path file = dir / (c.name + ".onnx");
  write_file(file, bytes);
  if (c.setup) c.setup(dir);
  if (const char* out = std::getenv("DAGRAD_ONNX_MALFORMED_OUT")) {
    fs::create_directories(out);
    write_file(fs::path(out) / (c.name + ".onnx"), bytes);
  }
  std::string message = "no error";
  try {
    interop::import_onnx(file.string());
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::exception& e) {
    message = std::string("not a dagrad::Error: ") + e.what();
  }
  RecordProperty("message", message);  // in --gtest_output=xml: the corpus' messages side by side
  EXPECT_THAT(message, HasSubstr(file.string()));
  for (const std::string& want : c.expected) EXPECT_THAT(message, HasSubstr(want));
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  fs::remove_all(dir);
  fs::remove(dir.parent_path() / (dir.filename().string() + "_outside.bin"));
}

INSTANTIATE_TEST_SUITE_P(Corpus, OnnxMalformed, ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(OnnxMalformedCorpus, TheUndamagedModelImports) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("dagrad_onnx_malformed_valid_" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_file(dir / "valid.onnx", serialized(valid_model()));
  Model m = interop::import_onnx((dir / "valid.onnx").string());
  EXPECT_EQ(m.graph.outputs().size(), 1u);
  // The external-data form of the weight, correct, imports too: the rows above fail for their damage alone.
  onnx::ModelProto external = valid_model();
  make_external(external, "w.bin", "0", "432");
  write_file(dir / "external.onnx", serialized(external));
  write_file(dir / "w.bin", std::string(432, '\0'));
  EXPECT_NO_THROW(interop::import_onnx((dir / "external.onnx").string()));
  fs::remove_all(dir);
}

TEST(OnnxMalformedCorpus, HasAtLeast25Rows) { EXPECT_GE(malformed_cases().size(), 25u); }

TEST(OnnxMalformedCorpus, ExternalDataFromMemoryIsRefused) {
  onnx::ModelProto m = valid_model();
  make_external(m, "w.bin");
  std::string message = "no error";
  try {
    interop::import_onnx_bytes(serialized(m), "<bytes>", "");
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_THAT(message, HasSubstr("<bytes>"));
  EXPECT_THAT(message, HasSubstr("without a folder"));
}

}  // namespace
}  // namespace dagrad::testing

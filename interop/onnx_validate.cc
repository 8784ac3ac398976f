// Structural validation of an ONNX ModelProto before import (see onnx_validate.h). Every check reads
// only the parsed message and, for external data, the size of the referenced file: nothing is
// allocated in proportion to a declared size, so a hostile file costs no more than its own bytes.
#include "interop/onnx_validate.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graph/error.h"
#include "onnx/defs/schema.h"

namespace dagrad::interop {
namespace {

constexpr std::int64_t kMinIrVersion = 3;   // the first with opset_import
constexpr std::int64_t kMaxIrVersion = 8;   // ONNX 1.12's
// The importer's rules know the pre-7 forms (legacy broadcast, is_test, ...), and ONNX's own
// conformance data holds many opset-6 PyTorch exports: the floor is opset 1, not the 7.
constexpr std::int64_t kMinOpset = 1;
constexpr std::int64_t kMaxOpset = 17;
constexpr std::int64_t kMaxElements = std::int64_t{1} << 31;  // per tensor

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

std::string quote_name(const std::string& s) {
  // Names come from the file: keep messages on one line and bounded.
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += s[i];
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

// "node 'conv1' (Conv, index 3)"
std::string describe_node(const onnx::NodeProto& node, int index) {
  std::string op = quote_name(node.op_type());
  op = op.substr(1, op.size() - 2);
  const std::string name = node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
  return "node " + quote_name(name) + " (" + op + ", index " + std::to_string(index) + ")";
}

std::string dims_text(const google::protobuf::RepeatedField<std::int64_t>& dims) {
  std::ostringstream s;
  s << "[";
  for (int i = 0; i < dims.size(); ++i) s << (i ? "," : "") << dims[i];
  s << "]";
  return s.str();
}

// a * b, or false past kMaxElements (both non-negative).
bool multiply_capped(std::int64_t a, std::int64_t b, std::int64_t& out) {
  if (a != 0 && b > kMaxElements / a) return false;
  out = a * b;
  return out <= kMaxElements;
}

const char* attribute_type_name(int type) {
  using A = onnx::AttributeProto;
  switch (type) {
    case A::FLOAT: return "FLOAT";
    case A::INT: return "INT";
    case A::STRING: return "STRING";
    case A::TENSOR: return "TENSOR";
    case A::GRAPH: return "GRAPH";
    case A::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case A::TYPE_PROTO: return "TYPE_PROTO";
    case A::FLOATS: return "FLOATS";
    case A::INTS: return "INTS";
    case A::STRINGS: return "STRINGS";
    case A::TENSORS: return "TENSORS";
    case A::GRAPHS: return "GRAPHS";
    case A::SPARSE_TENSORS: return "SPARSE_TENSORS";
    case A::TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}

// The attribute types whose value field is set, so a declared type can be checked against them.
std::vector<int> attribute_fields_set(const onnx::AttributeProto& a) {
  using A = onnx::AttributeProto;
  std::vector<int> set;
  if (a.has_f()) set.push_back(A::FLOAT);
  if (a.has_i()) set.push_back(A::INT);
  if (a.has_s()) set.push_back(A::STRING);
  if (a.has_t()) set.push_back(A::TENSOR);
  if (a.has_g()) set.push_back(A::GRAPH);
  if (a.has_sparse_tensor()) set.push_back(A::SPARSE_TENSOR);
  if (a.has_tp()) set.push_back(A::TYPE_PROTO);
  if (a.floats_size()) set.push_back(A::FLOATS);
  if (a.ints_size()) set.push_back(A::INTS);
  if (a.strings_size()) set.push_back(A::STRINGS);
  if (a.tensors_size()) set.push_back(A::TENSORS);
  if (a.graphs_size()) set.push_back(A::GRAPHS);
  if (a.sparse_tensors_size()) set.push_back(A::SPARSE_TENSORS);
  if (a.type_protos_size()) set.push_back(A::TYPE_PROTOS);
  return set;
}

bool is_list_type(int type) { return type >= onnx::AttributeProto::FLOATS; }

class Validator {
 public:
  Validator(const onnx::ModelProto& model, const std::string& source, const std::string& base_dir)
      : model_(model), source_(source), base_dir_(base_dir) {}

  void run() {
    check_versions();
    if (!model_.has_graph()) fail(source_, ": the model has no graph (field 'graph' is missing)");
    const onnx::GraphProto& g = model_.graph();
    if (g.sparse_initializer_size() > 0)
      fail(source_, ": graph field 'sparse_initializer' holds ", g.sparse_initializer_size(),
           " sparse tensors (first ", quote_name(g.sparse_initializer(0).values().name()), "); dagrad reads dense initializers only");
    check_graph_values(g);
    check_nodes(g);
    check_outputs(g);
  }

 private:
  // ---- model header ----------------------------------------------------------------------------
  void check_versions() {
    if (!model_.has_ir_version()) fail(source_, ": field 'ir_version' is missing (is this an ONNX model?)");
    const std::int64_t ir = model_.ir_version();
    if (ir < kMinIrVersion || ir > kMaxIrVersion)
      fail(source_, ": ir_version ", ir, " is not supported (dagrad reads IR versions ", kMinIrVersion, " to ", kMaxIrVersion,
           ", ONNX 1.12)");
    bool have_default = false;
    std::set<std::string> domains;
    for (const onnx::OperatorSetIdProto& op : model_.opset_import()) {
      const std::string domain = is_default_domain(op.domain()) ? "" : op.domain();
      if (!domains.insert(domain).second)
        fail(source_, ": opset_import lists domain ", quote_name(domain.empty() ? "ai.onnx" : domain), " twice");
      if (!domain.empty()) continue;  // other domains matter only if a node uses them (check_nodes)
      have_default = true;
      opset_ = op.version();
      if (opset_ < kMinOpset || opset_ > kMaxOpset)
        fail(source_, ": opset_import: the default ONNX domain's version ", opset_, " is not supported (dagrad imports opsets ",
             kMinOpset, " to ", kMaxOpset, ")");
    }
    if (!have_default) {
      std::string listed;
      for (const auto& d : domains) listed += (listed.empty() ? "" : ", ") + quote_name(d);
      fail(source_, ": opset_import has no version for the default ONNX domain",
           listed.empty() ? std::string(" (it is empty)") : " (it lists only " + listed + ")");
    }
    imported_domains_ = std::move(domains);
  }

  // ---- graph inputs, initializers ----------------------------------------------------------------
  void define(const std::string& name, const std::string& what) {
    auto [it, fresh] = defined_.emplace(name, what);
    if (!fresh) fail(source_, ": ", what, " is already defined as ", it->second, "; ONNX values are defined once");
  }

  void check_graph_values(const onnx::GraphProto& g) {
    std::set<std::string> initializer_names;
    for (int i = 0; i < g.initializer_size(); ++i) {
      const onnx::TensorProto& t = g.initializer(i);
      const std::string what = "initializer " + quote_name(t.name()) + " (index " + std::to_string(i) + ")";
      if (t.name().empty()) fail(source_, ": initializer ", i, " has no name");
      define(t.name(), what);
      initializer_names.insert(t.name());
      check_tensor(t, what);
    }
    std::set<std::string> input_names;
    for (int i = 0; i < g.input_size(); ++i) {
      const onnx::ValueInfoProto& v = g.input(i);
      const std::string what = "graph input " + quote_name(v.name());
      if (v.name().empty()) fail(source_, ": graph input ", i, " has no name");
      if (!input_names.insert(v.name()).second) fail(source_, ": ", what, " is listed twice in the graph's inputs");
      check_value_type(v, what);
      // IR < 4 lists every initializer as a graph input too (its default value): not a redefinition.
      if (!initializer_names.count(v.name())) define(v.name(), what);
    }
    for (const onnx::ValueInfoProto& v : g.value_info()) check_value_type(v, "value_info " + quote_name(v.name()), /*type_optional=*/true);
  }

  void check_value_type(const onnx::ValueInfoProto& v, const std::string& what, bool type_optional = false) {
    if (!v.has_type()) {
      if (type_optional) return;
      fail(source_, ": ", what, " has no type (field 'type' is missing)");
    }
    if (!v.type().has_tensor_type()) fail(source_, ": ", what, " is not a tensor (field 'type' holds another kind); dagrad reads tensors only");
    const onnx::TypeProto::Tensor& t = v.type().tensor_type();
    if (!t.has_elem_type() || t.elem_type() == onnx::TensorProto::UNDEFINED || !onnx::TensorProto_DataType_IsValid(t.elem_type())) {
      if (type_optional && !t.has_elem_type()) return;
      fail(source_, ": ", what, " has ", t.has_elem_type() ? onnx_type_name(t.elem_type()) : "no element type",
           " (field 'type.tensor_type.elem_type')");
    }
    if (!t.has_shape()) return;
    std::int64_t count = 1;
    for (int d = 0; d < t.shape().dim_size(); ++d) {
      const onnx::TensorShapeProto::Dimension& dim = t.shape().dim(d);
      if (!dim.has_dim_value()) continue;  // symbolic or unknown: fixed at import
      if (dim.dim_value() < 0)
        fail(source_, ": ", what, " has a negative dim ", dim.dim_value(), " at position ", d, " (field 'type.tensor_type.shape')");
      if (!multiply_capped(count, dim.dim_value(), count))
        fail(source_, ": ", what, " declares more than 2^31 elements (dim ", d, " = ", dim.dim_value(),
             "; field 'type.tensor_type.shape')");
    }
  }

  // ---- tensors -----------------------------------------------------------------------------------
  void check_tensor(const onnx::TensorProto& t, const std::string& what) {
    const int type = t.data_type();
    if (!t.has_data_type() || type == onnx::TensorProto::UNDEFINED || !onnx::TensorProto_DataType_IsValid(type))
      fail(source_, ": ", what, " has ", t.has_data_type() ? onnx_type_name(type) : "no data type", " (field 'data_type')");
    if (t.has_segment()) fail(source_, ": ", what, " is a segment of a tensor (field 'segment'), which dagrad does not read");
    std::int64_t count = 1;
    for (int d = 0; d < t.dims_size(); ++d) {
      if (t.dims(d) < 0) fail(source_, ": ", what, " has a negative dim ", t.dims(d), " at position ", d, " (field 'dims' ", dims_text(t.dims()), ")");
      if (!multiply_capped(count, t.dims(d), count))
        fail(source_, ": ", what, " declares more than 2^31 elements (field 'dims' ", dims_text(t.dims()), ")");
    }
    const std::string shape = "dims " + dims_text(t.dims()) + " of " + onnx_type_name(type);
    const bool external = t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL;
    if (t.has_data_location() && !onnx::TensorProto_DataLocation_IsValid(t.data_location()))
      fail(source_, ": ", what, " has an unknown data_location ", static_cast<int>(t.data_location()));
    if (!external && t.external_data_size() > 0)
      fail(source_, ": ", what, " has field 'external_data' but its data_location is not EXTERNAL");

    // Where the data is: at most one of raw_data, the typed fields, external.
    struct Field {
      const char* name;
      int size;
    };
    const Field fields[] = {{"float_data", t.float_data_size()},   {"int32_data", t.int32_data_size()},
                            {"string_data", t.string_data_size()}, {"int64_data", t.int64_data_size()},
                            {"double_data", t.double_data_size()}, {"uint64_data", t.uint64_data_size()}};
    std::vector<std::string> holders;
    if (t.has_raw_data()) holders.push_back("raw_data");
    for (const Field& f : fields)
      if (f.size > 0) holders.push_back(f.name);
    if (external) holders.push_back("external_data");
    if (holders.size() > 1)
      fail(source_, ": ", what, " holds its data in both field '", holders[0], "' and field '", holders[1], "'");

    const std::int64_t element_size = onnx_element_size(type);
    if (type == onnx::TensorProto::STRING) {
      if (t.has_raw_data() || external) fail(source_, ": ", what, " is a STRING tensor, whose data must be in field 'string_data'");
      if (t.string_data_size() != count)
        fail(source_, ": ", what, ": field 'string_data' has ", t.string_data_size(), " strings but ", shape, " need ", count);
      return;
    }
    const std::int64_t bytes = count * element_size;  // <= 2^31 * 16: no overflow
    if (external) return check_external(t, what, shape, bytes);
    if (t.has_raw_data()) {
      if (static_cast<std::int64_t>(t.raw_data().size()) != bytes)
        fail(source_, ": ", what, ": field 'raw_data' has ", t.raw_data().size(), " bytes but ", shape, " need ", bytes);
      return;
    }
    // The typed field that holds this type, and how many of its entries one element takes.
    const char* want = nullptr;
    int per_element = 1;
    switch (type) {
      case onnx::TensorProto::FLOAT: want = "float_data"; break;
      case onnx::TensorProto::COMPLEX64: want = "float_data", per_element = 2; break;
      case onnx::TensorProto::DOUBLE: want = "double_data"; break;
      case onnx::TensorProto::COMPLEX128: want = "double_data", per_element = 2; break;
      case onnx::TensorProto::INT64: want = "int64_data"; break;
      case onnx::TensorProto::UINT32:
      case onnx::TensorProto::UINT64: want = "uint64_data"; break;
      default: want = "int32_data"; break;  // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16
    }
    if (holders.empty()) {
      if (count == 0) return;
      fail(source_, ": ", what, " has no data (none of raw_data, ", want, ", external_data) but ", shape, " need ", count, " elements");
    }
    if (holders[0] != want)
      fail(source_, ": ", what, " keeps its ", onnx_type_name(type), " data in field '", holders[0], "'; that type's field is '", want, "'");
    int have = 0;
    for (const Field& f : fields)
      if (f.name == std::string(want)) have = f.size;
    if (static_cast<std::int64_t>(have) != count * per_element)
      fail(source_, ": ", what, ": field '", want, "' has ", have, " values but ", shape, " need ", count * per_element);
  }

  static bool parse_count(const std::string& text, std::int64_t& value) {
    if (text.empty() || text.size() > 19) return false;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    return ec == std::errc() && ptr == end && value >= 0;
  }

  void check_external(const onnx::TensorProto& t, const std::string& what, const std::string& shape, std::int64_t bytes) {
    namespace fs = std::filesystem;
    std::map<std::string, std::string> entries;
    for (const onnx::StringStringEntryProto& e : t.external_data()) {
      if (e.key() != "location" && e.key() != "offset" && e.key() != "length" && e.key() != "checksum")
        fail(source_, ": ", what, ": external_data has an unknown key ", quote_name(e.key()));
      if (!entries.emplace(e.key(), e.value()).second) fail(source_, ": ", what, ": external_data lists key ", quote_name(e.key()), " twice");
    }
    const std::string location = entries.count("location") ? entries["location"] : "";
    const std::string field = ": external_data 'location' " + quote_name(location);
    if (location.empty()) fail(source_, ": ", what, ": external_data has no 'location'");
    if (location.find('\0') != std::string::npos) fail(source_, ": ", what, field, " contains a NUL byte");
    const fs::path relative(location);
    if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory())
      fail(source_, ": ", what, field, " is an absolute path; external data must be a file in the model's own folder");
    for (const fs::path& part : relative)
      if (part == "..") fail(source_, ": ", what, field, " has a '..' part; external data must be a file in the model's own folder");
    if (base_dir_.empty())
      fail(source_, ": ", what, field, ": the model was read from memory without a folder, so external data cannot be read");
    std::error_code ec;
    fs::path base = fs::weakly_canonical(fs::path(base_dir_), ec);
    if (ec) fail(source_, ": ", what, field, ": cannot resolve the model's folder ", quote_name(base_dir_), ": ", ec.message());
    if (!base.has_filename() && base.has_parent_path() && base != base.root_path()) base = base.parent_path();  // "dir/" -> "dir"
    const fs::path resolved = fs::weakly_canonical(base / relative, ec);
    if (ec) fail(source_, ": ", what, field, ": cannot resolve it in ", quote_name(base.string()), ": ", ec.message());
    // Component-wise prefix test: a symlink inside the folder may still lead out of it.
    auto mismatch = std::mismatch(base.begin(), base.end(), resolved.begin(), resolved.end());
    if (mismatch.first != base.end())
      fail(source_, ": ", what, field, " resolves to ", quote_name(resolved.string()), ", outside the model's folder ", quote_name(base.string()));
    const fs::file_status status = fs::status(resolved, ec);
    if (ec || !fs::exists(status)) fail(source_, ": ", what, field, ": the file ", quote_name(resolved.string()), " does not exist");
    if (!fs::is_regular_file(status)) fail(source_, ": ", what, field, ": ", quote_name(resolved.string()), " is not a regular file");
    const std::uintmax_t file_size = fs::file_size(resolved, ec);
    if (ec) fail(source_, ": ", what, field, ": cannot read the size of ", quote_name(resolved.string()), ": ", ec.message());
    const auto size = static_cast<std::int64_t>(std::min<std::uintmax_t>(file_size, std::numeric_limits<std::int64_t>::max()));
    std::int64_t offset = 0, length = -1;
    if (entries.count("offset") && !parse_count(entries["offset"], offset))
      fail(source_, ": ", what, ": external_data 'offset' ", quote_name(entries["offset"]), " is not a non-negative integer");
    if (entries.count("length") && !parse_count(entries["length"], length))
      fail(source_, ": ", what, ": external_data 'length' ", quote_name(entries["length"]), " is not a non-negative integer");
    if (offset > size)
      fail(source_, ": ", what, ": external_data 'offset' ", offset, " is past the end of ", quote_name(location), " (", size, " bytes)");
    if (length >= 0 && length > size - offset)
      fail(source_, ": ", what, ": external_data 'offset' ", offset, " + 'length' ", length, " pass the end of ", quote_name(location), " (",
           size, " bytes)");
    const std::int64_t available = length >= 0 ? length : size - offset;
    if (available != bytes)
      fail(source_, ": ", what, ": external data in ", quote_name(location), " has ", available, " bytes",
           length >= 0 ? " ('length')" : " (from 'offset' to the end of the file)", " but ", shape, " need ", bytes);
  }

  // ---- nodes -------------------------------------------------------------------------------------
  void check_nodes(const onnx::GraphProto& g) {
    const int n = g.node_size();
    // Which node defines each output, to tell "defined later" (unsorted, or a cycle) from "nowhere".
    std::unordered_map<std::string, int> producer;
    for (int i = 0; i < n; ++i)
      for (const std::string& out : g.node(i).output())
        if (!out.empty()) producer.emplace(out, i);
    for (int i = 0; i < n; ++i) {
      const onnx::NodeProto& node = g.node(i);
      const std::string where = describe_node(node, i);
      if (node.op_type().empty()) fail(source_, ": node ", i, " ", quote_name(node.name()), " has no op_type");
      if (!is_default_domain(node.domain())) {
        if (!imported_domains_.count(node.domain()))
          fail(source_, ": ", where, " is in domain ", quote_name(node.domain()), ", which opset_import does not list");
        fail(source_, ": ", where, " is in domain ", quote_name(node.domain()), "; dagrad imports only the default ONNX domain (ai.onnx)");
      }
      for (int k = 0; k < node.input_size(); ++k) {
        const std::string& in = node.input(k);
        if (in.empty() || defined_.count(in)) continue;
        auto p = producer.find(in);
        if (p == producer.end())
          fail(source_, ": ", where, ": input ", k, " ", quote_name(in), " is not defined (no graph input, initializer or node output has that name)");
        report_order(g, i, k, p->second);
      }
      check_node_schema(node, where);
      for (int k = 0; k < node.output_size(); ++k) {
        if (node.output(k).empty()) continue;  // an optional output left out
        define(node.output(k), "output " + std::to_string(k) + " " + quote_name(node.output(k)) + " of " + where);
      }
    }
  }

  // Node `reader` reads (as input k) a value node `writer` >= reader produces: a cycle if the
  // writer depends on the reader, else nodes merely out of order. Either way an error.
  [[noreturn]] void report_order(const onnx::GraphProto& g, int reader, int k, int writer) {
    const std::string value = g.node(reader).input(k);
    std::vector<int> path = find_cycle(g, reader);
    if (!path.empty()) {
      std::string chain;
      for (std::size_t i = 0; i < path.size() && i < 8; ++i) chain += describe_node(g.node(path[i]), path[i]) + " -> ";
      if (path.size() > 8) chain += "... -> ";
      chain += describe_node(g.node(path[0]), path[0]);
      fail(source_, ": the graph has a cycle: ", chain);
    }
    fail(source_, ": ", describe_node(g.node(reader), reader), ": input ", k, " ", quote_name(value), " is produced later by ",
         describe_node(g.node(writer), writer), "; ONNX nodes must be in topological order");
  }

  // A cycle through `start` (node indices, start first), or empty. Iterative: fuzzed graphs may be long.
  std::vector<int> find_cycle(const onnx::GraphProto& g, int start) {
    std::unordered_map<std::string, int> producer;
    for (int i = 0; i < g.node_size(); ++i)
      for (const std::string& out : g.node(i).output())
        if (!out.empty()) producer.emplace(out, i);
    // Walk backwards from start through producers of inputs; reaching start again is a cycle.
    std::vector<int> parent(static_cast<std::size_t>(g.node_size()), -2);
    std::vector<int> stack = {start};
    parent[start] = -1;
    while (!stack.empty()) {
      const int at = stack.back();
      stack.pop_back();
      for (const std::string& in : g.node(at).input()) {
        auto p = producer.find(in);
        if (p == producer.end()) continue;
        const int from = p->second;
        if (from == start) {
          std::vector<int> path;  // start <- at <- ... : reversed it reads start -> ... -> at -> start
          for (int v = at; v != -1; v = parent[v]) path.push_back(v);
          return {path.rbegin(), path.rend()};
        }
        if (parent[from] != -2) continue;
        parent[from] = at;
        stack.push_back(from);
      }
    }
    return {};
  }

  void check_node_schema(const onnx::NodeProto& node, const std::string& where) {
    // Attributes: named once, with a type that matches the field holding the value.
    std::set<std::string> names;
    for (const onnx::AttributeProto& a : node.attribute()) {
      if (a.name().empty()) fail(source_, ": ", where, ": an attribute has no name");
      const std::string attr = where + ": attribute " + quote_name(a.name());
      if (!names.insert(a.name()).second) fail(source_, ": ", attr, " is given twice");
      if (!a.has_type() || a.type() == onnx::AttributeProto::UNDEFINED || !onnx::AttributeProto_AttributeType_IsValid(a.type()))
        fail(source_, ": ", attr, " has no valid type (field 'type')");
      for (int set : attribute_fields_set(a))
        if (set != a.type())
          fail(source_, ": ", attr, " is declared ", attribute_type_name(a.type()), " but holds a ", attribute_type_name(set), " value");
      if (!is_list_type(a.type()) && attribute_fields_set(a).empty())
        fail(source_, ": ", attr, " is declared ", attribute_type_name(a.type()), " but holds no value");
      if (a.has_t()) check_tensor(a.t(), attr);
      for (int k = 0; k < a.tensors_size(); ++k) check_tensor(a.tensors(k), attr + " tensor " + std::to_string(k));
    }
    // The op's schema at the model's opset; an op ONNX does not know there is left to the importer,
    // which lists every unsupported op at once.
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset_), onnx::ONNX_DOMAIN);
    if (!schema) return;
    const std::string op = node.op_type() + " (opset " + std::to_string(schema->SinceVersion()) + ")";
    if (node.input_size() < schema->min_input() || node.input_size() > schema->max_input())
      fail(source_, ": ", where, " has ", node.input_size(), " inputs but ", op, " takes ", schema->min_input(),
           schema->max_input() == schema->min_input() ? "" : schema->max_input() == std::numeric_limits<int>::max() ? " or more"
                                                                                                                  : " to " + std::to_string(schema->max_input()));
    if (node.output_size() < schema->min_output() || node.output_size() > schema->max_output())
      fail(source_, ": ", where, " has ", node.output_size(), " outputs but ", op, " gives ", schema->min_output(),
           schema->max_output() == schema->min_output() ? "" : schema->max_output() == std::numeric_limits<int>::max() ? " or more"
                                                                                                                   : " to " + std::to_string(schema->max_output()));
    const auto& formal = schema->inputs();
    for (int k = 0; k < node.input_size() && k < static_cast<int>(formal.size()); ++k)
      if (node.input(k).empty() && formal[k].GetOption() == onnx::OpSchema::Single)
        fail(source_, ": ", where, ": input ", k, " (", formal[k].GetName(), ") of ", op, " is required but left empty");
    for (const auto& [name, spec] : schema->attributes()) {
      const onnx::AttributeProto* given = nullptr;
      for (const onnx::AttributeProto& a : node.attribute())
        if (a.name() == name) given = &a;
      if (!given) {
        if (spec.required) fail(source_, ": ", where, ": ", op, " needs attribute ", quote_name(name), ", which is missing");
        continue;
      }
      if (given->type() != spec.type)
        fail(source_, ": ", where, ": attribute ", quote_name(name), " of ", op, " must be ", attribute_type_name(spec.type), ", got ",
             attribute_type_name(given->type()));
    }
  }

  void check_outputs(const onnx::GraphProto& g) {
    if (g.output_size() == 0) fail(source_, ": the graph has no outputs (field 'graph.output' is empty)");
    std::set<std::string> seen;
    for (int i = 0; i < g.output_size(); ++i) {
      const onnx::ValueInfoProto& v = g.output(i);
      const std::string what = "graph output " + quote_name(v.name());
      if (v.name().empty()) fail(source_, ": graph output ", i, " has no name");
      if (!seen.insert(v.name()).second) fail(source_, ": ", what, " is listed twice in the graph's outputs");
      if (!defined_.count(v.name())) fail(source_, ": ", what, " is not defined (no node, initializer or graph input produces it)");
      check_value_type(v, what, /*type_optional=*/true);
    }
  }

  const onnx::ModelProto& model_;
  const std::string& source_;
  const std::string& base_dir_;
  std::int64_t opset_ = 0;
  std::set<std::string> imported_domains_;
  std::unordered_map<std::string, std::string> defined_;  // value name -> what defines it
};

}  // namespace

int onnx_element_size(int data_type) {
  switch (data_type) {
    case onnx::TensorProto::FLOAT: return 4;
    case onnx::TensorProto::UINT8: return 1;
    case onnx::TensorProto::INT8: return 1;
    case onnx::TensorProto::UINT16: return 2;
    case onnx::TensorProto::INT16: return 2;
    case onnx::TensorProto::INT32: return 4;
    case onnx::TensorProto::INT64: return 8;
    case onnx::TensorProto::BOOL: return 1;
    case onnx::TensorProto::FLOAT16: return 2;
    case onnx::TensorProto::DOUBLE: return 8;
    case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::UINT64: return 8;
    case onnx::TensorProto::COMPLEX64: return 8;
    case onnx::TensorProto::COMPLEX128: return 16;
    case onnx::TensorProto::BFLOAT16: return 2;
    default: return 0;
  }
}

std::string onnx_type_name(int data_type) {
  if (data_type == onnx::TensorProto::UNDEFINED) return "data type UNDEFINED";
  if (!onnx::TensorProto_DataType_IsValid(data_type)) return "unknown data type " + std::to_string(data_type);
  return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(data_type));
}

void validate_onnx_model(const onnx::ModelProto& model, const std::string& source_name, const std::string& base_dir) {
  Validator(model, source_name, base_dir).run();
}

}  // namespace dagrad::interop

// Model <-> dagrad.file.ModelFile conversion, validation and atomic file writes.
//
// Reading is two passes. validate() checks the message alone (header, values, nodes, attributes,
// references, cycles, tensors, checksums) and computes a dependency order of the nodes, so every
// problem is reported with the file, the node (name and index) or value, and the field, before
// any Graph exists. build() then replays the graph through Graph::add_node_ids, which re-infers
// every shape; a stored type that differs from the inferred one is an error too.
#include "proto/model_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/stubs/logging.h>  // LogSilencer ("stubs" is protobuf's own folder name)
#include <google/protobuf/text_format.h>

#include "graph/op.h"
#include "proto/dagrad.pb.h"

static_assert(std::endian::native == std::endian::little,
              "tensor bytes are stored little-endian; a big-endian port must byte-swap in put_tensor/get_tensor");

namespace dagrad {
namespace {

namespace pb = dagrad::file;

constexpr char kMagic[] = "dagrad.model";
constexpr char kProducer[] = "dagrad " DAGRAD_PRODUCER_VERSION;

// ---- writing ---------------------------------------------------------------------------------
pb::DataType to_proto(DType dtype) {
  switch (dtype) {
    case DType::f32: return pb::F32;
    case DType::f64: return pb::F64;
    case DType::i64: return pb::I64;
  }
  fail("invalid dtype ", static_cast<int>(dtype));
}

pb::ValueKind to_proto(ValueKind kind) {
  switch (kind) {
    case ValueKind::input: return pb::INPUT;
    case ValueKind::parameter: return pb::PARAMETER;
    case ValueKind::state: return pb::STATE;
    case ValueKind::constant: return pb::CONSTANT;
    case ValueKind::result: return pb::RESULT;
  }
  fail("invalid value kind ", static_cast<int>(kind));
}

void put_tensor(pb::TensorData* out, const std::string& name, const Tensor& t) {
  out->set_name(name);
  out->set_dtype(to_proto(t.dtype()));
  for (std::int64_t d : t.shape()) out->add_dims(d);
  std::string* raw = out->mutable_raw();
  raw->resize(t.nbytes());
  if (t.nbytes() > 0) std::memcpy(raw->data(), t.raw(), t.nbytes());
  out->set_crc32c(crc32c(*raw));
}

void put_attr(pb::Attribute* out, const std::string& name, const AttrValue& value) {
  out->set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::int64_t>) out->set_i(v);
        else if constexpr (std::is_same_v<T, double>) out->set_f(v);
        else if constexpr (std::is_same_v<T, bool>) out->set_b(v);
        else if constexpr (std::is_same_v<T, std::string>) out->set_s(v);
        else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
          for (std::int64_t x : v) out->mutable_ints()->add_values(x);
        else
          for (double x : v) out->mutable_floats()->add_values(x);
      },
      value);
  // An empty list still has to say which list type it is.
  if (std::holds_alternative<std::vector<std::int64_t>>(value)) out->mutable_ints();
  if (std::holds_alternative<std::vector<double>>(value)) out->mutable_floats();
}

pb::ModelFile to_proto(const Model& model) {
  const Graph& g = model.graph;
  pb::ModelFile file;
  file.set_magic(kMagic);
  file.set_format_version(kFormatVersion);
  file.set_min_reader_version(1);
  file.set_producer(kProducer);
  for (const auto& [key, value] : model.metadata) {
    pb::KeyValue* kv = file.add_metadata();
    kv->set_key(key);
    kv->set_value(value);
  }
  pb::GraphDef* graph = file.mutable_graph();
  auto name_of = [&](ValueId id) { return g.value(id).name; };
  for (const ValueInfo& v : g.values()) {
    pb::ValueDef* out = graph->add_values();
    out->set_name(v.name);
    out->set_dtype(to_proto(v.type.dtype));
    for (std::int64_t d : v.type.shape) out->add_shape(d);
    out->set_kind(to_proto(v.kind));
    if (v.kind == ValueKind::parameter || v.kind == ValueKind::state) {
      pb::Initializer* init = out->mutable_init();
      init->set_kind(v.init.kind);
      init->set_value(v.init.value);
      init->set_fan_in(v.init.fan_in);
      init->set_seed(v.init.seed);
    }
    if (v.kind == ValueKind::constant) {
      if (!v.constant) fail("constant '", v.name, "' has no tensor");
      put_tensor(file.add_constants(), v.name, *v.constant);
    }
  }
  for (const Node& n : g.nodes()) {
    pb::NodeDef* out = graph->add_nodes();
    out->set_name(n.name);
    out->set_op(n.op);
    out->set_op_version(n.op_version);
    for (const auto& [name, value] : n.attrs) put_attr(out->add_attrs(), name, value);
    for (ValueId id : n.inputs) out->add_inputs(name_of(id));
    for (ValueId id : n.outputs) out->add_outputs(name_of(id));
    out->set_backward(n.backward);
  }
  for (ValueId id : g.outputs()) graph->add_outputs(name_of(id));
  if (g.loss() != kNoValue) graph->set_loss(name_of(g.loss()));
  for (const auto& [state, next] : g.state_updates()) {
    pb::ValuePair* p = graph->add_state_updates();
    p->set_first(name_of(state));
    p->set_second(name_of(next));
  }
  for (const auto& [wrt, grad] : g.gradients()) {
    pb::ValuePair* p = graph->add_gradients();
    p->set_first(name_of(wrt));
    p->set_second(name_of(grad));
  }
  // Tensors in graph order, so files of one graph are byte-identical whatever the map holds.
  auto put_kind = [&](ValueKind kind, const TensorMap& tensors, const char* what,
                      google::protobuf::RepeatedPtrField<pb::TensorData>* out) {
    for (ValueId id : g.values_of_kind(kind)) {
      auto it = tensors.find(name_of(id));
      if (it == tensors.end()) fail("save: the model has no ", what, " tensor for '", name_of(id), "'");
      if (it->second.dtype() != g.value(id).type.dtype || it->second.shape() != g.value(id).type.shape)
        fail("save: ", what, " tensor '", name_of(id), "' is ", dtype_name(it->second.dtype()),
             to_string(it->second.shape()), " but the graph declares ", to_string(g.value(id).type));
      put_tensor(out->Add(), it->first, it->second);
    }
    for (const auto& [name, tensor] : tensors) {
      auto id = g.find(name);
      if (!id || g.value(*id).kind != kind) fail("save: ", what, " tensor '", name, "' is not a ", what, " of the graph");
    }
  };
  put_kind(ValueKind::parameter, model.parameters, "parameter", file.mutable_parameters());
  put_kind(ValueKind::state, model.state, "state", file.mutable_state());
  if (model.training) {
    const TrainingState& t = *model.training;
    pb::TrainingState* out = file.mutable_training();
    out->set_optimizer(t.optimizer);
    for (const auto& [name, value] : t.hyperparameters) {
      pb::Hyperparameter* h = out->add_hyperparameters();
      h->set_name(name);
      h->set_value(value);
    }
    for (const auto& [name, tensor] : t.buffers) put_tensor(out->add_buffers(), name, tensor);
    out->set_step(t.step);
    out->set_epoch(t.epoch);
    out->set_rng_seed(t.rng_seed);
    out->set_rng_state(t.rng_state);
  }
  return file;
}

// ---- reading ---------------------------------------------------------------------------------
std::string quoted(const std::string& s) {
  // Names come from the file: keep messages one line and bounded.
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

std::string shape_string(const google::protobuf::RepeatedField<std::int64_t>& dims) {
  std::string s = "[";
  for (int i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

class Reader {
 public:
  // Takes the message by reference and releases tensor bytes as it copies them, so loading
  // needs about twice a file's size in memory, not three times.
  Reader(pb::ModelFile& file, std::string source) : file_(file), source_(std::move(source)) {}

  Model read() {
    check_header();
    check_values();
    check_nodes();
    order_nodes();
    check_tensors();
    check_declarations();
    return build();
  }

 private:
  template <class... Parts> [[noreturn]] void error(const Parts&... parts) const { fail(source_, ": ", parts...); }
  std::string node_at(int index) const {
    return "node " + quoted(graph().nodes(index).name()) + " (index " + std::to_string(index) + ")";
  }
  std::string value_at(int index) const {
    return "value " + quoted(graph().values(index).name()) + " (index " + std::to_string(index) + ")";
  }
  const pb::GraphDef& graph() const { return file_.graph(); }

  void check_header() {
    if (file_.magic() != kMagic)
      error("not a dagrad model file (field 'magic' is ", quoted(file_.magic()), ", expected '", kMagic, "')");
    if (file_.format_version() == 0) error("field 'format_version' is missing");
    if (file_.min_reader_version() > kFormatVersion)
      error("the file needs a reader of format version ", file_.min_reader_version(),
            " or newer (written by ", quoted(file_.producer()), " as format version ", file_.format_version(),
            "); this ", kProducer, " reads format version ", kFormatVersion, ": upgrade dagrad to load it");
    std::set<std::string> keys;
    for (int i = 0; i < file_.metadata_size(); ++i)
      if (!keys.insert(file_.metadata(i).key()).second)
        error("field 'metadata[", i, "]': duplicate key ", quoted(file_.metadata(i).key()));
  }

  // Checks dims for negative values and int64 overflow of the element count; returns the count.
  std::int64_t check_dims(const google::protobuf::RepeatedField<std::int64_t>& dims, const std::string& where,
                          const char* field) const {
    std::int64_t n = 1;
    for (int i = 0; i < dims.size(); ++i) {
      std::int64_t d = dims[i];
      if (d < 0) error(where, " field '", field, "[", i, "]': negative dimension ", d, " in ", shape_string(dims));
      if (d != 0 && n > INT64_MAX / d)
        error(where, " field '", field, "': element count of ", shape_string(dims), " overflows int64");
      n *= d;
    }
    return n;
  }

  DType check_dtype(pb::DataType dtype, const std::string& where) const {
    switch (dtype) {
      case pb::F32: return DType::f32;
      case pb::F64: return DType::f64;
      case pb::I64: return DType::i64;
      default: error(where, " field 'dtype': invalid data type ", static_cast<int>(dtype));
    }
  }

  void check_values() {
    const int n = graph().values_size();
    types_.resize(n);
    kinds_.resize(n);
    producer_.assign(n, -1);
    for (int i = 0; i < n; ++i) {
      const pb::ValueDef& v = graph().values(i);
      std::string where = value_at(i);
      if (v.name().empty()) error("value (index ", i, ") field 'name': empty name");
      if (!value_index_.emplace(v.name(), i).second)
        error(where, " field 'name': duplicate value name (first at index ", value_index_[v.name()], ")");
      types_[i].dtype = check_dtype(v.dtype(), where);
      check_dims(v.shape(), where, "shape");
      types_[i].shape.assign(v.shape().begin(), v.shape().end());
      switch (v.kind()) {
        case pb::INPUT: kinds_[i] = ValueKind::input; break;
        case pb::PARAMETER: kinds_[i] = ValueKind::parameter; break;
        case pb::STATE: kinds_[i] = ValueKind::state; break;
        case pb::CONSTANT: kinds_[i] = ValueKind::constant; break;
        case pb::RESULT: kinds_[i] = ValueKind::result; break;
        default: error(where, " field 'kind': invalid value kind ", static_cast<int>(v.kind()));
      }
      if (kinds_[i] == ValueKind::parameter && !is_float(types_[i].dtype))
        error(where, " field 'dtype': a parameter must be f32 or f64, got ", dtype_name(types_[i].dtype));
      if (kinds_[i] == ValueKind::parameter || kinds_[i] == ValueKind::state) {
        static const std::set<std::string> kInitializers = {"zeros", "ones", "constant", "he_normal", "uniform"};
        if (!kInitializers.count(v.init().kind()))
          error(where, " field 'init.kind': unknown initializer ", quoted(v.init().kind()),
                " (expected zeros, ones, constant, uniform or he_normal)");
        if (v.init().kind() == "he_normal" && v.init().fan_in() <= 0)
          error(where, " field 'init.fan_in': he_normal needs a positive fan_in, got ", v.init().fan_in());
      }
    }
  }

  int find_value(const std::string& name, const std::string& where, const std::string& field) const {
    auto it = value_index_.find(name);
    if (it == value_index_.end()) error(where, " field '", field, "': no value named ", quoted(name));
    return it->second;
  }

  void check_nodes() {
    const int n = graph().nodes_size();
    defs_.resize(n);
    attrs_.resize(n);
    inputs_.resize(n);
    outputs_.resize(n);
    std::unordered_map<std::string, int> node_index;
    for (int j = 0; j < n; ++j) {
      const pb::NodeDef& node = graph().nodes(j);
      std::string where = node_at(j);
      if (node.name().empty()) error("node (index ", j, ") field 'name': empty name");
      if (!node_index.emplace(node.name(), j).second)
        error(where, " field 'name': duplicate node name (first at index ", node_index[node.name()], ")");
      const OpDef* def = op_registry().find(node.op());
      if (!def) error(where, " field 'op': unknown op ", quoted(node.op()));
      defs_[j] = def;
      if (node.op_version() != def->version)
        error(where, " field 'op_version': op '", def->name, "' version ", node.op_version(),
              " is not supported (this build has version ", def->version, ")");
      for (int a = 0; a < node.attrs_size(); ++a) {
        const pb::Attribute& attr = node.attrs(a);
        std::string field = "attrs[" + std::to_string(a) + "]";
        AttrValue value;
        switch (attr.value_case()) {
          case pb::Attribute::kI: value = attr.i(); break;
          case pb::Attribute::kF: value = attr.f(); break;
          case pb::Attribute::kB: value = attr.b(); break;
          case pb::Attribute::kS: value = attr.s(); break;
          case pb::Attribute::kInts:
            value = std::vector<std::int64_t>(attr.ints().values().begin(), attr.ints().values().end());
            break;
          case pb::Attribute::kFloats:
            value = std::vector<double>(attr.floats().values().begin(), attr.floats().values().end());
            break;
          default: error(where, " field '", field, "': attribute ", quoted(attr.name()), " has no value");
        }
        if (!attrs_[j].emplace(attr.name(), std::move(value)).second)
          error(where, " field '", field, "': duplicate attribute ", quoted(attr.name()));
      }
      // Missing, mistyped and unknown attributes, and the op's own attribute checks.
      try {
        def->parse(attrs_[j], "op '" + def->name + "'");
      } catch (const Error& e) {
        error(where, " field 'attrs': ", e.what());
      }
      int count = node.inputs_size();
      if (count < def->min_inputs() || count > def->max_inputs())
        error(where, " field 'inputs': op '", def->name, "' ", def->input_count_text(), ", got ", count);
      for (int i = 0; i < count; ++i)
        inputs_[j].push_back(find_value(node.inputs(i), where, "inputs[" + std::to_string(i) + "]"));
      const int declared = static_cast<int>(def->outputs.size());
      if (def->variadic_outputs() ? node.outputs_size() < declared : node.outputs_size() != declared)
        error(where, " field 'outputs': op '", def->name, "' has ", declared, def->variadic_outputs() ? " or more" : "",
              " outputs, the node lists ", node.outputs_size());
      for (int o = 0; o < node.outputs_size(); ++o) {
        std::string field = "outputs[" + std::to_string(o) + "]";
        int v = find_value(node.outputs(o), where, field);
        if (kinds_[v] != ValueKind::result)
          error(where, " field '", field, "': ", value_at(v), " has kind ", value_kind_name(kinds_[v]),
                ", not result");
        if (producer_[v] >= 0)
          error(where, " field '", field, "': ", value_at(v), " is already produced by ", node_at(producer_[v]));
        producer_[v] = j;
        outputs_[j].push_back(v);
      }
      for (int i = 0; i < count; ++i)
        if (producer_[inputs_[j][i]] == j)
          error(where, " field 'inputs[", i, "]': the node reads its own output ", quoted(node.inputs(i)),
                " (self-loop)");
    }
    for (int i = 0; i < graph().values_size(); ++i)
      if (kinds_[i] == ValueKind::result && producer_[i] < 0)
        error(value_at(i), " field 'kind': a result that no node produces");
  }

  // Kahn's algorithm, always taking the ready node listed first, so a file whose nodes are already
  // in dependency order is rebuilt in exactly that order (and with the same value ids).
  void order_nodes() {
    const int n = graph().nodes_size();
    std::vector<int> pending(n, 0);
    std::vector<std::vector<int>> consumers(n);
    for (int j = 0; j < n; ++j)
      for (int v : inputs_[j])
        if (producer_[v] >= 0) {
          ++pending[j];
          consumers[producer_[v]].push_back(j);
        }
    std::priority_queue<int, std::vector<int>, std::greater<>> ready;
    for (int j = 0; j < n; ++j)
      if (pending[j] == 0) ready.push(j);
    while (!ready.empty()) {
      int j = ready.top();
      ready.pop();
      order_.push_back(j);
      for (int c : consumers[j])
        if (--pending[c] == 0) ready.push(c);
    }
    if (static_cast<int>(order_.size()) == n) return;
    // Walk from a blocked node to a blocked producer until a node repeats: that node is on a cycle.
    int start = 0;
    while (pending[start] == 0) ++start;
    std::vector<bool> seen(n, false);
    int j = start;
    while (!seen[j]) {
      seen[j] = true;
      for (int v : inputs_[j])
        if (producer_[v] >= 0 && pending[producer_[v]] > 0) {
          j = producer_[v];
          break;
        }
    }
    error("field 'graph.nodes': the graph has a cycle through ", node_at(j));
  }

  Tensor read_tensor(const pb::TensorData& t, const std::string& where) const {
    DType dtype = check_dtype(t.dtype(), where);
    std::int64_t numel = check_dims(t.dims(), where, "dims");
    auto size = static_cast<std::int64_t>(dtype_size(dtype));
    if (numel > INT64_MAX / size) error(where, " field 'dims': byte count of ", shape_string(t.dims()), " overflows int64");
    if (static_cast<std::int64_t>(t.raw().size()) != numel * size)
      error(where, " field 'raw': ", t.raw().size(), " bytes, expected ", numel * size, " for ", dtype_name(dtype),
            shape_string(t.dims()));
    std::uint32_t crc = crc32c(t.raw());
    if (crc != t.crc32c())
      error(where, " field 'crc32c': checksum mismatch (stored ", t.crc32c(), ", computed ", crc, "): the data is corrupt");
    Tensor tensor(dtype, Shape(t.dims().begin(), t.dims().end()));
    if (!t.raw().empty()) std::memcpy(tensor.raw(), t.raw().data(), t.raw().size());
    return tensor;
  }

  void check_tensor_list(google::protobuf::RepeatedPtrField<pb::TensorData>& list, ValueKind kind, const char* field) {
    std::vector<bool> stored(graph().values_size(), false);
    for (int i = 0; i < list.size(); ++i) {
      const pb::TensorData& t = list[i];
      std::string where = std::string(field) + "[" + std::to_string(i) + "] " + quoted(t.name());
      auto it = value_index_.find(t.name());
      if (it == value_index_.end() || kinds_[it->second] != kind)
        error(where, " field 'name': the graph has no ", value_kind_name(kind), " of that name");
      int v = it->second;
      if (stored[v]) error(where, " field 'name': duplicate tensor");
      stored[v] = true;
      Tensor tensor = read_tensor(t, where);
      std::string().swap(*list[i].mutable_raw());
      if (tensor.dtype() != types_[v].dtype || tensor.shape() != types_[v].shape)
        error(where, " field 'dims': stored ", dtype_name(tensor.dtype()), to_string(tensor.shape()),
              " differs from the graph's ", to_string(types_[v]));
      tensors_.emplace(v, std::move(tensor));
    }
    for (int v = 0; v < graph().values_size(); ++v)
      if (kinds_[v] == kind && !stored[v]) error(value_at(v), ": no tensor in field '", field, "'");
  }

  void check_tensors() {
    check_tensor_list(*file_.mutable_parameters(), ValueKind::parameter, "parameters");
    check_tensor_list(*file_.mutable_state(), ValueKind::state, "state");
    check_tensor_list(*file_.mutable_constants(), ValueKind::constant, "constants");
    if (!file_.has_training()) return;
    const pb::TrainingState& t = file_.training();
    std::set<std::string> names;
    for (int i = 0; i < t.hyperparameters_size(); ++i)
      if (!names.insert(t.hyperparameters(i).name()).second)
        error("field 'training.hyperparameters[", i, "]': duplicate hyperparameter ",
              quoted(t.hyperparameters(i).name()));
    names.clear();
    for (int i = 0; i < t.buffers_size(); ++i) {
      std::string where = "training.buffers[" + std::to_string(i) + "] " + quoted(t.buffers(i).name());
      if (t.buffers(i).name().empty()) error(where, " field 'name': empty name");
      if (!names.insert(t.buffers(i).name()).second) error(where, " field 'name': duplicate buffer");
      buffers_.emplace(t.buffers(i).name(), read_tensor(t.buffers(i), where));
    }
    if (t.step() < 0) error("field 'training.step': negative step ", t.step());
    if (t.epoch() < 0) error("field 'training.epoch': negative epoch ", t.epoch());
  }

  void check_declarations() {
    const pb::GraphDef& g = graph();
    for (int i = 0; i < g.outputs_size(); ++i) find_value(g.outputs(i), "graph", "outputs[" + std::to_string(i) + "]");
    if (!g.loss().empty()) {
      int v = find_value(g.loss(), "graph", "loss");
      if (!types_[v].shape.empty())
        error("graph field 'loss': the loss ", quoted(g.loss()), " must be a scalar, got ", to_string(types_[v]));
    }
    for (int i = 0; i < g.state_updates_size(); ++i) {
      std::string field = "state_updates[" + std::to_string(i) + "]";
      int s = find_value(g.state_updates(i).first(), "graph", field + ".first");
      int next = find_value(g.state_updates(i).second(), "graph", field + ".second");
      if (kinds_[s] != ValueKind::state) error("graph field '", field, ".first': ", value_at(s), " is not a state value");
      if (types_[s] != types_[next])
        error("graph field '", field, "': ", to_string(types_[next]), " does not match the state's ", to_string(types_[s]));
    }
    for (int i = 0; i < g.gradients_size(); ++i) {
      std::string field = "gradients[" + std::to_string(i) + "]";
      int wrt = find_value(g.gradients(i).first(), "graph", field + ".first");
      int grad = find_value(g.gradients(i).second(), "graph", field + ".second");
      if (types_[wrt] != types_[grad])
        error("graph field '", field, "': gradient type ", to_string(types_[grad]), " differs from ", to_string(types_[wrt]));
    }
  }

  Model build() {
    Model model;
    Graph& g = model.graph;
    const int nv = graph().values_size();
    std::vector<ValueId> id_of(nv, kNoValue);
    auto create_leaf = [&](int v) {
      const pb::ValueDef& def = graph().values(v);
      Initializer init{def.init().kind(), def.init().value(), def.init().fan_in(), def.init().seed()};
      switch (kinds_[v]) {
        case ValueKind::input: id_of[v] = g.input(def.name(), types_[v]).id(); break;
        case ValueKind::parameter:
          id_of[v] = g.parameter(def.name(), types_[v], init).id();
          model.parameters.emplace(def.name(), std::move(tensors_.at(v)));
          break;
        case ValueKind::state:
          id_of[v] = g.state(def.name(), types_[v], init).id();
          model.state.emplace(def.name(), std::move(tensors_.at(v)));
          break;
        case ValueKind::constant: id_of[v] = g.constant(def.name(), std::move(tensors_.at(v))).id(); break;
        case ValueKind::result: break;
      }
    };
    int next_leaf = 0;
    auto create_leaves_before = [&](int limit) {
      for (; next_leaf < limit; ++next_leaf)
        if (kinds_[next_leaf] != ValueKind::result && id_of[next_leaf] == kNoValue) create_leaf(next_leaf);
    };
    for (int j : order_) {
      const pb::NodeDef& node = graph().nodes(j);
      if (!outputs_[j].empty()) create_leaves_before(*std::min_element(outputs_[j].begin(), outputs_[j].end()));
      std::vector<ValueId> inputs;
      for (int v : inputs_[j]) {
        if (id_of[v] == kNoValue) create_leaf(v);
        inputs.push_back(id_of[v]);
      }
      std::vector<ValueId> outs;
      try {
        outs = g.add_node_ids(node.op(), inputs, attrs_[j], node.name(), node.backward());
      } catch (const Error& e) {
        error(node_at(j), ": ", e.what());
      }
      if (outs.size() != outputs_[j].size())  // a variadic op's count comes from its shape rule
        error(node_at(j), " field 'outputs': op '", node.op(), "' gives ", outs.size(), " outputs with these attributes, the node lists ",
              outputs_[j].size());
      for (std::size_t o = 0; o < outs.size(); ++o) {
        int v = outputs_[j][o];
        const TensorType& inferred = g.value(outs[o]).type;
        if (inferred != types_[v])
          error(node_at(j), " field 'outputs[", o, "]': ", value_at(v), " is stored as ", to_string(types_[v]),
                " but the graph infers ", to_string(inferred));
        try {
          g.rename_value(outs[o], graph().values(v).name());
        } catch (const Error& e) {
          error(node_at(j), " field 'outputs[", o, "]': ", e.what());
        }
        id_of[v] = outs[o];
      }
    }
    create_leaves_before(nv);

    const pb::GraphDef& gd = graph();
    auto id = [&](const std::string& name) { return id_of[value_index_.at(name)]; };
    for (const std::string& name : gd.outputs()) g.mark_output(g.handle(id(name)));
    try {
      if (!gd.loss().empty()) g.set_loss(g.handle(id(gd.loss())));
      for (const auto& p : gd.state_updates()) g.add_state_update(id(p.first()), id(p.second()));
      for (const auto& p : gd.gradients()) g.add_gradient(id(p.first()), id(p.second()));
    } catch (const Error& e) {
      error("graph: ", e.what());
    }

    for (const pb::KeyValue& kv : file_.metadata()) model.metadata[kv.key()] = kv.value();
    if (file_.has_training()) {
      const pb::TrainingState& t = file_.training();
      TrainingState& training = model.training.emplace();
      training.optimizer = t.optimizer();
      for (const auto& h : t.hyperparameters()) training.hyperparameters[h.name()] = h.value();
      training.buffers = std::move(buffers_);
      training.step = t.step();
      training.epoch = t.epoch();
      training.rng_seed = t.rng_seed();
      training.rng_state = t.rng_state();
    }
    return model;
  }

  pb::ModelFile& file_;
  std::string source_;
  std::unordered_map<std::string, int> value_index_;
  std::vector<TensorType> types_;
  std::vector<ValueKind> kinds_;
  std::vector<int> producer_;  // node index producing each value, -1 for leaves
  std::vector<const OpDef*> defs_;
  std::vector<AttrMap> attrs_;
  std::vector<std::vector<int>> inputs_, outputs_;  // value indices per node
  std::vector<int> order_;
  std::unordered_map<int, Tensor> tensors_;  // by value index
  TensorMap buffers_;                        // training buffers
};

// libprotobuf logs some parse problems to stderr itself (invalid UTF-8 in a string field, for
// one); the caller reports them as one dagrad::Error line instead, so its log is silenced.
struct QuietProtobuf {
#if GOOGLE_PROTOBUF_VERSION < 4022000
  google::protobuf::LogSilencer silencer;
#endif
};

// A binary file starts with field 1 (magic, length-delimited): tag byte 0x0A.
bool looks_like_dagrad_binary(std::string_view bytes) {
  return bytes.size() >= 2 + sizeof(kMagic) - 1 && bytes[0] == 0x0A &&
         bytes.substr(2, sizeof(kMagic) - 1) == std::string_view(kMagic);
}

pb::ModelFile parse_binary_message(std::string_view bytes, const std::string& source) {
  if (bytes.empty()) fail(source, ": empty file");
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    fail(source, ": ", bytes.size(), " bytes is beyond protobuf's 2 GiB message limit");
  pb::ModelFile file;
  QuietProtobuf quiet;
  if (!file.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    if (looks_like_dagrad_binary(bytes)) fail(source, ": truncated or corrupt dagrad file (protobuf parse failed)");
    fail(source, ": not a dagrad file (not a protobuf ModelFile message)");
  }
  return file;
}

Model parse_binary(std::string_view bytes, const std::string& source) {
  pb::ModelFile file = parse_binary_message(bytes, source);
  return Reader(file, source).read();
}

class TextErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int, int, const std::string&) override {}
  std::string first;
};

Model parse_text_impl(std::string_view text, const std::string& source) {
  if (text.empty()) fail(source, ": empty file");
  if (text.size() > static_cast<std::size_t>(INT_MAX))
    fail(source, ": ", text.size(), " bytes is beyond protobuf's 2 GiB message limit");
  pb::ModelFile file;
  google::protobuf::TextFormat::Parser parser;
  TextErrors errors;
  parser.RecordErrorsTo(&errors);
  QuietProtobuf quiet;
  if (!parser.ParseFromString(std::string(text), &file)) {
    if (text.find("magic") == std::string_view::npos || text.find(kMagic) == std::string_view::npos)
      fail(source, ": not a dagrad text file (", errors.first, ")");
    fail(source, ": invalid dagrad text file: ", errors.first);
  }
  return Reader(file, source).read();
}

bool is_text_path(const std::string& path, FileFormat format) {
  if (format != FileFormat::by_extension) return format == FileFormat::text;
  constexpr std::string_view kText = ".dagrad.txt";
  return path.size() >= kText.size() && path.compare(path.size() - kText.size(), kText.size(), kText) == 0;
}

std::string errno_text() { return std::strerror(errno); }

bool all_digits(std::string_view text) {
  return !text.empty() && text.size() <= 18 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Removes `.BASE.tmp.<pid>.<digits>` files in `dir` left by saves whose process died (SIGKILL, a
// power cut) before renaming or unlinking them. A live pid's temporary may be a save in flight,
// and anything not of exactly that shape is not ours: both are left alone. Best effort: a folder
// that cannot be listed is the save's problem to report, not this cleanup's.
void remove_stale_temporaries(const std::string& dir, const std::string& prefix_path, const std::string& base) {
  DIR* folder = ::opendir(dir.c_str());
  if (!folder) return;
  const std::string head = "." + base + ".tmp.";
  while (const dirent* entry = ::readdir(folder)) {
    std::string_view name = entry->d_name;
    if (name.size() <= head.size() || name.substr(0, head.size()) != head) continue;
    std::string_view rest = name.substr(head.size());
    std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos || !all_digits(rest.substr(0, dot)) || !all_digits(rest.substr(dot + 1))) continue;
    long long pid = std::stoll(std::string(rest.substr(0, dot)));
    if (pid <= 0 || pid > INT_MAX || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) ::unlink((prefix_path + std::string(name)).c_str());
  }
  ::closedir(folder);
}

}  // namespace

std::string serialize(const Model& model) {
  std::string bytes;
  if (!to_proto(model).SerializeToString(&bytes)) fail("serialize: the model exceeds protobuf's 2 GiB message limit");
  return bytes;
}

Model parse(std::string_view bytes, const std::string& source_name) { return parse_binary(bytes, source_name); }

std::string serialize_text(const Model& model) {
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  if (!printer.PrintToString(to_proto(model), &text)) fail("serialize_text: protobuf could not print the model");
  return text;
}

Model parse_text(std::string_view text, const std::string& source_name) { return parse_text_impl(text, source_name); }

void write_file_atomically(const std::string& path, std::string_view bytes) {
  std::string::size_type slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) fail("save: ", quoted(path), " names a folder, not a file");
  std::string prefix = dir == "." && slash == std::string::npos ? "" : path.substr(0, slash + 1);
  remove_stale_temporaries(dir, prefix, base);
  std::random_device entropy;
  std::string tmp = prefix + "." + base + ".tmp." +
                    std::to_string(getpid()) + "." + std::to_string(entropy());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("save: cannot create ", quoted(tmp), ": ", errno_text());
  auto abandon = [&](const std::string& what) {
    std::string message = "save: " + what + " " + quoted(tmp) + ": " + errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(message, " (", quoted(path), " is unchanged)");
  };
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t written = ::write(fd, p, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      abandon("cannot write");
    }
    p += written;
    left -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd) != 0) abandon("cannot fsync");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("save: cannot close ", quoted(tmp), ": ", errno_text(), " (", quoted(path), " is unchanged)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string message = errno_text();
    ::unlink(tmp.c_str());
    fail("save: cannot rename ", quoted(tmp), " to ", quoted(path), ": ", message);
  }
  // The rename itself is durable only once the folder is synced.
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void save(const Model& model, const std::string& path, const SaveOptions& options) {
  write_file_atomically(path, is_text_path(path, options.format) ? serialize_text(model) : serialize(model));
}

Model load(const std::string& path, const LoadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, ": cannot open: ", errno_text());
  if (!S_ISREG(st.st_mode)) fail(path, ": not a regular file");
  if (st.st_size > options.max_bytes)
    fail(path, ": file is ", st.st_size, " bytes, larger than the limit of ", options.max_bytes,
         " bytes (raise LoadOptions::max_bytes to load it)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open: ", errno_text());
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size())) fail(path, ": read error (file changed while reading?)");
  if (is_text_path(path, options.format)) return parse_text_impl(bytes, path);
  pb::ModelFile file = parse_binary_message(bytes, path);
  std::string().swap(bytes);  // the message holds its own copy of everything
  return Reader(file, path).read();
}

std::string summarize(const Model& model) {
  const Graph& g = model.graph;
  std::int64_t backward = 0;
  for (const Node& n : g.nodes()) backward += n.backward;
  std::ostringstream s;
  s << g.values().size() << " values, " << g.nodes().size() << " nodes (" << backward << " backward), "
    << g.values_of_kind(ValueKind::parameter).size() << " parameters (" << g.parameter_count() << " elements), "
    << g.values_of_kind(ValueKind::state).size() << " state tensors, " << g.values_of_kind(ValueKind::input).size()
    << " inputs, " << g.outputs().size() << " outputs";
  if (g.loss() != kNoValue) s << ", loss '" << g.value(g.loss()).name << "'";
  if (!g.gradients().empty()) s << ", " << g.gradients().size() << " gradients";
  if (model.training) s << ", training state (" << model.training->optimizer << ", step " << model.training->step << ")";
  auto name = model.metadata.find("model");
  if (name != model.metadata.end()) s << ", model '" << name->second << "'";
  return s.str();
}

}  // namespace dagrad

#include "graph/op.h"

#include <limits>
#include <mutex>
#include <sstream>

namespace dagrad {
namespace ops {
void register_all_ops(OpRegistry& registry);
}

const TensorType& InferContext::input(int i) const {
  if (i < 0 || i >= num_inputs()) fail("needs input ", i, " but has ", num_inputs(), " inputs");
  return inputs_[i];
}

std::string InferContext::where() const { return "op '" + op_ + "' node '" + node_ + "'"; }

std::string InferContext::describe_inputs() const {
  std::string s = "(";
  for (std::size_t i = 0; i < inputs_.size(); ++i) s += (i ? ", " : "") + to_string(inputs_[i]);
  return s + ")";
}

void InferContext::expect_rank(int i, int rank) const {
  if (static_cast<int>(shape(i).size()) != rank)
    fail("input ", i, " must have rank ", rank, ", got shape ", to_string(shape(i)));
}
void InferContext::expect_float(int i) const {
  if (!is_float(dtype(i))) fail("input ", i, " must be f32 or f64, got ", dtype_name(dtype(i)));
}
void InferContext::expect_dtype(int i, DType dtype) const {
  if (this->dtype(i) != dtype) fail("input ", i, " must be ", dtype_name(dtype), ", got ", dtype_name(this->dtype(i)));
}
void InferContext::expect_same_dtype(int i, int j) const {
  if (dtype(i) != dtype(j))
    fail("inputs ", i, " and ", j, " must have the same dtype, got ", dtype_name(dtype(i)), " and ", dtype_name(dtype(j)));
}
void InferContext::expect_same_shape(int i, int j) const {
  if (shape(i) != shape(j))
    fail("inputs ", i, " and ", j, " must have the same shape, got ", to_string(shape(i)), " and ", to_string(shape(j)));
}

int OpDef::min_inputs() const {
  int n = 0;
  for (const auto& name : inputs)
    if (name.empty() || name.back() != '?') ++n;
  return n;
}

bool OpDef::variadic_inputs() const { return !inputs.empty() && inputs.back().ends_with("..."); }

int OpDef::max_inputs() const {
  return variadic_inputs() ? std::numeric_limits<int>::max() : static_cast<int>(inputs.size());
}

bool OpDef::variadic_outputs() const { return !outputs.empty() && outputs.back().ends_with("..."); }

std::string OpDef::output_name(std::size_t i) const {
  if (!variadic_outputs() || i + 1 < outputs.size()) return outputs.at(i);
  const std::string& last = outputs.back();
  return last.substr(0, last.size() - 3) + std::to_string(i - (outputs.size() - 1));
}

std::string OpDef::input_count_text() const {
  const int low = min_inputs();
  if (variadic_inputs()) return "takes at least " + std::to_string(low) + (low == 1 ? " input" : " inputs");
  if (low == max_inputs()) return "takes " + std::to_string(low) + " inputs";
  return "takes " + std::to_string(low) + " to " + std::to_string(max_inputs()) + " inputs";
}

bool checked_product(std::span<const std::int64_t> factors, std::int64_t& result) {
  std::int64_t value = 1;
  for (std::int64_t f : factors)
    if (__builtin_mul_overflow(value, f, &value)) return false;
  result = value;
  return true;
}

void FlopContext::overflow() const {
  fail("the FLOP count of node '", node_.name, "' (", node_.op, ") overflows int64 (more than 9.2e18)");
}

std::int64_t FlopContext::product(std::initializer_list<std::int64_t> factors) const {
  std::int64_t value = 0;
  if (!checked_product(std::span(factors.begin(), factors.size()), value)) overflow();
  return value;
}

std::int64_t FlopContext::times_dims(std::int64_t count, const Shape& dims, std::size_t from) const {
  for (std::size_t i = from; i < dims.size(); ++i)
    if (__builtin_mul_overflow(count, dims[i], &count)) overflow();
  return count;
}

std::int64_t FlopContext::sum(std::initializer_list<std::int64_t> terms) const {
  std::int64_t value = 0;
  for (std::int64_t t : terms)
    if (__builtin_add_overflow(value, t, &value)) overflow();
  return value;
}

void OpRegistry::add(OpDef def) {
  if (ops_.count(def.name)) fail("op '", def.name, "' is registered twice");
  std::string name = def.name;
  ops_.emplace(name, std::make_unique<OpDef>(std::move(def)));
}

const OpDef* OpRegistry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second.get();
}

const OpDef& OpRegistry::at(const std::string& name) const {
  if (const OpDef* def = find(name)) return *def;
  fail("unknown op '", name, "' (run 'dagrad ops' for the list)");
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> list;
  for (const auto& [name, def] : ops_) list.push_back(def.get());
  return list;
}

const OpRegistry& op_registry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    ops::register_all_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace dagrad

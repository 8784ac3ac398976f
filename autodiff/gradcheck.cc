#include "autodiff/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/grad.h"
#include "graph/error.h"

namespace dagrad::autodiff {

namespace {

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double uniform(std::uint64_t& s, double lo, double hi) { return lo + (hi - lo) * ((splitmix(s) >> 11) * 0x1.0p-53); }

Tensor random_like(const TensorType& type, std::uint64_t& rng) {
  Tensor t(type.dtype, type.shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double v = uniform(rng, -1, 1);
    if (type.dtype == DType::f64) t.data<double>()[i] = v;
    else if (type.dtype == DType::f32) t.data<float>()[i] = static_cast<float>(v);
  }
  return t;
}

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += a.at(i) * b.at(i);
  return s;
}

void set_entry(Tensor& t, std::int64_t i, double v) {
  if (t.dtype() == DType::f64) t.data<double>()[i] = v;
  else t.data<float>()[i] = static_cast<float>(v);
}

// A graph computing op(inputs) with the cotangents fed as extra inputs, and its vjp.
struct OpProblem {
  Gradients grads;
  std::vector<ValueId> inputs, outputs, cotangents;
  std::vector<int> differentiable;  // input indices checked
};

OpProblem build_problem(const OpDef& def, const OpExample& example) {
  Graph g;
  OpProblem p;
  for (std::size_t i = 0; i < example.inputs.size(); ++i)
    p.inputs.push_back(g.input("in" + std::to_string(i), {example.inputs[i].dtype, example.inputs[i].shape}).id());
  p.outputs = g.add_node_ids(def.name, p.inputs, example.attrs, "node");
  std::vector<ValueId> diff_outputs;
  for (std::size_t k = 0; k < p.outputs.size(); ++k) {
    const TensorType& t = g.value(p.outputs[k]).type;
    if (!is_float(t.dtype)) continue;
    diff_outputs.push_back(p.outputs[k]);
    p.cotangents.push_back(g.input("cotangent" + std::to_string(k), t).id());
  }
  std::vector<ValueId> wrt;
  for (std::size_t i = 0; i < p.inputs.size(); ++i) {
    bool nondiff = std::find(def.nondifferentiable_inputs.begin(), def.nondifferentiable_inputs.end(), static_cast<int>(i)) !=
                   def.nondifferentiable_inputs.end();
    if (!nondiff && is_float(example.inputs[i].dtype)) {
      p.differentiable.push_back(static_cast<int>(i));
      wrt.push_back(p.inputs[i]);
    }
  }
  p.grads = vjp(g, diff_outputs, p.cotangents, wrt);
  p.outputs = diff_outputs;
  return p;
}

}  // namespace

bool within_tolerance(double numeric, double analytic) {
  return std::abs(numeric - analytic) <= 1e-6 + 1e-4 * std::abs(numeric);
}

std::vector<Tensor> example_inputs(const OpExample& example, std::uint64_t seed) {
  std::uint64_t rng = seed * 0x2545F4914F6CDD1DULL + 17;
  std::vector<Tensor> inputs;
  for (const ExampleInput& in : example.inputs) {
    Tensor t(in.dtype, in.shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (in.dtype == DType::i64) {
        t.data<std::int64_t>()[i] = static_cast<std::int64_t>(std::floor(uniform(rng, in.low, in.high)));
        continue;
      }
      double v = uniform(rng, in.low, in.high);
      if (in.min_abs > 0 && std::abs(v) < in.min_abs) v = v < 0 ? -in.min_abs - std::abs(v) : in.min_abs + v;
      set_entry(t, i, v);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::vector<Tensor> run_op(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs) {
  Graph g;
  std::vector<ValueId> ids;
  runtime::TensorMap feeds;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    ids.push_back(g.input(name, {inputs[i].dtype(), inputs[i].shape()}).id());
    feeds.emplace(name, inputs[i]);
  }
  std::vector<ValueId> outs = g.add_node_ids(op, ids, attrs, "node");
  runtime::Plan plan = runtime::compile(g, {}, outs);
  runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&feeds}));
  std::vector<Tensor> result;
  for (ValueId id : outs) result.push_back(r.at(id));
  return result;
}

CheckResult check_op_gradient(const OpDef& def, const OpExample& example, std::uint64_t seed) {
  CheckResult result{def.name + "/" + example.label};
  OpProblem p = build_problem(def, example);
  std::uint64_t rng = seed + 99;
  runtime::TensorMap feeds;
  std::vector<Tensor> inputs = example_inputs(example, seed);
  for (std::size_t i = 0; i < inputs.size(); ++i) feeds.emplace("in" + std::to_string(i), inputs[i]);
  for (std::size_t k = 0; k < p.cotangents.size(); ++k)
    feeds.emplace(p.grads.graph.value(p.cotangents[k]).name, random_like(p.grads.graph.value(p.cotangents[k]).type, rng));

  runtime::Plan backward = runtime::compile(p.grads.graph);
  runtime::Plan forward = runtime::compile(p.grads.graph, {}, p.outputs);
  runtime::RunResult analytic = runtime::run(backward, runtime::feeds_from({&feeds}));
  auto objective_at = [&](const runtime::TensorMap& f) {
    runtime::RunResult r = runtime::run(forward, runtime::feeds_from({&f}));
    double s = 0;
    for (std::size_t k = 0; k < p.outputs.size(); ++k) s += dot(r.at(p.outputs[k]), f.at(p.grads.graph.value(p.cotangents[k]).name));
    return s;
  };

  const double eps = 1e-6;
  for (std::size_t w = 0; w < p.differentiable.size(); ++w) {
    int i = p.differentiable[w];
    std::string name = "in" + std::to_string(i);
    ValueId grad_id = p.grads.grads[w];
    for (std::int64_t e = 0; e < inputs[i].numel(); ++e) {
      double x0 = feeds.at(name).at(e);
      set_entry(feeds.at(name), e, x0 + eps);
      double plus = objective_at(feeds);
      set_entry(feeds.at(name), e, x0 - eps);
      double minus = objective_at(feeds);
      set_entry(feeds.at(name), e, x0);
      double numeric = (plus - minus) / (2 * eps);
      double exact = grad_id == kNoValue ? 0.0 : analytic.at(grad_id).at(e);
      double err = std::abs(numeric - exact);
      result.max_abs_error = std::max(result.max_abs_error, err);
      double scale = std::max(std::abs(numeric), std::abs(exact));
      if (scale > 1e-8) result.max_rel_error = std::max(result.max_rel_error, err / scale);
      if (!within_tolerance(numeric, exact) && result.passed) {
        result.passed = false;
        std::ostringstream s;
        s << "input " << i << " entry " << e << ": numeric " << numeric << " analytic " << exact;
        result.detail = s.str();
      }
    }
  }
  return result;
}

CheckResult check_op_vjp(const OpDef& def, const OpExample& example, std::uint64_t seed) {
  CheckResult result{def.name + "/" + example.label};
  OpProblem p = build_problem(def, example);
  std::uint64_t rng = seed + 7;
  runtime::TensorMap feeds;
  std::vector<Tensor> inputs = example_inputs(example, seed);
  for (std::size_t i = 0; i < inputs.size(); ++i) feeds.emplace("in" + std::to_string(i), inputs[i]);
  for (std::size_t k = 0; k < p.cotangents.size(); ++k)
    feeds.emplace(p.grads.graph.value(p.cotangents[k]).name, random_like(p.grads.graph.value(p.cotangents[k]).type, rng));
  runtime::Plan backward = runtime::compile(p.grads.graph);
  runtime::Plan forward = runtime::compile(p.grads.graph, {}, p.outputs);
  runtime::RunResult analytic = runtime::run(backward, runtime::feeds_from({&feeds}));

  // v: a random direction over every differentiable input; <v, J^T r> from autodiff.
  std::vector<Tensor> direction;
  double vjp_side = 0;
  for (std::size_t w = 0; w < p.differentiable.size(); ++w) {
    direction.push_back(random_like({DType::f64, inputs[p.differentiable[w]].shape()}, rng));
    if (p.grads.grads[w] != kNoValue) vjp_side += dot(direction.back(), analytic.at(p.grads.grads[w]));
  }
  auto shifted_objective = [&](double step) {
    runtime::TensorMap f = feeds;
    for (std::size_t w = 0; w < p.differentiable.size(); ++w) {
      Tensor& t = f.at("in" + std::to_string(p.differentiable[w]));
      for (std::int64_t e = 0; e < t.numel(); ++e) set_entry(t, e, t.at(e) + step * direction[w].at(e));
    }
    runtime::RunResult r = runtime::run(forward, runtime::feeds_from({&f}));
    double s = 0;
    for (std::size_t k = 0; k < p.outputs.size(); ++k) s += dot(r.at(p.outputs[k]), f.at(p.grads.graph.value(p.cotangents[k]).name));
    return s;
  };
  const double eps = 1e-6;
  double jvp_side = (shifted_objective(eps) - shifted_objective(-eps)) / (2 * eps);
  result.max_abs_error = std::abs(jvp_side - vjp_side);
  double scale = std::max(std::abs(jvp_side), std::abs(vjp_side));
  result.max_rel_error = scale > 1e-8 ? result.max_abs_error / scale : 0;
  result.passed = within_tolerance(jvp_side, vjp_side);
  if (!result.passed) {
    std::ostringstream s;
    s << "<J v, r> = " << jvp_side << " but <v, J^T r> = " << vjp_side;
    result.detail = s.str();
  }
  return result;
}

CheckResult check_graph_gradient(const Graph& graph, const runtime::TensorMap& inputs, const runtime::TensorMap& parameters,
                                 int max_entries_per_parameter, std::uint64_t seed) {
  CheckResult result{"graph"};
  Gradients grads = grad_parameters(graph);
  runtime::Plan backward = runtime::compile(grads.graph);
  runtime::Plan forward = runtime::compile(graph, {}, {graph.loss()});
  runtime::TensorMap params = parameters;
  runtime::RunResult analytic = runtime::run(backward, runtime::feeds_from({&inputs, &params}));
  auto loss_at = [&] {
    return runtime::run(forward, runtime::feeds_from({&inputs, &params})).at(graph.loss()).at(0);
  };
  std::uint64_t rng = seed;
  const double eps = 1e-6;
  std::vector<ValueId> wrt = graph.values_of_kind(ValueKind::parameter);
  for (std::size_t w = 0; w < wrt.size(); ++w) {
    const std::string& name = graph.value(wrt[w]).name;
    Tensor& t = params.at(name);
    for (int n = 0; n < std::min<std::int64_t>(max_entries_per_parameter, t.numel()); ++n) {
      std::int64_t e = t.numel() <= max_entries_per_parameter ? n : static_cast<std::int64_t>(splitmix(rng) % t.numel());
      double x0 = t.at(e);
      set_entry(t, e, x0 + eps);
      double plus = loss_at();
      set_entry(t, e, x0 - eps);
      double minus = loss_at();
      set_entry(t, e, x0);
      double numeric = (plus - minus) / (2 * eps);
      double exact = grads.grads[w] == kNoValue ? 0.0 : analytic.at(grads.grads[w]).at(e);
      if (!within_tolerance(numeric, exact)) {
        // Where the loss is smooth, halving the step changes a central difference only by
        // O(f''' eps^2); a kink inside the step changes it by a share of its slope jump.
        set_entry(t, e, x0 + eps / 2);
        const double half_plus = loss_at();
        set_entry(t, e, x0 - eps / 2);
        const double half_minus = loss_at();
        set_entry(t, e, x0);
        const double half = (half_plus - half_minus) / eps;
        if (std::abs(half - numeric) > 1e-7 + 1e-5 * std::abs(numeric)) {
          ++result.skipped;
          continue;
        }
      }
      ++result.compared;
      double err = std::abs(numeric - exact);
      result.max_abs_error = std::max(result.max_abs_error, err);
      double scale = std::max(std::abs(numeric), std::abs(exact));
      if (scale > 1e-8) result.max_rel_error = std::max(result.max_rel_error, err / scale);
      if (!within_tolerance(numeric, exact) && result.passed) {
        result.passed = false;
        std::ostringstream s;
        s << "parameter '" << name << "' entry " << e << ": numeric " << numeric << " analytic " << exact;
        result.detail = s.str();
      }
    }
  }
  return result;
}

namespace {
std::uint64_t mix_for_inputs(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

TensorMap random_inputs(const Graph& g, std::uint64_t seed, std::int64_t classes) {
  if (classes < 1) fail("random_inputs: classes must be positive, got ", classes);
  TensorMap feeds;
  std::uint64_t rng = seed;
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (v.type.dtype == DType::i64) {
        t.data<std::int64_t>()[i] = static_cast<std::int64_t>(mix_for_inputs(rng) % static_cast<std::uint64_t>(classes));
        continue;
      }
      double u = 0;
      for (int k = 0; k < 4; ++k) u += (mix_for_inputs(rng) >> 11) * 0x1.0p-53;
      double value = (u - 2.0) * 1.7320508075688772;  // variance 1
      if (v.type.dtype == DType::f32) t.data<float>()[i] = static_cast<float>(value);
      else t.data<double>()[i] = value;
    }
    feeds.emplace(v.name, std::move(t));
  }
  return feeds;
}

}  // namespace dagrad::autodiff

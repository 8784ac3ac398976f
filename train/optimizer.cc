#include "train/optimizer.h"

#include <cmath>
#include <numbers>

#include "graph/error.h"

namespace dagrad::train {

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, const SgdOptions& options) {
  if (grad.dtype() != param.dtype() || grad.shape() != param.shape())
    fail("sgd: gradient ", dtype_name(grad.dtype()), to_string(grad.shape()), " does not match parameter ",
         dtype_name(param.dtype()), to_string(param.shape()));
  if (momentum_buffer.dtype() != param.dtype() || momentum_buffer.shape() != param.shape())
    fail("sgd: momentum buffer ", dtype_name(momentum_buffer.dtype()), to_string(momentum_buffer.shape()),
         " does not match parameter ", dtype_name(param.dtype()), to_string(param.shape()));
  dispatch_float(param.dtype(), [&]<class T>() {
    std::span<T> w = param.data<T>();
    std::span<const T> dw = grad.data<T>();
    std::span<T> buf = momentum_buffer.data<T>();
    const T rate = static_cast<T>(lr), momentum = static_cast<T>(options.momentum),
            decay = static_cast<T>(options.weight_decay);
    for (std::size_t i = 0; i < w.size(); ++i) {
      T g = dw[i];
      if (options.weight_decay != 0) g = g + decay * w[i];
      buf[i] = momentum * buf[i] + g;
      const T direction = options.nesterov ? g + momentum * buf[i] : buf[i];
      w[i] = w[i] - rate * direction;
    }
  });
}

std::string momentum_buffer_name(const std::string& parameter) { return "momentum/" + parameter; }

void init_sgd_buffers(const TensorMap& parameters, TrainingState& state) {
  for (const auto& [name, tensor] : parameters) {
    const std::string buffer = momentum_buffer_name(name);
    auto it = state.buffers.find(buffer);
    if (it == state.buffers.end()) {
      state.buffers.emplace(buffer, Tensor(tensor.dtype(), tensor.shape()));
    } else if (it->second.dtype() != tensor.dtype() || it->second.shape() != tensor.shape()) {
      fail("sgd: buffer '", buffer, "' is ", dtype_name(it->second.dtype()), to_string(it->second.shape()),
           " but its parameter is ", dtype_name(tensor.dtype()), to_string(tensor.shape()));
    }
  }
}

double Schedule::lr_at(std::int64_t step) const {
  if (step < 0) fail("schedule: negative step ", step);
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const std::int64_t t = step - warmup_steps;
  switch (kind) {
    case ScheduleKind::constant: return base_lr;
    case ScheduleKind::step: {
      if (step_every < 1) fail("schedule: step_every must be positive, got ", step_every);
      return base_lr * std::pow(gamma, static_cast<double>(t / step_every));
    }
    case ScheduleKind::cosine: {
      const std::int64_t span = std::max<std::int64_t>(total_steps - warmup_steps, 1);
      const double progress = static_cast<double>(std::min(t, span)) / static_cast<double>(span);
      return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * progress)) / 2;
    }
  }
  fail("schedule: unknown kind");
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::cosine: return "cosine";
  }
  return "?";
}

ScheduleKind schedule_kind_from_name(const std::string& name) {
  for (ScheduleKind kind : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine})
    if (name == schedule_kind_name(kind)) return kind;
  fail("unknown learning-rate schedule '", name, "' (constant, step[:EPOCHS[:GAMMA]], cosine)");
}

Schedule make_schedule(const std::string& spec, double base_lr, std::int64_t steps_per_epoch, std::int64_t epochs,
                       double warmup_epochs) {
  if (steps_per_epoch < 1 || epochs < 1) fail("schedule: needs at least one step and one epoch");
  if (!(std::isfinite(base_lr) && base_lr >= 0)) fail("schedule: the learning rate must be finite and non-negative, got ", base_lr);
  if (!(std::isfinite(warmup_epochs) && warmup_epochs >= 0)) fail("schedule: warm-up must be non-negative, got ", warmup_epochs, " epochs");
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  Schedule s;
  s.kind = schedule_kind_from_name(parts[0]);
  s.base_lr = base_lr;
  s.total_steps = steps_per_epoch * epochs;
  s.warmup_steps = static_cast<std::int64_t>(std::llround(warmup_epochs * static_cast<double>(steps_per_epoch)));
  auto number = [&](std::size_t i) {
    try {
      std::size_t used = 0;
      double v = std::stod(parts[i], &used);
      if (used != parts[i].size()) throw std::invalid_argument("trailing characters");
      return v;
    } catch (const std::exception&) {
      fail("schedule '", spec, "': '", parts[i], "' is not a number");
    }
  };
  if (s.kind == ScheduleKind::step) {
    if (parts.size() > 3) fail("schedule '", spec, "': expected step[:EPOCHS[:GAMMA]]");
    double every = parts.size() > 1 ? number(1) : std::ceil(static_cast<double>(epochs) / 3);
    if (!(std::isfinite(every) && every > 0)) fail("schedule '", spec, "': the step interval must be a positive number of epochs");
    s.step_every = std::max<std::int64_t>(1, std::llround(every * static_cast<double>(steps_per_epoch)));
    if (parts.size() > 2) s.gamma = number(2);
    if (!(std::isfinite(s.gamma) && s.gamma > 0)) fail("schedule '", spec, "': the factor GAMMA must be finite and positive, got ", s.gamma);
  } else if (parts.size() > 1) {
    fail("schedule '", spec, "': '", parts[0], "' takes no parameters");
  }
  return s;
}

}  // namespace dagrad::train

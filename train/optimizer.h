#pragma once
// SGD with momentum, Nesterov momentum and weight decay (PyTorch's semantics), and learning-rate
// schedules evaluated per step. Everything here is deterministic and element-wise.
#include <cstdint>
#include <string>

#include "graph/model.h"
#include "graph/tensor.h"

namespace dagrad::train {

struct SgdOptions {
  double lr = 0.05;  // the base learning rate; a Schedule scales it per step
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

// One step on one parameter, in the parameter's dtype, exactly as torch.optim.SGD (dampening 0):
//   g += weight_decay * w;  buf = momentum * buf + g;  w -= lr * (nesterov ? g + momentum * buf : buf)
// (buf starts at zero, so the first step sets it to g, as PyTorch does).
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, const SgdOptions& options);

// The name of a parameter's momentum buffer in TrainingState::buffers.
std::string momentum_buffer_name(const std::string& parameter);

// Zero momentum buffers for every parameter that has none yet.
void init_sgd_buffers(const TensorMap& parameters, TrainingState& state);

enum class ScheduleKind { constant, step, cosine };

// The learning rate at every optimizer step. A linear warm-up (if any) rises from base_lr/warmup_steps
// to base_lr over the first warmup_steps steps; the schedule proper then runs over the remaining steps.
struct Schedule {
  ScheduleKind kind = ScheduleKind::constant;
  double base_lr = 0.05;
  std::int64_t total_steps = 1;   // cosine: the steps over which it decays (including warm-up)
  std::int64_t warmup_steps = 0;
  std::int64_t step_every = 1;    // step: multiply by gamma every step_every steps
  double gamma = 0.1;             // step: the factor
  double min_lr = 0;              // cosine: the final learning rate

  // The rate for step `step` (0-based), like torch's CosineAnnealingLR(T_max = total_steps) / StepLR.
  double lr_at(std::int64_t step) const;
};

const char* schedule_kind_name(ScheduleKind kind);
ScheduleKind schedule_kind_from_name(const std::string& name);  // throws naming the choices

// A schedule from a command-line spec: "constant", "cosine" or "step[:EPOCHS[:GAMMA]]" (default:
// every epochs/3 epochs, rounded up, times 0.1), with warm-up over `warmup_epochs` epochs.
Schedule make_schedule(const std::string& spec, double base_lr, std::int64_t steps_per_epoch, std::int64_t epochs,
                       double warmup_epochs = 0);

}  // namespace dagrad::train

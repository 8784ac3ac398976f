// Elementwise kernel microbenchmark: each op's forward kernel called directly on preallocated
// tensors (no plan, no allocation), so the number is the loop itself.
// Usage: dagrad_bench_elementwise [--threads N] [--elements N] [--f64] [--cpu-time]
#include <oneapi/tbb/task_arena.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "graph/op.h"
#include "ops/ops.h"
#include "ops/kernels/gemm.h"

namespace {

using namespace dagrad;

bool g_cpu_time = false;  // process CPU time (summed over threads): steadier on a shared machine

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Case {
  const char* label;
  const char* op;
  std::vector<Shape> inputs;
  AttrMap attrs;
};

// Best of `repeats` calls of the op's kernel, in GB/s of inputs read plus the output written.
void measure(tbb::task_arena& arena, const Case& c, DType dtype, int repeats) {
  Graph g;
  std::vector<Value> in;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) in.push_back(g.input("in" + std::to_string(i), {dtype, c.inputs[i]}));
  g.add_node(c.op, in, c.attrs, "node");
  const Node& node = g.nodes().back();
  std::vector<Tensor> inputs;
  std::uint32_t seed = 1;
  for (const Shape& s : c.inputs) {
    Tensor t(DType::f64, s);
    for (double& x : t.data<double>()) {
      seed = seed * 1664525u + 1013904223u;
      x = static_cast<double>(seed >> 8) / 8388608.0 - 1.0;
    }
    inputs.push_back(t.to(dtype));
  }
  Tensor out(dtype, g.value(node.outputs[0]).type.shape);
  std::vector<const Tensor*> ins;
  for (const Tensor& t : inputs) ins.push_back(&t);
  KernelContext k(node, ins, {&out}, 0);
  const OpDef& def = op_registry().at(c.op);
  double bytes = static_cast<double>(out.numel());
  for (const Tensor& t : inputs) bytes += static_cast<double>(t.numel());
  bytes *= dtype == DType::f32 ? 4 : 8;
  double best = 1e30;
  for (int r = 0; r <= repeats; ++r) {
    const double start = now_seconds();
    arena.execute([&] { def.forward(node.parsed_attrs, k); });
    if (r > 0) best = std::min(best, now_seconds() - start);  // the first call warms up
  }
  std::printf("%-18s %8.2f GB/s  (%.3f ms)\n", c.label, bytes / best * 1e-9, best * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  dagrad::kernels::restart_with_better_blas_core(argv);  // see ops/kernels/gemm.h
  int threads = 2, repeats = 30;
  std::int64_t n = 1 << 20;  // 4 MB of float32 per tensor
  DType dtype = DType::f32;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--f64")) dtype = DType::f64;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--elements") && i + 1 < argc) n = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--elements N] [--repeats N] [--f64] [--cpu-time]\n", argv[0]);
      return 2;
    }
  }
  if (threads < 1 || n < 64 || repeats < 1) {
    std::fprintf(stderr, "--threads and --repeats must be >= 1, --elements >= 64\n");
    return 2;
  }
  tbb::task_arena arena(threads);
  const Shape flat{n}, rows{n / 64, 64}, row{64};
  const std::vector<Case> cases = {
      {"relu", "relu", {flat}, {}},
      {"relu_grad", "relu_grad", {flat, flat}, {}},
      {"sigmoid", "sigmoid", {flat}, {}},
      {"sigmoid_grad", "sigmoid_grad", {flat, flat}, {}},
      {"tanh", "tanh", {flat}, {}},
      {"tanh_grad", "tanh_grad", {flat, flat}, {}},
      {"clip (relu6)", "clip", {flat}, {{"min", 0.0}, {"max", 6.0}}},
      {"clip_grad", "clip_grad", {flat, flat}, {{"min", 0.0}, {"max", 6.0}}},
      {"hardswish", "hardswish", {flat}, {}},
      {"hardswish_grad", "hardswish_grad", {flat, flat}, {}},
      {"silu", "silu", {flat}, {}},
      {"silu_grad", "silu_grad", {flat, flat}, {}},
      {"elu_grad", "elu_grad", {flat, flat}, {}},
      {"leaky_relu", "leaky_relu", {flat}, {}},
      {"leaky_relu_grad", "leaky_relu_grad", {flat, flat}, {}},
      {"scale", "scale", {flat}, {{"factor", 0.5}}},
      {"add", "add", {flat, flat}, {}},
      {"add (bias [64])", "add", {rows, row}, {}},
      {"mul", "mul", {flat, flat}, {}},
      {"mul (bias [64])", "mul", {rows, row}, {}},
      {"softmax [.., 64]", "softmax", {rows}, {}},
      {"log_softmax", "log_softmax", {rows}, {}},
  };
  std::printf("%lld elements, %s, %d threads, best of %d%s\n", static_cast<long long>(n), dtype == DType::f32 ? "f32" : "f64",
              threads, repeats, g_cpu_time ? ", CPU time" : "");
  for (const Case& c : cases) {
    if (op_registry().find(c.op)) measure(arena, c, dtype, repeats);
  }
  return 0;
}

#include "ops/kernels/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "graph/error.h"

namespace dagrad::kernels {
namespace {

Isa initial_isa() {
  const char* forced = std::getenv("DAGRAD_ISA");
  if (!forced || !*forced) return detected_isa();
  const Isa isa = parse_isa(forced);
  if (!isa_supported(isa))
    fail("DAGRAD_ISA=", forced, ": this CPU does not support it (the best path here is ", isa_name(detected_isa()), ")");
  return isa;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::baseline: return "baseline";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (name == isa_name(isa)) return isa;
  fail("unknown instruction set '", std::string(name), "' (expected baseline, avx2 or avx512)");
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::baseline: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return isa_supported(Isa::avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
}

Isa detected_isa() {
  static const Isa best = isa_supported(Isa::avx512) ? Isa::avx512 : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::baseline;
  return best;
}

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void force_isa(Isa isa) {
  if (!isa_supported(isa)) fail("instruction set ", isa_name(isa), " is not supported by this CPU");
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace dagrad::kernels

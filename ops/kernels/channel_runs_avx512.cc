// Batch norm's run loops (channel_runs_impl.h) compiled for AVX512: the 8-double lanes in
// one zmm register instead of four SSE2 registers, the same bits.
#include "ops/kernels/channel_runs.h"

#if defined(__x86_64__)
#include <cstdint>
#include <cstring>
#include <type_traits>

// GCC takes the target through its pragma, clang through its attribute pragma.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define DAGRAD_VECTOR_BYTES 64
#include "ops/kernels/channel_runs_impl.h"

namespace dagrad::kernels {
namespace {
// Constant-initialized: no code of this file runs before the path is chosen.
constexpr ChannelRuns<float> kAvx512Float = channel_runs_detail::make<float>();
constexpr ChannelRuns<double> kAvx512Double = channel_runs_detail::make<double>();
}  // namespace
}  // namespace dagrad::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// Outside the target region: called from baseline code on any CPU.
namespace dagrad::kernels {
const ChannelRuns<float>* avx512_channel_runs_float() { return &kAvx512Float; }
const ChannelRuns<double>* avx512_channel_runs_double() { return &kAvx512Double; }
}  // namespace dagrad::kernels

#else
namespace dagrad::kernels {
const ChannelRuns<float>* avx512_channel_runs_float() { return nullptr; }
const ChannelRuns<double>* avx512_channel_runs_double() { return nullptr; }
}  // namespace dagrad::kernels
#endif

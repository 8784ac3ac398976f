// Batch norm's run loops: the baseline (SSE2) build of channel_runs_impl.h and the choice of path.
#include "ops/kernels/channel_runs.h"

#define DAGRAD_VECTOR_BYTES 16
#include "ops/kernels/channel_runs_impl.h"
#include "ops/kernels/cpu_isa.h"

namespace dagrad::kernels {

// Defined in channel_runs_avx2.cc and channel_runs_avx512.cc (null off x86-64).
const ChannelRuns<float>* avx2_channel_runs_float();
const ChannelRuns<double>* avx2_channel_runs_double();
const ChannelRuns<float>* avx512_channel_runs_float();
const ChannelRuns<double>* avx512_channel_runs_double();

namespace {
constexpr ChannelRuns<float> kBaselineFloat = channel_runs_detail::make<float>();
constexpr ChannelRuns<double> kBaselineDouble = channel_runs_detail::make<double>();

template <class T> const ChannelRuns<T>* path(Isa isa) {
  constexpr bool is_float = sizeof(T) == sizeof(float);
  switch (isa) {
    case Isa::avx512:
      if constexpr (is_float) return avx512_channel_runs_float(); else return avx512_channel_runs_double();
    case Isa::avx2:
      if constexpr (is_float) return avx2_channel_runs_float(); else return avx2_channel_runs_double();
    case Isa::baseline: break;
  }
  return nullptr;
}
}  // namespace

template <> const ChannelRuns<float>& channel_runs<float>() {
  const ChannelRuns<float>* p = path<float>(active_isa());
  return p ? *p : kBaselineFloat;
}
template <> const ChannelRuns<double>& channel_runs<double>() {
  const ChannelRuns<double>* p = path<double>(active_isa());
  return p ? *p : kBaselineDouble;
}

}  // namespace dagrad::kernels

#pragma once
// Elementwise loops shared by the unary, gradient and broadcasting ops: y[i] = f(inputs[i]...),
// in chunks of kElementwiseGrain fixed by the size, so results never depend on the thread count.
#include <cstdint>

#include "graph/op.h"
#include "ops/kernels/broadcast.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

// y[i] = f(in[i]...) for i in [0, n).
template <class T, class F, class... In> void map_elementwise(std::int64_t n, T* y, const F& f, const In*... in) {
  parallel_chunks(n, kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
    const F local = f;  // a copy per chunk: stores to y cannot alias what f captured, so the loop vectorizes
    for (std::int64_t i = b; i < e; ++i) y[i] = local(in[i]...);
  });
}

// y = f(a, b) with numpy broadcasting; inputs of one shape take the plain loop.
template <class T, class F> void map_broadcast(const Tensor& ta, const Tensor& tb, Tensor& ty, const F& f) {
  const T* a = ta.data<T>().data();
  const T* b = tb.data<T>().data();
  T* y = ty.data<T>().data();
  if (ta.shape() == tb.shape()) return map_elementwise(ty.numel(), y, f, a, b);
  parallel_chunks(ty.numel(), kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
    BroadcastCursor from_a(ta.shape(), ty.shape(), s), from_b(tb.shape(), ty.shape(), s);
    for (std::int64_t i = s; i < e; ++i, from_a.next(), from_b.next()) y[i] = f(a[from_a.offset()], b[from_b.offset()]);
  });
}

}  // namespace dagrad::kernels

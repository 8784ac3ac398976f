#pragma once
// Row-major matrix products through OpenBLAS, pinned to one thread: oneTBB is the only thread pool,
// so every call runs inside a TBB task and a single-threaded BLAS keeps results reproducible.
#include <cstdint>

namespace dagrad::kernels {

// C[m,n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; leading dims as stored (row-major).
// Empty products are handled here (BLAS rejects zero leading dims); throws Error when a dim
// exceeds the BLAS integer range.
template <class T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

}  // namespace dagrad::kernels

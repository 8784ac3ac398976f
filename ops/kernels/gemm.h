#pragma once
// Row-major matrix products through OpenBLAS, pinned to one thread: oneTBB is the only thread pool,
// so every call runs inside a TBB task and a single-threaded BLAS keeps results reproducible.
#include <cstdint>
#include <string>

namespace dagrad::kernels {

// C[m,n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; leading dims as stored (row-major).
// Empty products are handled here (BLAS rejects zero leading dims); throws Error when a dim
// exceeds the BLAS integer range.
template <class T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

// The kernel family OpenBLAS chose when it loaded (openblas_get_corename, e.g. "SkylakeX").
std::string blas_core();

// The family this CPU should use when OpenBLAS fell back to an older one because it does not know
// the CPU model: Debian's OpenBLAS 0.3.21 picks "Prescott" (SSE3) on Sapphire Rapids guests and
// runs sgemm at a quarter of the SkylakeX kernels' speed. Empty when the choice is already right.
// OpenBLAS reads OPENBLAS_CORETYPE only as it loads, so a program applies this by restarting.
std::string better_blas_core();

// For programs (the dagrad tool, the benchmarks, the tests): when better_blas_core() is not empty
// and the user set neither OPENBLAS_CORETYPE nor DAGRAD_KEEP_BLAS_CORE, sets OPENBLAS_CORETYPE and
// replaces the process with itself (execv of /proc/self/exe, same argv). Returns if nothing was
// needed or the restart failed (the program then runs with the slower kernels).
void restart_with_better_blas_core(char** argv);

}  // namespace dagrad::kernels

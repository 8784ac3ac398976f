#include "ops/kernels/gemm.h"

#include <cblas.h>

#include <climits>
#include <mutex>
#include <type_traits>

#include "graph/error.h"

namespace dagrad::kernels {
namespace {

void use_single_blas_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

blasint blas_int(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) fail("gemm: ", what, " = ", v, " is outside the BLAS integer range");
  return static_cast<blasint>(v);
}

}  // namespace

template <class T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // Nothing to multiply: C = beta * C (with beta == 0 clearing any garbage, as BLAS does).
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  use_single_blas_thread();
  const CBLAS_TRANSPOSE ta = transpose_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = transpose_b ? CblasTrans : CblasNoTrans;
  const blasint bm = blas_int(m, "m"), bn = blas_int(n, "n"), bk = blas_int(k, "k");
  const blasint blda = blas_int(lda, "lda"), bldb = blas_int(ldb, "ldb"), bldc = blas_int(ldc, "ldc");
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, bm, bn, bk, alpha, a, blda, b, bldb, beta, c, bldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, bm, bn, bk, alpha, a, blda, b, bldb, beta, c, bldc);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace dagrad::kernels

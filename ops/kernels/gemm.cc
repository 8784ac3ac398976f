#include "ops/kernels/gemm.h"

#include <cblas.h>

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#include "graph/error.h"
#include "ops/kernels/cpu_isa.h"

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

std::string blas_core() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::string better_blas_core() {
  // Families at least as good as the CPU's vector units, by what OpenBLAS 0.3.21 names them.
  static const char* const kAvx512Cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char* const kAvx2Cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
  const std::string core = blas_core();
  auto known = [&](const auto& list) {
    for (const char* c : list)
      if (core == c) return true;
    return false;
  };
  if (isa_supported(Isa::avx512)) return known(kAvx512Cores) ? "" : "SkylakeX";
  if (isa_supported(Isa::avx2)) return known(kAvx2Cores) ? "" : "Haswell";
  return "";
}

void restart_with_better_blas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("DAGRAD_KEEP_BLAS_CORE")) return;
  const std::string core = better_blas_core();
  if (core.empty()) return;
  // Set before the exec; if the exec fails, the variable does no harm in this process.
  if (setenv("OPENBLAS_CORETYPE", core.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace dagrad::kernels

#!/bin/sh
# Builds the fuzz targets with clang (libFuzzer, ASan, UBSan) and fuzzes each for SECONDS:
#   fuzz/run.sh SECONDS [BUILD_DIR]
#   FUZZ_TARGETS="fuzz_onnx" fuzz/run.sh 1800     # one target only (default: fuzz_load fuzz_onnx)
# fuzz_load (model-file loading) seeds: tests/data/malformed (the malformed-file corpus),
# tests/data/*.dagrad and tests/data/fuzz_regressions; its new corpus entries go to
# BUILD_DIR/corpus, its log to BUILD_DIR/fuzz.log.
# fuzz_onnx (ONNX import) seeds: tests/data/onnx_malformed (the malformed-ONNX corpus),
# tests/data/onnx_fuzz_regressions and a few valid models of ONNX's conformance data
# (/usr/share/libonnx-testdata, when installed); corpus BUILD_DIR/corpus_onnx, log
# BUILD_DIR/fuzz_onnx.log. Crashes of either go to BUILD_DIR/crashes (fuzz_onnx's prefixed "onnx-").
# The exit code is non-zero when any target found a crash, leak or timeout.
# Built at -O1 with line tables only (OSS-Fuzz's choice): about half the compile time of -O2 -g on
# this 2-core machine, and reports still name file and line.
set -eu
seconds=${1:?usage: fuzz/run.sh SECONDS [BUILD_DIR]}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build-fuzz}
targets=${FUZZ_TARGETS:-fuzz_load fuzz_onnx}
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DDAGRAD_FUZZ=ON -DDAGRAD_BUILD_TESTS=OFF -DDAGRAD_BUILD_TOOLS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j"${FUZZ_BUILD_JOBS:-2}"
mkdir -p "$build/crashes"
status=0
for target in $targets; do
  seeds=""
  case $target in
    fuzz_load)
      corpus=$build/corpus log=$build/fuzz.log prefix=$build/crashes/
      mkdir -p "$corpus"
      for d in "$src/tests/data/malformed" "$src/tests/data/fuzz_regressions"; do
        [ -d "$d" ] && seeds="$seeds $d"
      done
      cp "$src"/tests/data/*.dagrad "$corpus/" 2>/dev/null || true
      ;;
    fuzz_onnx)
      corpus=$build/corpus_onnx log=$build/fuzz_onnx.log prefix=$build/crashes/onnx-
      mkdir -p "$corpus"
      for d in "$src/tests/data/onnx_malformed" "$src/tests/data/onnx_fuzz_regressions"; do
        [ -d "$d" ] && seeds="$seeds $d"
      done
      conformance=/usr/share/libonnx-testdata/data
      for case in node/test_conv_with_strides_padding node/test_relu node/test_gemm_default_single_elem_vector_bias \
          node/test_batchnorm_example node/test_softmax_axis_1 node/test_maxpool_2d_pads node/test_averagepool_2d_pads \
          node/test_sce_mean_weight node/test_nllloss_NCd1d2_with_weight node/test_concat_2d_axis_0 \
          node/test_reshape_extended_dims node/test_clip node/test_convtranspose node/test_transpose_default \
          node/test_dropout_default node/test_matmul_2d pytorch-converted/test_Conv2d pytorch-converted/test_BatchNorm2d_eval \
          pytorch-converted/test_Conv2d_depthwise_padded pytorch-converted/test_AvgPool2d simple/test_single_relu_model; do
        [ -f "$conformance/$case/model.onnx" ] && cp "$conformance/$case/model.onnx" "$corpus/seed_$(basename "$case").onnx"
      done
      ;;
    *) echo "fuzz/run.sh: unknown target $target (fuzz_load, fuzz_onnx)" >&2; exit 2 ;;
  esac
  result=0
  # shellcheck disable=SC2086
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$prefix" \
    "$corpus" $seeds >"$log" 2>&1 || result=$?
  echo "== $target: exit $result (log $log)"
  tail -n 30 "$log"
  [ "$result" -eq 0 ] || status=$result
done
ls "$build/crashes"
exit $status

#!/bin/sh
# Builds fuzz_load with clang (libFuzzer, ASan, UBSan) and fuzzes model loading for SECONDS.
#   fuzz/run.sh SECONDS [BUILD_DIR]
# Seeds: tests/data/malformed (the malformed-file corpus), tests/data/*.dagrad and earlier crash
# regressions. New corpus entries go to BUILD_DIR/corpus; crashes to BUILD_DIR/crashes. Exit code
# is non-zero when a crash, leak or timeout was found.
set -eu
seconds=${1:?usage: fuzz/run.sh SECONDS [BUILD_DIR]}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build-fuzz}
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DDAGRAD_FUZZ=ON -DDAGRAD_BUILD_TESTS=OFF -DDAGRAD_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" --target fuzz_load -j"${FUZZ_BUILD_JOBS:-2}"
mkdir -p "$build/corpus" "$build/crashes"
seeds=""
for d in "$src/tests/data/malformed" "$src/tests/data/fuzz_regressions"; do
  [ -d "$d" ] && seeds="$seeds $d"
done
cp "$src"/tests/data/*.dagrad "$build/corpus/" 2>/dev/null || true
status=0
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/fuzz/fuzz_load" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$build/crashes/" \
  "$build/corpus" $seeds >"$build/fuzz.log" 2>&1 || status=$?
tail -n 30 "$build/fuzz.log"
ls "$build/crashes"
exit $status

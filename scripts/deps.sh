#!/usr/bin/env bash
# Installs everything dagrad needs to build, test and train on a fresh Debian 12 machine (as root).
#   scripts/deps.sh           the build, the tests and training
#   scripts/deps.sh --bench   also /usr/bin/time, for the README's measurements
set -euo pipefail
bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: scripts/deps.sh [--bench]" >&2; exit 2 ;;
  esac
done
export DEBIAN_FRONTEND=noninteractive
packages=(
  g++ cmake ninja-build                           # toolchain
  libboost-graph-dev libboost-program-options-dev # graph algorithms, CLI
  libtbb-dev                                      # the one thread pool
  libprotobuf-dev protobuf-compiler               # model files
  libonnx-dev                                     # ONNX import/export: schema, checker, shape inference
  libonnx-testdata                                # ONNX's conformance cases (the interop tests)
  libgtest-dev libgmock-dev                       # tests
  libopenblas-dev                                 # tuned sgemm/dgemm for convolution and dense
  zlib1g-dev                                      # gzip'd IDX datasets
  nlohmann-json3-dev                              # JSON output of the tools
  dataset-fashion-mnist                           # the training data
  graphviz                                        # svg/png graph drawings
  clang libclang-rt-14-dev                        # libFuzzer target
  python3-numpy                                   # checks that dumped .npy files load
  python3-torch python3-torchvision python3-onnx  # the interop tests export torchvision models with torch.onnx
  openmpi-bin libopenmpi-dev openssh-client       # data-parallel training (mpirun; Open MPI wants an rsh agent even on one machine)
)
if [ "$bench" = 1 ]; then
  packages+=(time)                                # peak RSS of the comparison runs
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

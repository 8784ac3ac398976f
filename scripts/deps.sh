#!/usr/bin/env bash
# Installs everything dagrad needs to build, test and train on a fresh Debian 12 machine (as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  g++ cmake ninja-build ccache                    # toolchain
  libboost-graph-dev libboost-program-options-dev # graph algorithms, CLI
  libtbb-dev                                      # the one thread pool
  libprotobuf-dev protobuf-compiler               # model files
  libgtest-dev libgmock-dev                       # tests
  libopenblas-dev                                 # tuned sgemm/dgemm for convolution and dense
  zlib1g-dev                                      # gzip'd IDX datasets
  nlohmann-json3-dev                              # JSON output of the tools
  dataset-fashion-mnist                           # the training data
  graphviz                                        # svg/png graph drawings
  clang libclang-rt-14-dev                        # libFuzzer target
  python3-numpy                                   # checks that dumped .npy files load
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

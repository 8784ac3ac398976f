#!/usr/bin/env bash
# ThreadSanitizer run of the runtime tests (as root on Debian 12). Debian's libtbb is not built
# with TSan, so TSan cannot see its synchronization and reports every handoff between a task and
# its waiter as a race. This script builds Debian's own oneTBB source package with
# TBB_SANITIZE=thread into build-tsan/onetbb, builds dagrad's `tsan` preset against it and runs
# the runtime tests, failing on any report (halt_on_error=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends dpkg-dev xz-utils >/dev/null

work="$PWD/build-tsan/onetbb"
if [ ! -f "$work/install/lib/cmake/TBB/TBBConfig.cmake" ]; then
  mkdir -p "$work"
  # The source of the very libtbb-dev version installed, from the deb-src entries of the same mirror.
  sources=/etc/apt/sources.list.d/debian.sources
  if [ -f "$sources" ] && ! grep -q 'deb-src' "$sources"; then
    sed -i 's/^Types: deb$/Types: deb deb-src/' "$sources"
  fi
  apt-get update -qq
  (cd "$work" && apt-get source -qq onetbb)
  src=$(find "$work" -maxdepth 1 -type d -name 'onetbb-*' | head -1)
  cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTBB_SANITIZE=thread \
        -DTBB_TEST=OFF -DTBB_STRICT=OFF -DTBBMALLOC_BUILD=OFF -DCMAKE_INSTALL_PREFIX="$work/install"
  cmake --build "$work/build"
  cmake --install "$work/build"
fi

cmake --preset tsan -DTBB_DIR="$work/install/lib/cmake/TBB"
cmake --build --preset tsan
LD_LIBRARY_PATH="$work/install/lib" ctest --preset tsan --output-on-failure

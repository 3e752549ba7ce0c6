#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole test suite.
#   scripts/test.sh                  Release build in build/
#   scripts/test.sh --sanitize       ASan/UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh

if [ "${1:-}" = "--sanitize" ]; then
  export PFEDHN_BUILD_DIR=build-asan CMAKE_BUILD_TYPE=RelWithDebInfo
  bash scripts/build.sh -DPFEDHN_SANITIZE=ON
  # LibTorch itself is not instrumented; its allocator confuses LeakSanitizer.
  export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  bash scripts/build.sh
fi
BUILD_DIR=${PFEDHN_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"

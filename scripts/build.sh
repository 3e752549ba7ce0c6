#!/usr/bin/env bash
# Configures and builds pfedhn (Release by default) into build/ (or $PFEDHN_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DPFEDHN_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${PFEDHN_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

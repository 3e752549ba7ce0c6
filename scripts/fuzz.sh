#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and runs each in turn.
#   scripts/fuzz.sh [SECONDS] [TARGET...]    SECONDS per target (default 300);
#                                            TARGET: idx cifar gzip config checkpoint (default all)
# The corpus grows in build-fuzz/corpus/<target>/ (seeds: build-fuzz/seeds/<target>/, written by
# pfedhn_fuzz_seeds); a crashing input lands in build-fuzz/artifacts/, the log in build-fuzz/logs/.
# Exit status 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=300
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  DURATION=$1
  shift
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx cifar gzip config checkpoint)
BUILD=${PFEDHN_FUZZ_BUILD_DIR:-build-fuzz}

launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DPFEDHN_FUZZ=ON -DPFEDHN_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > /dev/null
nice -n 19 cmake --build "$BUILD" -j2 --target pfedhn_fuzzers
"$BUILD/pfedhn_fuzz_seeds" "$BUILD/seeds"
cp conf/*.yaml "$BUILD/seeds/config/"
mkdir -p "$BUILD/artifacts" "$BUILD/logs"

# LibTorch is not instrumented and keeps caches that LeakSanitizer would report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/pfedhn_fuzz_$t"
  [ -x "$bin" ] || { echo "unknown fuzz target '$t'" >&2; exit 2; }
  mkdir -p "$BUILD/corpus/$t"
  log="$BUILD/logs/$t.log"
  echo "== $t: ${DURATION}s (log $log)"
  status=0
  # -malloc_limit_mb: one allocation above it is a crash (a forged size must not allocate).
  # -timeout is wall clock: generous, as these runs share a loaded machine at nice 19 (every
  # input takes milliseconds; a hang such as yaml-cpp's still shows). LeakSanitizer is off
  # (see above), so libFuzzer's leak re-runs (-detect_leaks) would only cost time.
  nice -n 19 "$bin" -max_total_time="$DURATION" -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=60 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$t-" "$BUILD/corpus/$t" "$BUILD/seeds/$t" \
    > "$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$log" || true
  echo "corpus files: $(find "$BUILD/corpus/$t" -type f | wc -l)"
  if [ $status -ne 0 ]; then
    failed=1
    echo "CRASH in $t (exit $status):"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz invariant|terminate called|.*what\(\))' \
      "$log" | head -5 || true
    ls "$BUILD/artifacts/$t-"* 2> /dev/null || true
  fi
done
exit $failed

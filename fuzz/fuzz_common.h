#pragma once

// Shared by the libFuzzer targets (built with -DPFEDHN_FUZZ=ON, see cmake/PfedhnFuzz.cmake).
// A target feeds the fuzzer's bytes to one reader. The reader's documented rejection (a
// UserError subclass: DataError, ConfigError, CheckpointError) is a normal outcome; any other
// exception escapes, and libFuzzer reports the resulting abort as a crash, as it does for a
// sanitizer report, a timeout or an allocation above -malloc_limit_mb.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pfedhn/util/error.h"

namespace pfedhn::fuzz {

// Stops the run with a message when a reader accepted an input but broke its own contract.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Runs `fn`; a UserError must be one line (the CLI prints it as one).
template <typename Fn>
void expect_accept_or_reject(Fn&& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) {
      std::fprintf(stderr, "error message is not one line:\n%s\n", e.what());
      check(false, "error message is one line");
    }
  }
}

inline std::vector<uint8_t> to_vector(const uint8_t* data, size_t size) {
  return std::vector<uint8_t>(data, data + size);
}

}  // namespace pfedhn::fuzz

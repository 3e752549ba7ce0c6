#pragma once
// Helpers shared by the config tests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config::testing {

// Runs `f`, which must throw ConfigError, and returns the message (which must be one line).
template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// The default config with `overrides` ("key=value") applied.
inline Config overridden(const std::vector<std::string>& overrides) {
  Config cfg;
  apply_overrides(cfg, overrides);
  return cfg;
}

}  // namespace pfedhn::config::testing

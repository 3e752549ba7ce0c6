#include "pfedhn/util/error.h"

#include <gtest/gtest.h>

namespace pfedhn {
namespace {

TEST(UserError, MessageIsOneLineWhateverItQuotes) {
  EXPECT_EQ(std::string(UserError("key 'a\nb\r\tc\x01\x7f' x").what()),
            "key 'a\\nb\\r\\tc\\x01\\x7f' x");
  EXPECT_EQ(std::string(DataError("caf\xc3\xa9.bin: ok").what()), "caf\xc3\xa9.bin: ok");
  EXPECT_EQ(std::string(ConfigError(std::string("nul\0byte", 8)).what()), "nul\\x00byte");
}

}  // namespace
}  // namespace pfedhn

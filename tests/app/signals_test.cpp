// The SIGINT/SIGTERM handler on its own, in forked children (gtest death tests), so that the
// exit-at-once paths are checked without any timing.
#include "pfedhn/app/signals.h"

#include <gtest/gtest.h>

#include <csignal>

#include "pfedhn/app/train.h"

namespace pfedhn::app {
namespace {

class StopSignalsDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(StopSignalsDeathTest, BeforeTheLoopASignalExitsAtOnceWithItsCode) {
  EXPECT_EXIT(
      {
        StopSignals signals;
        std::raise(SIGINT);
        std::_Exit(0);  // not reached
      },
      ::testing::ExitedWithCode(kInterruptedExitCode),
      "^\npfedhn: interrupted before the first round: nothing to save\n$");
  EXPECT_EXIT(
      {
        StopSignals signals;
        std::raise(SIGTERM);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(kTerminatedExitCode), "nothing to save");
}

TEST_F(StopSignalsDeathTest, InTheLoopTheFirstSignalIsOnlyRecorded) {
  EXPECT_EXIT(
      {
        StopSignals signals;
        signals.stop_after_round();
        std::raise(SIGTERM);
        std::_Exit(signals.pending() == SIGTERM ? 42 : 1);
      },
      ::testing::ExitedWithCode(42), "^$");
}

TEST_F(StopSignalsDeathTest, InTheLoopASecondSignalExitsAtOnce) {
  EXPECT_EXIT(
      {
        StopSignals signals;
        signals.stop_after_round();
        std::raise(SIGINT);
        if (signals.pending() != SIGINT) std::_Exit(1);
        std::raise(SIGINT);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(kInterruptedExitCode),
      "^\npfedhn: second signal: exiting at once; the last good checkpoint is intact\n$");
}

TEST(StopSignals, RestoresThePreviousHandlers) {
  struct sigaction before {};
  ::sigaction(SIGINT, nullptr, &before);
  {
    StopSignals signals;
    struct sigaction during {};
    ::sigaction(SIGINT, nullptr, &during);
    EXPECT_NE(during.sa_handler, before.sa_handler);
  }
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

}  // namespace
}  // namespace pfedhn::app

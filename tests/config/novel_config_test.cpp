// novel.alphas: the float-list key that gives novel clients chosen label shifts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

using testing::config_error;
using testing::Contains;
using testing::overridden;
using Doubles = std::vector<double>;

TEST(NovelAlphasKey, IsEmptyByDefaultAndReadInEveryForm) {
  EXPECT_TRUE(Config{}.novel.alphas.empty());
  EXPECT_EQ(config_value(Config{}, "novel.alphas"), "[]");
  EXPECT_EQ(overridden({"novel.alphas=[0.1, 1, 10]"}).novel.alphas, (Doubles{0.1, 1.0, 10.0}));
  EXPECT_EQ(overridden({"novel.alphas=0.25,5e-1"}).novel.alphas, (Doubles{0.25, 0.5}));
  const Config file = parse_config_text("novel:\n  alphas:\n    - 0.1\n    - 2\n", "f");
  EXPECT_EQ(file.novel.alphas, (Doubles{0.1, 2.0}));
  for (const auto& info : all_keys()) {
    if (info.key == "novel.alphas") {
      EXPECT_EQ(info.type, "float list");
    }
  }
}

TEST(NovelAlphasKey, RoundTripsThroughYaml) {
  const Config cfg = overridden({"novel.num_clients=2", "novel.alphas=[0.1, 1]"});
  const std::string yaml = to_yaml(cfg);
  EXPECT_TRUE(Contains(yaml, "alphas: [0.1, 1.0]\n")) << yaml;
  EXPECT_EQ(parse_config_text(yaml, "round trip").novel.alphas, cfg.novel.alphas);
  EXPECT_TRUE(Contains(to_yaml(Config{}), "alphas: []\n"));
}

TEST(NovelAlphasKey, BadValuesAreErrorsNamingTheKey) {
  for (const std::string bad : {"novel.alphas=[0.1, x]", "novel.alphas=[1,,2]",
                                "novel.alphas={a: 1}", "novel.alphas=[[1], 2]"}) {
    const std::string m = config_error([&] { overridden({bad}); });
    EXPECT_TRUE(Contains(m, "novel.alphas")) << bad << ": " << m;
  }
  auto validation_error = [](const std::vector<std::string>& overrides) {
    Config cfg = overridden(overrides);
    return config_error([&] { resolve_and_validate(cfg); });
  };
  EXPECT_TRUE(Contains(validation_error({"novel.num_clients=2", "novel.alphas=[0.5, 0]"}),
                       "every alpha must be > 0"));
  EXPECT_TRUE(Contains(validation_error({"novel.num_clients=2", "novel.alphas=[-1]"}),
                       "novel.alphas=[-1.0]"));
  EXPECT_TRUE(Contains(validation_error({"novel.alphas=[0.5]"}), "needs novel.num_clients > 0"));
  Config ok = overridden({"novel.num_clients=2", "novel.alphas=[0.1, 10]"});
  EXPECT_NO_THROW(resolve_and_validate(ok));
}

// novel.adapt and novel.lr: how pfedhn generalize fits a novel client's embedding.
TEST(NovelAdaptKeys, DefaultToTheRoundsAndTheTrainingEmbeddingLr) {
  EXPECT_EQ(Config{}.novel.adapt, NovelAdapt::kRounds);
  EXPECT_EQ(config_value(Config{}, "novel.adapt"), "rounds");
  const Config loss = overridden({"novel.adapt=loss", "novel.lr=0.2"});
  EXPECT_EQ(loss.novel.adapt, NovelAdapt::kLoss);
  EXPECT_DOUBLE_EQ(loss.effective_novel_lr(), 0.2);
  EXPECT_DOUBLE_EQ(overridden({"server.lr=0.03"}).effective_novel_lr(), 0.03);
  EXPECT_DOUBLE_EQ(overridden({"server.embed_lr=0.07"}).effective_novel_lr(), 0.07);
  const Config round_trip = parse_config_text(to_yaml(loss), "round trip");
  EXPECT_EQ(round_trip.novel.adapt, NovelAdapt::kLoss);
  EXPECT_DOUBLE_EQ(round_trip.novel.lr, 0.2);
  const std::string bad = config_error([] { overridden({"novel.adapt=gradient"}); });
  EXPECT_TRUE(Contains(bad, "novel.adapt")) << bad;
  EXPECT_TRUE(Contains(bad, "rounds")) << bad;
  const std::string negative = config_error([] {
    Config cfg = overridden({"novel.lr=-1"});
    resolve_and_validate(cfg);
  });
  EXPECT_TRUE(Contains(negative, "novel.lr")) << negative;
}

}  // namespace
}  // namespace pfedhn::config

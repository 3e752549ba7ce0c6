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

namespace pfedhn::config {
namespace {

using testing::config_error;
using testing::Contains;
using testing::overridden;

Config validated(const std::vector<std::string>& overrides) {
  Config cfg = overridden(overrides);
  resolve_and_validate(cfg);
  return cfg;
}

// novel.scheme: without it, what runs before it meant (shifted with alphas, else last).
TEST(NovelSchemeKey, FollowsTheAlphasUnlessGiven) {
  EXPECT_EQ(validated({}).novel.scheme, NovelScheme::kLast);
  EXPECT_EQ(validated({"novel.num_clients=2"}).novel.scheme, NovelScheme::kLast);
  EXPECT_EQ(validated({"novel.num_clients=2", "novel.alphas=[0.1]"}).novel.scheme,
            NovelScheme::kShifted);
  const Config sets =
      validated({"novel.num_clients=2", "novel.alphas=[0.1, 1]", "novel.scheme=sets"});
  EXPECT_EQ(sets.novel.scheme, NovelScheme::kSets);
  EXPECT_TRUE(Contains(to_yaml(sets), "scheme: sets\n"));
  EXPECT_EQ(Config{}.novel.scheme, NovelScheme::kAuto);
  EXPECT_TRUE(Contains(to_yaml(validated({})), "scheme: last\n"));
  // A config.yaml without the key (an older run) reads as it did.
  const std::string old_yaml = "novel:\n  num_clients: 2\n  alphas: [0.5]\n";
  Config old = parse_config_text(old_yaml, "old");
  resolve_and_validate(old);
  EXPECT_EQ(old.novel.scheme, NovelScheme::kShifted);
}

TEST(NovelSchemeKey, ContradictionsAreOneLineErrors) {
  const std::string last = config_error([] {
    validated({"novel.num_clients=2", "novel.alphas=[0.1]", "novel.scheme=last"});
  });
  EXPECT_TRUE(Contains(last, "novel.scheme=last takes no novel.alphas")) << last;
  const std::string sets = config_error([] {
    validated({"novel.num_clients=2", "novel.scheme=sets"});
  });
  EXPECT_TRUE(Contains(sets, "novel.scheme=sets needs novel.alphas")) << sets;
}

// client.class_shares: exact by default; spare for a run whose config predates the key.
TEST(ClassSharesKey, ExactByDefaultSpareForOlderRuns) {
  EXPECT_EQ(Config{}.client.class_shares, ClassShares::kExact);
  EXPECT_EQ(overridden({"client.class_shares=spare"}).client.class_shares, ClassShares::kSpare);
  const std::string bad = config_error([] { overridden({"client.class_shares=some"}); });
  EXPECT_TRUE(Contains(bad, "client.class_shares")) << bad;
  EXPECT_TRUE(Contains(bad, "exact|spare")) << bad;

  Config older = parse_config_text("client:\n  num_nodes: 10\n", "an older run's config.yaml");
  apply_older_run_defaults(older);
  EXPECT_EQ(older.client.class_shares, ClassShares::kSpare);
  Config newer = parse_config_text("client:\n  class_shares: exact\n", "a newer run's");
  apply_older_run_defaults(newer);
  EXPECT_EQ(newer.client.class_shares, ClassShares::kExact);
}

TEST(PartitionFileKey, NeedsPartitionFileAndViceVersa) {
  const Config ok = validated({"client.partition=file", "client.partition_file=p.json"});
  EXPECT_EQ(ok.client.partition, PartitionKind::kFile);
  EXPECT_EQ(ok.client.partition_file, "p.json");
  const std::string missing = config_error([] { validated({"client.partition=file"}); });
  EXPECT_TRUE(Contains(missing, "client.partition=file needs client.partition_file")) << missing;
  const std::string unused = config_error([] { validated({"client.partition_file=p.json"}); });
  EXPECT_TRUE(Contains(unused, "add client.partition=file")) << unused;
  EXPECT_EQ(validated({"client.partition=dirichlet_per_client"}).client.partition,
            PartitionKind::kDirichletPerClient);
}

}  // namespace
}  // namespace pfedhn::config

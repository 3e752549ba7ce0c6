// Defaults, overrides, type checks, validation and the key table (no files involved).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

using testing::config_error;
using testing::Contains;

Config with_overrides(const std::vector<std::string>& overrides) {
  Config cfg;
  for (const auto& o : overrides) apply_override(cfg, o);
  return cfg;
}

std::string validation_error(const std::vector<std::string>& overrides) {
  Config cfg = with_overrides(overrides);
  return config_error([&] { resolve_and_validate(cfg); });
}

// --- Defaults ----------------------------------------------------------------------------------

TEST(ConfigDefaults, AreThePapersCifar10Setting) {
  const Config cfg;
  EXPECT_EQ(cfg.seed, 42u);
  EXPECT_EQ(cfg.device, DeviceKind::kAuto);
  EXPECT_EQ(cfg.eval_every, 30);
  EXPECT_EQ(cfg.dataset.data, "cifar10");
  EXPECT_EQ(cfg.dataset.val_size, 10000);
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHN);
  EXPECT_EQ(cfg.model.n_kernels, 16);
  EXPECT_EQ(cfg.model.n_hidden, 3);
  EXPECT_DOUBLE_EQ(cfg.model.inner_lr, 5e-3);
  EXPECT_DOUBLE_EQ(cfg.model.wd, 5e-5);
  EXPECT_DOUBLE_EQ(cfg.server.lr, 1e-2);
  EXPECT_DOUBLE_EQ(cfg.server.wd, 1e-3);
  EXPECT_DOUBLE_EQ(cfg.server.momentum, 0.9);
  EXPECT_EQ(cfg.client.num_epochs, 50);
  EXPECT_EQ(cfg.client.num_rounds, 5000);
  EXPECT_EQ(cfg.client.num_nodes, 50);
  EXPECT_EQ(cfg.client.batch_size, 64);
  EXPECT_EQ(cfg.client.num_classes_per_node, 2);
  EXPECT_EQ(cfg.client.partition, PartitionKind::kClasses);
  EXPECT_TRUE(cfg.explicit_keys.empty());
}

TEST(ConfigDefaults, ValidateAndResolveFromCifar10) {
  Config cfg;
  cfg.model.in_channels = 7;  // not explicit: replaced by the dataset's value
  ASSERT_NO_THROW(resolve_and_validate(cfg));
  EXPECT_EQ(cfg.model.in_channels, 3);
  EXPECT_EQ(cfg.model.out_dim, 10);
}

TEST(ConfigDefaults, EffectiveEmbeddingDimIs13For50Nodes) {
  Config cfg;
  EXPECT_EQ(cfg.effective_embedding_dim(), 13);
  cfg.client.num_nodes = 100;
  EXPECT_EQ(cfg.effective_embedding_dim(), 26);
  cfg.server.embedding_dim = 5;
  EXPECT_EQ(cfg.effective_embedding_dim(), 5);
}

TEST(ConfigDefaults, EffectiveEmbedLrFallsBackToServerLr) {
  Config cfg = with_overrides({"server.lr=0.05"});
  EXPECT_DOUBLE_EQ(cfg.effective_embed_lr(), 0.05);
  apply_override(cfg, "server.embed_lr=0.2");
  EXPECT_DOUBLE_EQ(cfg.effective_embed_lr(), 0.2);
}

TEST(ConfigEnums, ToStringGivesTheYamlNames) {
  EXPECT_EQ(to_string(Algorithm::kPFedHN), "pfedhn");
  EXPECT_EQ(to_string(Algorithm::kPFedHNPC), "pfedhn_pc");
  EXPECT_EQ(to_string(PartitionKind::kClasses), "classes");
  EXPECT_EQ(to_string(PartitionKind::kDirichlet), "dirichlet");
  EXPECT_EQ(to_string(DeviceKind::kAuto), "auto");
  EXPECT_EQ(to_string(DeviceKind::kCpu), "cpu");
  EXPECT_EQ(to_string(DeviceKind::kCuda), "cuda");
}

// --- Overrides of each type --------------------------------------------------------------------

TEST(ConfigOverride, SetsAnIntAndMarksItExplicit) {
  const Config cfg = with_overrides({"client.num_rounds=10"});
  EXPECT_EQ(cfg.client.num_rounds, 10);
  EXPECT_EQ(cfg.explicit_keys, std::set<std::string>{"client.num_rounds"});
}

TEST(ConfigOverride, SetsATopLevelKey) {
  const Config cfg = with_overrides({"seed=18446744073709551615", "num_threads=4"});
  EXPECT_EQ(cfg.seed, 18446744073709551615ull);
  EXPECT_EQ(cfg.num_threads, 4);
}

TEST(ConfigOverride, SetsFloatsInAnyNotation) {
  const Config cfg = with_overrides({"model.inner_lr=5e-3", "server.lr=1", "server.wd=+0.25"});
  EXPECT_DOUBLE_EQ(cfg.model.inner_lr, 0.005);
  EXPECT_DOUBLE_EQ(cfg.server.lr, 1.0);
  EXPECT_DOUBLE_EQ(cfg.server.wd, 0.25);
}

TEST(ConfigOverride, SetsBools) {
  Config cfg = with_overrides({"model.spec_norm=true"});
  EXPECT_TRUE(cfg.model.spec_norm);
  apply_override(cfg, "model.spec_norm=no");
  EXPECT_FALSE(cfg.model.spec_norm);
}

TEST(ConfigOverride, SetsEnumsAndStrings) {
  const Config cfg = with_overrides({"device=cpu", "client.partition=dirichlet",
                                     "dataset.data=mnist", "dataset.root='/tmp/my data: #1'"});
  EXPECT_EQ(cfg.device, DeviceKind::kCpu);
  EXPECT_EQ(cfg.client.partition, PartitionKind::kDirichlet);
  EXPECT_EQ(cfg.dataset.data, "mnist");
  EXPECT_EQ(cfg.dataset.root, "/tmp/my data: #1");
}

TEST(ConfigOverride, ModelLocalSelectsTheVariant) {
  Config cfg = with_overrides({"model.local=true"});
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHNPC);
  apply_override(cfg, "model.local=false");
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHN);
}

TEST(ConfigOverride, TrimsTheKey) {
  const Config cfg = with_overrides({" client.num_nodes =10"});
  EXPECT_EQ(cfg.client.num_nodes, 10);
}

TEST(ConfigOverride, LaterOverrideReplacesTheOtherSpellingOfVariant) {
  const Config cfg = with_overrides({"model.variant=pfedhn_pc", "model.local=false"});
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHN);
}

TEST(ConfigOverride, OneBatchRejectsDisagreeingLocalAndVariant) {
  Config cfg;
  const std::string message = config_error([&] {
    apply_overrides(cfg, {"model.variant=pfedhn", "model.local=true"});
  });
  EXPECT_TRUE(Contains(message, "'model.variant' and 'model.local' disagree"));
  EXPECT_TRUE(Contains(message, "model.variant=pfedhn but model.local=true"));
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHN);
}

TEST(ConfigOverride, OneBatchAcceptsAgreeingLocalAndVariant) {
  Config cfg;
  apply_overrides(cfg, {"model.variant=pfedhn_pc", "model.local=true", "client.num_rounds=3"});
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHNPC);
  EXPECT_EQ(cfg.client.num_rounds, 3);
  EXPECT_EQ(cfg.explicit_keys.count("model.local"), 1u);
  EXPECT_EQ(cfg.explicit_keys.count("model.variant"), 1u);
}

TEST(ConfigOverride, FailureLeavesTheConfigUnchanged) {
  Config cfg;
  config_error([&] { apply_overrides(cfg, {"client.num_rounds=7", "client.num_nodes=x"}); });
  EXPECT_EQ(cfg.client.num_rounds, 5000);
  EXPECT_TRUE(cfg.explicit_keys.empty());
}

TEST(ConfigOverride, RejectsMalformedAssignments) {
  Config cfg;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "client.num_rounds"); }),
                       "invalid override 'client.num_rounds': expected group.key=value"));
  EXPECT_TRUE(
      Contains(config_error([&] { apply_override(cfg, "=10"); }), "invalid override '=10'"));
  EXPECT_TRUE(
      Contains(config_error([&] { apply_override(cfg, "client.num_rounds="); }),
               "'client.num_rounds' in override 'client.num_rounds=' needs a single value"));
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "client.num_rounds=[1, 2]"); }),
                       "got a list"));
  EXPECT_TRUE(
      Contains(config_error([&] { apply_override(cfg, "seed=a: b: c"); }), "is not a YAML scalar"));
}

TEST(ConfigOverride, UnknownKeySuggestsTheClosest) {
  Config cfg;
  EXPECT_EQ(config_error([&] { apply_override(cfg, "client.num_round=10"); }),
            "unknown config key 'client.num_round' in override 'client.num_round=10'; "
            "did you mean 'client.num_rounds'?");
}

TEST(ConfigOverride, KeyWithoutGroupSuggestsTheGroupedKey) {
  Config cfg;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "num_rounds=10"); }),
                       "unknown config key 'num_rounds' in override 'num_rounds=10'; "
                       "did you mean 'client.num_rounds'?"));
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "server.num_nodes=10"); }),
                       "did you mean 'client.num_nodes'?"));
}

TEST(ConfigOverride, NearbyKeyInTheSameGroupIsSuggested) {
  Config cfg;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "dataset.name=x"); }),
                       "did you mean 'dataset.data'"));
}

TEST(ConfigOverride, AmbiguousLeafSuggestsEveryMatch) {
  Config cfg;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "wd=0.1"); }),
                       "did you mean 'model.wd' or 'server.wd'?"));
}

TEST(ConfigOverride, FarOffKeyListsTheGroupsKeys) {
  Config cfg;
  const std::string message = config_error([&] { apply_override(cfg, "dataset.xyzzy_folder=x"); });
  EXPECT_TRUE(
      Contains(message, "valid keys in 'dataset': data, root, val_size, test_split, test_size"))
      << message;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "zzzzzzzz.q=1"); }),
                       "groups: dataset, model, server, client"));
}

// --- Type checks -------------------------------------------------------------------------------

struct BadType {
  std::string assignment;
  std::string expected;
};

void PrintTo(const BadType& bad, std::ostream* os) {
  *os << "'" << bad.assignment << "'";
}

class ConfigTypeTest : public ::testing::TestWithParam<BadType> {};

TEST_P(ConfigTypeTest, RejectsTheValueNamingKeyValueAndWhatIsAllowed) {
  const BadType& bad = GetParam();
  const auto eq = bad.assignment.find('=');
  const std::string key = bad.assignment.substr(0, eq);
  const std::string value = bad.assignment.substr(eq + 1);
  Config cfg;
  const std::string message = config_error([&] { apply_override(cfg, bad.assignment); });
  EXPECT_TRUE(Contains(message, "invalid value '" + value + "' for config key '" + key + "'"));
  EXPECT_TRUE(Contains(message, bad.expected));
}

INSTANTIATE_TEST_SUITE_P(
    ConfigTypes, ConfigTypeTest,
    ::testing::Values(
        BadType{"client.num_rounds=1.5", "expected an integer (decimal digits"},
        BadType{"client.num_rounds=abc", "expected an integer"},
        BadType{"client.num_rounds=1e3", "no decimal point or exponent"},
        BadType{"client.num_rounds=0x10", "expected an integer"},
        BadType{"client.num_rounds=12abc", "expected an integer"},
        BadType{"client.num_rounds=99999999999999999999", "int64 range"},
        BadType{"model.n_hidden=-9223372036854775809", "int64 range"},
        BadType{"seed=-1", "non-negative integer"}, BadType{"seed=1.5", "non-negative integer"},
        BadType{"seed=99999999999999999999", "no larger than"},
        BadType{"server.lr=fast", "expected a number"},
        BadType{"server.lr=0.1x", "expected a number"}, BadType{"server.lr=nan", "finite number"},
        BadType{"server.lr=.nan", "finite number"}, BadType{"server.lr=inf", "finite number"},
        BadType{"server.lr=-.inf", "finite number"}, BadType{"server.lr=1e999", "double range"},
        BadType{"model.spec_norm=maybe", "expected true or false"},
        BadType{"model.local=2", "expected true or false"},
        BadType{"model.variant=PFedHN", "expected pfedhn or pfedhn_pc"},
        BadType{"model.variant=fedavg", "which also selects the baselines"},
        BadType{"algorithm=FedAvg",
                "expected one of pfedhn|pfedhn_pc|local|fedavg|fedavg_ft|perfedavg|fedper"},
        BadType{"client.partition=iid", "expected one of classes|dirichlet"},
        BadType{"dataset.test_split=heldout", "expected one of official|holdout"},
        BadType{"device=gpu", "expected one of auto|cpu|cuda"}));

// --- Validation --------------------------------------------------------------------------------

struct OutOfRange {
  std::vector<std::string> overrides;
  std::string expected;
};

void PrintTo(const OutOfRange& range, std::ostream* os) {
  for (const auto& o : range.overrides) *os << "'" << o << "' ";
}

class ConfigRangeTest : public ::testing::TestWithParam<OutOfRange> {};

TEST_P(ConfigRangeTest, IsRejectedByValidation) {
  EXPECT_TRUE(Contains(validation_error(GetParam().overrides), GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    ConfigRanges, ConfigRangeTest,
    ::testing::Values(
        OutOfRange{{"client.num_rounds=0"}, "client.num_rounds=0 is out of range: must be >= 1"},
        OutOfRange{{"client.num_nodes=0"}, "client.num_nodes=0 is out of range: must be >= 1"},
        OutOfRange{{"client.clients_per_round=0"},
                   "client.clients_per_round=0 is out of range: must be >= 1"},
        OutOfRange{{"client.num_nodes=10", "client.clients_per_round=11"},
                   "client.clients_per_round=11 is out of range: must be <= client.num_nodes (10)"},
        OutOfRange{{"client.batch_size=0"}, "client.batch_size=0 is out of range: must be >= 1"},
        OutOfRange{{"client.num_epochs=-3"}, "client.num_epochs=-3 is out of range: must be >= 1"},
        OutOfRange{{"model.n_kernels=0"}, "model.n_kernels=0 is out of range: must be >= 1"},
        OutOfRange{{"server.hidden_dim=0"}, "server.hidden_dim=0 is out of range: must be >= 1"},
        OutOfRange{{"server.embedding_dim_denominator=0"},
                   "server.embedding_dim_denominator=0 is out of range: must be >= 1"},
        OutOfRange{{"eval_every=0"}, "eval_every=0 is out of range: must be >= 1"},
        OutOfRange{{"eval_batch_size=0"}, "eval_batch_size=0 is out of range: must be >= 1"},
        OutOfRange{{"model.n_hidden=-1"}, "model.n_hidden=-1 is out of range: must be >= 0"},
        OutOfRange{{"num_threads=-1"}, "num_threads=-1 is out of range: must be >= 0"},
        OutOfRange{{"checkpoint_every=-1"}, "checkpoint_every=-1 is out of range: must be >= 0"},
        OutOfRange{{"dist_timeout=0"}, "dist_timeout=0 is out of range: must be >= 1"},
        OutOfRange{{"log_every=-1"}, "log_every=-1 is out of range: must be >= 0"},
        OutOfRange{{"server.embedding_dim=-1"},
                   "server.embedding_dim=-1 is out of range: must be >= 0"},
        OutOfRange{{"dataset.val_size=0"}, "dataset.val_size=0 is out of range: must be >= 1"},
        OutOfRange{{"dataset.val_size=50000"},
                   "dataset.val_size=50000 is out of range for dataset 'cifar10': must be < 50000"},
        OutOfRange{{"dataset.data=mnist", "dataset.val_size=60000"}, "must be < 60000"},
        OutOfRange{{"dataset.test_size=0"}, "dataset.test_size=0 is out of range: must be >= 1"},
        OutOfRange{
            {"dataset.test_split=holdout", "dataset.val_size=25000", "dataset.test_size=25000"},
            "dataset.test_size=25000 with dataset.val_size=25000 leaves no training "
            "samples for dataset 'cifar10': their sum must be < 50000"},
        OutOfRange{{"dataset.test_split=holdout", "dataset.val_size=5000", "dataset.test_size=5000",
                    "client.num_nodes=40001"},
                   "client.num_nodes=40001 is out of range for dataset 'cifar10': must be <= "
                   "40000 (training samples left after dataset.val_size and dataset.test_size)"},
        OutOfRange{{"server.lr=0"}, "server.lr=0.0 is out of range: must be > 0"},
        OutOfRange{{"server.lr=-0.1"}, "server.lr=-0.1 is out of range: must be > 0"},
        OutOfRange{{"model.inner_lr=0"}, "model.inner_lr=0.0 is out of range: must be > 0"},
        OutOfRange{{"server.embed_lr=-1"}, "server.embed_lr=-1.0 is out of range: must be >= 0"},
        OutOfRange{{"server.wd=-1e-3"}, "server.wd=-0.001 is out of range: must be >= 0"},
        OutOfRange{{"model.wd=-1"}, "model.wd=-1.0 is out of range: must be >= 0"},
        OutOfRange{{"server.momentum=1"}, "server.momentum=1.0 is out of range: must be in [0, 1)"},
        OutOfRange{{"server.momentum=-0.1"}, "must be in [0, 1)"},
        OutOfRange{{"model.inner_momentum=1.5"},
                   "model.inner_momentum=1.5 is out of range: must be in [0, 1)"},
        OutOfRange{{"server.grad_clip=0"}, "server.grad_clip=0.0 is out of range: must be > 0"},
        OutOfRange{{"model.inner_grad_clip=-5"},
                   "model.inner_grad_clip=-5.0 is out of range: must be > 0"},
        OutOfRange{{"client.dirichlet_alpha=0"},
                   "client.dirichlet_alpha=0.0 is out of range: must be > 0"},
        OutOfRange{{"client.num_classes_per_node=0"},
                   "client.num_classes_per_node=0 is out of range for dataset 'cifar10': must be "
                   "in [1, 10] with client.partition=classes"},
        OutOfRange{{"client.num_classes_per_node=11"}, "must be in [1, 10]"},
        OutOfRange{{"dataset.data=cifar100", "client.num_classes_per_node=101"},
                   "must be in [1, 100]"},
        OutOfRange{{"client.num_nodes=40001"},
                   "client.num_nodes=40001 is out of range for dataset 'cifar10': must be <= "
                   "40000"},
        OutOfRange{{"dataset.root=''"}, "dataset.root is empty"}));

TEST(ConfigValidate, AcceptsEveryBoundaryValue) {
  Config cfg = with_overrides(
      {"model.n_hidden=0", "num_threads=0", "log_every=0", "server.embedding_dim=0",
       "server.embed_lr=0", "server.wd=0", "model.wd=0", "server.momentum=0",
       "model.inner_momentum=0.999", "dataset.val_size=1", "client.num_classes_per_node=10",
       "client.num_nodes=49999", "client.num_rounds=1", "eval_every=1", "server.lr=1e-300"});
  EXPECT_NO_THROW(resolve_and_validate(cfg));
}

TEST(ConfigValidate, TestSizeCountsOnlyWithTheHoldoutSplit) {
  // The official split reads the test files: test_size does not take training samples.
  Config official = with_overrides({"dataset.val_size=5000", "dataset.test_size=45000"});
  EXPECT_NO_THROW(resolve_and_validate(official));
  Config holdout = with_overrides({"dataset.test_split=holdout", "dataset.val_size=5000",
                                   "dataset.test_size=44999", "client.num_nodes=1"});
  EXPECT_NO_THROW(resolve_and_validate(holdout));
  EXPECT_EQ(holdout.dataset.test_split, TestSplit::kHoldout);
  EXPECT_EQ(to_string(holdout.dataset.test_split), "holdout");
}

TEST(ConfigValidate, DirichletPartitionIgnoresClassesPerNode) {
  Config cfg = with_overrides({"client.partition=dirichlet", "client.num_classes_per_node=50"});
  EXPECT_NO_THROW(resolve_and_validate(cfg));
}

TEST(ConfigValidate, DoesNotCheckCudaAvailability) {
  Config cfg = with_overrides({"device=cuda"});
  EXPECT_NO_THROW(resolve_and_validate(cfg));
}

TEST(ConfigValidate, UnknownDatasetSuggestsTheClosest) {
  const std::string message = validation_error({"dataset.data=cifar"});
  EXPECT_TRUE(
      Contains(message, "unknown dataset 'cifar' for dataset.data; did you mean 'cifar10'?"));
  EXPECT_TRUE(Contains(message, "mnist|fashion_mnist|cifar10|cifar100"));
  EXPECT_TRUE(Contains(validation_error({"dataset.data=CIFAR10"}), "did you mean 'cifar10'?"));
  const std::string far_off = validation_error({"dataset.data=imagenet"});
  EXPECT_FALSE(Contains(far_off, "did you mean"));
  EXPECT_TRUE(Contains(far_off, "allowed: mnist|fashion_mnist|cifar10|cifar100"));
}

TEST(ConfigValidate, DerivesOneChannelForMnist) {
  Config cfg = with_overrides({"dataset.data=mnist"});
  resolve_and_validate(cfg);
  EXPECT_EQ(cfg.model.in_channels, 1);
  EXPECT_EQ(cfg.model.out_dim, 10);
}

TEST(ConfigValidate, DerivesHundredClassesForCifar100) {
  Config cfg = with_overrides({"dataset.data=cifar100"});
  resolve_and_validate(cfg);
  EXPECT_EQ(cfg.model.in_channels, 3);
  EXPECT_EQ(cfg.model.out_dim, 100);
}

TEST(ConfigValidate, RederivesAfterTheDatasetChanges) {
  Config cfg;
  resolve_and_validate(cfg);
  apply_override(cfg, "dataset.data=cifar100");
  resolve_and_validate(cfg);
  EXPECT_EQ(cfg.model.out_dim, 100);
}

TEST(ConfigValidate, ExplicitValueAgreeingWithTheDatasetIsKept) {
  Config cfg = with_overrides({"dataset.data=mnist", "model.in_channels=1", "model.out_dim=10"});
  EXPECT_NO_THROW(resolve_and_validate(cfg));
}

TEST(ConfigValidate, ContradictingOutDimIsAnError) {
  EXPECT_EQ(validation_error({"model.out_dim=5"}),
            "model.out_dim=5 contradicts dataset 'cifar10' (10 classes)");
}

TEST(ConfigValidate, ContradictingInChannelsIsAnError) {
  EXPECT_EQ(validation_error({"dataset.data=mnist", "model.in_channels=3"}),
            "model.in_channels=3 contradicts dataset 'mnist' (1 channel)");
}

// --- The key table -----------------------------------------------------------------------------

const std::set<std::string>& expected_keys() {
  static const std::set<std::string> keys{"algorithm",
                                          "seed",
                                          "device",
                                          "num_threads",
                                          "eval_every",
                                          "eval_batch_size",
                                          "log_every",
                                          "checkpoint_every",
                                          "dist_timeout",
                                          "dataset.data",
                                          "dataset.root",
                                          "dataset.val_size",
                                          "dataset.test_split",
                                          "dataset.test_size",
                                          "dataset.file",
                                          "dataset.mean",
                                          "dataset.std",
                                          "model.variant",
                                          "model.local",
                                          "model.n_kernels",
                                          "model.n_hidden",
                                          "model.in_channels",
                                          "model.out_dim",
                                          "model.inner_lr",
                                          "model.inner_momentum",
                                          "model.wd",
                                          "model.inner_grad_clip",
                                          "model.spec_norm",
                                          "model.hetero_kernels",
                                          "model.target",
                                          "model.target_file",
                                          "model.local_layer",
                                          "server.lr",
                                          "server.embed_lr",
                                          "server.wd",
                                          "server.momentum",
                                          "server.embedding_dim_denominator",
                                          "server.embedding_dim",
                                          "server.hidden_dim",
                                          "server.grad_clip",
                                          "client.num_epochs",
                                          "client.num_rounds",
                                          "client.num_nodes",
                                          "client.clients_per_round",
                                          "client.batch_size",
                                          "client.num_classes_per_node",
                                          "client.partition",
                                          "client.class_shares",
                                          "client.dirichlet_alpha",
                                          "client.partition_file",
                                          "baseline.finetune_steps",
                                          "baseline.perfedavg_alpha",
                                          "novel.num_clients",
                                          "novel.steps",
                                          "novel.adapt",
                                          "novel.lr",
                                          "novel.alphas",
                                          "novel.scheme"};
  return keys;
}

TEST(ConfigKeys, AllKeysListsEveryKeyOnce) {
  std::set<std::string> seen;
  for (const auto& info : all_keys()) {
    EXPECT_TRUE(seen.insert(info.key).second) << "duplicate key " << info.key;
    EXPECT_FALSE(info.description.empty()) << info.key;
    EXPECT_FALSE(info.type.empty()) << info.key;
  }
  EXPECT_EQ(seen, expected_keys());
}

TEST(ConfigKeys, TypesAreReported) {
  std::map<std::string, std::string> types;
  for (const auto& info : all_keys()) types[info.key] = info.type;
  EXPECT_EQ(types["client.num_rounds"], "int");
  EXPECT_EQ(types["seed"], "int");
  EXPECT_EQ(types["server.lr"], "float");
  EXPECT_EQ(types["model.spec_norm"], "bool");
  EXPECT_EQ(types["model.local"], "bool");
  EXPECT_EQ(types["dataset.root"], "string");
  EXPECT_EQ(types["client.partition"], "classes|dirichlet|dirichlet_per_client|file");
  EXPECT_EQ(types["client.class_shares"], "exact|spare");
  EXPECT_EQ(types["novel.scheme"], "auto|last|shifted|sets");
  EXPECT_EQ(types["model.variant"], "pfedhn|pfedhn_pc");
  EXPECT_EQ(types["device"], "auto|cpu|cuda");
}

TEST(ConfigKeys, EveryKeyIsAcceptedAsAnOverride) {
  for (const auto& info : all_keys()) {
    if (!info.alias_of.empty()) continue;  // aliases are not written; tested on their own
    Config cfg;
    const YAML::Node yaml = YAML::Load(to_yaml(cfg));
    const auto dot = info.key.find('.');
    const YAML::Node value = dot == std::string::npos
                                 ? yaml[info.key]
                                 : yaml[info.key.substr(0, dot)][info.key.substr(dot + 1)];
    ASSERT_TRUE(value.IsScalar() || value.IsSequence()) << info.key << " missing from to_yaml";
    std::string text = value.IsScalar() ? value.Scalar() : config_value(cfg, info.key);
    if (value.IsScalar() && text.empty()) text = "\"\"";  // an empty string, quoted
    EXPECT_NO_THROW(apply_override(cfg, info.key + "=" + text)) << info.key;
    EXPECT_EQ(cfg.explicit_keys.count(info.key), 1u) << info.key;
  }
}

TEST(ConfigYaml, PrintsDoublesShortestAndAsFloats) {
  const std::string yaml = to_yaml(Config{});
  EXPECT_TRUE(Contains(yaml, "inner_lr: 0.005\n"));
  EXPECT_TRUE(Contains(yaml, "  lr: 0.01\n"));
  EXPECT_TRUE(Contains(yaml, "grad_clip: 50.0\n"));
  EXPECT_TRUE(Contains(yaml, "embed_lr: 0.0\n"));
}

TEST(ConfigYaml, NestsKeysByGroupAndWritesTheAlgorithmOnlyUnderItsOwnName) {
  const Config pc = with_overrides({"model.variant=pfedhn_pc"});
  const YAML::Node yaml = YAML::Load(to_yaml(pc));
  EXPECT_EQ(yaml["seed"].Scalar(), "42");
  EXPECT_EQ(yaml["algorithm"].Scalar(), "pfedhn_pc");
  EXPECT_FALSE(yaml["model"]["variant"]);
  EXPECT_FALSE(yaml["model"]["local"]);
  EXPECT_EQ(yaml["client"]["partition"].Scalar(), "classes");
  EXPECT_EQ(yaml["dataset"]["data"].Scalar(), "cifar10");
  EXPECT_EQ(yaml["baseline"]["finetune_steps"].Scalar(), "50");
}

TEST(ConfigKeys, OldVariantKeysAreAliasesOfAlgorithm) {
  std::map<std::string, std::string> alias_of;
  for (const auto& info : all_keys()) alias_of[info.key] = info.alias_of;
  EXPECT_EQ(alias_of["model.variant"], "algorithm");
  EXPECT_EQ(alias_of["model.local"], "algorithm");
  EXPECT_EQ(alias_of["algorithm"], "");
  EXPECT_EQ(with_overrides({"algorithm=fedper"}).algorithm, Algorithm::kFedPer);
  EXPECT_EQ(with_overrides({"model.local=true"}).algorithm, Algorithm::kPFedHNPC);
  // An old run's config (model.variant, model.local) still loads.
  const Config old = parse_config_text("model:\n  variant: pfedhn_pc\n  local: true\n", "old");
  EXPECT_EQ(old.algorithm, Algorithm::kPFedHNPC);
  Config cfg;
  std::string message;
  try {
    apply_overrides(cfg, {"algorithm=fedavg", "model.variant=pfedhn"});
  } catch (const ConfigError& e) {
    message = e.what();
  }
  EXPECT_TRUE(Contains(message, "'algorithm' and 'model.variant' disagree")) << message;
}

}  // namespace
}  // namespace pfedhn::config

// Loading YAML files: groups, errors, includes, the presets in conf/, and the to_yaml round trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

namespace fs = std::filesystem;

using testing::config_error;
using testing::Contains;

// Each test gets a fresh directory for its YAML files, removed afterwards.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("pfedhn_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

  std::string load_error(const std::string& text) {
    const fs::path file = write("bad.yaml", text);
    return config_error([&] { load_config_file(file); });
  }

  fs::path dir_;
};

TEST_F(ConfigFileTest, LoadsTopLevelKeysAndGroups) {
  const Config cfg = load_config_file(write("run.yaml", R"(
seed: 7
device: cpu
client:
  num_rounds: 10
  partition: dirichlet
server:
  lr: 5e-3
model:
  spec_norm: true
dataset:
  root: /data/x
)"));
  EXPECT_EQ(cfg.seed, 7u);
  EXPECT_EQ(cfg.device, DeviceKind::kCpu);
  EXPECT_EQ(cfg.client.num_rounds, 10);
  EXPECT_EQ(cfg.client.partition, PartitionKind::kDirichlet);
  EXPECT_DOUBLE_EQ(cfg.server.lr, 0.005);
  EXPECT_TRUE(cfg.model.spec_norm);
  EXPECT_EQ(cfg.dataset.root, "/data/x");
  EXPECT_EQ(cfg.client.num_nodes, 50);  // untouched default
  const std::set<std::string> explicit_keys{"seed",        "device",           "client.num_rounds",
                                            "server.lr",   "client.partition", "model.spec_norm",
                                            "dataset.root"};
  EXPECT_EQ(cfg.explicit_keys, explicit_keys);
}

TEST_F(ConfigFileTest, EmptyFileGivesTheDefaults) {
  const Config cfg = load_config_file(write("empty.yaml", "# nothing set\n"));
  EXPECT_EQ(cfg.client.num_rounds, 5000);
  EXPECT_TRUE(cfg.explicit_keys.empty());
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  const fs::path file = dir_ / "nope.yaml";
  EXPECT_EQ(config_error([&] { load_config_file(file); }),
            "config file '" + file.string() + "' does not exist");
}

TEST_F(ConfigFileTest, DirectoryIsAnError) {
  EXPECT_TRUE(Contains(config_error([&] { load_config_file(dir_); }), "is a directory"));
}

TEST_F(ConfigFileTest, SyntaxErrorNamesFileAndLine) {
  const std::string message = load_error("seed: 1\nclient:\n  num_rounds: 10\nx: y: z\n");
  EXPECT_TRUE(
      Contains(message, "YAML syntax error in " + (dir_ / "bad.yaml").string() + " at line 4"));
}

TEST_F(ConfigFileTest, TruncatedFileIsASyntaxError) {
  const std::string full = "seed: 1\nclient: {num_rounds: 10, num_nodes: 5}\n";
  const std::string message = load_error(full.substr(0, full.find("num_nodes")));
  EXPECT_TRUE(Contains(message, "YAML syntax error in " + (dir_ / "bad.yaml").string()));
}

// Found by fuzz_config: yaml-cpp 0.7 loops forever on a document that starts with ','.
TEST_F(ConfigFileTest, ADocumentStartingWithACommaIsAnErrorNotAHang) {
  for (const std::string text : {",a", "  ,", "# c\n\n ,x: 1", "\xef\xbb\xbf,a", "--- ,a",
                                 "seed: 1\n---\n,", "%YAML 1.2\n---\n,a"}) {
    EXPECT_TRUE(Contains(config_error([&] { parse_config_text(text, "c.yaml"); }),
                         "YAML syntax error in c.yaml"))
        << text;
  }
  EXPECT_TRUE(Contains(config_error([] { parse_config_text("\n\n,a", "c.yaml"); }),
                       "at line 3: a document cannot start with ','"));
  EXPECT_TRUE(Contains(config_error([] { parse_config_text(std::string(",\0a\0", 4), "u.yaml"); }),
                       "line 1: NUL byte"));
  Config cfg;
  EXPECT_TRUE(Contains(config_error([&] { apply_override(cfg, "dataset.root=,a"); }),
                       "is not a YAML scalar"));
  EXPECT_EQ(parse_config_text("dataset: {root: 'a,b'}\n", "ok.yaml").dataset.root, "a,b");
  // A stray ',' later on (the 2nd input fuzz_config found) ends in an error too.
  EXPECT_TRUE(Contains(
      config_error([] { parse_config_text("# c\n  root: data\n,( x\n", "d.yaml"); }), "d.yaml"));
}

TEST_F(ConfigFileTest, MoreThanOneDocumentIsAnError) {
  EXPECT_TRUE(Contains(load_error("seed: 1\n---\nseed: 2\n"), "is not one YAML document"));
  EXPECT_EQ(parse_config_text("---\nseed: 5\n...\n", "one.yaml").seed, 5u);
}

TEST_F(ConfigFileTest, BinaryGarbageIsAnError) {
  const std::string garbage("\x1f\x8b\x08\0\xff\xfe\x01{[\0\x7f", 12);
  const std::string message = load_error(garbage);
  EXPECT_TRUE(Contains(message, (dir_ / "bad.yaml").string()));
}

// Found by fuzz_config: a key with control characters made a two-line message.
TEST_F(ConfigFileTest, KeyWithANewlineGivesAOneLineMessage) {
  const std::string message =
      config_error([] { parse_config_text("model:\n  \"var\\x7f\\nt\": pfedhn\n", "k.yaml"); });
  EXPECT_TRUE(Contains(message, "unknown config key 'model.var\\x7f\\nt' in k.yaml"));
}

TEST_F(ConfigFileTest, TopLevelMustBeAMap) {
  EXPECT_TRUE(Contains(load_error("- seed\n- 1\n"), "must be a map of keys, got a list"));
  EXPECT_TRUE(Contains(load_error("just text\n"), "must be a map of keys, got a scalar"));
}

TEST_F(ConfigFileTest, GroupMustBeAMap) {
  EXPECT_TRUE(Contains(load_error("client: 5\n"), "group 'client' in " +
                                                      (dir_ / "bad.yaml").string() +
                                                      " must be a map of keys, got a scalar"));
}

TEST_F(ConfigFileTest, KeyWithoutValueIsAnError) {
  EXPECT_TRUE(Contains(load_error("server:\n  lr:\n"),
                       "config key 'server.lr' in " + (dir_ / "bad.yaml").string() +
                           " needs a single value (float), got nothing"));
}

TEST_F(ConfigFileTest, UnknownKeySuggestsTheClosest) {
  const fs::path file = write("x.yaml", "client:\n  num_round: 10\n");
  EXPECT_EQ(config_error([&] { load_config_file(file); }),
            "unknown config key 'client.num_round' in " + file.string() +
                "; did you mean 'client.num_rounds'?");
}

TEST_F(ConfigFileTest, KeyWithoutGroupSuggestsTheGroupedKey) {
  EXPECT_TRUE(Contains(load_error("num_rounds: 10\n"), "unknown config key 'num_rounds' in " +
                                                           (dir_ / "bad.yaml").string() +
                                                           "; did you mean 'client.num_rounds'?"));
}

TEST_F(ConfigFileTest, UnknownGroupSuggestsTheClosest) {
  EXPECT_TRUE(Contains(load_error("clinet:\n  num_rounds: 10\n"),
                       "unknown config group 'clinet' in " + (dir_ / "bad.yaml").string() +
                           "; did you mean 'client'?"));
}

TEST_F(ConfigFileTest, WrongTypeNamesFileKeyAndValue) {
  EXPECT_EQ(load_error("server:\n  lr: fast\n"),
            "invalid value 'fast' for config key 'server.lr' in " + (dir_ / "bad.yaml").string() +
                ": expected a number, e.g. 0.01 or 5e-3");
}

TEST_F(ConfigFileTest, RepeatedKeyIsAnError) {
  EXPECT_TRUE(Contains(load_error("seed: 1\nseed: 2\n"), "config key 'seed' is given twice"));
}

TEST_F(ConfigFileTest, DisagreeingLocalAndVariantIsAnError) {
  EXPECT_TRUE(Contains(load_error("model:\n  variant: pfedhn\n  local: true\n"),
                       "config keys 'model.variant' and 'model.local' disagree in " +
                           (dir_ / "bad.yaml").string() +
                           ": model.variant=pfedhn but model.local=true; set only one of them"));
}

TEST_F(ConfigFileTest, AgreeingLocalAndVariantAreAccepted) {
  const Config cfg =
      load_config_file(write("pc.yaml", "model:\n  local: true\n  variant: pfedhn_pc\n"));
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHNPC);
}

TEST_F(ConfigFileTest, IncludeChainAppliesBaseFirst) {
  write("base.yaml", "seed: 7\nclient:\n  num_rounds: 10\n  num_nodes: 20\n");
  write("mid.yaml", "include: base.yaml\nclient:\n  num_rounds: 20\nmodel:\n  n_hidden: 2\n");
  // The include is applied first wherever it stands, so this file's values win.
  const fs::path top =
      write("sub/top.yaml", "model:\n  n_hidden: 1\ninclude: ../mid.yaml\nserver:\n  lr: 0.5\n");
  const Config cfg = load_config_file(top);
  EXPECT_EQ(cfg.seed, 7u);
  EXPECT_EQ(cfg.client.num_nodes, 20);
  EXPECT_EQ(cfg.client.num_rounds, 20);
  EXPECT_EQ(cfg.model.n_hidden, 1);
  EXPECT_DOUBLE_EQ(cfg.server.lr, 0.5);
  const std::set<std::string> explicit_keys{"seed", "client.num_rounds", "client.num_nodes",
                                            "model.n_hidden", "server.lr"};
  EXPECT_EQ(cfg.explicit_keys, explicit_keys);
}

TEST_F(ConfigFileTest, IncludingFileMayChangeTheVariantWithTheOtherSpelling) {
  write("base.yaml", "model:\n  variant: pfedhn_pc\n");
  const Config cfg =
      load_config_file(write("top.yaml", "include: base.yaml\nmodel:\n  local: false\n"));
  EXPECT_EQ(cfg.algorithm, Algorithm::kPFedHN);
}

TEST_F(ConfigFileTest, IncludeCycleIsAnError) {
  write("a.yaml", "include: b.yaml\nseed: 1\n");
  write("b.yaml", "include: a.yaml\nseed: 2\n");
  const std::string message = config_error([&] { load_config_file(dir_ / "a.yaml"); });
  EXPECT_TRUE(Contains(message, "config include cycle: "));
  EXPECT_TRUE(Contains(message, "a.yaml -> "));
  EXPECT_TRUE(Contains(message, "b.yaml -> "));
}

TEST_F(ConfigFileTest, SelfIncludeIsACycle) {
  EXPECT_TRUE(Contains(load_error("include: bad.yaml\n"), "config include cycle"));
}

TEST_F(ConfigFileTest, MissingIncludeNamesTheIncludingFile) {
  const fs::path top = write("top.yaml", "include: gone.yaml\n");
  EXPECT_EQ(config_error([&] { load_config_file(top); }),
            "config file '" + (dir_ / "gone.yaml").string() + "' (included from " + top.string() +
                ") does not exist");
}

TEST_F(ConfigFileTest, ErrorInIncludedFileNamesThatFile) {
  const fs::path base = write("base.yaml", "client:\n  num_rounds: ten\n");
  write("top.yaml", "include: base.yaml\n");
  EXPECT_TRUE(Contains(config_error([&] { load_config_file(dir_ / "top.yaml"); }),
                       "'client.num_rounds' in " + base.string()));
}

TEST_F(ConfigFileTest, ToYamlRoundTripsEveryValue) {
  Config cfg;
  apply_overrides(cfg, {"seed=18446744073709551615",
                        "device=cpu",
                        "num_threads=3",
                        "eval_every=7",
                        "eval_batch_size=99",
                        "log_every=5",
                        "dataset.data=mnist",
                        "dataset.root='/tmp/my data: #1'",
                        "dataset.val_size=1234",
                        "dataset.test_split=holdout",
                        "dataset.test_size=4321",
                        "model.variant=pfedhn_pc",
                        "model.n_kernels=7",
                        "model.n_hidden=1",
                        "model.inner_lr=0.30000000000000004",
                        "model.inner_momentum=0.5",
                        "model.wd=1e-7",
                        "model.inner_grad_clip=12.5",
                        "model.spec_norm=true",
                        "server.lr=0.1",
                        "server.embed_lr=0.02",
                        "server.wd=2.5e-4",
                        "server.momentum=0.8",
                        "server.embedding_dim_denominator=3",
                        "server.embedding_dim=9",
                        "server.hidden_dim=64",
                        "server.grad_clip=1e6",
                        "client.num_epochs=5",
                        "client.num_rounds=11",
                        "client.num_nodes=10",
                        "client.batch_size=32",
                        "client.num_classes_per_node=3",
                        "client.partition=dirichlet",
                        "client.dirichlet_alpha=0.1"});
  resolve_and_validate(cfg);
  const fs::path file = write("dump.yaml", to_yaml(cfg));
  Config back = load_config_file(file);
  resolve_and_validate(back);

  EXPECT_EQ(back.seed, cfg.seed);
  EXPECT_EQ(back.device, DeviceKind::kCpu);
  EXPECT_EQ(back.num_threads, 3);
  EXPECT_EQ(back.eval_every, 7);
  EXPECT_EQ(back.eval_batch_size, 99);
  EXPECT_EQ(back.log_every, 5);
  EXPECT_EQ(back.dataset.data, "mnist");
  EXPECT_EQ(back.dataset.root, "/tmp/my data: #1");
  EXPECT_EQ(back.dataset.val_size, 1234);
  EXPECT_EQ(back.dataset.test_split, TestSplit::kHoldout);
  EXPECT_EQ(back.dataset.test_size, 4321);
  EXPECT_EQ(back.algorithm, Algorithm::kPFedHNPC);
  EXPECT_EQ(back.model.n_kernels, 7);
  EXPECT_EQ(back.model.n_hidden, 1);
  EXPECT_EQ(back.model.in_channels, 1);
  EXPECT_EQ(back.model.out_dim, 10);
  EXPECT_EQ(back.model.inner_lr, 0.1 + 0.2);  // exact, not approximately
  EXPECT_EQ(back.model.inner_momentum, 0.5);
  EXPECT_EQ(back.model.wd, 1e-7);
  EXPECT_EQ(back.model.inner_grad_clip, 12.5);
  EXPECT_TRUE(back.model.spec_norm);
  EXPECT_EQ(back.server.lr, 0.1);
  EXPECT_EQ(back.server.embed_lr, 0.02);
  EXPECT_EQ(back.server.wd, 2.5e-4);
  EXPECT_EQ(back.server.momentum, 0.8);
  EXPECT_EQ(back.server.embedding_dim_denominator, 3);
  EXPECT_EQ(back.server.embedding_dim, 9);
  EXPECT_EQ(back.server.hidden_dim, 64);
  EXPECT_EQ(back.server.grad_clip, 1e6);
  EXPECT_EQ(back.client.num_epochs, 5);
  EXPECT_EQ(back.client.num_rounds, 11);
  EXPECT_EQ(back.client.num_nodes, 10);
  EXPECT_EQ(back.client.batch_size, 32);
  EXPECT_EQ(back.client.num_classes_per_node, 3);
  EXPECT_EQ(back.client.partition, PartitionKind::kDirichlet);
  EXPECT_EQ(back.client.dirichlet_alpha, 0.1);
  EXPECT_EQ(to_yaml(back), to_yaml(cfg));
}

TEST_F(ConfigFileTest, ToYamlOfTheDefaultsLoadsBackToTheDefaults) {
  Config cfg;
  resolve_and_validate(cfg);
  Config back = load_config_file(write("dump.yaml", to_yaml(cfg)));
  EXPECT_NO_THROW(resolve_and_validate(back));
  EXPECT_EQ(to_yaml(back), to_yaml(cfg));
  EXPECT_EQ(back.algorithm, Algorithm::kPFedHN);
}

// --- Presets in conf/ --------------------------------------------------------------------------

struct Preset {
  std::string file;
  std::string data;
  Algorithm variant;
  int64_t n_kernels;
  int64_t n_hidden;
  int64_t in_channels;
  int64_t out_dim;
  int64_t classes_per_node;
  double server_lr;
};

void PrintTo(const Preset& preset, std::ostream* os) {
  *os << preset.file;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table{
      {"config.yaml", "cifar10", Algorithm::kPFedHN, 16, 3, 3, 10, 2, 1e-2},
      {"mnist.yaml", "mnist", Algorithm::kPFedHN, 7, 1, 1, 10, 2, 1e-2},
      {"fashion_mnist.yaml", "fashion_mnist", Algorithm::kPFedHN, 7, 1, 1, 10, 2, 1e-2},
      {"cifar100.yaml", "cifar100", Algorithm::kPFedHN, 16, 3, 3, 100, 10, 1e-2},
      {"cifar10_pc.yaml", "cifar10", Algorithm::kPFedHNPC, 16, 3, 3, 10, 2, 5e-2},
      {"cifar100_pc.yaml", "cifar100", Algorithm::kPFedHNPC, 16, 3, 3, 100, 10, 5e-2},
  };
  return table;
}

fs::path conf_dir() {
  return fs::path(PFEDHN_SOURCE_DIR) / "conf";
}

class ConfigPresetTest : public ::testing::TestWithParam<Preset> {};

TEST_P(ConfigPresetTest, LoadsAndValidatesWithThePapersValues) {
  const Preset& p = GetParam();
  Config cfg = load_config_file(conf_dir() / p.file);
  ASSERT_NO_THROW(resolve_and_validate(cfg));
  EXPECT_EQ(cfg.dataset.data, p.data);
  EXPECT_EQ(cfg.algorithm, p.variant);
  EXPECT_EQ(cfg.model.n_kernels, p.n_kernels);
  EXPECT_EQ(cfg.model.n_hidden, p.n_hidden);
  EXPECT_EQ(cfg.model.in_channels, p.in_channels);
  EXPECT_EQ(cfg.model.out_dim, p.out_dim);
  EXPECT_EQ(cfg.client.num_classes_per_node, p.classes_per_node);
  EXPECT_DOUBLE_EQ(cfg.server.lr, p.server_lr);
  // Shared by every preset (reference page, "One round").
  EXPECT_EQ(cfg.seed, 42u);
  EXPECT_EQ(cfg.eval_every, 30);
  EXPECT_EQ(cfg.client.num_rounds, 5000);
  EXPECT_EQ(cfg.client.num_nodes, 50);
  EXPECT_EQ(cfg.client.num_epochs, 50);
  EXPECT_EQ(cfg.client.batch_size, 64);
  EXPECT_EQ(cfg.client.partition, PartitionKind::kClasses);
  EXPECT_DOUBLE_EQ(cfg.model.inner_lr, 5e-3);
  EXPECT_DOUBLE_EQ(cfg.model.inner_momentum, 0.9);
  EXPECT_DOUBLE_EQ(cfg.model.wd, 5e-5);
  EXPECT_DOUBLE_EQ(cfg.model.inner_grad_clip, 50.0);
  EXPECT_DOUBLE_EQ(cfg.server.wd, 1e-3);
  EXPECT_DOUBLE_EQ(cfg.server.momentum, 0.9);
  EXPECT_DOUBLE_EQ(cfg.server.grad_clip, 50.0);
  EXPECT_EQ(cfg.server.hidden_dim, 100);
  EXPECT_EQ(cfg.effective_embedding_dim(), 13);
  EXPECT_DOUBLE_EQ(cfg.effective_embed_lr(), p.server_lr);
}

TEST_P(ConfigPresetTest, SetsEveryKeyExplicitly) {
  const Config cfg = load_config_file(conf_dir() / GetParam().file);
  for (const auto& info : all_keys()) {
    if (!info.alias_of.empty()) continue;  // presets use the canonical name
    EXPECT_EQ(cfg.explicit_keys.count(info.key), 1u) << info.key;
  }
}

INSTANTIATE_TEST_SUITE_P(ConfigPresets, ConfigPresetTest, ::testing::ValuesIn(presets()),
                         [](const ::testing::TestParamInfo<Preset>& info) {
                           std::string name = info.param.file.substr(0, info.param.file.find('.'));
                           return name;
                         });

TEST(ConfigPresetList, EveryFileInConfIsTested) {
  std::set<std::string> on_disk;
  for (const auto& entry : fs::directory_iterator(conf_dir())) {
    if (entry.path().extension() == ".yaml") on_disk.insert(entry.path().filename().string());
  }
  std::set<std::string> tested;
  for (const auto& p : presets()) tested.insert(p.file);
  EXPECT_EQ(on_disk, tested);
}

}  // namespace
}  // namespace pfedhn::config

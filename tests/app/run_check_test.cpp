// The run check shared by resume, export and generalize (app/run_check.h), on configs written
// to a folder and checkpoints built in memory: which differences each command accepts, and that
// a run made before a key (client.class_shares) is read as it was made on both sides.
#include "pfedhn/app/run_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "data/data_fixtures.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;

const ChangeRules kResume{"resume", /*more_rounds=*/true, {}};
const ChangeRules kExport{"export", /*more_rounds=*/false, {}};
const ChangeRules kGeneralize{"generalize", /*more_rounds=*/false, {"novel.steps"}};

// A resolved config as a run writes it, with `overrides` on the built-in defaults.
std::string run_yaml(const std::vector<std::string>& overrides) {
  config::Config cfg;
  config::apply_overrides(cfg, overrides);
  config::resolve_and_validate(cfg);
  return config::to_yaml(cfg);
}

// The same without the client.class_shares line: what a pfedhn of before that key wrote.
std::string without_class_shares(std::string yaml) {
  const std::string line = "  class_shares: spare\n";
  const auto at = yaml.find(line);
  EXPECT_NE(at, std::string::npos) << yaml;
  if (at != std::string::npos) yaml.erase(at, line.size());
  return yaml;
}

io::LoadedCheckpoint checkpoint_with(const std::string& yaml) {
  io::LoadedCheckpoint checkpoint;
  checkpoint.path = "ckpt-10.pt";
  checkpoint.loop.config_yaml = yaml;
  return checkpoint;
}

class RunCheck : public ::testing::Test {
 protected:
  // A run folder whose config.yaml is `yaml`.
  fs::path run_with(const std::string& yaml) {
    const fs::path dir = tmp_ / "run";
    fs::create_directories(dir);
    std::ofstream(dir / "config.yaml", std::ios::trunc) << yaml;
    return dir;
  }

  // The one line `check_run_consistency` refuses with ("" when it accepts).
  std::string refusal(const fs::path& dir, const std::string& checkpoint_yaml,
                      const std::vector<std::string>& overrides, const ChangeRules& rules) {
    try {
      check_run_consistency(dir, checkpoint_with(checkpoint_yaml), read_run_configs(dir, overrides),
                            rules);
      return "";
    } catch (const UserError& e) {
      return e.what();
    }
  }

  TempDir tmp_;
};

TEST_F(RunCheck, ARunMadeBeforeClassSharesIsReadAsMadeByEveryCommand) {
  // Config file and checkpoint both without the key: both mean the spare share.
  const std::string old = without_class_shares(run_yaml({"client.class_shares=spare"}));
  const fs::path dir = run_with(old);
  const RunConfigs configs = read_run_configs(dir, {});
  EXPECT_EQ(configs.now.client.class_shares, config::ClassShares::kSpare);
  EXPECT_EQ(checkpoint_config(checkpoint_with(old)).client.class_shares,
            config::ClassShares::kSpare);
  for (const auto& rules : {kResume, kExport, kGeneralize}) {
    EXPECT_EQ(refusal(dir, old, {}, rules), "") << rules.command;
  }
  EXPECT_EQ(refusal(dir, old, {"novel.steps=3"}, kGeneralize), "");
  // The spare share named explicitly is the same run.
  EXPECT_EQ(refusal(dir, run_yaml({"client.class_shares=spare"}), {}, kExport), "");
  // But a checkpoint of today's exact share is another partition.
  const std::string line = refusal(dir, run_yaml({}), {}, kExport);
  EXPECT_NE(line.find("does not belong with"), std::string::npos) << line;
  EXPECT_NE(line.find("client.class_shares=exact where config.yaml has client.class_shares=spare"),
            std::string::npos)
      << line;
}

TEST_F(RunCheck, ADifferentSeedInTheCheckpointIsRefusedNamingBothValues) {
  const fs::path dir = run_with(run_yaml({"seed=1"}));
  for (const auto& rules : {kResume, kExport, kGeneralize}) {
    const std::string line = refusal(dir, run_yaml({"seed=2"}), {}, rules);
    EXPECT_NE(line.find("the checkpoint was written with seed=2 where config.yaml has seed=1"),
              std::string::npos)
        << rules.command << ": " << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

TEST_F(RunCheck, OnlyResumeTakesMoreRoundsAsAnOverride) {
  const std::string yaml = run_yaml({"client.num_rounds=20"});
  const fs::path dir = run_with(yaml);
  EXPECT_EQ(refusal(dir, yaml, {"client.num_rounds=30"}, kResume), "");
  for (const auto& rules : {kExport, kGeneralize}) {
    const std::string line = refusal(dir, yaml, {"client.num_rounds=30"}, rules);
    EXPECT_NE(line.find("cannot " + rules.command +
                        " with client.num_rounds=30: the run used "
                        "client.num_rounds=20"),
              std::string::npos)
        << line;
  }
  EXPECT_NE(refusal(dir, yaml, {"client.num_rounds=10"}, kResume).find("cannot resume with"),
            std::string::npos);
}

TEST_F(RunCheck, ACheckpointOfFewerRoundsThanConfigYamlIsAnOlderCheckpointOfTheRun) {
  // A run resumed from 10 to 20 rounds keeps best.pt of the 10-round config.
  const fs::path dir = run_with(run_yaml({"client.num_rounds=20"}));
  const std::string older = run_yaml({"client.num_rounds=10"});
  for (const auto& rules : {kResume, kExport, kGeneralize}) {
    EXPECT_EQ(refusal(dir, older, {}, rules), "") << rules.command;
  }
  // More rounds in the checkpoint than the run names is another run.
  const std::string line = refusal(dir, run_yaml({"client.num_rounds=30"}), {}, kExport);
  EXPECT_NE(line.find("does not belong with"), std::string::npos) << line;
}

TEST_F(RunCheck, KeysThatNeverChangeResultsAndTheCommandsOwnKeysPass) {
  const std::string yaml = run_yaml({});
  const fs::path dir = run_with(yaml);
  const auto configs = read_run_configs(dir, {"num_threads=1", "novel.steps=7"});
  const auto accepted = check_run_consistency(dir, checkpoint_with(yaml), configs, kGeneralize);
  std::vector<std::string> keys;
  for (const auto& c : accepted) keys.push_back(c.key);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "novel.steps"), keys.end());
  const std::string line = refusal(dir, yaml, {"novel.steps=7"}, kExport);
  EXPECT_NE(line.find("cannot export with novel.steps=7"), std::string::npos) << line;
  EXPECT_EQ(line.find("client.num_rounds"), std::string::npos) << line;  // export: no more rounds
}

}  // namespace
}  // namespace pfedhn::app

// The sweep expansion of `pfedhn train -m`: comma lists, the product, the run folders' names.
#include "pfedhn/config/sweep.h"

#include <gtest/gtest.h>

#include <set>

#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

using Values = std::vector<std::string>;
using Swept = std::vector<std::pair<std::string, std::string>>;

Values split(const std::string& value) {
  return split_sweep_values(value, "key=" + value);
}

TEST(SweepValues, SplitsAtTopLevelCommasOnly) {
  EXPECT_EQ(split("1,2,3"), (Values{"1", "2", "3"}));
  EXPECT_EQ(split("0.01"), (Values{"0.01"}));
  EXPECT_EQ(split("[8,16,32]"), (Values{"[8,16,32]"}));
  EXPECT_EQ(split("[8,16],[16,32]"), (Values{"[8,16]", "[16,32]"}));
  EXPECT_EQ(split("[[1,2],[3]],[]"), (Values{"[[1,2],[3]]", "[]"}));
  EXPECT_EQ(split("{a: 1, b: 2},x"), (Values{"{a: 1, b: 2}", "x"}));
  EXPECT_EQ(split("\"a,b\",'c,d',e"), (Values{"\"a,b\"", "'c,d'", "e"}));
  EXPECT_EQ(split("mnist, cifar10"), (Values{"mnist", "cifar10"}));
}

TEST(SweepValues, AValueWithoutATopLevelCommaIsKeptExactly) {
  EXPECT_EQ(split(""), (Values{""}));
  EXPECT_EQ(split(" 7 "), (Values{" 7 "}));
  EXPECT_EQ(split("[8,16"), (Values{"[8,16"}));  // unbalanced: the config layer reports it
}

TEST(SweepValues, EmptyItemsAreRefusedNamingTheOverride) {
  for (const char* bad : {"1,,2", "1,", ",1", "[8],"}) {
    try {
      split_sweep_values(bad, std::string("seed=") + bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("seed=") + bad), std::string::npos)
          << e.what();
    }
  }
}

TEST(SweepParse, SingleValuesAreFixedAndKeepTheirText) {
  const auto o = parse_sweep({"seed=1,2", "server.lr=0.01", "model.hetero_kernels=[8,16]", "x"});
  ASSERT_EQ(o.size(), 4u);
  EXPECT_TRUE(o[0].swept());
  EXPECT_EQ(o[0].key, "seed");
  EXPECT_FALSE(o[1].swept());
  EXPECT_EQ(o[1].assignment, "server.lr=0.01");
  EXPECT_FALSE(o[2].swept());
  EXPECT_EQ(o[3].key, "");  // no '=': left to the config layer's error
}

TEST(SweepParse, ARepeatedKeyReplacesTheEarlierOneInItsPlace) {
  const auto o = parse_sweep({"seed=1,2", "server.lr=0.1", "seed=5,6,7"});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].key, "seed");
  EXPECT_EQ(o[0].values, (Values{"5", "6", "7"}));
  EXPECT_EQ(o[1].key, "server.lr");
}

TEST(SweepExpand, TheProductVariesTheFirstSweptKeySlowest) {
  const auto runs =
      expand_sweep(parse_sweep({"seed=1,2", "client.num_rounds=5", "server.lr=0.01,0.02,0.05"}));
  ASSERT_EQ(runs.size(), 6u);
  const std::vector<Swept> expected{
      {{"seed", "1"}, {"server.lr", "0.01"}}, {{"seed", "1"}, {"server.lr", "0.02"}},
      {{"seed", "1"}, {"server.lr", "0.05"}}, {{"seed", "2"}, {"server.lr", "0.01"}},
      {{"seed", "2"}, {"server.lr", "0.02"}}, {{"seed", "2"}, {"server.lr", "0.05"}}};
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].index, i);
    EXPECT_EQ(runs[i].swept, expected[i]) << i;
  }
  // Each run's overrides keep the command line's order, the fixed one in its place.
  EXPECT_EQ(runs[4].overrides, (Values{"seed=2", "client.num_rounds=5", "server.lr=0.02"}));
}

TEST(SweepExpand, NoSweptKeyGivesOneRunWithTheFixedOverrides) {
  const auto runs = expand_sweep(parse_sweep({"seed=3", "server.lr=0.1"}));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].swept.empty());
  EXPECT_EQ(runs[0].overrides, (Values{"seed=3", "server.lr=0.1"}));
  EXPECT_EQ(run_folder_name(runs[0]), "0");
  EXPECT_EQ(expand_sweep({}).size(), 1u);
}

TEST(SweepExpand, BracketListsAreSweptAsWholeValues) {
  const auto runs = expand_sweep(parse_sweep({"model.hetero_kernels=[8,16],[16,32]"}));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].overrides, (Values{"model.hetero_kernels=[8,16]"}));
  EXPECT_EQ(runs[1].overrides, (Values{"model.hetero_kernels=[16,32]"}));
}

TEST(SweepFolders, NameTheIndexAndOnlyTheSweptKeys) {
  const auto runs = expand_sweep(parse_sweep({"seed=1,2", "eval_every=5", "server.lr=1e-3,0.02"}));
  EXPECT_EQ(run_folder_name(runs[0]), "0_seed=1,server.lr=1e-3");
  EXPECT_EQ(run_folder_name(runs[3]), "3_seed=2,server.lr=0.02");
  EXPECT_EQ(describe_swept(runs[3]), "seed=2,server.lr=0.02");
}

TEST(SweepFolders, AreFilesystemAndShellSafe) {
  const auto runs = expand_sweep(
      parse_sweep({"model.hetero_kernels=[8,16],[16, 32]", "dataset.root=/data/a b,../c;d,\"\""}));
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(run_folder_name(runs[0]), "0_model.hetero_kernels=8_16,dataset.root=_data_ab");
  EXPECT_EQ(run_folder_name(runs[4]), "4_model.hetero_kernels=16_32,dataset.root=.._c_d");
  EXPECT_EQ(run_folder_name(runs[5]), "5_model.hetero_kernels=16_32,dataset.root=_");
  std::set<std::string> names;
  for (const auto& r : runs) {
    const std::string name = run_folder_name(r);
    names.insert(name);
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-+_=,"),
              std::string::npos)
        << name;
  }
  EXPECT_EQ(names.size(), runs.size());
}

TEST(SweepFolders, LongNamesAreCutAndStayUnique) {
  const std::string a(300, 'a');
  const auto runs = expand_sweep(parse_sweep({"dataset.root=" + a + "," + a}));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(run_folder_name(runs[0]).size(), 200u);
  EXPECT_NE(run_folder_name(runs[0]), run_folder_name(runs[1]));
}

}  // namespace
}  // namespace pfedhn::config

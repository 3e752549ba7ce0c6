// `pfedhn generalize` on a novel.scheme=sets run (the pFedHN authors' lab's protocol): every set
// of novel clients adapted on the model fresh from the checkpoint, and recorded per client.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "data/data_fixtures.h"
#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using nlohmann::json;
using testing::slurp;

constexpr auto run = testing::run_pfedhn;

// Whether `output` is exactly one line.
bool one_line(const std::string& output) {
  return !output.empty() && output.find('\n') == output.size() - 1;
}

// 10 clients on the learnable MNIST fixture: 8 training clients (Dirichlet per client), 2 novel
// ones per set, two sets (alpha 0.1 and 1).
fs::path train_sets_run(const TempDir& tmp) {
  testing::write_learnable_mnist(tmp / "data" / "mnist");
  const fs::path run_dir = tmp / "run";
  const auto r = run(std::string("train ") + testing::kFastTraining +
                     " client.num_nodes=10 client.partition=dirichlet_per_client "
                     "client.dirichlet_alpha=1 novel.num_clients=2 novel.scheme=sets "
                     "'novel.alphas=[0.1, 1]' client.num_rounds=20 eval_every=10 dataset.root=" +
                     (tmp / "data").string() + " --output-dir " + run_dir.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return run_dir;
}

int64_t sum(const json& counts) {
  const auto v = counts.get<std::vector<int64_t>>();
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

TEST(GeneralizeSets, AdaptsEverySetAndRecordsItsClientsLabelsAndGaps) {
  TempDir tmp;
  const fs::path run_dir = train_sets_run(tmp);
  const auto r = run("generalize " + run_dir.string() + " novel.steps=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("set 0 (alpha 0.1), 2 novel clients"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("set 1 (alpha 1), 2 novel clients"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir / "novel.json"));  // the sets' own files, nothing else

  const json j = json::parse(slurp(run_dir / "novel-sets.json"));
  EXPECT_EQ(j["scheme"], "sets");
  EXPECT_EQ(j["steps"].get<int>(), 2);
  ASSERT_EQ(j["sets"].size(), 2u);
  const double training = j["training_clients_test_accuracy"].get<double>();
  const json partition = json::parse(slurp(run_dir / "partition.json"));
  int64_t val_correct = 0, val_total = 0;
  for (size_t k = 0; k < 2; ++k) {
    const json& set = j["sets"][k];
    EXPECT_EQ(set["set"].get<size_t>(), k);
    EXPECT_DOUBLE_EQ(set["alpha"].get<double>(), k == 0 ? 0.1 : 1.0);
    EXPECT_DOUBLE_EQ(set["generalization_gap"].get<double>(),
                     training - set["novel_test_accuracy_after"].get<double>());
    ASSERT_EQ(set["clients"].size(), 2u);
    double shift_sum = 0.0;
    for (size_t i = 0; i < 2; ++i) {
      const json& c = set["clients"][i];
      EXPECT_EQ(c["client"].get<int64_t>(), 8 + static_cast<int64_t>(i));
      for (const char* split : {"train", "val", "test"}) {
        EXPECT_EQ(sum(c["label_counts"][split]), c["samples"][split].get<int64_t>()) << split;
      }
      EXPECT_GT(c["samples"]["train"].get<int64_t>(), 0);
      const double shift = c["shift_tv"].get<double>();
      EXPECT_GE(shift, 0.0);
      EXPECT_LE(shift, 1.0);
      shift_sum += shift;
      EXPECT_DOUBLE_EQ(c["gap"].get<double>(), training - c["test_acc_after"].get<double>());
      // The training run's novel clients are set 0's: generalize draws the same set.
      if (k == 0) {
        EXPECT_EQ(c["label_counts"], partition["novel_clients"][i]["label_counts"]) << i;
      }
      val_total += c["samples"]["val"].get<int64_t>();
      if (c["val_acc_after"].is_number()) {
        val_correct += std::llround(c["val_acc_after"].get<double>() *
                                    static_cast<double>(c["samples"]["val"].get<int64_t>()));
      }
    }
    EXPECT_DOUBLE_EQ(set["mean_shift_tv"].get<double>(), shift_sum / 2);
  }
  // Two fresh partitions of the set-aside share: not the same clients.
  EXPECT_NE(j["sets"][0]["clients"][0]["label_counts"], j["sets"][1]["clients"][0]["label_counts"]);
  // The choice of steps and lr: val accuracy pooled over every set's novel clients.
  ASSERT_GT(val_total, 0);
  EXPECT_NEAR(j["novel_val_accuracy_after"].get<double>(),
              static_cast<double>(val_correct) / static_cast<double>(val_total), 1e-12);

  const std::string csv = slurp(run_dir / "novel_clients-sets.csv");
  EXPECT_EQ(csv.rfind("set,alpha,client,shift_tv,train_samples,val_samples,test_samples,"
                      "train_labels,",
                      0),
            0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + 2 sets x 2 clients
  EXPECT_NE(csv.find("\n0,0.1,8,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n1,1,9,"), std::string::npos) << csv;
}

// Each set starts from the checkpoint: a set adapted alone (--alpha) scores exactly what it
// scores after the other set was adapted in the same process. --out keeps the files apart.
TEST(GeneralizeSets, AlphaPicksSetsAndEachSetStartsFromTheCheckpoint) {
  TempDir tmp;
  const fs::path run_dir = train_sets_run(tmp);
  const fs::path all = tmp / "all", alone = tmp / "alone";
  // A large step, so that what set 0's adaptation leaves behind would show in set 1's numbers.
  const std::string adapt = " novel.steps=2 novel.adapt=loss novel.lr=0.5 --out ";
  ASSERT_EQ(run("generalize " + run_dir.string() + adapt + all.string()).exit_code, 0);
  const auto r = run("generalize " + run_dir.string() + " --alpha 1" + adapt + alone.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("set 0"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir / "novel-sets-loss.json"));
  const json both = json::parse(slurp(all / "novel-sets-loss.json"));
  const json one = json::parse(slurp(alone / "novel-sets-loss.json"));
  ASSERT_EQ(both["sets"].size(), 2u);
  ASSERT_EQ(one["sets"].size(), 1u);
  EXPECT_EQ(one["sets"][0], both["sets"][1]);
  // Adapting set 0 moved its clients' models (else the equality above proves nothing).
  EXPECT_NE(both["sets"][0]["novel_test_accuracy_after"],
            both["sets"][0]["novel_test_accuracy_before"]);

  // Both given: both sets, in the run's order.
  const auto two = run("generalize " + run_dir.string() +
                       " --alpha 1 --alpha 0.1 novel.steps=1 --out " + alone.string());
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const json j = json::parse(slurp(alone / "novel-sets.json"));
  ASSERT_EQ(j["sets"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["sets"][0]["alpha"].get<double>(), 0.1);

  const auto unknown = run("generalize " + run_dir.string() + " --alpha 0.3");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(one_line(unknown.output)) << unknown.output;
  EXPECT_NE(unknown.output.find("--alpha 0.3"), std::string::npos) << unknown.output;
  EXPECT_NE(unknown.output.find("[0.1, 1]"), std::string::npos) << unknown.output;
}

TEST(GeneralizeSets, AlphaIsRefusedForARunWithoutSets) {
  TempDir tmp;
  testing::write_learnable_mnist(tmp / "data" / "mnist");
  const fs::path run_dir = tmp / "run";
  ASSERT_EQ(run(std::string("train ") + testing::kFastTraining +
                " novel.num_clients=2 client.num_rounds=2 eval_every=2 dataset.root=" +
                (tmp / "data").string() + " --output-dir " + run_dir.string())
                .exit_code,
            0);
  const auto r = run("generalize " + run_dir.string() + " --alpha 0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_NE(r.output.find("novel.scheme=last"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir / "novel.json"));
}

}  // namespace
}  // namespace pfedhn

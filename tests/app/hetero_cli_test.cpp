// Heterogeneous target networks on the real binary: per-width outputs, resume, refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pfedhn/io/results.h"
#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using testing::run_pfedhn;
using testing::slurp;

class HeteroCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    testing::write_learnable_mnist(*tmp_ / "data" / "mnist");
    const auto r = run_pfedhn(args(reference_dir(), "'model.hetero_kernels=[2, 4]'"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static fs::path reference_dir() { return *tmp_ / "hetero"; }
  // 5 clients: widths 2, 4, 2, 4, 2. Evaluations after rounds 0, 10, 20, 29.
  static std::string args(const fs::path& run_dir, const std::string& extra) {
    return std::string("train ") + testing::kFastTraining +
           " client.num_rounds=30 eval_every=10 client.clients_per_round=2 dataset.root=" +
           (*tmp_ / "data").string() + " --output-dir " + run_dir.string() + " " + extra;
  }
  static TempDir* tmp_;
};
TempDir* HeteroCli::tmp_ = nullptr;

TEST_F(HeteroCli, ReportsEveryWidthInLogMetricsAndResults) {
  const std::string metrics = slurp(reference_dir() / "metrics.csv");
  const std::string header = metrics.substr(0, metrics.find('\n'));
  EXPECT_EQ(header, std::string(io::MetricsCsv::header()) +
                        ",val_acc_k2,test_acc_k2,val_acc_k4,test_acc_k4");
  const auto j = nlohmann::json::parse(slurp(reference_dir() / "results.json"));
  ASSERT_TRUE(j.contains("per_width")) << j.dump();
  for (const char* which : {"best", "final"}) {
    const auto& widths = j["per_width"][which];
    ASSERT_EQ(widths.size(), 2u) << j.dump();
    EXPECT_EQ(widths[0]["n_kernels"], 2);
    EXPECT_EQ(widths[0]["clients"], 3);
    EXPECT_EQ(widths[1]["n_kernels"], 4);
    EXPECT_EQ(widths[1]["clients"], 2);
    EXPECT_EQ(widths[0]["test_total"].get<int64_t>() + widths[1]["test_total"].get<int64_t>(),
              j[which]["test"]["total"].get<int64_t>());
  }
  const std::string log = slurp(reference_dir() / "train.log");
  EXPECT_NE(log.find("per width: k=2 (3 clients) val "), std::string::npos) << log;
  EXPECT_NE(log.find("at best val: per width: k=2"), std::string::npos) << log;
  EXPECT_NE(log.find("target network of width 4 (clients i with i mod 2 = 1): "), std::string::npos)
      << log;
}

TEST_F(HeteroCli, HomogeneousRunsKeepTheirFileFormats) {
  const fs::path dir = *tmp_ / "homogeneous";
  const auto r = run_pfedhn(args(dir, ""));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string metrics = slurp(dir / "metrics.csv");
  EXPECT_EQ(metrics.substr(0, metrics.find('\n')), io::MetricsCsv::header());
  EXPECT_FALSE(nlohmann::json::parse(slurp(dir / "results.json")).contains("per_width"));
  EXPECT_EQ(slurp(dir / "train.log").find("per width"), std::string::npos);
}

TEST_F(HeteroCli, ResumeFromAnEarlierCheckpointGivesIdenticalFiles) {
  const fs::path dir = *tmp_ / "resumed";
  fs::copy(reference_dir(), dir, fs::copy_options::recursive);
  fs::remove(dir / "results.json");
  fs::remove(dir / "checkpoints" / "ckpt-30.pt");  // back to ckpt-21
  const auto r = run_pfedhn("train --resume " + dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir / "metrics.csv"), slurp(reference_dir() / "metrics.csv"));
  EXPECT_EQ(slurp(dir / "results.json"), slurp(reference_dir() / "results.json"));
}

TEST_F(HeteroCli, ResumeWithOtherWidthsIsRefusedNamingTheKey) {
  const fs::path dir = *tmp_ / "other_widths";
  fs::copy(reference_dir(), dir, fs::copy_options::recursive);
  for (const std::string change : {"'model.hetero_kernels=[2, 8]'", "'model.hetero_kernels=[]'"}) {
    const auto r = run_pfedhn("train --resume " + dir.string() + " " + change);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("cannot resume with model.hetero_kernels="), std::string::npos)
        << r.output;
  }
}

TEST_F(HeteroCli, SeveralProcessesAndBenchAreRefusedWithOneLine) {
  const auto r = run_pfedhn(args(*tmp_ / "workers", "'model.hetero_kernels=[2, 4]' --workers 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("model.hetero_kernels needs a single process"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(*tmp_ / "workers"));  // refused before the run directory is made
  const auto b = run_pfedhn(std::string("bench ") + testing::kFastTraining +
                            " 'model.hetero_kernels=[2, 4]' --rounds 1");
  EXPECT_EQ(b.exit_code, 2) << b.output;
  EXPECT_NE(b.output.find("model.hetero_kernels"), std::string::npos) << b.output;
}

}  // namespace
}  // namespace pfedhn

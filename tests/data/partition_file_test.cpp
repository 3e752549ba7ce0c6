#include "pfedhn/data/partition_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "data/data_fixtures.h"
#include "data/labels_fixture.h"
#include "pfedhn/util/error.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::data {
namespace {

using testing::TempDir;

using testing::shuffled_labels;

struct Fixture {
  torch::Tensor labels[3] = {shuffled_labels(10, 300, 1), shuffled_labels(10, 50, 2),
                             shuffled_labels(10, 50, 3)};
  Partition make(const PartitionOptions& opt, uint64_t seed) const {
    return make_partition(labels[0], labels[1], labels[2], opt, seed);
  }
};

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::filesystem::path write_record(const TempDir& dir, const Partition& p, const Fixture& f,
                                   int64_t num_classes = 10) {
  PartitionRecordInfo info;
  info.dataset = "test";
  info.scheme = "classes";
  info.num_classes = num_classes;
  const auto path = dir / "partition.json";
  write_text(path, partition_json(p, info, f.labels).dump(1));
  return path;
}

// A partition read back from its own record is the very same partition, sample for sample.
TEST(PartitionFile, RoundTripGivesTheSamePartitionBitForBit) {
  const Fixture f;
  TempDir dir;
  for (const Scheme scheme : {Scheme::kClasses, Scheme::kDirichlet, Scheme::kDirichletPerClient}) {
    PartitionOptions opt;
    opt.num_clients = 12;
    opt.scheme = scheme;
    const Partition original = f.make(opt, 7);
    const auto path = write_record(dir, original, f);
    PartitionOptions from_file = opt;
    from_file.scheme = Scheme::kFixed;
    from_file.fixed = read_partition_file(path, 12, 10);
    EXPECT_EQ(from_file.fixed.classes, original.assignment.classes);
    EXPECT_EQ(from_file.fixed.proportions, original.assignment.proportions);  // exact doubles
    const Partition again = f.make(from_file, 7);
    ASSERT_EQ(again.clients.size(), original.clients.size());
    for (size_t i = 0; i < again.clients.size(); ++i) {
      EXPECT_TRUE(torch::equal(again.clients[i].train, original.clients[i].train)) << i;
      EXPECT_TRUE(torch::equal(again.clients[i].val, original.clients[i].val)) << i;
      EXPECT_TRUE(torch::equal(again.clients[i].test, original.clients[i].test)) << i;
    }
  }
}

TEST(PartitionFile, RecordsClassesProportionsAndSamplesPerSplit) {
  const Fixture f;
  PartitionOptions opt;
  opt.num_clients = 10;
  const Partition p = f.make(opt, 3);
  PartitionRecordInfo info;
  info.num_classes = 10;
  info.class_shares = "exact";
  const nlohmann::json j = partition_json(p, info, f.labels);
  EXPECT_EQ(j.at("class_shares"), "exact");
  ASSERT_EQ(j.at("clients").size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    const auto& c = j.at("clients")[i];
    EXPECT_EQ(c.at("classes").get<std::vector<int64_t>>(), p.assignment.classes[i]);
    EXPECT_EQ(c.at("samples").at("train").get<int64_t>(), p.clients[i].train.numel());
    EXPECT_EQ(c.at("samples").at("test").get<int64_t>(), p.clients[i].test.numel());
    const auto counts = c.at("label_counts").at("train").get<std::vector<int64_t>>();
    ASSERT_EQ(counts.size(), 10u);
    int64_t in_its_classes = 0, total = 0;
    for (size_t k = 0; k < 10; ++k) {
      total += counts[k];
      for (int64_t cls : p.assignment.classes[i]) {
        if (static_cast<size_t>(cls) == k) in_its_classes += counts[k];
      }
    }
    EXPECT_EQ(total, p.clients[i].train.numel());
    EXPECT_EQ(in_its_classes, total) << "client " << i << " holds a class it was not given";
  }
  EXPECT_FALSE(j.contains("novel_clients"));
}

TEST(PartitionFile, NovelSetsAreRecordedApartAndNotReadBack) {
  const Fixture f;
  PartitionOptions opt;
  opt.num_clients = 10;
  opt.num_novel = 2;
  opt.scheme = Scheme::kDirichletPerClient;
  opt.novel_scheme = NovelScheme::kSets;
  opt.novel_alphas = {0.5};
  const Partition p = f.make(opt, 3);
  TempDir dir;
  const auto path = write_record(dir, p, f);
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("clients").size(), 8u);
  ASSERT_EQ(j.at("novel_clients").size(), 2u);
  EXPECT_EQ(j.at("novel_clients")[0].at("client"), 8);
  EXPECT_TRUE(j.at("novel_clients")[0].at("novel").get<bool>());
  EXPECT_EQ(read_partition_file(path, 8, 10).classes, p.assignment.classes);
}

std::string read_error(const std::filesystem::path& path, int64_t clients = 2) {
  try {
    read_partition_file(path, clients, 3);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

TEST(PartitionFile, BadFilesGetOneLineNamingTheFileAndTheProblem) {
  TempDir dir;
  const auto path = dir / "p.json";
  const std::string good =
      R"({"clients": [{"classes": [0, 1], "proportions": [0.5, 0.5]},
                      {"classes": [1, 2], "proportions": [0.5, 0.5]}]})";
  write_text(path, good);
  EXPECT_NO_THROW(read_partition_file(path, 2, 3));

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"clients": [{"classes": [0, 3], "proportions": [0.5, 0.5]},
                       {"classes": [1, 2], "proportions": [0.5, 0.5]}]})",
       "client 0 has class 3, outside [0, 2]"},
      {R"({"clients": [{"classes": [0, 1], "proportions": [0.5, 0.7]},
                       {"classes": [1, 2], "proportions": [0.5, 0.5]}]})",
       "proportions of class 1 sum to 1.2"},
      {R"({"clients": [{"classes": [0, 1], "proportions": [0.5, 0.5]}]})",
       "lists 1 clients, but this run partitions 2"},
      {R"({"clients": [{"classes": [0, "x"], "proportions": [0.5, 0.5]},
                       {"classes": [1, 2], "proportions": [0.5, 0.5]}]})",
       "\"classes\" holds \"x\", not an integer"},
      {R"({"clients": [{"classes": [0, 1]}, {"classes": [1, 2], "proportions": [0.5, 0.5]}]})",
       "client 0 has no list \"proportions\""},
      {R"({"client": []})", "has no list \"clients\""},
      {"{\"clients\": [", "is not valid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    write_text(path, text);
    const std::string msg = read_error(path);
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_NE(read_error(dir / "missing.json").find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace pfedhn::data

// Tensors files (dataset.data=tensors): torch.save's zip format, the checks, and the splits.
#include "pfedhn/data/tensor_file.h"

#include <gtest/gtest.h>

#include "data/data_fixtures.h"
#include "data/image_fixtures.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_tensors_file;
using Items = std::vector<std::pair<std::string, c10::IValue>>;

torch::Tensor images(int64_t n, int64_t c = 3, int64_t side = 8) {
  return torch::randint(0, 256, {n, c, side, side}, torch::kUInt8);
}
torch::Tensor labels(int64_t n, int64_t classes) {
  return torch::arange(n, torch::kLong).remainder(classes);
}

// The one-line message reading a file of `items` gives, or "" if it reads.
std::string problem_with(const Items& items) {
  TempDir tmp;
  write_tensors_file(tmp / "d.pt", items);
  try {
    read_tensor_file(tmp / "d.pt");
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos);
    EXPECT_NE(message.find("d.pt"), std::string::npos) << message;
    return message;
  }
  return "";
}

TEST(TensorFile, ReadsTheFourKeysAndCountsTheClasses) {
  TempDir tmp;
  const auto x = images(12), xt = images(4);
  write_tensors_file(
      tmp / "d.pt",
      {{"train_x", x}, {"train_y", labels(12, 3)}, {"test_x", xt}, {"test_y", labels(4, 3)}});
  const TensorFile f = read_tensor_file(tmp / "d.pt");
  EXPECT_TRUE(torch::equal(f.train_x, x));
  EXPECT_TRUE(torch::equal(f.test_x, xt));
  EXPECT_TRUE(torch::equal(f.train_y, labels(12, 3)));
  EXPECT_EQ(f.num_classes, 3);
  EXPECT_TRUE(f.has_test());
}

TEST(TensorFile, TheTestSetIsOptional) {
  TempDir tmp;
  write_tensors_file(tmp / "d.pt", {{"train_x", images(6)}, {"train_y", labels(6, 2)}});
  EXPECT_FALSE(read_tensor_file(tmp / "d.pt").has_test());
}

TEST(TensorFile, NamesAMissingOrUnknownKey) {
  EXPECT_NE(problem_with({{"train_x", images(4)}}).find("has no key 'train_y'"), std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", labels(4, 2)}, {"train_X", 1}})
                .find("unexpected key 'train_X'"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", labels(4, 2)}, {"test_x", images(2)}})
                .find("test_x but no test_y"),
            std::string::npos);
}

TEST(TensorFile, NamesAMisshapenKey) {
  const auto y = labels(4, 2);
  EXPECT_NE(problem_with({{"train_x", images(4).squeeze(1).select(1, 0)}, {"train_y", y}})
                .find("key 'train_x' is"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4).to(torch::kFloat)}, {"train_y", y}})
                .find("expected uint8 images [N, C, H, W]"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", labels(5, 2)}})
                .find("key 'train_y' is int64 [5], expected int64 [4]"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", y.to(torch::kInt)}})
                .find("key 'train_y' is int32 [4]"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)},
                          {"train_y", y},
                          {"test_x", images(2, 1)},
                          {"test_y", labels(2, 2)}})
                .find("test_x is [2, 1, 8, 8] but train_x is [4, 3, 8, 8]"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", std::string("labels")}})
                .find("key 'train_y' holds a String, expected a tensor"),
            std::string::npos);
}

TEST(TensorFile, NamesALabelOutsideTheClasses) {
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", labels(4, 2) - 1}})
                .find("holds the label -1"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)},
                          {"train_y", labels(4, 2)},
                          {"test_x", images(2)},
                          {"test_y", labels(2, 2) + 1}})
                .find("test_y holds the label 2, outside the 2 classes of train_y"),
            std::string::npos);
  EXPECT_NE(problem_with({{"train_x", images(4)}, {"train_y", labels(4, 2) * 2}})
                .find("class 1 has no training sample"),
            std::string::npos);
}

TEST(TensorFile, RefusesWhatTorchSaveDidNotWrite) {
  TempDir tmp;
  testing::write_bytes(tmp / "junk.pt", {'n', 'o', 't', ' ', 'a', ' ', 'z', 'i', 'p'});
  try {
    read_tensor_file(tmp / "junk.pt");
    ADD_FAILURE() << "read a file that is not torch.save's";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("not a file torch.save wrote"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_tensor_file(tmp / "missing.pt"), DataError);
  EXPECT_NE(problem_with({}).find("has no key 'train_x'"), std::string::npos);
}

TEST(TensorsDataset, SplitsAsTheBuiltInDatasetsDoAndNormalisesOnTheTrainingSplit) {
  TempDir tmp;
  const auto x = images(40, 1), y = labels(40, 4);
  write_tensors_file(tmp / "d.pt", {{"train_x", x}, {"train_y", y}});
  DatasetSource source;
  source.name = "tensors";
  source.file = tmp / "d.pt";
  const DatasetInfo info = describe_dataset(source, /*with_test=*/false);
  EXPECT_EQ(info.num_classes, 4);
  EXPECT_EQ(info.train_size, 40);
  EXPECT_EQ(info.test_size, 0);
  EXPECT_EQ(info.source, source.file.string());
  EXPECT_THROW(describe_dataset(source, /*with_test=*/true), DataError);

  SplitOptions options;
  options.val_size = 8;
  options.test_source = TestSource::kHoldout;
  options.test_size = 8;
  const DatasetSplits s = load_dataset(source, options, 11);
  // The same positions as make_splits draws for any dataset of 40 samples with this seed.
  DatasetInfo plain = info;
  plain.mean = {0.0};
  plain.std = {1.0};
  const DatasetSplits reference = make_splits(plain, x, y, {}, {}, options, 11);
  EXPECT_EQ(s.train_indices, reference.train_indices);
  EXPECT_EQ(s.test_indices, reference.test_indices);
  std::vector<double> mean, std_dev;
  channel_mean_std(reference.train.x, mean, std_dev);
  EXPECT_EQ(s.info->mean, mean);
  EXPECT_EQ(s.info->std, std_dev);
}

}  // namespace
}  // namespace pfedhn::data

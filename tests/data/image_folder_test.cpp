// Image folders (dataset.data=folder): the listing order, decoding, the checks, and the splits.
#include "pfedhn/data/image_folder.h"

#include <gtest/gtest.h>

#include "data/data_fixtures.h"
#include "data/image_fixtures.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {
namespace fs = std::filesystem;
using testing::class_image;
using testing::TempDir;
using testing::write_image;
using testing::write_image_folder;

// The message of the DataError `f` throws, or "" if it throws none.
template <typename F>
std::string data_error(F f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

torch::Tensor rgb(int64_t h, int64_t w, int64_t salt = 0) {
  return class_image(salt % 3, 3, std::max(h, w), salt).narrow(1, 0, h).narrow(2, 0, w).clone();
}

TEST(ImageFolder, ListsClassesAndFilesInTorchvisionsOrder) {
  TempDir tmp;
  const fs::path train = tmp / "train";
  for (const char* f : {"b/2.png", "b/10.png", "a/z.png", "a/sub/0.png", "a/m.png"}) {
    write_image(train / f, rgb(4, 4));
  }
  testing::write_bytes(train / "a" / ".DS_Store", {1, 2, 3});  // hidden: skipped
  write_image(train / "a" / ".hidden" / "x.png", rgb(4, 4));
  const auto listing = list_image_folder(tmp.path());
  EXPECT_EQ(listing.classes, (std::vector<std::string>{"a", "b"}));
  // Python's sorted(os.walk()) puts a folder's own files before its sub-folders'; names sort
  // as strings ("10" before "2").
  const std::vector<fs::path> expected{train / "a" / "m.png", train / "a" / "z.png",
                                       train / "a" / "sub" / "0.png", train / "b" / "10.png",
                                       train / "b" / "2.png"};
  EXPECT_EQ(listing.train_files, expected);
  EXPECT_EQ(listing.train_labels, (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_FALSE(listing.has_test);
}

TEST(ImageFolder, TestClassesAreTheTrainingClassesIndices) {
  TempDir tmp;
  write_image_folder(tmp.path(), 3, 1, 0, 1, 8);
  write_image(tmp / "test" / "class_2" / "x.png", class_image(2, 1, 8, 0));
  const auto listing = list_image_folder(tmp.path());
  ASSERT_TRUE(listing.has_test);
  EXPECT_EQ(listing.test_labels, (std::vector<int64_t>{2}));
}

TEST(ImageFolder, DecodesPngAndBmpExactlyAndDropsAlpha) {
  TempDir tmp;
  const torch::Tensor colour = rgb(5, 7, 3);
  write_image(tmp / "c.png", colour);
  write_image(tmp / "c.bmp", colour, /*bmp=*/true);
  const torch::Tensor grey = colour.narrow(0, 0, 1).clone();
  write_image(tmp / "g.png", grey);
  write_image(tmp / "rgba.png", torch::cat({colour, torch::full({1, 5, 7}, 9, torch::kUInt8)}));
  write_image(tmp / "ga.png", torch::cat({grey, torch::full({1, 5, 7}, 9, torch::kUInt8)}));
  const auto decode = [&](const char* name) {
    return decode_image(testing::read_bytes(tmp / name), name);
  };
  EXPECT_TRUE(torch::equal(decode("c.png"), colour));
  EXPECT_TRUE(torch::equal(decode("c.bmp"), colour));
  EXPECT_TRUE(torch::equal(decode("g.png"), grey));
  EXPECT_TRUE(torch::equal(decode("rgba.png"), colour));
  EXPECT_TRUE(torch::equal(decode("ga.png"), grey));
  EXPECT_EQ(read_image_shape(tmp / "rgba.png"), (ImageShape{3, 5, 7}));
  EXPECT_EQ(read_image_shape(tmp / "ga.png"), (ImageShape{1, 5, 7}));
}

TEST(ImageFolder, RefusesAnEmptyClassFolder) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 2, 0);
  fs::create_directories(tmp / "train" / "empty_class");
  const std::string message = data_error([&] { list_image_folder(tmp.path()); });
  EXPECT_NE(message.find("empty_class holds no image"), std::string::npos) << message;
}

TEST(ImageFolder, RefusesAFileThatIsNotAnImage) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 2, 0);
  testing::write_bytes(tmp / "train" / "class_1" / "notes.txt", {'h', 'i'});
  const auto listing = list_image_folder(tmp.path());
  const std::string message = data_error([&] { common_image_shape(listing.train_files); });
  EXPECT_NE(message.find("notes.txt is not an image"), std::string::npos) << message;
  const std::string decoded = data_error([&] { decode_image({'h', 'i'}, "notes.txt"); });
  EXPECT_NE(decoded.find("notes.txt is not an image"), std::string::npos) << decoded;
}

TEST(ImageFolder, RefusesImagesOfTwoSizesOrChannelCounts) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 2, 0, 3, 16);
  write_image(tmp / "train" / "class_1" / "img_9999.png", rgb(16, 12));
  const auto listing = list_image_folder(tmp.path());
  const std::string message = data_error([&] { common_image_shape(listing.train_files); });
  EXPECT_NE(message.find("img_9999.png is 3x16x12 (RGB) but"), std::string::npos) << message;
  EXPECT_NE(message.find("is 3x16x16 (RGB)"), std::string::npos) << message;
  // read_images checks every decoded image too.
  const std::string read = data_error([&] {
    read_images(listing.train_files, ImageShape{3, 16, 16}, LoadProgress{});
  });
  EXPECT_NE(read.find("img_9999.png"), std::string::npos) << read;
}

TEST(ImageFolder, RefusesATestClassThatTrainingLacks) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 2, 1);
  write_image(tmp / "test" / "zebra" / "z.png", rgb(16, 16));
  const std::string message = data_error([&] { list_image_folder(tmp.path()); });
  EXPECT_NE(message.find("class 'zebra' is not one of the training classes"), std::string::npos)
      << message;
}

TEST(ImageFolder, RefusesAMissingTrainFolderAndFilesBesideTheClassFolders) {
  TempDir tmp;
  EXPECT_NE(data_error([&] { list_image_folder(tmp.path()); }).find("has no train/ folder"),
            std::string::npos);
  write_image_folder(tmp.path(), 2, 1, 0);
  write_image(tmp / "train" / "stray.png", rgb(16, 16));
  EXPECT_NE(data_error([&] { list_image_folder(tmp.path()); }).find("only class folders"),
            std::string::npos);
}

TEST(ImageFolder, ReadsEveryImageAndReportsProgress) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 300, 0, 1, 8);
  const auto listing = list_image_folder(tmp.path());
  std::vector<int64_t> reports;
  const torch::Tensor x =
      read_images(listing.train_files, ImageShape{1, 8, 8}, [&](int64_t done, int64_t total) {
        EXPECT_EQ(total, 600);
        reports.push_back(done);
      });
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{600, 1, 8, 8}));
  EXPECT_TRUE(torch::equal(x[301], class_image(1, 1, 8, 1)));
  EXPECT_EQ(reports, (std::vector<int64_t>{256, 512, 600}));
}

// ---- the dataset behind dataset.data=folder ----

DatasetSource folder_source(const fs::path& root) {
  DatasetSource source;
  source.name = "folder";
  source.root = root;
  return source;
}

TEST(FolderDataset, DescribesWhatItFoundWithoutDecoding) {
  TempDir tmp;
  write_image_folder(tmp.path(), 3, 4, 2, 1, 12);
  const DatasetInfo info = describe_dataset(folder_source(tmp.path()), /*with_test=*/true);
  EXPECT_EQ(info.num_classes, 3);
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"class_0", "class_1", "class_2"}));
  EXPECT_EQ(info.channels, 1);
  EXPECT_EQ(info.height, 12);
  EXPECT_EQ(info.train_size, 12);
  EXPECT_EQ(info.test_size, 6);
  EXPECT_TRUE(info.mean.empty());
}

TEST(FolderDataset, WithoutATestFolderOnlyTheHoldoutSplitRuns) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 10, 0, 1, 8);
  const std::string message =
      data_error([&] { describe_dataset(folder_source(tmp.path()), /*with_test=*/true); });
  EXPECT_NE(message.find("has no test/ folder"), std::string::npos) << message;
  EXPECT_NE(message.find("dataset.test_split=holdout"), std::string::npos) << message;
  SplitOptions holdout;
  holdout.val_size = 4;
  holdout.test_source = TestSource::kHoldout;
  holdout.test_size = 4;
  const DatasetSplits s = load_dataset(folder_source(tmp.path()), holdout, 3);
  EXPECT_EQ(s.train.size() + s.val.size() + s.test.size(), 20);
}

TEST(FolderDataset, NormalisesWithTheTrainingSplitsOwnMeanAndStdUnlessGiven) {
  TempDir tmp;
  write_image_folder(tmp.path(), 2, 20, 3, 3, 8);
  SplitOptions options;
  options.val_size = 10;
  const DatasetSplits s = load_dataset(folder_source(tmp.path()), options, 5);
  std::vector<double> mean, std_dev;
  channel_mean_std(s.train.x, mean, std_dev);
  EXPECT_EQ(s.info->mean, mean);
  EXPECT_EQ(s.info->std, std_dev);
  const torch::Tensor x = s.train.gather(torch::arange(s.train.size()));
  EXPECT_NEAR(x.select(1, 0).mean().item<double>(), 0.0, 1e-4);
  EXPECT_NEAR(x.select(1, 2).std(/*unbiased=*/false).item<double>(), 1.0, 1e-4);
  EXPECT_EQ(s.test.size(), 6);

  DatasetSource given = folder_source(tmp.path());
  given.mean = {0.5, 0.5, 0.5};
  given.std = {0.25, 0.25, 0.25};
  const DatasetSplits g = load_dataset(given, options, 5);
  EXPECT_EQ(g.info->mean, given.mean);
  const torch::Tensor first = g.train.gather(torch::zeros({1}, torch::kLong));
  const float pixel = static_cast<float>(g.train.x[0][0][0][0].item<uint8_t>());
  EXPECT_FLOAT_EQ(first[0][0][0][0].item<float>(), (pixel / 255.0f - 0.5f) / 0.25f);
}

TEST(ChannelMeanStd, IsThePopulationMeanAndStdOfPixelsInZeroToOne) {
  const torch::Tensor x = torch::randint(0, 256, {5, 2, 3, 4}, torch::kUInt8);
  std::vector<double> mean, std_dev;
  channel_mean_std(x, mean, std_dev);
  const torch::Tensor f = x.to(torch::kDouble).div(255).transpose(0, 1).reshape({2, -1});
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(mean[static_cast<size_t>(c)], f[c].mean().item<double>(), 1e-12);
    EXPECT_NEAR(std_dev[static_cast<size_t>(c)], f[c].std(false).item<double>(), 1e-12);
  }
}

}  // namespace
}  // namespace pfedhn::data

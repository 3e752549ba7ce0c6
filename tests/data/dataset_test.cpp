#include "pfedhn/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "data/data_fixtures.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {

using testing::cifar_bytes;
using testing::idx_bytes;
using testing::pattern;
using testing::TempDir;
using testing::write_bytes;
using testing::write_gz;

const DatasetInfo& info_of(const std::string& name) {
  const DatasetInfo* info = find_dataset(name);
  if (info == nullptr) throw std::runtime_error("no dataset " + name);
  return *info;
}

// ---- catalog ----

TEST(Catalog, KnowsTheFourDatasets) {
  ASSERT_EQ(all_datasets().size(), 4u);
  for (const char* name : {"mnist", "fashion_mnist", "cifar10", "cifar100"}) {
    const DatasetInfo* info = find_dataset(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_EQ(info->mean.size(), static_cast<size_t>(info->channels)) << name;
    EXPECT_EQ(info->std.size(), static_cast<size_t>(info->channels)) << name;
    EXPECT_EQ(info->test_size, 10000) << name;
  }
  EXPECT_EQ(find_dataset("mnist")->train_size, 60000);
  EXPECT_EQ(find_dataset("fashion_mnist")->train_size, 60000);
  EXPECT_EQ(find_dataset("cifar10")->train_size, 50000);
  EXPECT_EQ(find_dataset("cifar100")->num_classes, 100);
  EXPECT_EQ(find_dataset("cifar100")->format, FileFormat::kCifar100);
  EXPECT_EQ(find_dataset("cifar10")->subdir, "cifar-10-batches-bin");
  EXPECT_EQ(find_dataset("cifar100")->subdir, "cifar-100-binary");
  EXPECT_EQ(find_dataset("mnist")->height, 28);
  EXPECT_EQ(find_dataset("cifar10")->width, 32);
  EXPECT_DOUBLE_EQ(find_dataset("cifar10")->std[0], 0.2023);
  EXPECT_DOUBLE_EQ(find_dataset("fashion_mnist")->mean[0], 0.2860);
}

TEST(Catalog, NamesAreStrict) {
  EXPECT_EQ(find_dataset("fmnist"), nullptr);
  EXPECT_EQ(find_dataset("fashion-mnist"), nullptr);
  EXPECT_EQ(find_dataset("MNIST"), nullptr);
  EXPECT_EQ(find_dataset(""), nullptr);
}

// ---- normalisation and splits ----

torch::Tensor images_u8(int64_t n, const DatasetInfo& info, uint32_t salt = 0) {
  const std::vector<uint8_t> px =
      pattern(static_cast<size_t>(n * info.channels * info.height * info.width), salt);
  return torch::tensor(px, torch::kUInt8).view({n, info.channels, info.height, info.width});
}

// Labels that encode the index, so a split can be traced back to the original order.
torch::Tensor cyclic_labels(int64_t n, int64_t num_classes) {
  return torch::arange(n, torch::kInt64).remainder(num_classes);
}

TEST(Dataset, NormaliseImagesPerChannel) {
  const DatasetInfo& info = info_of("cifar10");
  torch::Tensor u8 = torch::zeros({2, 3, 32, 32}, torch::kUInt8);
  u8[0][0][0][0] = 255;
  u8[0][1][5][7] = 128;
  u8[1][2][31][31] = 51;
  const torch::Tensor x = normalise_images(u8, info);
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.sizes(), u8.sizes());
  auto expect = [&](double pixel, int c) { return (pixel / 255.0 - info.mean[c]) / info.std[c]; };
  EXPECT_NEAR(x[0][0][0][0].item<float>(), expect(255, 0), 1e-5);
  EXPECT_NEAR(x[0][1][5][7].item<float>(), expect(128, 1), 1e-5);
  EXPECT_NEAR(x[1][2][31][31].item<float>(), expect(51, 2), 1e-5);
  EXPECT_NEAR(x[1][0][3][3].item<float>(), expect(0, 0), 1e-5);
  EXPECT_NEAR(x[1][1][3][3].item<float>(), expect(0, 1), 1e-5);
  EXPECT_NEAR(x[1][2][3][3].item<float>(), expect(0, 2), 1e-5);
}

TEST(Dataset, NormaliseRejectsWrongShape) {
  EXPECT_THROW(normalise_images(torch::zeros({2, 1, 28, 28}, torch::kUInt8), info_of("cifar10")),
               DataError);
  EXPECT_THROW(normalise_images(torch::zeros({2, 1, 28, 28}, torch::kFloat32), info_of("mnist")),
               DataError);
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(Dataset, MakeSplitsSizesDisjointAndComplete) {
  const DatasetInfo& info = info_of("mnist");
  const int64_t n = 200, n_test = 30, val = 40;
  // Label i % 10 plus the first pixel = i identifies each sample.
  torch::Tensor train = images_u8(n, info);
  train.select(1, 0).select(1, 0).select(1, 0).copy_(torch::arange(n, torch::kUInt8));
  const DatasetSplits s = make_splits(info, train, cyclic_labels(n, 10), images_u8(n_test, info, 1),
                                      cyclic_labels(n_test, 10), val, 42);
  EXPECT_EQ(s.info, &info);
  EXPECT_EQ(s.train.size(), n - val);
  EXPECT_EQ(s.val.size(), val);
  EXPECT_EQ(s.test.size(), n_test);
  EXPECT_EQ(s.train.x.sizes(), (std::vector<int64_t>{n - val, 1, 28, 28}));
  EXPECT_EQ(s.train.y.scalar_type(), torch::kInt64);
  EXPECT_TRUE(s.train.x.is_contiguous());

  // Recover the original indices from the first pixel.
  auto original_indices = [&](const Split& split) {
    const torch::Tensor first =
        split.gather(torch::arange(split.size())).select(1, 0).select(1, 0).select(1, 0);
    const torch::Tensor pixel = (first * info.std[0] + info.mean[0]) * 255.0;
    return to_vector(pixel.round());
  };
  const std::vector<int64_t> tr = original_indices(s.train), va = original_indices(s.val);
  EXPECT_TRUE(std::is_sorted(tr.begin(), tr.end()));
  EXPECT_TRUE(std::is_sorted(va.begin(), va.end()));
  std::set<int64_t> all(tr.begin(), tr.end());
  all.insert(va.begin(), va.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(n));  // disjoint and complete
  EXPECT_EQ(*all.rbegin(), n - 1);
  // Labels travel with their images.
  const std::vector<int64_t> tr_labels = to_vector(s.train.y);
  for (size_t i = 0; i < tr.size(); ++i) EXPECT_EQ(tr_labels[i], tr[i] % 10);
}

TEST(Dataset, SplitsKeepRawPixelsAndGatherNormalisesInChannelsLast) {
  const DatasetInfo& info = info_of("cifar10");
  const int64_t n = 12;
  const torch::Tensor images = torch::randint(0, 256, {n, 3, 32, 32}, torch::kUInt8);
  const DatasetSplits s = make_splits(info, images, cyclic_labels(n, 10),
                                      images.slice(0, 0, 4).clone(), cyclic_labels(4, 10), 3, 5);
  EXPECT_EQ(s.train.x.scalar_type(), torch::kUInt8);
  const torch::Tensor idx = torch::tensor({3, 0, 3, 7}, torch::kInt64);
  const torch::Tensor batch = s.train.gather(idx);
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_TRUE(batch.is_contiguous(at::MemoryFormat::ChannelsLast));
  const torch::Tensor expected = normalise_images(s.train.x.index_select(0, idx), info);
  EXPECT_TRUE(torch::allclose(batch, expected, /*rtol=*/1e-5, /*atol=*/1e-5));
  EXPECT_THROW(s.train.gather(torch::tensor({s.train.size()}, torch::kInt64)), c10::Error);
}

std::vector<int64_t> val_labels_for_seed(uint64_t seed) {
  const DatasetInfo& info = info_of("mnist");
  // Distinct labels per index would need > 10 classes; use the image content instead.
  torch::Tensor train = images_u8(100, info);
  train.select(1, 0).select(1, 0).select(1, 0).copy_(torch::arange(100, torch::kUInt8));
  const DatasetSplits s = make_splits(info, train, cyclic_labels(100, 10), images_u8(5, info),
                                      cyclic_labels(5, 10), 20, seed);
  const torch::Tensor first =
      s.val.gather(torch::arange(s.val.size())).select(1, 0).select(1, 0).select(1, 0);
  return to_vector(((first * info.std[0] + info.mean[0]) * 255.0).round());
}

TEST(Dataset, MakeSplitsDeterministicPerSeed) {
  EXPECT_EQ(val_labels_for_seed(7), val_labels_for_seed(7));
  EXPECT_NE(val_labels_for_seed(7), val_labels_for_seed(8));
}

// ---- the held-out test split (dataset.test_split=holdout) ----

// 200 training samples whose first pixel is their index; no official test set at all.
DatasetSplits holdout_splits(uint64_t seed, int64_t val = 40, int64_t test = 30) {
  const DatasetInfo& info = info_of("mnist");
  torch::Tensor train = images_u8(200, info);
  train.select(1, 0).select(1, 0).select(1, 0).copy_(torch::arange(200, torch::kUInt8));
  SplitOptions options;
  options.val_size = val;
  options.test_source = TestSource::kHoldout;
  options.test_size = test;
  return make_splits(info, train, cyclic_labels(200, 10), torch::Tensor(), torch::Tensor(), options,
                     seed);
}

std::vector<int64_t> first_pixels(const Split& split) {
  const DatasetInfo& info = info_of("mnist");
  const torch::Tensor first =
      split.gather(torch::arange(split.size())).select(1, 0).select(1, 0).select(1, 0);
  return to_vector(((first * info.std[0] + info.mean[0]) * 255.0).round());
}

TEST(Dataset, HoldoutSplitsAreDisjointCompleteSizedAndRecorded) {
  const DatasetSplits s = holdout_splits(42);
  EXPECT_EQ(s.test_source, TestSource::kHoldout);
  EXPECT_EQ(s.train.size(), 130);
  EXPECT_EQ(s.val.size(), 40);
  EXPECT_EQ(s.test.size(), 30);
  const std::vector<int64_t> tr = first_pixels(s.train), va = first_pixels(s.val),
                             te = first_pixels(s.test);
  // The recorded positions are the samples' indices in the official training set.
  EXPECT_EQ(tr, s.train_indices);
  EXPECT_EQ(va, s.val_indices);
  EXPECT_EQ(te, s.test_indices);
  EXPECT_TRUE(std::is_sorted(te.begin(), te.end()));
  std::set<int64_t> all(tr.begin(), tr.end());
  all.insert(va.begin(), va.end());
  all.insert(te.begin(), te.end());
  EXPECT_EQ(all.size(), 200u);  // disjoint and complete
  const std::vector<int64_t> test_labels = to_vector(s.test.y);
  for (size_t i = 0; i < te.size(); ++i) EXPECT_EQ(test_labels[i], te[i] % 10);
}

TEST(Dataset, HoldoutSplitsAreDeterministicPerSeed) {
  EXPECT_EQ(holdout_splits(7).test_indices, holdout_splits(7).test_indices);
  EXPECT_EQ(holdout_splits(7).train_indices, holdout_splits(7).train_indices);
  EXPECT_NE(holdout_splits(7).test_indices, holdout_splits(8).test_indices);
}

TEST(Dataset, HoldoutKeepsTheOfficialValidationSplit) {
  // Validation does not depend on where the test split comes from (official mode as before).
  const DatasetInfo& info = info_of("mnist");
  torch::Tensor train = images_u8(200, info);
  train.select(1, 0).select(1, 0).select(1, 0).copy_(torch::arange(200, torch::kUInt8));
  const DatasetSplits official = make_splits(info, train, cyclic_labels(200, 10),
                                             images_u8(7, info), cyclic_labels(7, 10), 40, 42);
  EXPECT_EQ(official.test_source, TestSource::kOfficial);
  EXPECT_EQ(official.val_indices, holdout_splits(42).val_indices);
  EXPECT_EQ(first_pixels(official.val), official.val_indices);
  EXPECT_EQ(official.test_indices, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(official.train.size(), 160);
}

TEST(Dataset, HoldoutMustLeaveTrainingSamples) {
  EXPECT_THROW(holdout_splits(1, 100, 100), DataError);
  EXPECT_THROW(holdout_splits(1, 40, 0), DataError);
  EXPECT_NO_THROW(holdout_splits(1, 100, 99));
  try {
    holdout_splits(1, 150, 50);
    ADD_FAILURE() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("must leave training samples"), std::string::npos)
        << e.what();
  }
}

TEST(Dataset, MakeSplitsRejectsBadInput) {
  const DatasetInfo& info = info_of("mnist");
  const torch::Tensor tr = images_u8(10, info), te = images_u8(3, info);
  const torch::Tensor ytr = cyclic_labels(10, 10), yte = cyclic_labels(3, 10);
  EXPECT_THROW(make_splits(info, tr, ytr, te, yte, 10, 1), DataError);  // val == train size
  EXPECT_THROW(make_splits(info, tr, ytr, te, yte, -1, 1), DataError);
  EXPECT_NO_THROW(make_splits(info, tr, ytr, te, yte, 9, 1));
  EXPECT_THROW(make_splits(info, tr, cyclic_labels(9, 10), te, yte, 2, 1), DataError);
  EXPECT_THROW(make_splits(info, tr, ytr + 1, te, yte, 2, 1), DataError);  // label 10
  EXPECT_THROW(make_splits(info, tr, ytr, images_u8(3, info_of("cifar10")), yte, 2, 1), DataError);
}

// ---- load_dataset ----

void write_mnist_fixture(const std::filesystem::path& dir, uint32_t n_train,
                         uint32_t n_train_labels, uint32_t n_test, bool gz) {
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    if (gz) {
      write_gz(dir / (name + ".gz"), bytes);
    } else {
      write_bytes(dir / name, bytes);
    }
  };
  write("train-images-idx3-ubyte", idx_bytes({n_train, 28, 28}, pattern(n_train * 784)));
  write("train-labels-idx1-ubyte", idx_bytes({n_train_labels}, pattern(n_train_labels, 1)));
  write("t10k-images-idx3-ubyte", idx_bytes({n_test, 28, 28}, pattern(n_test * 784, 2)));
  write("t10k-labels-idx1-ubyte", idx_bytes({n_test}, pattern(n_test, 3)));
}

// The five CIFAR-10 training batches with two records each (far from the official size).
void write_tiny_cifar10_batches(const std::filesystem::path& dir) {
  for (int i = 1; i <= 5; ++i) {
    write_bytes(dir / ("data_batch_" + std::to_string(i) + ".bin"), cifar_bytes({1, 2}, false));
  }
}

std::string load_error(const std::string& name, const std::filesystem::path& root,
                       const SplitOptions& options = SplitOptions{10}) {
  try {
    load_dataset(name, root, options, 1);
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected DataError for " << name << " in " << root;
  return "";
}

TEST(Dataset, LoadMissingFolderSaysHowToFetch) {
  TempDir root;
  const std::string msg = load_error("mnist", root.path());
  EXPECT_NE(msg.find("dataset 'mnist' not found in " + (root.path() / "mnist").string()),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("train-images-idx3-ubyte[.gz]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scripts/fetch_data.sh"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--root " + root.path().string()), std::string::npos) << msg;

  const std::string cifar = load_error("cifar10", root.path());
  EXPECT_NE(cifar.find("data_batch_1.bin"), std::string::npos) << cifar;
  EXPECT_NE(cifar.find("fetch_data.sh"), std::string::npos) << cifar;
  EXPECT_NE(load_error("cifar100", root.path()).find("train.bin"), std::string::npos);
}

TEST(Dataset, LoadMissingUnderDefaultRootGivesTheExactCommand) {
  // "data/" is relative to the working directory (the build folder when run by ctest).
  if (std::filesystem::exists("data/cifar-100-binary")) GTEST_SKIP() << "cifar100 present";
  const std::string msg = load_error("cifar100", "data/");
  EXPECT_NE(msg.find("dataset 'cifar100' not found in data/cifar-100-binary (need train.bin); "
                     "fetch it with: scripts/fetch_data.sh --from ../shared/data cifar100  (or "
                     "scripts/fetch_data.sh cifar100)"),
            std::string::npos)
      << msg;
}

TEST(Dataset, LoadNamesTheFirstMissingFile) {
  TempDir root;
  write_mnist_fixture(root / "mnist", 20, 20, 5, true);
  std::filesystem::remove(root / "mnist" / "t10k-labels-idx1-ubyte.gz");
  const std::string msg = load_error("mnist", root.path());
  EXPECT_NE(msg.find("t10k-labels-idx1-ubyte[.gz]"), std::string::npos) << msg;
}

TEST(Dataset, MissingOfficialTestSetNamesTheFileAndTheHoldoutKeys) {
  TempDir root;
  write_mnist_fixture(root / "mnist", 20, 20, 5, true);
  std::filesystem::remove(root / "mnist" / "t10k-images-idx3-ubyte.gz");
  const std::string mnist = load_error("mnist", root.path());
  EXPECT_NE(mnist.find("the official test set " + (root / "mnist").string() +
                       "/t10k-images-idx3-ubyte[.gz] is missing"),
            std::string::npos)
      << mnist;
  EXPECT_NE(mnist.find("dataset.test_split=holdout"), std::string::npos) << mnist;

  const std::filesystem::path dir = root / "cifar-10-batches-bin";
  write_tiny_cifar10_batches(dir);
  write_bytes(dir / "test_batch_first1000.bin", cifar_bytes({3}, false));
  const std::string cifar = load_error("cifar10", root.path());
  EXPECT_NE(cifar.find("test_batch.bin is missing"), std::string::npos) << cifar;
  EXPECT_NE(cifar.find("dataset.test_split=holdout"), std::string::npos) << cifar;
  EXPECT_EQ(cifar.find('\n'), std::string::npos) << cifar;

  // With the holdout split the test files are not looked for: the next problem is the
  // fixture's training-set size.
  SplitOptions holdout;
  holdout.test_source = TestSource::kHoldout;
  const std::string msg = load_error("cifar10", root.path(), holdout);
  EXPECT_EQ(msg.find("test_batch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("50000"), std::string::npos) << msg;
}

TEST(Dataset, LoadUnknownDatasetThrows) {
  TempDir root;
  const std::string msg = load_error("svhn", root.path());
  EXPECT_NE(msg.find("svhn"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cifar100"), std::string::npos) << msg;
}

TEST(Dataset, LoadRejectsWrongCounts) {
  TempDir root;
  write_mnist_fixture(root / "mnist", 20, 20, 5, false);
  const std::string wrong_size = load_error("mnist", root.path());
  EXPECT_NE(wrong_size.find("60000"), std::string::npos) << wrong_size;

  TempDir root2;
  write_mnist_fixture(root2 / "mnist", 20, 19, 5, true);
  const std::string mismatch = load_error("mnist", root2.path());
  EXPECT_NE(mismatch.find("20 images but 19 labels"), std::string::npos) << mismatch;
}

TEST(Dataset, LoadRejectsWrongCifarCounts) {
  TempDir root;
  const std::filesystem::path dir = root / "cifar-10-batches-bin";
  write_tiny_cifar10_batches(dir);
  write_bytes(dir / "test_batch.bin", cifar_bytes({3}, false));
  const std::string msg = load_error("cifar10", root.path());
  EXPECT_NE(msg.find("10 samples"), std::string::npos) << msg;
  EXPECT_NE(msg.find("50000"), std::string::npos) << msg;
}

TEST(Dataset, LoadPropagatesCorruptFileErrors) {
  TempDir root;
  write_mnist_fixture(root / "mnist", 20, 20, 5, false);
  write_bytes(root / "mnist" / "train-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0});
  const std::string msg = load_error("mnist", root.path());
  EXPECT_NE(msg.find("train-labels-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

// The real datasets, when present: the whole path from files to normalised splits.
void check_real_dataset(const std::string& name, const std::filesystem::path& root) {
  const DatasetSplits s = load_dataset(name, root, SplitOptions{10000}, 3);
  EXPECT_EQ(s.train.size(), 50000);
  EXPECT_EQ(s.val.size(), 10000);
  EXPECT_EQ(s.test.size(), 10000);
  EXPECT_EQ(s.train.x.sizes(), (std::vector<int64_t>{50000, 1, 28, 28}));
  // The catalog's mean/std make the full training set roughly standard.
  const torch::Tensor all = torch::cat(
      {s.train.gather(torch::arange(s.train.size())), s.val.gather(torch::arange(s.val.size()))});
  EXPECT_NEAR(all.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(all.std().item<double>(), 1.0, 0.01);
  // Every class is present and balanced-ish.
  const torch::Tensor counts = torch::bincount(s.test.y, {}, 10);
  EXPECT_GT(counts.min().item<int64_t>(), 800);
}

TEST(Dataset, LoadsRealMnistWhenPresent) {
  const std::filesystem::path root = std::filesystem::path(PFEDHN_SOURCE_DIR) / "data";
  if (!std::filesystem::exists(root / "mnist")) GTEST_SKIP() << "no data/mnist";
  check_real_dataset("mnist", root);
}

TEST(Dataset, LoadsFashionMnistFromDebianPackageWhenInstalled) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  TempDir empty_root;  // nothing under root: the Debian folder is the fallback
  check_real_dataset("fashion_mnist", empty_root.path());
}

}  // namespace
}  // namespace pfedhn::data

#include "pfedhn/data/dataset.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

#include "pfedhn/data/readers.h"
#include "pfedhn/util/error.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::data {
namespace {

// Where the Debian package dataset-fashion-mnist installs the (gzipped) IDX files.
constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

std::string shape_to_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::string supported_names() {
  std::string s;
  for (const DatasetInfo& info : all_datasets()) s += (s.empty() ? "" : ", ") + info.name;
  return s;
}

void check_images(const torch::Tensor& images, const DatasetInfo& info, const std::string& what) {
  if (!images.defined() || images.scalar_type() != torch::kUInt8 || images.dim() != 4 ||
      images.size(1) != info.channels || images.size(2) != info.height ||
      images.size(3) != info.width) {
    throw DataError(info.name + " " + what + ": expected uint8 images of shape [N, " +
                    std::to_string(info.channels) + ", " + std::to_string(info.height) + ", " +
                    std::to_string(info.width) + "], got " +
                    (images.defined() ? shape_to_string(images) : std::string("nothing")));
  }
}

torch::Tensor checked_labels(const torch::Tensor& labels, int64_t count, const DatasetInfo& info,
                             const std::string& what) {
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != count ||
      !at::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
    throw DataError(info.name + " " + what + ": expected " + std::to_string(count) +
                    " integer labels (one per image), got " +
                    (labels.defined() ? shape_to_string(labels) : std::string("nothing")));
  }
  torch::Tensor y = labels.to(torch::kInt64).contiguous();
  if (count > 0) {
    const int64_t lo = y.min().item<int64_t>();
    const int64_t hi = y.max().item<int64_t>();
    if (lo < 0 || hi >= info.num_classes) {
      throw DataError(info.name + " " + what + ": label " + std::to_string(lo < 0 ? lo : hi) +
                      " out of range (dataset has " + std::to_string(info.num_classes) +
                      " classes)");
    }
  }
  return y;
}

torch::Tensor to_index_tensor(const std::vector<int64_t>& indices) {
  return torch::tensor(indices, torch::kInt64);
}

struct SplitIndices {
  std::vector<int64_t> train, val, test;
};

// Validation = the first val_size entries of a seeded permutation of the official training set,
// a holdout test split the next test_size ones, training the rest; each part sorted.
SplitIndices split_training_set(int64_t n, int64_t val_size, int64_t holdout_test_size,
                                uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  Rng rng(derive_seed(seed, {stream::kValSplit}));
  rng.shuffle(perm);

  enum Part : uint8_t { kTrain, kVal, kTest };
  std::vector<uint8_t> part(static_cast<size_t>(n), kTrain);
  for (int64_t i = 0; i < val_size + holdout_test_size; ++i)
    part[static_cast<size_t>(perm[i])] = i < val_size ? kVal : kTest;
  SplitIndices out;
  out.train.reserve(static_cast<size_t>(n - val_size - holdout_test_size));
  out.val.reserve(static_cast<size_t>(val_size));
  out.test.reserve(static_cast<size_t>(holdout_test_size));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t p = part[static_cast<size_t>(i)];
    (p == kVal ? out.val : p == kTest ? out.test : out.train).push_back(i);
  }
  return out;
}

void set_scale_shift(Split& split, const DatasetInfo& info) {
  std::vector<float> scale, shift;
  for (size_t c = 0; c < info.mean.size(); ++c) {
    scale.push_back(static_cast<float>(1.0 / (255.0 * info.std[c])));
    shift.push_back(static_cast<float>(-info.mean[c] / info.std[c]));
  }
  split.scale = torch::tensor(scale, torch::kFloat32);
  split.shift = torch::tensor(shift, torch::kFloat32);
}

Split make_split(const torch::Tensor& images_u8, const torch::Tensor& labels,
                 const DatasetInfo& info) {
  Split split;
  split.x = images_u8.contiguous();
  split.y = labels;
  set_scale_shift(split, info);
  return split;
}

// pixel * scale[c] + shift[c], written straight into a channels-last float batch.
torch::Tensor gather_normalise_cpu(const torch::Tensor& images_u8, const torch::Tensor& idx,
                                   const torch::Tensor& scale, const torch::Tensor& shift) {
  const int64_t b = idx.numel(), c = images_u8.size(1), h = images_u8.size(2),
                w = images_u8.size(3), hw = h * w;
  auto out = torch::empty(
      {b, c, h, w},
      torch::TensorOptions().dtype(torch::kFloat32).memory_format(at::MemoryFormat::ChannelsLast));
  const torch::Tensor index = idx.to(torch::kInt64).contiguous();
  const int64_t* ip = index.data_ptr<int64_t>();
  const uint8_t* src = images_u8.data_ptr<uint8_t>();
  const float* sc = scale.data_ptr<float>();
  const float* sh = shift.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const int64_t n = images_u8.size(0);
  for (int64_t i = 0; i < b; ++i) {
    TORCH_CHECK(ip[i] >= 0 && ip[i] < n, "Split::gather: index ", ip[i], " out of range [0, ", n,
                ")");
  }
  at::parallel_for(0, b, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t* image = src + ip[i] * c * hw;
      float* o = dst + i * c * hw;
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t p = 0; p < hw; ++p) o[p * c + ch] = image[ch * hw + p] * sc[ch] + sh[ch];
      }
    }
  });
  return out;
}

bool is_default_root(const std::filesystem::path& root) {
  std::filesystem::path p = root.lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "data/" -> "data"
  return p == std::filesystem::path("data");
}

// The script's default root is "data", so --root is only spelled out for other roots.
std::string fetch_hint(const std::string& name, const std::filesystem::path& root) {
  const std::string root_arg = is_default_root(root) ? "" : " --root " + root.string();
  return "fetch it with: scripts/fetch_data.sh --from ../shared/data" + root_arg + " " + name +
         "  (or scripts/fetch_data.sh" + root_arg + " " + name + ")";
}

[[noreturn]] void throw_missing(const DatasetInfo& info, const std::filesystem::path& root,
                                const std::filesystem::path& dir, const std::string& need) {
  throw DataError("dataset '" + info.name + "' not found in " + dir.string() + " (need " + need +
                  "); " + fetch_hint(info.name, root));
}

// Finds `base` or `base.gz` in dir.
std::optional<std::filesystem::path> find_idx_file(const std::filesystem::path& dir,
                                                   const std::string& base) {
  std::error_code ec;
  for (const std::string& name : {base, base + ".gz"}) {
    const std::filesystem::path p = dir / name;
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return std::nullopt;
}

struct RawDataset {
  torch::Tensor train_images, train_labels, test_images, test_labels;
  std::filesystem::path dir;  // where the files were found
};

// The official test file is missing but the training files are there: say which keys run
// without it, not only how to fetch it (the offline CIFAR-10 copy has no test_batch.bin).
[[noreturn]] void throw_missing_test(const DatasetInfo& info, const std::filesystem::path& root,
                                     const std::filesystem::path& test_file) {
  throw DataError("dataset '" + info.name + "': the official test set " + test_file.string() +
                  " is missing; draw the test split from the training set instead with "
                  "dataset.test_split=holdout (and dataset.test_size, dataset.val_size), or " +
                  fetch_hint(info.name, root));
}

RawDataset read_idx_dataset(const DatasetInfo& info, const std::filesystem::path& root,
                            bool with_test) {
  static constexpr const char* kNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  constexpr size_t kFirstTestFile = 2;
  const size_t needed = with_test ? 4 : kFirstTestFile;
  const std::filesystem::path primary = root / info.subdir;
  std::vector<std::filesystem::path> dirs = {primary};
  if (info.name == "fashion_mnist") dirs.emplace_back(kDebianFashionMnistDir);

  // Use the first folder that holds all the files needed; report the primary folder otherwise.
  std::string first_missing;
  size_t first_missing_at = 0;
  for (const std::filesystem::path& dir : dirs) {
    std::vector<std::filesystem::path> files;
    for (size_t f = 0; f < needed; ++f) {
      const char* base = kNames[f];
      if (auto p = find_idx_file(dir, base)) {
        files.push_back(*p);
      } else {
        if (first_missing.empty()) {
          first_missing = std::string(base) + "[.gz]";
          first_missing_at = f;
        }
        break;
      }
    }
    if (files.size() != needed) continue;
    // IDX images are [N, H, W]; add the channel axis.
    auto as_nchw = [](torch::Tensor t) { return t.dim() == 3 ? t.unsqueeze(1) : t; };
    RawDataset raw{as_nchw(read_idx(files[0])), read_idx(files[1]), {}, {}, dir};
    if (with_test) {
      raw.test_images = as_nchw(read_idx(files[2]));
      raw.test_labels = read_idx(files[3]);
    }
    return raw;
  }
  if (first_missing_at >= kFirstTestFile) throw_missing_test(info, root, primary / first_missing);
  throw_missing(info, root, primary, first_missing);
}

LabeledImages read_cifar_files(const std::vector<std::filesystem::path>& files, bool cifar100) {
  std::vector<torch::Tensor> images, labels;
  for (const auto& f : files) {
    LabeledImages part = read_cifar(f, cifar100);
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  if (images.size() == 1) return {images[0], labels[0]};
  return {torch::cat(images), torch::cat(labels)};
}

RawDataset read_cifar_dataset(const DatasetInfo& info, const std::filesystem::path& root,
                              bool with_test) {
  const bool cifar100 = info.format == FileFormat::kCifar100;
  const std::filesystem::path dir = root / info.subdir;
  std::vector<std::filesystem::path> train_files;
  std::filesystem::path test_file;
  if (cifar100) {
    train_files = {dir / "train.bin"};
    test_file = dir / "test.bin";
  } else {
    for (int i = 1; i <= 5; ++i)
      train_files.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
    test_file = dir / "test_batch.bin";
  }
  std::error_code ec;
  for (const auto& f : train_files) {
    if (!std::filesystem::is_regular_file(f, ec))
      throw_missing(info, root, dir, f.filename().string());
  }
  if (with_test && !std::filesystem::is_regular_file(test_file, ec)) {
    throw_missing_test(info, root, test_file);
  }
  LabeledImages train = read_cifar_files(train_files, cifar100);
  RawDataset raw{train.images, train.labels, {}, {}, dir};
  if (with_test) {
    LabeledImages test = read_cifar_files({test_file}, cifar100);
    raw.test_images = test.images;
    raw.test_labels = test.labels;
  }
  return raw;
}

void check_official_size(const DatasetInfo& info, const torch::Tensor& images,
                         const torch::Tensor& labels, int64_t expected, const std::string& what,
                         const std::filesystem::path& dir) {
  const int64_t n_images = images.dim() > 0 ? images.size(0) : 0;
  const int64_t n_labels = labels.dim() > 0 ? labels.size(0) : 0;
  if (n_images != n_labels) {
    throw DataError(info.name + " in " + dir.string() + ": " + what + " has " +
                    std::to_string(n_images) + " images but " + std::to_string(n_labels) +
                    " labels");
  }
  if (n_images != expected) {
    throw DataError(info.name + " in " + dir.string() + ": " + what + " has " +
                    std::to_string(n_images) + " samples, expected the official " +
                    std::to_string(expected) + " (incomplete or wrong files?)");
  }
}

}  // namespace

torch::Tensor normalise_images(const torch::Tensor& images_u8, const DatasetInfo& info) {
  check_images(images_u8, info, "images");
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor mean =
      torch::tensor(std::vector<double>(info.mean), opts).view({1, info.channels, 1, 1});
  const torch::Tensor std =
      torch::tensor(std::vector<double>(info.std), opts).view({1, info.channels, 1, 1});
  torch::Tensor x = images_u8.to(torch::kFloat32).div_(255.0f);
  x.sub_(mean).div_(std);
  return x.contiguous();
}

DatasetSplits make_splits(const DatasetInfo& info, const torch::Tensor& train_images_u8,
                          const torch::Tensor& train_labels, const torch::Tensor& test_images_u8,
                          const torch::Tensor& test_labels, const SplitOptions& options,
                          uint64_t seed) {
  const bool holdout = options.test_source == TestSource::kHoldout;
  check_images(train_images_u8, info, "training images");
  const int64_t n = train_images_u8.size(0);
  const torch::Tensor y_train = checked_labels(train_labels, n, info, "training labels");
  const int64_t val_size = options.val_size;
  if (val_size < 0 || val_size >= n) {
    throw DataError(info.name + ": validation size " + std::to_string(val_size) +
                    " must be in [0, " + std::to_string(n) + ") (the training set has " +
                    std::to_string(n) + " samples)");
  }
  const int64_t holdout_size = holdout ? options.test_size : 0;
  if (holdout && (holdout_size < 1 || val_size + holdout_size >= n)) {
    throw DataError(info.name + ": validation size " + std::to_string(val_size) +
                    " + held-out test size " + std::to_string(holdout_size) +
                    " must leave training samples (the training set has " + std::to_string(n) +
                    "; test size at least 1)");
  }

  SplitIndices idx = split_training_set(n, val_size, holdout_size, seed);
  const auto subset = [&](const std::vector<int64_t>& positions) {
    const torch::Tensor sel = to_index_tensor(positions);
    return make_split(train_images_u8.index_select(0, sel), y_train.index_select(0, sel), info);
  };

  DatasetSplits splits;
  splits.info = &info;
  splits.test_source = options.test_source;
  splits.train = subset(idx.train);
  splits.val = subset(idx.val);
  if (holdout) {
    splits.test = subset(idx.test);
  } else {
    check_images(test_images_u8, info, "test images");
    const torch::Tensor y_test =
        checked_labels(test_labels, test_images_u8.size(0), info, "test labels");
    splits.test = make_split(test_images_u8, y_test, info);
    idx.test.resize(static_cast<size_t>(test_images_u8.size(0)));
    std::iota(idx.test.begin(), idx.test.end(), int64_t{0});
  }
  splits.train_indices = std::move(idx.train);
  splits.val_indices = std::move(idx.val);
  splits.test_indices = std::move(idx.test);
  return splits;
}

DatasetSplits load_dataset(const std::string& name, const std::filesystem::path& root,
                           const SplitOptions& options, uint64_t seed) {
  const DatasetInfo* info = find_dataset(name);
  if (info == nullptr) {
    throw DataError("unknown dataset '" + name + "' (supported: " + supported_names() + ")");
  }
  const bool with_test = options.test_source == TestSource::kOfficial;
  const RawDataset raw = info->format == FileFormat::kIdx
                             ? read_idx_dataset(*info, root, with_test)
                             : read_cifar_dataset(*info, root, with_test);
  check_official_size(*info, raw.train_images, raw.train_labels, info->train_size, "training set",
                      raw.dir);
  if (with_test) {
    check_official_size(*info, raw.test_images, raw.test_labels, info->test_size, "test set",
                        raw.dir);
  }
  return make_splits(*info, raw.train_images, raw.train_labels, raw.test_images, raw.test_labels,
                     options, seed);
}

void set_normalisation(DatasetSplits& splits, const std::vector<double>& means,
                       const std::vector<double>& stds) {
  TORCH_CHECK(splits.info != nullptr && means.size() == stds.size() &&
                  static_cast<int64_t>(means.size()) == splits.info->channels,
              "set_normalisation: one mean and std per channel");
  auto info = std::make_shared<DatasetInfo>(*splits.info);
  info->mean = means;
  info->std = stds;
  for (auto* s : {&splits.train, &splits.val, &splits.test}) {
    if (s->x.defined()) set_scale_shift(*s, *info);
  }
  splits.info = info.get();
  splits.owned_info = std::move(info);
}

DatasetSplits to_device(DatasetSplits splits, const torch::Device& device) {
  if (device.is_cpu()) return splits;
  for (auto* s : {&splits.train, &splits.val, &splits.test}) {
    s->x = s->x.to(device);
    s->y = s->y.to(device);
    if (s->scale.defined()) s->scale = s->scale.to(device);
    if (s->shift.defined()) s->shift = s->shift.to(device);
  }
  return splits;
}

torch::Tensor Split::gather(const torch::Tensor& idx) const {
  if (x.scalar_type() != torch::kUInt8) {
    return x.index_select(0, idx).contiguous(at::MemoryFormat::ChannelsLast);
  }
  if (x.device().is_cpu()) return gather_normalise_cpu(x, idx, scale, shift);
  const auto view = [](const torch::Tensor& t) { return t.view({1, -1, 1, 1}); };
  return (x.index_select(0, idx).to(torch::kFloat32) * view(scale) + view(shift))
      .contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace pfedhn::data

// The datasets that are not built in: an image folder (dataset.data=folder) and a tensors file
// (dataset.data=tensors), described and loaded behind the same DatasetSource as the built-in
// ones.
#include <algorithm>
#include <cmath>

#include "pfedhn/data/dataset.h"
#include "pfedhn/data/image_folder.h"
#include "pfedhn/data/tensor_file.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void throw_no_test_set(const std::string& what) {
  throw DataError(what +
                  "; draw the test split from the training set instead with "
                  "dataset.test_split=holdout (and dataset.test_size, dataset.val_size)");
}

DatasetInfo custom_info(const std::string& name, FileFormat format, const std::string& source,
                        int64_t num_classes, const std::vector<int64_t>& chw, int64_t train_size,
                        int64_t test_size) {
  DatasetInfo info;
  info.name = name;
  info.format = format;
  info.num_classes = num_classes;
  info.channels = chw[0];
  info.height = chw[1];
  info.width = chw[2];
  info.train_size = train_size;
  info.test_size = test_size;
  info.source = source;
  return info;
}

struct CustomData {
  DatasetInfo info;
  torch::Tensor train_x, train_y, test_x, test_y;
};

DatasetInfo folder_info(const DatasetSource& source, const ImageFolderListing& listing,
                        const ImageShape& shape) {
  DatasetInfo info = custom_info(source.name, FileFormat::kFolder, source.root.string(),
                                 static_cast<int64_t>(listing.classes.size()),
                                 {shape.channels, shape.height, shape.width},
                                 static_cast<int64_t>(listing.train_files.size()),
                                 static_cast<int64_t>(listing.test_files.size()));
  info.class_names = listing.classes;
  return info;
}

DatasetInfo tensors_info(const DatasetSource& source, const TensorFile& file) {
  const auto& x = file.train_x;
  return custom_info(source.name, FileFormat::kTensors, source.file.string(), file.num_classes,
                     {x.size(1), x.size(2), x.size(3)}, x.size(0),
                     file.has_test() ? file.test_x.size(0) : 0);
}

void require_test_set(const DatasetSource& source, bool has_test) {
  if (has_test) return;
  if (source.name == "folder") {
    throw_no_test_set("image folder '" + source.root.string() + "' has no test/ folder");
  }
  throw_no_test_set("dataset.file '" + source.file.string() + "' has no test_x and test_y");
}

CustomData read_folder(const DatasetSource& source, bool with_test, const LoadProgress& progress) {
  const ImageFolderListing listing = list_image_folder(source.root);
  if (with_test) require_test_set(source, listing.has_test);
  const ImageShape shape = read_image_shape(listing.train_files.front());
  const auto n_train = static_cast<int64_t>(listing.train_files.size());
  const int64_t n_test = with_test ? static_cast<int64_t>(listing.test_files.size()) : 0;
  const auto labels = [](const std::vector<int64_t>& l) { return torch::tensor(l, torch::kInt64); };
  CustomData d{folder_info(source, listing, shape), {}, {}, {}, {}};
  const auto report = [&](int64_t offset) -> LoadProgress {
    if (!progress) return {};
    return [&progress, offset, total = n_train + n_test](int64_t done, int64_t) {
      progress(offset + done, total);
    };
  };
  d.train_x = read_images(listing.train_files, shape, report(0));
  d.train_y = labels(listing.train_labels);
  if (with_test) {
    d.test_x = read_images(listing.test_files, shape, report(n_train));
    d.test_y = labels(listing.test_labels);
  }
  return d;
}

CustomData read_tensors(const DatasetSource& source, bool with_test) {
  TensorFile file = read_tensor_file(source.file);
  if (with_test) require_test_set(source, file.has_test());
  return {tensors_info(source, file), file.train_x, file.train_y, file.test_x, file.test_y};
}

// The splits of user data: normalised with the given mean and std, else with the training
// split's own (known only once validation and a held-out test split are drawn).
DatasetSplits split_custom(CustomData d, const DatasetSource& source, const SplitOptions& options,
                           uint64_t seed) {
  const auto channels = static_cast<size_t>(d.info.channels);
  d.info.mean.assign(channels, 0.0);  // placeholders until the training split is known
  d.info.std.assign(channels, 1.0);
  auto info = std::make_shared<const DatasetInfo>(std::move(d.info));
  DatasetSplits splits =
      make_splits(*info, d.train_x, d.train_y, d.test_x, d.test_y, options, seed);
  splits.info = info.get();
  splits.owned_info = info;
  std::vector<double> means = source.mean, stds = source.std;
  if (means.empty()) channel_mean_std(splits.train.x, means, stds);
  for (size_t c = 0; c < stds.size(); ++c) {
    if (stds[c] > 0.0) continue;
    throw DataError("dataset '" + info->name + "' (" + info->source + "): channel " +
                    std::to_string(c) +
                    " of the training images is constant (std 0); give dataset.mean and "
                    "dataset.std");
  }
  set_normalisation(splits, means, stds);
  return splits;
}

}  // namespace

DatasetInfo describe_dataset(const DatasetSource& source, bool with_test) {
  if (const DatasetInfo* builtin = find_dataset(source.name)) {
    DatasetInfo info = *builtin;
    if (!source.mean.empty()) {
      info.mean = source.mean;
      info.std = source.std;
    }
    return info;
  }
  if (source.name == "folder") {
    const ImageFolderListing listing = list_image_folder(source.root);
    if (with_test) require_test_set(source, listing.has_test);
    std::vector<fs::path> all = listing.train_files;
    all.insert(all.end(), listing.test_files.begin(), listing.test_files.end());
    DatasetInfo info = folder_info(source, listing, common_image_shape(all));
    info.mean = source.mean;
    info.std = source.std;
    return info;
  }
  if (source.name == "tensors") {
    const TensorFile file = read_tensor_file(source.file);
    if (with_test) require_test_set(source, file.has_test());
    DatasetInfo info = tensors_info(source, file);
    info.mean = source.mean;
    info.std = source.std;
    return info;
  }
  throw DataError("unknown dataset '" + source.name + "'");
}

DatasetSplits load_dataset(const DatasetSource& source, const SplitOptions& options, uint64_t seed,
                           const LoadProgress& progress) {
  const bool with_test = options.test_source == TestSource::kOfficial;
  if (find_dataset(source.name) != nullptr) {
    DatasetSplits splits = load_dataset(source.name, source.root, options, seed);
    if (!source.mean.empty()) set_normalisation(splits, source.mean, source.std);
    return splits;
  }
  if (source.name == "folder") {
    return split_custom(read_folder(source, with_test, progress), source, options, seed);
  }
  if (source.name == "tensors") {
    return split_custom(read_tensors(source, with_test), source, options, seed);
  }
  throw DataError("unknown dataset '" + source.name + "'");
}

void channel_mean_std(const torch::Tensor& images_u8, std::vector<double>& means,
                      std::vector<double>& stds) {
  TORCH_CHECK(images_u8.scalar_type() == torch::kUInt8 && images_u8.dim() == 4,
              "channel_mean_std: uint8 [N, C, H, W] images");
  const torch::Tensor x = images_u8.contiguous();
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  std::vector<uint64_t> sum(static_cast<size_t>(c), 0), sum_sq(static_cast<size_t>(c), 0);
  const uint8_t* p = x.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch, p += hw) {
      uint64_t s = 0, s2 = 0;
      for (int64_t k = 0; k < hw; ++k) {
        s += p[k];
        s2 += uint64_t{p[k]} * p[k];
      }
      sum[static_cast<size_t>(ch)] += s;
      sum_sq[static_cast<size_t>(ch)] += s2;
    }
  }
  const double count = static_cast<double>(n * hw);
  means.assign(static_cast<size_t>(c), 0.0);
  stds.assign(static_cast<size_t>(c), 0.0);
  for (size_t ch = 0; ch < static_cast<size_t>(c); ++ch) {
    const double m = static_cast<double>(sum[ch]) / count / 255.0;
    const double m2 = static_cast<double>(sum_sq[ch]) / count / (255.0 * 255.0);
    means[ch] = m;
    stds[ch] = std::sqrt(std::max(0.0, m2 - m * m));
  }
}

}  // namespace pfedhn::data

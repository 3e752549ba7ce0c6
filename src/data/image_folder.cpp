#include "pfedhn/data/image_folder.h"

#include <stb_image.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>

#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace fs = std::filesystem;
namespace {

// Images are read one file at a time; a larger file is not an image pfedhn should hold.
constexpr uint64_t kMaxImageBytes = uint64_t{1} << 30;
constexpr int64_t kProgressEvery = 256;

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

std::string failure_reason() {
  const char* reason = stbi_failure_reason();
  return reason != nullptr ? reason : "unknown error";
}

[[noreturn]] void throw_not_an_image(const std::string& what) {
  throw DataError(what + " is not an image pfedhn can read (PNG, JPEG, BMP, GIF, TGA or PNM): " +
                  failure_reason());
}

// stb's channel count with alpha dropped: grey+alpha -> grey, RGBA -> RGB.
int channels_without_alpha(int comp) {
  return comp == 2 ? 1 : comp == 4 ? 3 : comp;
}

// The class folders of `dir`, sorted; throws on a file beside them.
std::vector<std::string> class_folders(const fs::path& dir) {
  std::vector<std::string> classes;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (is_hidden(entry.path())) continue;
    if (!entry.is_directory(ec)) {
      throw DataError(entry.path().string() + ": " + dir.string() +
                      " must hold only class folders (one folder of images per class)");
    }
    classes.push_back(entry.path().filename().string());
  }
  if (ec) throw DataError(dir.string() + ": cannot list the folder (" + ec.message() + ")");
  std::sort(classes.begin(), classes.end());
  return classes;
}

// The files under a class folder, in the order of Python's sorted(os.walk(dir)) with sorted
// file names: by the path of their folder, then by name.
std::vector<fs::path> class_images(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;  // (folder, file name)
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (is_hidden(p)) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) continue;
    if (!it->is_regular_file(ec)) throw DataError(p.string() + ": not a regular file");
    found.emplace_back(p.parent_path().string(), p.filename().string());
  }
  if (ec) throw DataError(dir.string() + ": cannot list the folder (" + ec.message() + ")");
  if (found.empty()) {
    throw DataError(dir.string() + " holds no image: every class folder needs at least one");
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> files;
  files.reserve(found.size());
  for (const auto& [folder, name] : found) files.push_back(fs::path(folder) / name);
  return files;
}

void list_split(const fs::path& dir, const std::vector<std::string>& classes,
                std::vector<fs::path>& files, std::vector<int64_t>& labels) {
  for (const std::string& name : class_folders(dir)) {
    const auto pos = std::find(classes.begin(), classes.end(), name);
    if (pos == classes.end()) {
      throw DataError((dir / name).string() + ": class '" + name +
                      "' is not one of the training classes (the folders of " +
                      (dir.parent_path() / "train").string() + ")");
    }
    const auto label = static_cast<int64_t>(pos - classes.begin());
    for (auto& f : class_images(dir / name)) {
      files.push_back(std::move(f));
      labels.push_back(label);
    }
  }
}

std::vector<uint8_t> read_bytes(const fs::path& file) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) throw DataError(file.string() + ": cannot read (" + ec.message() + ")");
  if (size > kMaxImageBytes) throw DataError(file.string() + ": too large for an image");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  std::ifstream in(file, std::ios::binary);
  if (!in || (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()),
                                   static_cast<std::streamsize>(size)))) {
    throw DataError(file.string() + ": cannot read");
  }
  return bytes;
}

}  // namespace

std::string ImageShape::to_string() const {
  const char* kind = channels == 1 ? " (grey)" : channels == 3 ? " (RGB)" : "";
  return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width) +
         kind;
}

ImageFolderListing list_image_folder(const fs::path& root) {
  std::error_code ec;
  const fs::path train = root / "train", test = root / "test";
  if (!fs::is_directory(train, ec)) {
    throw DataError("image folder '" + root.string() + "' has no train/ folder (expected " +
                    train.string() + "/<class>/<image>, torchvision's ImageFolder layout)");
  }
  ImageFolderListing out;
  out.classes = class_folders(train);
  if (out.classes.empty()) {
    throw DataError(train.string() + " holds no class folder (expected " + train.string() +
                    "/<class>/<image>)");
  }
  list_split(train, out.classes, out.train_files, out.train_labels);
  out.has_test = fs::is_directory(test, ec);
  if (out.has_test) list_split(test, out.classes, out.test_files, out.test_labels);
  if (out.has_test && out.test_files.empty()) {
    throw DataError(test.string() +
                    " holds no class folder (remove it to draw the test split "
                    "from the training images with dataset.test_split=holdout)");
  }
  return out;
}

ImageShape read_image_shape(const fs::path& file) {
  int w = 0, h = 0, comp = 0;
  if (stbi_info(file.c_str(), &w, &h, &comp) == 0) throw_not_an_image(file.string());
  return {channels_without_alpha(comp), h, w};
}

torch::Tensor decode_image(const std::vector<uint8_t>& bytes, const std::string& what) {
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const auto len = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  int w = 0, h = 0, comp = 0;
  if (bytes.empty() || stbi_info_from_memory(data, len, &w, &h, &comp) == 0) {
    throw_not_an_image(what);
  }
  const int channels = channels_without_alpha(comp);
  stbi_uc* pixels = stbi_load_from_memory(data, len, &w, &h, &comp, channels);
  if (pixels == nullptr) throw_not_an_image(what);
  // stb gives rows of interleaved channels, [H, W, C]; the networks take [C, H, W].
  torch::Tensor hwc = torch::empty({h, w, channels}, torch::kUInt8);
  std::memcpy(hwc.data_ptr<uint8_t>(), pixels, static_cast<size_t>(h) * w * channels);
  stbi_image_free(pixels);
  return hwc.permute({2, 0, 1}).contiguous();
}

ImageShape common_image_shape(const std::vector<fs::path>& files) {
  if (files.empty()) return {};
  const ImageShape first = read_image_shape(files.front());
  for (size_t i = 1; i < files.size(); ++i) {
    const ImageShape shape = read_image_shape(files[i]);
    if (shape == first) continue;
    throw DataError(files[i].string() + " is " + shape.to_string() + " but " +
                    files.front().string() + " is " + first.to_string() +
                    ": every image of a dataset must have one size and channel count (resize "
                    "them first)");
  }
  return first;
}

torch::Tensor read_images(const std::vector<fs::path>& files, const ImageShape& shape,
                          const LoadProgress& progress) {
  const auto n = static_cast<int64_t>(files.size());
  torch::Tensor images =
      torch::empty({n, shape.channels, shape.height, shape.width}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const fs::path& file = files[static_cast<size_t>(i)];
    const torch::Tensor image = decode_image(read_bytes(file), file.string());
    const ImageShape got{image.size(0), image.size(1), image.size(2)};
    if (!(got == shape)) {
      throw DataError(file.string() + " is " + got.to_string() + " but the dataset's images are " +
                      shape.to_string() + ": every image must have one size and channel count");
    }
    images[i].copy_(image);
    if (progress && ((i + 1) % kProgressEvery == 0 || i + 1 == n)) progress(i + 1, n);
  }
  return images;
}

}  // namespace pfedhn::data

#include "pfedhn/data/tensor_file.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "pfedhn/util/dtype.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kKeys[] = {"train_x", "train_y", "test_x", "test_y"};
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 37;

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::vector<char> read_whole_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw DataError("dataset.file '" + file.string() + "': no such file");
  }
  const uint64_t size = fs::file_size(file, ec);
  if (ec || size > kMaxFileBytes) {
    throw DataError("dataset.file '" + file.string() + "': cannot read its size, or too large");
  }
  std::vector<char> bytes(static_cast<size_t>(size));
  std::ifstream in(file, std::ios::binary);
  if (!in || (size > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(size)))) {
    throw DataError("dataset.file '" + file.string() + "': cannot read");
  }
  return bytes;
}

class Checker {
 public:
  explicit Checker(const fs::path& file) : file_(file.string()) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw DataError("dataset.file '" + file_ + "': " + problem);
  }

  c10::impl::GenericDict as_dict(const c10::IValue& value) const {
    if (!value.isGenericDict()) {
      fail(std::string("holds a ") + value.tagKind() +
           ", expected the dict {\"train_x\": ..., \"train_y\": ..., \"test_x\": ..., "
           "\"test_y\": ...} (docs/your-data-and-network.md)");
    }
    const auto dict = value.toGenericDict();
    for (const auto& item : dict) {
      const std::string key = item.key().isString() ? item.key().toStringRef() : "";
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        fail("unexpected key '" + (item.key().isString() ? key : item.key().tagKind()) +
             "' (the keys are train_x, train_y and optionally test_x, test_y)");
      }
      if (!item.value().isTensor()) {
        fail("key '" + key + "' holds a " + item.value().tagKind() + ", expected a tensor");
      }
    }
    return dict;
  }

  torch::Tensor images(const c10::impl::GenericDict& dict, const std::string& key) const {
    const torch::Tensor x = dict.at(key).toTensor();
    if (x.scalar_type() != torch::kUInt8 || x.dim() != 4 || x.size(0) == 0 || x.size(1) < 1 ||
        x.size(2) < 1 || x.size(3) < 1) {
      fail("key '" + key + "' is " + dtype_name(x.scalar_type()) + " " + shape_text(x) +
           ", expected uint8 images [N, C, H, W] with N > 0 (pixels 0..255)");
    }
    return x.contiguous();
  }

  torch::Tensor labels(const c10::impl::GenericDict& dict, const std::string& key,
                       int64_t count) const {
    const torch::Tensor y = dict.at(key).toTensor();
    if (y.scalar_type() != torch::kInt64 || y.dim() != 1 || y.size(0) != count) {
      fail("key '" + key + "' is " + dtype_name(y.scalar_type()) + " " + shape_text(y) +
           ", expected int64 [" + std::to_string(count) + "] (one label per image)");
    }
    const int64_t lo = y.min().item<int64_t>();
    if (lo < 0)
      fail("key '" + key + "' holds the label " + std::to_string(lo) +
           " (labels are 0 .. classes - 1)");
    return y.contiguous();
  }

  void check_same_image_shape(const torch::Tensor& train_x, const torch::Tensor& test_x) const {
    if (train_x.sizes().slice(1) == test_x.sizes().slice(1)) return;
    fail("test_x is " + shape_text(test_x) + " but train_x is " + shape_text(train_x) +
         ": both must hold images of one channel count and size");
  }

  // Every class 0 .. max needs a training sample; test labels must be training classes.
  int64_t check_classes(const torch::Tensor& train_y, const torch::Tensor& test_y) const {
    const int64_t classes = train_y.max().item<int64_t>() + 1;
    const torch::Tensor counts = torch::bincount(train_y, {}, classes);
    const torch::Tensor missing = counts.eq(0).nonzero();
    if (missing.numel() > 0) {
      fail("class " + std::to_string(missing[0][0].item<int64_t>()) +
           " has no training sample (train_y's labels must be 0 .. " + std::to_string(classes - 1) +
           ", each at least once)");
    }
    if (test_y.defined() && test_y.max().item<int64_t>() >= classes) {
      fail("test_y holds the label " + std::to_string(test_y.max().item<int64_t>()) +
           ", outside the " + std::to_string(classes) + " classes of train_y (0 .. " +
           std::to_string(classes - 1) + ")");
    }
    return classes;
  }

 private:
  std::string file_;
};

}  // namespace

TensorFile read_tensor_file(const fs::path& file) {
  const Checker check(file);
  c10::IValue value;
  try {
    value = torch::pickle_load(read_whole_file(file));
  } catch (const c10::Error& e) {
    check.fail("not a file torch.save wrote in its zip format (" +
               error_summary(e.what_without_backtrace()) + ")");
  }
  const auto dict = check.as_dict(value);
  for (const char* key : {"train_x", "train_y"}) {
    if (!dict.contains(key)) check.fail(std::string("has no key '") + key + "'");
  }
  if (dict.contains("test_x") != dict.contains("test_y")) {
    check.fail(std::string("has ") +
               (dict.contains("test_x") ? "test_x but no test_y" : "test_y but no test_x") +
               ": give both or neither");
  }
  TensorFile out;
  out.train_x = check.images(dict, "train_x");
  out.train_y = check.labels(dict, "train_y", out.train_x.size(0));
  if (dict.contains("test_x")) {
    out.test_x = check.images(dict, "test_x");
    check.check_same_image_shape(out.train_x, out.test_x);
    out.test_y = check.labels(dict, "test_y", out.test_x.size(0));
  }
  out.num_classes = check.check_classes(out.train_y, out.test_y);
  return out;
}

}  // namespace pfedhn::data

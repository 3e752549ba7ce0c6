#pragma once

// A dataset saved from PyTorch (docs/your-data-and-network.md):
//   torch.save({"train_x": x, "train_y": y, "test_x": xt, "test_y": yt}, PATH)
// with uint8 images [N, C, H, W] and int64 labels [N]; the test pair is optional. Read with
// LibTorch's own deserialiser (torch::pickle_load), so only torch.save's zip format (the default
// since PyTorch 1.6) is read.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>

namespace pfedhn::data {

struct TensorFile {
  torch::Tensor train_x, train_y;  // uint8 [N, C, H, W], int64 [N], contiguous
  torch::Tensor test_x, test_y;    // the same, or undefined when the file has no test set
  int64_t num_classes = 0;         // 1 + the largest training label
  bool has_test() const { return test_x.defined(); }
};

// Reads and checks the file. Throws DataError with one line naming the file (and the key): not a
// file torch.save wrote, not a dict of tensors, a key missing, unknown or of another dtype or
// shape, test_x without test_y, a negative label, a class with no training sample, a test label
// that is not a training class.
TensorFile read_tensor_file(const std::filesystem::path& file);

}  // namespace pfedhn::data

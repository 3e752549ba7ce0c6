#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pfedhn::data {

// Whole file contents; transparently gunzips when the file starts with the gzip magic (1f 8b),
// whatever its name. Throws DataError (file named) on a missing, unreadable or corrupt file.
// `max_bytes` bounds the decompressed size so a forged stream cannot exhaust memory.
std::vector<uint8_t> read_file_maybe_gz(const std::filesystem::path& path,
                                        uint64_t max_bytes = uint64_t{1} << 31);

// Inflates gzip data held in memory: one or more concatenated members, like `gzip -d`. Throws
// DataError naming `what` on a corrupt or truncated stream, garbage after it, or more than
// `max_bytes` of output (a forged stream cannot exhaust memory).
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& gz, uint64_t max_bytes,
                            const std::string& what);

// Parses an IDX file of unsigned bytes (type 0x08), any rank 1..4. Returns a uint8 tensor with
// the header's shape. Throws DataError on wrong magic, wrong type, truncated header or body,
// trailing bytes, or absurd dimensions.
torch::Tensor parse_idx(const std::vector<uint8_t>& bytes, const std::string& what);
torch::Tensor read_idx(const std::filesystem::path& path);

struct LabeledImages {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
};

// CIFAR binary records: CIFAR-10 = 1 label byte + 3072 pixels; CIFAR-100 = coarse byte,
// fine byte, 3072 pixels (the fine label is returned). Throws DataError on a size that is not a
// whole number of records, an empty file, or a label >= num_classes.
LabeledImages parse_cifar(const std::vector<uint8_t>& bytes, bool cifar100,
                          const std::string& what);
LabeledImages read_cifar(const std::filesystem::path& path, bool cifar100);

}  // namespace pfedhn::data

#pragma once

// An image folder in torchvision's ImageFolder layout: ROOT/train/<class>/<image> and, when
// there is one, ROOT/test/<class>/<image>. Images are decoded by stb_image (Debian's libstb):
// PNG, JPEG, BMP, GIF, TGA, PNM. docs/your-data-and-network.md describes the format.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pfedhn/data/dataset.h"

namespace pfedhn::data {

struct ImageFolderListing {
  std::vector<std::string> classes;  // the sorted names of the folders in ROOT/train
  std::vector<std::filesystem::path> train_files, test_files;
  std::vector<int64_t> train_labels, test_labels;  // index into `classes`, one per file
  bool has_test = false;                           // ROOT/test exists
};

// Lists ROOT/train (and ROOT/test when it exists) in torchvision's order: the classes are the
// sorted class-folder names, and each class's images are the files under its folder
// (sub-folders too) in the order of Python's sorted(os.walk(...)) with sorted file names.
// Names starting with '.' are skipped. Throws DataError with one line naming the path: no
// ROOT/train, a class folder without images, a file beside the class folders, a test class that
// ROOT/train lacks.
ImageFolderListing list_image_folder(const std::filesystem::path& root);

// What an image decodes to. Alpha is dropped (grey + alpha gives 1 channel, RGBA 3), so grey
// images have 1 channel and colour images 3.
struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  bool operator==(const ImageShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
  std::string to_string() const;  // "3x32x32 (RGB)"
};

// The shape from the image's header alone. Throws DataError naming the file when it is not an
// image stb_image reads.
ImageShape read_image_shape(const std::filesystem::path& file);

// Decodes an image held in memory to uint8 [C, H, W], alpha dropped. Throws DataError naming
// `what` when the bytes are not an image stb_image reads.
torch::Tensor decode_image(const std::vector<uint8_t>& bytes, const std::string& what);

// The shape every file must have: the first file's, checked against every other header. Throws
// DataError naming the first file that differs and both shapes.
ImageShape common_image_shape(const std::vector<std::filesystem::path>& files);

// Every file decoded into one uint8 [N, C, H, W] tensor; each must decode to `shape` (else
// DataError naming it). `progress` (may be empty) is told how many are done now and then.
torch::Tensor read_images(const std::vector<std::filesystem::path>& files, const ImageShape& shape,
                          const LoadProgress& progress);

}  // namespace pfedhn::data

#pragma once

// Helpers for the tests of user data: PNG and BMP files written with stb_image_write (Debian's
// libstb), a learnable image folder, and tensors files in torch.save's format.

#include <stb_image_write.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pfedhn::data::testing {

// uint8 [C, H, W] as the interleaved rows stb writes.
inline std::vector<uint8_t> interleaved(const torch::Tensor& chw) {
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  return {hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel()};
}

// Writes uint8 [C, H, W] (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) as a PNG, or a BMP.
inline void write_image(const std::filesystem::path& path, const torch::Tensor& chw,
                        bool bmp = false) {
  std::filesystem::create_directories(path.parent_path());
  const auto c = static_cast<int>(chw.size(0)), h = static_cast<int>(chw.size(1)),
             w = static_cast<int>(chw.size(2));
  const std::vector<uint8_t> pixels = interleaved(chw);
  const int ok = bmp ? stbi_write_bmp(path.c_str(), w, h, c, pixels.data())
                     : stbi_write_png(path.c_str(), w, h, c, pixels.data(), w * c);
  if (ok == 0) throw std::runtime_error("cannot write " + path.string());
}

// An image whose class is written in its pixels (a bright row band at a class-dependent height,
// on noise), so that a few rounds learn it.
inline torch::Tensor class_image(int64_t label, int64_t channels, int64_t side, int64_t salt) {
  torch::Tensor img = torch::empty({channels, side, side}, torch::kUInt8);
  auto* p = img.data_ptr<uint8_t>();
  for (int64_t i = 0; i < img.numel(); ++i) {
    p[i] = static_cast<uint8_t>((i * 37 + salt * 101 + (i >> 5) * 13) % 97);
  }
  const int64_t row = (2 + 3 * label) % side;
  img.narrow(1, row, 2).fill_(250);
  return img;
}

// ROOT/train/class_<c>/img_<k>.png (and ROOT/test/... when per_class_test > 0).
inline void write_image_folder(const std::filesystem::path& root, int64_t classes,
                               int64_t per_class_train, int64_t per_class_test,
                               int64_t channels = 3, int64_t side = 16) {
  for (const auto& [split, per_class] :
       {std::pair<std::string, int64_t>{"train", per_class_train}, {"test", per_class_test}}) {
    for (int64_t c = 0; c < classes && per_class > 0; ++c) {
      for (int64_t k = 0; k < per_class; ++k) {
        const auto name = "img_" + std::to_string(1000 + k) + ".png";
        write_image(root / split / ("class_" + std::to_string(c)) / name,
                    class_image(c, channels, side, k + (split == "test" ? 7919 : 0)));
      }
    }
  }
}

// Writes a dict of tensors in the format torch.save writes (torch::pickle_save's zip format).
inline void write_tensors_file(const std::filesystem::path& path,
                               const std::vector<std::pair<std::string, c10::IValue>>& items) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, value] : items) dict.insert(key, value);
  const std::vector<char> bytes = torch::pickle_save(dict);
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace pfedhn::data::testing

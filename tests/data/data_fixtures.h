#pragma once

// Helpers for the data-layer tests: a self-deleting temp folder and writers for tiny IDX,
// gzip and CIFAR fixture files.

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pfedhn::data::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pfedhn-data-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_gz(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(path.parent_path());
  gzFile f = gzopen(path.string().c_str(), "wb9");
  if (f == nullptr) throw std::runtime_error("gzopen failed for " + path.string());
  if (!bytes.empty() && gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) <= 0) {
    gzclose(f);
    throw std::runtime_error("gzwrite failed for " + path.string());
  }
  if (gzclose(f) != Z_OK) throw std::runtime_error("gzclose failed for " + path.string());
}

// An IDX file of unsigned bytes: magic 00 00 08 rank, big-endian dims, then `body`.
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims,
                                      const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  }
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Deterministic, non-trivial pixel values.
inline std::vector<uint8_t> pattern(size_t n, uint32_t salt = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>((i * 37 + salt * 11 + (i >> 7)) & 0xff);
  return v;
}

// CIFAR records: [coarse] label, 3072 pixels. The pixels of record r are pattern(3072, r).
inline std::vector<uint8_t> cifar_bytes(const std::vector<int>& labels, bool cifar100) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    if (cifar100) out.push_back(static_cast<uint8_t>(labels[r] / 5));  // coarse label
    out.push_back(static_cast<uint8_t>(labels[r]));
    const std::vector<uint8_t> px = pattern(3072, static_cast<uint32_t>(r));
    out.insert(out.end(), px.begin(), px.end());
  }
  return out;
}

}  // namespace pfedhn::data::testing

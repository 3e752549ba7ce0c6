#include "pfedhn/data/readers.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {

constexpr int64_t kCifarImageBytes = 3 * 32 * 32;
constexpr uint64_t kMaxIdxDim = uint64_t{1} << 31;
// Bounds the element count a header may describe, even an empty one (a zero dimension):
// torch cannot even describe a shape whose sizes multiply beyond int64.
constexpr uint64_t kMaxIdxElements = uint64_t{1} << 40;
// Deflate cannot expand data by more than about 1032:1, which bounds an honest output size.
constexpr uint64_t kMaxDeflateRatio = 1032;

[[noreturn]] void fail(const std::string& what, const std::string& problem) {
  throw DataError(what + ": " + problem);
}

bool has_gzip_magic(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> read_raw_file(const std::filesystem::path& path, uint64_t max_bytes) {
  const std::string what = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(what, "file not found");
  if (!std::filesystem::is_regular_file(path, ec)) fail(what, "not a regular file");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(what, "cannot determine file size (" + ec.message() + ")");
  if (size > max_bytes) {
    fail(what, "file is " + std::to_string(size) + " bytes, more than the limit of " +
                   std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(what, "cannot open file for reading");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 &&
      !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    fail(what, "read error");
  }
  return bytes;
}

// The last four bytes of a gzip member hold the uncompressed size mod 2^32 (RFC 1952); used
// only as a capacity hint, never trusted.
uint64_t gzip_size_hint(const std::vector<uint8_t>& gz, uint64_t max_bytes) {
  if (gz.size() < 18) return 0;
  const uint8_t* t = gz.data() + gz.size() - 4;
  const uint64_t isize =
      uint64_t{t[0]} | uint64_t{t[1]} << 8 | uint64_t{t[2]} << 16 | uint64_t{t[3]} << 24;
  const uint64_t plausible = static_cast<uint64_t>(gz.size()) * kMaxDeflateRatio;
  return std::min({isize, max_bytes, plausible});
}

uint32_t read_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

std::string dims_to_string(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

}  // namespace

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& gz, uint64_t max_bytes,
                            const std::string& what) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(what, "cannot initialise zlib");
  struct InflateGuard {
    z_stream* zs;
    ~InflateGuard() { inflateEnd(zs); }
  } guard{&zs};

  constexpr uint64_t kMaxChunk = std::numeric_limits<uInt>::max();
  constexpr uint64_t kGrowStep = uint64_t{1} << 22;
  std::vector<uint8_t> out(
      static_cast<size_t>(std::max<uint64_t>(gzip_size_hint(gz, max_bytes), 1)));
  uint64_t produced = 0;
  uint64_t consumed = 0;
  const uint64_t total_in = gz.size();

  while (true) {
    if (produced == out.size()) {
      if (produced > max_bytes) break;  // reported below
      // One byte beyond the limit is enough to detect an oversized stream.
      const uint64_t limit =
          max_bytes == std::numeric_limits<uint64_t>::max() ? max_bytes : max_bytes + 1;
      out.resize(
          static_cast<size_t>(std::min(limit, produced + std::max(kGrowStep, produced / 2))));
    }
    const uint64_t in_left = total_in - consumed;
    const uint64_t out_left = out.size() - produced;
    zs.next_in = const_cast<Bytef*>(gz.data() + consumed);
    zs.avail_in = static_cast<uInt>(std::min(in_left, kMaxChunk));
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min(out_left, kMaxChunk));
    const uInt avail_in_before = zs.avail_in;
    const uInt avail_out_before = zs.avail_out;

    const int rc = inflate(&zs, Z_NO_FLUSH);
    consumed += avail_in_before - zs.avail_in;
    produced += avail_out_before - zs.avail_out;

    if (rc == Z_STREAM_END) {
      if (consumed == total_in) break;
      // Another member may follow; anything else after the stream is corruption.
      const bool next_is_member =
          total_in - consumed >= 2 && gz[consumed] == 0x1f && gz[consumed + 1] == 0x8b;
      if (!next_is_member) {
        fail(what, "corrupt gzip file (" + std::to_string(total_in - consumed) +
                       " bytes of garbage after the compressed stream)");
      }
      if (inflateReset(&zs) != Z_OK) fail(what, "cannot reset zlib");
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
      fail(what, std::string("corrupt gzip file (") + (zs.msg ? zs.msg : "invalid data") + ")");
    }
    if (rc == Z_MEM_ERROR) fail(what, "out of memory while decompressing");
    if (produced > max_bytes) break;
    const bool no_progress = avail_in_before == zs.avail_in && avail_out_before == zs.avail_out;
    if (consumed == total_in && (rc == Z_BUF_ERROR || no_progress) && produced < out.size()) {
      fail(what, "truncated gzip file (compressed stream ends early)");
    }
  }
  if (produced > max_bytes) {
    fail(what, "decompressed data exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  }
  out.resize(static_cast<size_t>(produced));
  out.shrink_to_fit();
  return out;
}

std::vector<uint8_t> read_file_maybe_gz(const std::filesystem::path& path, uint64_t max_bytes) {
  std::vector<uint8_t> bytes = read_raw_file(path, max_bytes);
  if (!has_gzip_magic(bytes)) return bytes;
  return gunzip(bytes, max_bytes, path.string());
}

// IDX layout: 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dimensions, then the
// elements in row-major order.
torch::Tensor parse_idx(const std::vector<uint8_t>& bytes, const std::string& what) {
  if (bytes.size() < 4)
    fail(what, "truncated IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0) fail(what, "not an IDX file (wrong magic number)");
  if (bytes[2] != 0x08) {
    fail(what, "unsupported IDX element type " + std::to_string(bytes[2]) +
                   " (only 8 = unsigned byte is supported)");
  }
  const size_t rank = bytes[3];
  if (rank < 1 || rank > 4) fail(what, "unsupported IDX rank " + std::to_string(rank) + " (1..4)");
  const size_t header = 4 + 4 * rank;
  if (bytes.size() < header) fail(what, "truncated IDX header (dimensions missing)");

  const uint64_t body = bytes.size() - header;
  std::vector<int64_t> dims(rank);
  bool has_zero_dim = false;
  for (size_t i = 0; i < rank; ++i) {
    const uint64_t d = read_be32(bytes.data() + 4 + 4 * i);
    if (d > kMaxIdxDim) fail(what, "absurd IDX dimension " + std::to_string(d));
    dims[i] = static_cast<int64_t>(d);
    has_zero_dim = has_zero_dim || d == 0;
  }
  // A zero dimension makes the file empty, whatever the others say; they must still be sane.
  uint64_t nonzero_product = 1;
  for (const int64_t d : dims) {
    if (d == 0) continue;
    if (nonzero_product > kMaxIdxElements / static_cast<uint64_t>(d)) {
      fail(what, "absurd IDX dimensions " + dims_to_string(dims));
    }
    nonzero_product *= static_cast<uint64_t>(d);
  }
  // Multiply with a bound so a forged header can neither overflow nor trigger a huge allocation.
  uint64_t elements = has_zero_dim ? 0 : 1;
  for (size_t i = 0; i < rank && elements != 0; ++i) {
    const uint64_t d = static_cast<uint64_t>(dims[i]);
    if (elements > body / d) {
      fail(what, "truncated IDX body (header says " + dims_to_string(dims) + ", only " +
                     std::to_string(body) + " data bytes)");
    }
    elements *= d;
  }
  if (body < elements) {
    fail(what, "truncated IDX body (expected " + std::to_string(elements) + " data bytes, found " +
                   std::to_string(body) + ")");
  }
  if (body > elements) {
    fail(what, std::to_string(body - elements) + " unexpected trailing bytes after the IDX data");
  }
  torch::Tensor t = torch::empty(dims, torch::kUInt8);
  if (elements > 0) std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + header, elements);
  return t;
}

torch::Tensor read_idx(const std::filesystem::path& path) {
  return parse_idx(read_file_maybe_gz(path), path.string());
}

LabeledImages parse_cifar(const std::vector<uint8_t>& bytes, bool cifar100,
                          const std::string& what) {
  const int64_t label_bytes = cifar100 ? 2 : 1;
  const int64_t record = label_bytes + kCifarImageBytes;
  const int64_t num_classes = cifar100 ? 100 : 10;
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size == 0) fail(what, "empty CIFAR file");
  if (size % record != 0) {
    fail(what, "size " + std::to_string(size) + " is not a whole number of " +
                   std::to_string(record) + "-byte CIFAR" + (cifar100 ? "-100" : "-10") +
                   " records");
  }
  const int64_t n = size / record;
  // A strided view of the records: column `label_bytes - 1` is the (fine) label, the rest pixels.
  const torch::Tensor records =
      torch::from_blob(const_cast<uint8_t*>(bytes.data()), {n, record}, torch::kUInt8);
  LabeledImages out;
  out.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  out.images.view({n, kCifarImageBytes}).copy_(records.narrow(1, label_bytes, kCifarImageBytes));
  out.labels = records.select(1, label_bytes - 1).to(torch::kInt64);
  const int64_t max_label = out.labels.max().item<int64_t>();
  if (max_label >= num_classes) {
    fail(what, "label " + std::to_string(max_label) + " out of range (dataset has " +
                   std::to_string(num_classes) + " classes)");
  }
  return out;
}

LabeledImages read_cifar(const std::filesystem::path& path, bool cifar100) {
  return parse_cifar(read_file_maybe_gz(path), cifar100, path.string());
}

}  // namespace pfedhn::data

#include "pfedhn/data/readers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/data_fixtures.h"
#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {

using testing::cifar_bytes;
using testing::idx_bytes;
using testing::pattern;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;
using testing::write_gz;

// Runs `fn`, expects a DataError, and returns its message.
template <typename Fn>
std::string data_error_message(Fn&& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected DataError";
  return "";
}

std::vector<uint8_t> tensor_bytes(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const uint8_t* p = c.data_ptr<uint8_t>();
  return std::vector<uint8_t>(p, p + c.numel());
}

// ---- gzip ----

TEST(Gz, ReadsRawFileUnchanged) {
  TempDir dir;
  const std::vector<uint8_t> data = pattern(1000);
  write_bytes(dir / "raw.bin", data);
  EXPECT_EQ(read_file_maybe_gz(dir / "raw.bin"), data);
}

TEST(Gz, GunzipsByMagicWhateverTheName) {
  TempDir dir;
  const std::vector<uint8_t> data = pattern(200000, 3);
  write_gz(dir / "no_suffix", data);
  const std::vector<uint8_t> on_disk = read_bytes(dir / "no_suffix");
  ASSERT_GE(on_disk.size(), 2u);
  EXPECT_EQ(on_disk[0], 0x1f);
  EXPECT_EQ(on_disk[1], 0x8b);
  EXPECT_LT(on_disk.size(), data.size());
  EXPECT_EQ(read_file_maybe_gz(dir / "no_suffix"), data);
}

TEST(Gz, ReadsEmptyGzip) {
  TempDir dir;
  write_gz(dir / "empty.gz", {});
  EXPECT_TRUE(read_file_maybe_gz(dir / "empty.gz").empty());
}

TEST(Gz, ReadsConcatenatedMembers) {
  TempDir dir;
  const std::vector<uint8_t> a = pattern(5000, 1), b = pattern(7000, 2);
  write_gz(dir / "a.gz", a);
  write_gz(dir / "b.gz", b);
  std::vector<uint8_t> both = read_bytes(dir / "a.gz");
  const std::vector<uint8_t> second = read_bytes(dir / "b.gz");
  both.insert(both.end(), second.begin(), second.end());
  write_bytes(dir / "ab.gz", both);
  std::vector<uint8_t> expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(read_file_maybe_gz(dir / "ab.gz"), expected);
}

TEST(Gz, CorruptDeflateBodyThrows) {
  TempDir dir;
  write_gz(dir / "c.gz", pattern(100000, 5));
  std::vector<uint8_t> bytes = read_bytes(dir / "c.gz");
  ASSERT_GT(bytes.size(), 100u);
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 8; ++i) bytes[i] ^= 0x5a;
  write_bytes(dir / "c.gz", bytes);
  const std::string msg = data_error_message([&] { read_file_maybe_gz(dir / "c.gz"); });
  EXPECT_NE(msg.find("c.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(Gz, CorruptChecksumThrows) {
  TempDir dir;
  write_gz(dir / "crc.gz", pattern(1000, 6));
  std::vector<uint8_t> bytes = read_bytes(dir / "crc.gz");
  bytes[bytes.size() - 8] ^= 0xff;  // first byte of the CRC-32 trailer
  write_bytes(dir / "crc.gz", bytes);
  EXPECT_THROW(read_file_maybe_gz(dir / "crc.gz"), DataError);
}

TEST(Gz, TruncatedStreamThrows) {
  TempDir dir;
  write_gz(dir / "t.gz", pattern(100000, 7));
  std::vector<uint8_t> bytes = read_bytes(dir / "t.gz");
  for (size_t keep : {bytes.size() - 1, bytes.size() - 9, bytes.size() / 2, size_t{12}}) {
    write_bytes(dir / "t.gz", std::vector<uint8_t>(bytes.begin(), bytes.begin() + keep));
    const std::string msg = data_error_message([&] { read_file_maybe_gz(dir / "t.gz"); });
    EXPECT_NE(msg.find("t.gz"), std::string::npos) << "kept " << keep << ": " << msg;
  }
}

TEST(Gz, TrailingGarbageThrows) {
  TempDir dir;
  write_gz(dir / "g.gz", pattern(1000, 8));
  std::vector<uint8_t> bytes = read_bytes(dir / "g.gz");
  bytes.push_back(0x42);
  bytes.push_back(0x43);
  write_bytes(dir / "g.gz", bytes);
  EXPECT_THROW(read_file_maybe_gz(dir / "g.gz"), DataError);
}

TEST(Gz, TruncatedHeaderThrows) {
  for (const std::vector<uint8_t>& bytes :
       {std::vector<uint8_t>{0x1f, 0x8b}, std::vector<uint8_t>{0x1f, 0x8b, 0x08, 0x00, 0x00}}) {
    const std::string msg = data_error_message([&] { gunzip(bytes, 1 << 20, "head.gz"); });
    EXPECT_NE(msg.find("head.gz"), std::string::npos) << msg;
  }
}

TEST(Gz, ForgedSizeTrailerDoesNotDecideTheAllocation) {
  TempDir dir;
  write_gz(dir / "f.gz", pattern(100, 2));
  std::vector<uint8_t> bytes = read_bytes(dir / "f.gz");
  for (size_t i = bytes.size() - 4; i < bytes.size(); ++i) bytes[i] = 0xff;  // ISIZE = 4 GiB - 1
  // Rejected by the length check, after a buffer bounded by the compressed size, not 4 GiB.
  const std::string msg = data_error_message([&] { gunzip(bytes, uint64_t{1} << 40, "f.gz"); });
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(Gz, InMemoryGunzipMatchesTheFileReader) {
  TempDir dir;
  const std::vector<uint8_t> data = pattern(5000, 4);
  write_gz(dir / "m.gz", data);
  EXPECT_EQ(gunzip(read_bytes(dir / "m.gz"), 5000, "m.gz"), data);
  EXPECT_THROW(gunzip(read_bytes(dir / "m.gz"), 4999, "m.gz"), DataError);
  EXPECT_THROW(gunzip(pattern(100), 1 << 20, "raw"), DataError);  // no gzip magic
}

TEST(Gz, EnforcesMaxBytesOnDecompressedSize) {
  TempDir dir;
  const std::vector<uint8_t> zeros(1 << 20, 0);  // compresses to about 1 KB
  write_gz(dir / "bomb.gz", zeros);
  ASSERT_LT(read_bytes(dir / "bomb.gz").size(), 10000u);
  EXPECT_EQ(read_file_maybe_gz(dir / "bomb.gz", zeros.size()).size(), zeros.size());
  const std::string msg =
      data_error_message([&] { read_file_maybe_gz(dir / "bomb.gz", zeros.size() - 1); });
  EXPECT_NE(msg.find("limit"), std::string::npos) << msg;
}

TEST(Gz, EnforcesMaxBytesOnRawFile) {
  TempDir dir;
  write_bytes(dir / "big.bin", pattern(5000));
  EXPECT_THROW(read_file_maybe_gz(dir / "big.bin", 4999), DataError);
}

TEST(Gz, MissingFileNamesThePath) {
  TempDir dir;
  const std::string msg = data_error_message([&] { read_file_maybe_gz(dir / "nope.gz"); });
  EXPECT_NE(msg.find("nope.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
}

TEST(Gz, DirectoryIsNotAFile) {
  TempDir dir;
  EXPECT_THROW(read_file_maybe_gz(dir.path()), DataError);
}

// ---- IDX ----

TEST(Idx, RoundTripRank3Raw) {
  TempDir dir;
  const std::vector<uint8_t> body = pattern(3 * 4 * 5, 9);
  write_bytes(dir / "images", idx_bytes({3, 4, 5}, body));
  const torch::Tensor t = read_idx(dir / "images");
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(tensor_bytes(t), body);
  // Row-major: element [1][2][3] is body[1*20 + 2*5 + 3].
  EXPECT_EQ(t[1][2][3].item<uint8_t>(), body[33]);
}

TEST(Idx, RoundTripGzipAllRanks) {
  TempDir dir;
  const std::vector<std::vector<uint32_t>> shapes = {{7}, {2, 3}, {2, 3, 4}, {2, 1, 3, 2}};
  for (const auto& dims : shapes) {
    size_t n = 1;
    for (uint32_t d : dims) n *= d;
    const std::vector<uint8_t> body = pattern(n, static_cast<uint32_t>(dims.size()));
    write_gz(dir / "x.gz", idx_bytes(dims, body));
    const torch::Tensor t = read_idx(dir / "x.gz");
    ASSERT_EQ(t.dim(), static_cast<int64_t>(dims.size()));
    for (size_t i = 0; i < dims.size(); ++i) EXPECT_EQ(t.size(i), dims[i]);
    EXPECT_EQ(tensor_bytes(t), body);
  }
}

TEST(Idx, EmptyDimensionGivesEmptyTensor) {
  const torch::Tensor t = parse_idx(idx_bytes({0, 28, 28}, {}), "empty");
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.size(1), 28);
}

TEST(Idx, WrongMagicThrows) {
  std::vector<uint8_t> bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x01;
  const std::string msg = data_error_message([&] { parse_idx(bytes, "fileA"); });
  EXPECT_NE(msg.find("fileA"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
}

TEST(Idx, WrongTypeByteThrows) {
  std::vector<uint8_t> bytes = idx_bytes({2}, {1, 2});
  bytes[2] = 0x0D;  // float
  const std::string msg = data_error_message([&] { parse_idx(bytes, "fileB"); });
  EXPECT_NE(msg.find("type"), std::string::npos) << msg;
}

TEST(Idx, BadRankThrows) {
  EXPECT_THROW(parse_idx({0, 0, 8, 0}, "rank0"), DataError);
  std::vector<uint8_t> rank5 = idx_bytes({1, 1, 1, 1, 1}, {7});
  EXPECT_THROW(parse_idx(rank5, "rank5"), DataError);
}

TEST(Idx, TruncatedHeaderThrows) {
  const std::vector<uint8_t> full = idx_bytes({2, 3}, pattern(6));
  for (size_t keep : {size_t{0}, size_t{3}, size_t{4}, size_t{7}, size_t{11}}) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + keep);
    const std::string msg = data_error_message([&] { parse_idx(cut, "hdr"); });
    EXPECT_NE(msg.find("truncated"), std::string::npos) << "kept " << keep << ": " << msg;
  }
}

TEST(Idx, TruncatedBodyThrows) {
  std::vector<uint8_t> bytes = idx_bytes({4, 5}, pattern(20));
  bytes.pop_back();
  const std::string msg = data_error_message([&] { parse_idx(bytes, "body"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Idx, TrailingBytesThrow) {
  std::vector<uint8_t> bytes = idx_bytes({4, 5}, pattern(21));
  const std::string msg = data_error_message([&] { parse_idx(bytes, "tail"); });
  EXPECT_NE(msg.find("trailing"), std::string::npos) << msg;
}

TEST(Idx, AbsurdDimensionsThrowWithoutAllocating) {
  // 2^31 x 2^31 x 2^31 x 2^31 would overflow 64 bits; the body is tiny.
  const uint32_t big = 1u << 31;
  EXPECT_THROW(parse_idx(idx_bytes({big, big}, pattern(16)), "big2"), DataError);
  EXPECT_THROW(parse_idx(idx_bytes({big, big, big, big}, pattern(16)), "big4"), DataError);
  // A dimension above 2^31 is rejected on its own.
  EXPECT_THROW(parse_idx(idx_bytes({0xFFFFFFFFu, 0}, {}), "huge"), DataError);
  // A zero dimension empties the file but does not excuse the others (found by fuzz_idx:
  // torch cannot even describe this empty shape).
  const std::string msg = data_error_message([&] {
    parse_idx(idx_bytes({10952961u, 58112u, 318767104u, 0}, {}), "zero");
  });
  EXPECT_NE(msg.find("absurd IDX dimensions"), std::string::npos) << msg;
  EXPECT_EQ(parse_idx(idx_bytes({1u << 20, 1u << 20, 0}, {}), "ok").numel(), 0);
  // Products that wrap around to a small number modulo 2^64 must not be accepted.
  EXPECT_THROW(parse_idx(idx_bytes({1u << 16, 1u << 16, 1u << 16, 1u << 16}, pattern(1)), "wrap"),
               DataError);
}

TEST(Idx, CorruptGzipFileThrows) {
  TempDir dir;
  write_gz(dir / "i.gz", idx_bytes({100, 100}, pattern(10000, 4)));
  std::vector<uint8_t> bytes = read_bytes(dir / "i.gz");
  bytes[bytes.size() / 2] ^= 0xff;
  bytes[bytes.size() / 2 + 1] ^= 0xff;
  write_bytes(dir / "i.gz", bytes);
  EXPECT_THROW(read_idx(dir / "i.gz"), DataError);
}

TEST(Idx, MissingFileThrows) {
  TempDir dir;
  const std::string msg = data_error_message([&] { read_idx(dir / "train-images-idx3-ubyte"); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
}

// ---- CIFAR ----

TEST(Cifar, Cifar10RoundTrip) {
  TempDir dir;
  const std::vector<int> labels = {3, 0, 9, 5};
  write_bytes(dir / "data_batch_1.bin", cifar_bytes(labels, false));
  const LabeledImages li = read_cifar(dir / "data_batch_1.bin", false);
  EXPECT_EQ(li.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(li.images.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_EQ(li.labels.scalar_type(), torch::kInt64);
  ASSERT_EQ(li.labels.numel(), 4);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(li.labels[r].item<int64_t>(), labels[static_cast<size_t>(r)]);
    EXPECT_EQ(tensor_bytes(li.images[r]), pattern(3072, static_cast<uint32_t>(r))) << r;
  }
  // Channel-major within a record: the green plane starts 1024 bytes in.
  EXPECT_EQ(li.images[2][1][0][0].item<uint8_t>(), pattern(3072, 2)[1024]);
}

TEST(Cifar, Cifar100UsesFineLabel) {
  TempDir dir;
  const std::vector<int> labels = {99, 12, 0};
  write_gz(dir / "train.bin", cifar_bytes(labels, true));
  const LabeledImages li = read_cifar(dir / "train.bin", true);
  EXPECT_EQ(li.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(li.labels[r].item<int64_t>(), labels[static_cast<size_t>(r)]);
    EXPECT_EQ(tensor_bytes(li.images[r]), pattern(3072, static_cast<uint32_t>(r)));
  }
}

TEST(Cifar, SizeNotMultipleOfRecordThrows) {
  std::vector<uint8_t> bytes = cifar_bytes({1, 2}, false);
  bytes.pop_back();
  const std::string msg = data_error_message([&] { parse_cifar(bytes, false, "batch"); });
  EXPECT_NE(msg.find("batch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;
  // A valid CIFAR-10 file is not a whole number of CIFAR-100 records.
  EXPECT_THROW(parse_cifar(cifar_bytes({1, 2}, false), true, "as100"), DataError);
}

TEST(Cifar, EmptyFileThrows) {
  EXPECT_THROW(parse_cifar({}, false, "empty"), DataError);
}

TEST(Cifar, LabelOutOfRangeThrows) {
  const std::string msg10 = data_error_message([&] {
    parse_cifar(cifar_bytes({1, 10, 2}, false), false, "c10");
  });
  EXPECT_NE(msg10.find("label 10"), std::string::npos) << msg10;
  EXPECT_NO_THROW(parse_cifar(cifar_bytes({10, 99}, true), true, "c100ok"));
  EXPECT_THROW(parse_cifar(cifar_bytes({5, 100}, true), true, "c100"), DataError);
}

TEST(Cifar, CorruptGzipFileThrows) {
  TempDir dir;
  write_gz(dir / "data_batch_1.bin", cifar_bytes({1, 2, 3}, false));
  std::vector<uint8_t> bytes = read_bytes(dir / "data_batch_1.bin");
  bytes.resize(bytes.size() - 6);  // cut into the CRC/size trailer
  write_bytes(dir / "data_batch_1.bin", bytes);
  const std::string msg = data_error_message([&] { read_cifar(dir / "data_batch_1.bin", false); });
  EXPECT_NE(msg.find("data_batch_1.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gzip"), std::string::npos) << msg;
}

TEST(Cifar, MissingFileThrows) {
  TempDir dir;
  EXPECT_THROW(read_cifar(dir / "test_batch.bin", false), DataError);
}

}  // namespace
}  // namespace pfedhn::data

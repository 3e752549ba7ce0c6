// Writes the seed corpora of the fuzzers: small valid inputs of each reader, made with the
// project's own writers so that they follow the formats exactly.
//   pfedhn_fuzz_seeds OUT_DIR      ->  OUT_DIR/{idx,cifar,gzip,config,checkpoint}/*
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/io/checkpoint.h"

namespace {
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}
void write(const fs::path& path, const Bytes& content) {
  write(path, std::string(content.begin(), content.end()));
}

Bytes idx(const std::vector<uint32_t>& dims, uint8_t fill) {
  Bytes out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(fill + i));
  return out;
}

Bytes gzip(const std::string& text) {
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  Bytes out(deflateBound(&zs, text.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The first byte selects the variant in the CIFAR and checkpoint fuzzers.
template <typename T>
std::string with_selector(char selector, const T& body) {
  return std::string(1, selector) + std::string(body.begin(), body.end());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pfedhn;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];

  write(out / "idx" / "labels", idx({6}, 0));
  write(out / "idx" / "images", idx({2, 3, 3}, 7));
  write(out / "idx" / "rank4", idx({1, 2, 2, 2}, 1));

  std::string record10(1 + 3072, '\x20'), record100(2 + 3072, '\x40');
  record10[0] = 9;
  record100[0] = 19, record100[1] = 99;
  write(out / "cifar" / "cifar10", with_selector('\0', record10));
  write(out / "cifar" / "cifar100", with_selector('\1', record100));

  write(out / "gzip" / "text", gzip("0123456789 pfedhn pfedhn pfedhn\n"));
  write(out / "gzip" / "empty", gzip(""));
  Bytes two = gzip("first member");
  const Bytes second = gzip(std::string(300, 'x'));
  two.insert(two.end(), second.begin(), second.end());
  write(out / "gzip" / "two_members", two);

  config::Config cfg;
  config::resolve_and_validate(cfg);
  write(out / "config" / "defaults.yaml", config::to_yaml(cfg));
  write(out / "config" / "small.yaml",
        std::string("seed: 3\ndataset: {data: mnist, root: \"d a:t\"}\n"
                    "model: {variant: pfedhn_pc, n_kernels: 2}\nclient: {num_rounds: 10}\n"));

  io::LoopState loop;
  loop.next_round = 21;
  loop.rounds_since_eval = 1;
  loop.metrics_rows = {"0,1,0.5", "20,21,0.75"};
  loop.timing_rows = {"0,0.1"};
  loop.has_best = true;
  loop.best.round = 20;
  loop.best.val.client_accuracy = {0.5, 1.0};
  loop.config_yaml = config::to_yaml(cfg);
  const std::string file = io::encode_checkpoint(loop, [](torch::serialize::OutputArchive& a) {
    a.write("hnet.weight", torch::arange(12, torch::kFloat32).reshape({3, 4}));
    a.write("round", torch::tensor(int64_t{21}));
  });
  write(out / "checkpoint" / "file", with_selector('\0', file));
  write(out / "checkpoint" / "payload",
        with_selector('\1', io::unframe_checkpoint(file, "the seed checkpoint")));
  return 0;
}

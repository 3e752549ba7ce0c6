#include "pfedhn/io/checkpoint.h"

#include <c10/util/Exception.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pfedhn/io/archive_check.h"
#include "pfedhn/io/run_dir.h"

namespace pfedhn::io {
namespace fs = std::filesystem;
using nlohmann::json;

int64_t double_bits(double x) {
  int64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

double bits_double(int64_t bits) {
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// ---------------------------------------------------------------------------------------------
// The header: magic[8] | format u32 | version length u32 | version bytes | payload length u64 |
// CRC32 u32 | payload. Integers little-endian.

namespace {

constexpr size_t kMaxVersionLength = 64;

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Reads a little-endian integer at `pos`, advancing it; false when the data is too short.
bool get_le(const std::string& in, size_t& pos, int bytes, uint64_t& value) {
  if (in.size() < pos || in.size() - pos < static_cast<size_t>(bytes)) return false;
  value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
  }
  pos += static_cast<size_t>(bytes);
  return true;
}

uint32_t crc32_of(const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < data.size()) {  // zlib takes uInt lengths
    const size_t chunk = std::min<size_t>(data.size() - done, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), static_cast<uInt>(chunk));
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::string frame_checkpoint(const std::string& payload) {
  const std::string version = PFEDHN_VERSION;
  std::string out(kCheckpointMagic, sizeof kCheckpointMagic);
  put_le(out, kCheckpointFormatVersion, 4);
  put_le(out, version.size(), 4);
  out += version;
  put_le(out, payload.size(), 8);
  put_le(out, crc32_of(payload), 4);
  out += payload;
  return out;
}

std::string unframe_checkpoint(const std::string& bytes, const std::string& what) {
  auto fail = [&](const std::string& why) { throw CheckpointError(what + ": " + why); };
  if (bytes.size() < sizeof kCheckpointMagic ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    fail("not a pfedhn checkpoint (wrong magic)");
  }
  size_t pos = sizeof kCheckpointMagic;
  uint64_t format = 0, version_length = 0, payload_length = 0, crc = 0;
  if (!get_le(bytes, pos, 4, format)) fail("truncated header");
  if (format != kCheckpointFormatVersion) {
    fail("checkpoint format version " + std::to_string(format) + ", this pfedhn reads version " +
         std::to_string(kCheckpointFormatVersion));
  }
  if (!get_le(bytes, pos, 4, version_length)) fail("truncated header");
  if (version_length > kMaxVersionLength || bytes.size() - pos < version_length) {
    fail("truncated or corrupt header");
  }
  pos += version_length;
  if (!get_le(bytes, pos, 8, payload_length) || !get_le(bytes, pos, 4, crc)) {
    fail("truncated header");
  }
  if (payload_length != bytes.size() - pos) {
    fail("cut short or padded: header says " + std::to_string(payload_length) +
         " payload bytes, file holds " + std::to_string(bytes.size() - pos));
  }
  std::string payload = bytes.substr(pos);
  if (crc32_of(payload) != crc) fail("CRC32 mismatch (the file is corrupt)");
  return payload;
}

namespace {

std::string version_in_header(const std::string& bytes) {
  size_t pos = sizeof kCheckpointMagic + 4;
  uint64_t n = 0;
  if (!get_le(bytes, pos, 4, n) || n > kMaxVersionLength || bytes.size() - pos < n) return "?";
  return bytes.substr(pos, n);
}

// ---------------------------------------------------------------------------------------------
// The loop state as JSON text inside the archive; doubles as bit patterns.

// An integer field of the loop state. json's own get<int64_t>() converts a float by a cast
// whose overflow is undefined behaviour (found by fuzz_checkpoint), so only integers pass.
int64_t as_int64(const json& v, const std::string& what) {
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() &&
       v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
    throw std::runtime_error("'" + what + "' is not a 64-bit integer");
  }
  return v.get<int64_t>();
}

int64_t int_at(const json& j, const char* key) {
  return as_int64(j.at(key), key);
}

double double_at(const json& j, const char* key) {
  return bits_double(int_at(j, key));
}

json split_json(const eval::SplitMetrics& m) {
  json clients = json::array();
  for (double a : m.client_accuracy) clients.push_back(double_bits(a));
  return {{"accuracy", double_bits(m.accuracy)},
          {"mean_loss", double_bits(m.mean_loss)},
          {"min_accuracy", double_bits(m.min_accuracy)},
          {"max_accuracy", double_bits(m.max_accuracy)},
          {"std_accuracy", double_bits(m.std_accuracy)},
          {"correct", m.correct},
          {"total", m.total},
          {"client_accuracy", clients}};
}

eval::SplitMetrics split_from_json(const json& j) {
  eval::SplitMetrics m;
  m.accuracy = double_at(j, "accuracy");
  m.mean_loss = double_at(j, "mean_loss");
  m.min_accuracy = double_at(j, "min_accuracy");
  m.max_accuracy = double_at(j, "max_accuracy");
  m.std_accuracy = double_at(j, "std_accuracy");
  m.correct = int_at(j, "correct");
  m.total = int_at(j, "total");
  const json& clients = j.at("client_accuracy");
  if (!clients.is_array()) throw std::runtime_error("'client_accuracy' is not a list");
  for (const auto& a : clients) m.client_accuracy.push_back(bits_double(as_int64(a, "client")));
  return m;
}

json record_json(const eval::EvalRecord& r) {
  return {{"round", r.round}, {"val", split_json(r.val)}, {"test", split_json(r.test)}};
}

eval::EvalRecord record_from_json(const json& j) {
  eval::EvalRecord r;
  r.round = int_at(j, "round");
  r.val = split_from_json(j.at("val"));
  r.test = split_from_json(j.at("test"));
  return r;
}

std::string loop_to_text(const LoopState& s) {
  return json{{"next_round", s.next_round},
              {"loss_since_eval", double_bits(s.loss_since_eval)},
              {"rounds_since_eval", s.rounds_since_eval},
              {"last_test_accuracy", double_bits(s.last_test_accuracy)},
              {"elapsed_seconds", double_bits(s.elapsed_seconds)},
              {"resumes", s.resumes},
              {"metrics_rows", s.metrics_rows},
              {"timing_rows", s.timing_rows},
              {"has_best", s.has_best},
              {"best", record_json(s.best)},
              {"has_last_eval", s.has_last_eval},
              {"last_eval", record_json(s.last_eval)},
              {"config_yaml", s.config_yaml}}
      .dump();
}

LoopState loop_from_text(const std::string& text) {
  const json j = json::parse(text);
  LoopState s;
  s.next_round = int_at(j, "next_round");
  s.loss_since_eval = double_at(j, "loss_since_eval");
  s.rounds_since_eval = int_at(j, "rounds_since_eval");
  s.last_test_accuracy = double_at(j, "last_test_accuracy");
  s.elapsed_seconds = double_at(j, "elapsed_seconds");
  s.resumes = int_at(j, "resumes");
  s.metrics_rows = j.at("metrics_rows").get<std::vector<std::string>>();
  s.timing_rows = j.at("timing_rows").get<std::vector<std::string>>();
  s.has_best = j.at("has_best").get<bool>();
  s.best = record_from_json(j.at("best"));
  s.has_last_eval = j.at("has_last_eval").get<bool>();
  s.last_eval = record_from_json(j.at("last_eval"));
  s.config_yaml = j.at("config_yaml").get<std::string>();
  if (s.next_round < 0 || s.rounds_since_eval < 0) throw std::runtime_error("negative counters");
  return s;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path.string() + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw CheckpointError("cannot read checkpoint '" + path.string() + "'");
  return buf.str();
}

}  // namespace

std::string encode_checkpoint(const LoopState& loop, const ArchiveWriter& write_model) {
  torch::serialize::OutputArchive archive, model;
  archive.write("loop", c10::IValue(loop_to_text(loop)));
  write_model(model);
  archive.write("model", model);
  std::ostringstream payload;
  archive.save_to(payload);
  return frame_checkpoint(payload.str());
}

LoadedCheckpoint decode_checkpoint(const std::string& bytes, const std::string& what) {
  const std::string payload = unframe_checkpoint(bytes, what);
  LoadedCheckpoint out;
  out.pfedhn_version = version_in_header(bytes);
  // Torch's messages run over several lines (with code excerpts): the first says enough.
  auto reason = [](const char* message) {
    const std::string m = message;
    return m.substr(0, std::min<size_t>(m.find('\n'), 200));
  };
  std::string loop_text;
  try {
    check_torch_archive(payload);  // before LibTorch allocates what a forged length says
    torch::serialize::InputArchive archive;
    archive.load_from(payload.data(), payload.size(), torch::Device(torch::kCPU));
    c10::IValue loop;
    archive.read("loop", loop);
    if (!loop.isString()) throw std::runtime_error("the loop state is not a string");
    loop_text = loop.toStringRef();
    out.model = std::make_unique<torch::serialize::InputArchive>();
    archive.read("model", *out.model);
  } catch (const c10::Error& e) {
    throw CheckpointError(what + ": unreadable archive (" + reason(e.what_without_backtrace()) +
                          ")");
  } catch (const std::exception& e) {
    throw CheckpointError(what + ": unreadable archive (" + reason(e.what()) + ")");
  }
  try {
    out.loop = loop_from_text(loop_text);
  } catch (const std::exception& e) {
    throw CheckpointError(what + ": unreadable loop state (" + reason(e.what()) + ")");
  }
  return out;
}

LoadedCheckpoint read_checkpoint(const fs::path& path) {
  LoadedCheckpoint out = decode_checkpoint(read_all(path), "checkpoint '" + path.string() + "'");
  out.path = path;
  return out;
}

fs::path checkpoint_dir(const fs::path& run_dir) {
  return run_dir / "checkpoints";
}

fs::path checkpoint_path(const fs::path& run_dir, int64_t next_round) {
  return checkpoint_dir(run_dir) / ("ckpt-" + std::to_string(next_round) + ".pt");
}

fs::path best_checkpoint_path(const fs::path& run_dir) {
  return checkpoint_dir(run_dir) / "best.pt";
}

void keep_as_best(const fs::path& run_dir, const fs::path& checkpoint) {
  const fs::path best = best_checkpoint_path(run_dir);
  fs::path tmp = best;
  tmp += ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  // Checkpoints are never rewritten in place (save_checkpoint renames a new file over the
  // name), so a hard link is a copy that costs no I/O, and it outlives the pruning of
  // `checkpoint`. Copy only where the file system has no hard links.
  fs::create_hard_link(checkpoint, tmp, ec);
  if (ec) fs::copy_file(checkpoint, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, best, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw UserError("cannot write '" + best.string() + "': " + ec.message());
  }
}

namespace {

// The round of "ckpt-<round>.pt", or -1 for any other name.
int64_t round_of(const std::string& name) {
  const std::string prefix = "ckpt-", suffix = ".pt";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return -1;
  }
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

}  // namespace

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(checkpoint_dir(run_dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    const int64_t round = round_of(it->path().filename().string());
    if (round >= 0 && it->is_regular_file(ec)) found.emplace_back(round, it->path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

fs::path save_checkpoint(const fs::path& run_dir, const LoopState& loop,
                         const ArchiveWriter& write_model, int keep) {
  std::error_code ec;
  fs::create_directories(checkpoint_dir(run_dir), ec);
  if (ec) {
    throw UserError("cannot create '" + checkpoint_dir(run_dir).string() + "': " + ec.message());
  }
  const fs::path path = checkpoint_path(run_dir, loop.next_round);
  write_file_atomic(path, encode_checkpoint(loop, write_model));
  // Only now that the new one is safely on disk: drop the oldest.
  const auto all = list_checkpoints(run_dir);
  for (size_t i = static_cast<size_t>(std::max(keep, 1)); i < all.size(); ++i) {
    fs::remove(all[i], ec);
  }
  return path;
}

}  // namespace pfedhn::io

// Checkpoint files: the verified header, the loop state, and a Trainer restored bit-exactly.
#include "pfedhn/io/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "data/data_fixtures.h"
#include "pfedhn/config/config.h"
#include "pfedhn/fl/trainer.h"
#include "support/synthetic.h"

namespace pfedhn::io {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// ---------------------------------------------------------------------------------------------
// The header

TEST(CheckpointHeader, RoundTripsAPayload) {
  const std::string payload = std::string("some\0bytes", 10) + std::string(1000, 'x');
  EXPECT_EQ(unframe_checkpoint(frame_checkpoint(payload), "f"), payload);
  EXPECT_EQ(unframe_checkpoint(frame_checkpoint(""), "f"), "");
}

TEST(CheckpointHeader, RejectsEveryTruncation) {
  const std::string framed = frame_checkpoint(std::string(300, 'p'));
  for (size_t len = 0; len < framed.size(); len += 7) {
    EXPECT_THROW(unframe_checkpoint(framed.substr(0, len), "f"), CheckpointError) << len;
  }
  EXPECT_THROW(unframe_checkpoint(framed.substr(0, framed.size() - 1), "f"), CheckpointError);
  EXPECT_THROW(unframe_checkpoint(framed + "extra", "f"), CheckpointError);
}

TEST(CheckpointHeader, RejectsAnyFlippedBit) {
  const std::string framed = frame_checkpoint(std::string(64, 'p'));
  for (size_t i = 0; i < framed.size(); ++i) {
    if (i >= 16 && i < 16 + std::string(PFEDHN_VERSION).size()) continue;  // informative only
    std::string bad = framed;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_THROW(unframe_checkpoint(bad, "f"), CheckpointError) << "byte " << i;
  }
}

TEST(CheckpointHeader, NamesWrongMagicAndWrongVersion) {
  std::string framed = frame_checkpoint("payload");
  std::string bad_magic = framed;
  bad_magic[0] = 'X';
  try {
    unframe_checkpoint(bad_magic, "ckpt-3.pt");
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong magic"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ckpt-3.pt"), std::string::npos) << e.what();
  }
  std::string bad_version = framed;
  bad_version[8] = static_cast<char>(kCheckpointFormatVersion + 1);
  try {
    unframe_checkpoint(bad_version, "f");
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Files

eval::EvalRecord some_record(int64_t round) {
  eval::EvalRecord r;
  r.round = round;
  r.val = eval::summarise({{30, 100, 12.5}, {0, 0, 0.0}});
  r.test = eval::summarise({{70, 100, 3.25}, {1, 3, 0.1}});
  return r;
}

LoopState some_loop() {
  LoopState s;
  s.next_round = 31;
  s.loss_since_eval = 0.1 + 0.2;  // not exactly representable in decimal
  s.rounds_since_eval = 3;
  s.last_test_accuracy = 2.0 / 3.0;
  s.elapsed_seconds = 12.5;
  s.resumes = 1;
  s.metrics_rows = {"0,1,a", "30,31,b"};
  s.timing_rows = {"0,0.100"};
  s.has_best = true;
  s.best = some_record(30);
  s.has_last_eval = true;
  s.last_eval = some_record(30);
  s.config_yaml = "seed: 7\n";
  return s;
}

TEST(CheckpointFile, LoopStateRoundTripsBitExactlyIncludingNaN) {
  TempDir tmp;
  const LoopState s = some_loop();
  const fs::path path = save_checkpoint(
      tmp.path(), s, [](torch::serialize::OutputArchive& a) { a.write("x", torch::arange(5)); });
  EXPECT_EQ(path, checkpoint_path(tmp.path(), 31));
  const LoadedCheckpoint c = read_checkpoint(path);
  EXPECT_EQ(c.pfedhn_version, PFEDHN_VERSION);
  EXPECT_EQ(c.loop.next_round, 31);
  EXPECT_EQ(double_bits(c.loop.loss_since_eval), double_bits(0.1 + 0.2));
  EXPECT_EQ(c.loop.rounds_since_eval, 3);
  EXPECT_EQ(double_bits(c.loop.last_test_accuracy), double_bits(2.0 / 3.0));
  EXPECT_EQ(c.loop.resumes, 1);
  EXPECT_EQ(c.loop.metrics_rows, s.metrics_rows);
  EXPECT_EQ(c.loop.timing_rows, s.timing_rows);
  EXPECT_TRUE(c.loop.has_best);
  EXPECT_EQ(c.loop.best.round, 30);
  EXPECT_EQ(c.loop.best.test.correct, 71);
  ASSERT_EQ(c.loop.best.val.client_accuracy.size(), 2u);
  EXPECT_TRUE(std::isnan(c.loop.best.val.client_accuracy[1]));  // a client without samples
  EXPECT_EQ(double_bits(c.loop.last_eval.test.std_accuracy),
            double_bits(s.last_eval.test.std_accuracy));
  EXPECT_EQ(c.loop.config_yaml, "seed: 7\n");
  torch::Tensor x;
  c.model->read("x", x);
  EXPECT_TRUE(torch::equal(x, torch::arange(5)));
}

TEST(CheckpointFile, CorruptFilesAreRejectedWithOneLine) {
  TempDir tmp;
  const fs::path path = save_checkpoint(tmp.path(), some_loop(), [](auto&) {});
  const std::string good = read_file(path);
  for (const std::string& bad : {good.substr(0, good.size() / 2), good.substr(0, 10), std::string(),
                                 std::string("garbage")}) {
    write_file(path, bad);
    try {
      read_checkpoint(path);
      ADD_FAILURE() << "accepted " << bad.size() << " bytes";
    } catch (const CheckpointError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
  std::string flipped = good;
  flipped[flipped.size() - 40] ^= 0x01;
  write_file(path, flipped);
  EXPECT_THROW(read_checkpoint(path), CheckpointError);
  EXPECT_THROW(read_checkpoint(tmp / "missing.pt"), CheckpointError);
}

TEST(CheckpointHeader, AnAbsurdPayloadLengthIsRejectedWithoutReadingFurther) {
  std::string framed = frame_checkpoint("payload");
  const size_t length_at = sizeof kCheckpointMagic + 8 + std::string(PFEDHN_VERSION).size();
  for (size_t i = 0; i < 8; ++i) framed[length_at + i] = '\xff';  // 2^64 - 1 bytes
  try {
    unframe_checkpoint(framed, "f");
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("cut short"), std::string::npos) << e.what();
  }
}

// The loop state's JSON text as a checkpoint stores it.
std::string loop_text_of(const LoopState& loop) {
  const std::string payload = unframe_checkpoint(encode_checkpoint(loop, [](auto&) {}), "x");
  torch::serialize::InputArchive archive;
  archive.load_from(payload.data(), payload.size());
  c10::IValue text;
  archive.read("loop", text);
  return text.toStringRef();
}

// A payload with a valid header and CRC that is not what pfedhn wrote: another program's
// file, or a pfedhn archive whose loop state is missing or wrong.
TEST(CheckpointFile, AForeignPayloadWithAValidHeaderIsRejected) {
  auto reason = [](const std::string& payload) {
    try {
      decode_checkpoint(frame_checkpoint(payload), "ckpt-9.pt");
    } catch (const CheckpointError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "accepted";
    return std::string();
  };
  EXPECT_NE(reason("not a torch archive").find("unreadable archive"), std::string::npos);
  auto archive = [](const std::function<void(torch::serialize::OutputArchive&)>& fill) {
    torch::serialize::OutputArchive a, model;
    fill(a);
    a.write("model", model);
    std::ostringstream out;
    a.save_to(out);
    return out.str();
  };
  EXPECT_NE(reason(archive([](auto& a) { a.write("x", torch::ones(2)); })).find("ckpt-9.pt"),
            std::string::npos);
  EXPECT_NE(reason(archive([](auto& a) {
              a.write("loop", c10::IValue(std::string("{]")));
            })).find("unreadable loop state"),
            std::string::npos);
  EXPECT_NE(reason(archive([](auto& a) {
              a.write("loop", c10::IValue(std::string(R"({"next_round": -1})")));
            })).find("unreadable loop state"),
            std::string::npos);
  // Found by fuzz_checkpoint: a float where an integer belongs was converted by a cast whose
  // overflow is undefined behaviour (UBSan); such a field is now a plain rejection.
  for (const std::string field : {"2.46e19", "1.5", "18446744073709551615", "\"7\""}) {
    std::string text = loop_text_of(some_loop());
    const size_t at = text.find("\"next_round\":31");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 15, "\"next_round\":" + field);
    EXPECT_NE(reason(archive([&](auto& a) {
                a.write("loop", c10::IValue(text));
              })).find("unreadable loop state ('next_round' is not a 64-bit integer)"),
              std::string::npos)
        << field;
  }
}

// Found by fuzz_checkpoint: TorchScript's parse errors quote code over several lines.
TEST(CheckpointFile, ACorruptArchiveWithAValidHeaderGivesOneLine) {
  const std::string payload =
      unframe_checkpoint(encode_checkpoint(some_loop(), [](auto&) {}), "good");
  const std::string code = "__buffers__ = []\n";
  const size_t at = payload.find(code);
  ASSERT_NE(at, std::string::npos);
  std::string bad = payload;
  bad.replace(at + code.size(), 4, "\xff\xff`\xf0");
  try {
    decode_checkpoint(frame_checkpoint(bad), "ckpt-5.pt");
    ADD_FAILURE() << "accepted";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ckpt-5.pt: unreadable archive"), std::string::npos)
        << e.what();
  }
}

// Found by fuzz_checkpoint: LibTorch allocates whatever length a forged archive states (here
// 2 GiB for the loop state's string) before it finds the bytes missing. Such lengths are
// checked first, so these are rejected at once.
class ForgedArchive : public ::testing::Test {
 protected:
  std::string payload_ = unframe_checkpoint(
      encode_checkpoint(some_loop(), [](auto& a) { a.write("x", torch::arange(5)); }), "good");

  std::string reason(const std::string& payload) {
    try {
      decode_checkpoint(frame_checkpoint(payload), "ckpt-7.pt");
    } catch (const CheckpointError& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  }
  static void put_le32(std::string& s, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
};

TEST_F(ForgedArchive, TheGoodOneDecodes) {
  EXPECT_EQ(decode_checkpoint(frame_checkpoint(payload_), "ok").loop.next_round, 31);
}

TEST_F(ForgedArchive, APickledStringLengthBeyondTheDataIsRejected) {
  const size_t text = payload_.find("{\"best\":");  // the loop state, a BINUNICODE string
  ASSERT_NE(text, std::string::npos);
  ASSERT_EQ(payload_[text - 5], 'X');
  std::string bad = payload_;
  put_le32(bad, text - 4, 0x7fffffffu);
  EXPECT_NE(reason(bad).find("data.pkl: a pickled length points past the end"), std::string::npos)
      << reason(bad);
}

TEST_F(ForgedArchive, AZipEntrySizeBeyondTheArchiveIsRejected) {
  const size_t entry = payload_.find("PK\x01\x02");  // the first central directory entry
  ASSERT_NE(entry, std::string::npos);
  std::string bad = payload_;
  put_le32(bad, entry + 20, 0x7fffffffu);
  put_le32(bad, entry + 24, 0x7fffffffu);
  EXPECT_NE(reason(bad).find("extends past the end of the archive"), std::string::npos)
      << reason(bad);
}

// Found by fuzz_checkpoint: LibTorch 1.13's TorchScript compiler crashes (SEGV) on some
// malformed code/*.py, which it compiles on load; only attribute declarations pass.
TEST_F(ForgedArchive, CodeOtherThanAttributeDeclarationsIsRejected) {
  const size_t at = payload_.find("  loop : str\n");
  ASSERT_NE(at, std::string::npos);
  std::string bad = payload_;
  bad.replace(at, 12, "  def f(): 1");
  EXPECT_NE(reason(bad).find("code/__torch__.py line 4 is not an attribute declaration"),
            std::string::npos)
      << reason(bad);
}

// Found by fuzz_checkpoint: LibTorch 1.13's unpickler pops its stack without looking (SEGV).
TEST_F(ForgedArchive, APickleThatPopsAnEmptyStackIsRejected) {
  const size_t header = payload_.find("archive/data.pkl");  // the local header's name
  ASSERT_NE(header, std::string::npos);
  const size_t pickle = payload_.find("\x80\x02", header);  // PROTO 2
  ASSERT_NE(pickle, std::string::npos);
  for (const char op : {'0', 't', 'R', 'e'}) {  // POP, TUPLE, REDUCE, APPENDS as the first op
    std::string bad = payload_;
    bad[pickle + 2] = op;
    const std::string why = reason(bad);
    EXPECT_TRUE(why.find("data.pkl: pickle pops") != std::string::npos) << op << ": " << why;
  }
}

TEST_F(ForgedArchive, ZipStructuresOutOfBoundsAreRejected) {
  EXPECT_NE(reason("PK").find("not a zip archive"), std::string::npos);
  const size_t eocd = payload_.rfind("PK\x05\x06");
  ASSERT_NE(eocd, std::string::npos);
  std::string bad = payload_;
  put_le32(bad, eocd + 16, static_cast<uint32_t>(eocd + 1));  // directory after its end
  EXPECT_NE(reason(bad).find("zip directory out of bounds"), std::string::npos) << reason(bad);
  bad = payload_;
  put_le32(bad, eocd + 16, 0xffffffffu);
  EXPECT_NE(reason(bad).find("zip64"), std::string::npos) << reason(bad);
}

TEST(CheckpointFile, DecodeMatchesReadingTheFile) {
  TempDir tmp;
  const fs::path path =
      save_checkpoint(tmp.path(), some_loop(),
                      [](torch::serialize::OutputArchive& a) { a.write("y", torch::ones(3)); });
  const LoadedCheckpoint c = decode_checkpoint(read_file(path), "in memory");
  EXPECT_TRUE(c.path.empty());
  EXPECT_EQ(c.loop.next_round, 31);
  torch::Tensor y;
  c.model->read("y", y);
  EXPECT_TRUE(torch::equal(y, torch::ones(3)));
}

TEST(CheckpointFile, KeepsTheNewestTwoAndIgnoresTemporaries) {
  TempDir tmp;
  for (int64_t r : {1, 11, 21, 31}) {
    LoopState s;
    s.next_round = r;
    save_checkpoint(tmp.path(), s, [](auto&) {});
  }
  write_file(checkpoint_dir(tmp.path()) / "ckpt-99.pt.tmp", "half");
  write_file(checkpoint_dir(tmp.path()) / "ckpt-98.pt.corrupt", "bad");
  const auto all = list_checkpoints(tmp.path());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].filename(), "ckpt-31.pt");  // numeric order, newest first
  EXPECT_EQ(all[1].filename(), "ckpt-21.pt");
  EXPECT_TRUE(list_checkpoints(tmp / "no-such-run").empty());
}

// ---------------------------------------------------------------------------------------------
// Trainer state

config::Config small_config(config::Algorithm variant) {
  config::Config cfg;
  cfg.seed = 5;
  cfg.dataset.data = "mnist";
  cfg.algorithm = variant;
  cfg.model.in_channels = 1;
  cfg.model.out_dim = 10;
  cfg.model.n_kernels = 3;
  cfg.model.n_hidden = 1;
  cfg.model.spec_norm = variant == config::Algorithm::kPFedHN;  // buffers (u, v) too
  cfg.client.num_nodes = 4;
  cfg.client.num_epochs = 4;
  cfg.client.batch_size = 16;
  cfg.server.hidden_dim = 16;
  return cfg;
}

void expect_same_state(fl::Trainer& a, fl::Trainer& b) {
  const auto pa = a.hypernetwork()->named_parameters(), pb = b.hypernetwork()->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
  const auto ba = a.hypernetwork()->named_buffers(), bb = b.hypernetwork()->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()]));
  ASSERT_EQ(a.local_states().size(), b.local_states().size());
  for (size_t i = 0; i < a.local_states().size(); ++i) {
    const auto la = a.local_states()[i].layer->parameters();
    const auto lb = b.local_states()[i].layer->parameters();
    for (size_t j = 0; j < la.size(); ++j) EXPECT_TRUE(torch::equal(la[j], lb[j])) << i;
  }
}

class TrainerCheckpoint : public ::testing::TestWithParam<config::Algorithm> {};

TEST_P(TrainerCheckpoint, RestoredAfterRoundKContinuesBitExactly) {
  torch::set_num_threads(1);
  const auto d = testing::synthetic_mnist(400, 80, 80);
  const auto cfg = small_config(GetParam());
  constexpr int64_t k = 3, n = 7;
  TempDir tmp;

  fl::Trainer straight(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  for (int64_t r = 0; r < n; ++r) straight.run_round(r);

  fl::Trainer first(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  for (int64_t r = 0; r < k; ++r) first.run_round(r);
  LoopState loop;
  loop.next_round = k;
  const auto path =
      save_checkpoint(tmp.path(), loop, [&](torch::serialize::OutputArchive& a) { first.save(a); });

  fl::Trainer resumed(cfg, d, testing::partition_for(d, cfg),
                      torch::kCPU);  // a fresh process's trainer
  auto loaded = read_checkpoint(path);
  resumed.load(*loaded.model);
  expect_same_state(first, resumed);
  for (int64_t r = loaded.loop.next_round; r < n; ++r) resumed.run_round(r);
  expect_same_state(straight, resumed);
}

INSTANTIATE_TEST_SUITE_P(Variants, TrainerCheckpoint,
                         ::testing::Values(config::Algorithm::kPFedHN,
                                           config::Algorithm::kPFedHNPC),
                         [](const auto& info) { return config::to_string(info.param); });

TEST(TrainerCheckpoint, LoadingIntoAnotherShapeFails) {
  const auto d = testing::synthetic_mnist(200, 40, 40);
  auto cfg = small_config(config::Algorithm::kPFedHNPC);
  fl::Trainer pc(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  TempDir tmp;
  const auto path =
      save_checkpoint(tmp.path(), {}, [&](torch::serialize::OutputArchive& a) { pc.save(a); });
  cfg.server.hidden_dim = 24;
  fl::Trainer wider(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  auto loaded = read_checkpoint(path);
  EXPECT_THROW(wider.load(*loaded.model), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// The config key

TEST(CheckpointEvery, DefaultsToEachEvaluationAndIsRangeChecked) {
  config::Config cfg;
  EXPECT_EQ(cfg.checkpoint_every, 0);
  config::apply_override(cfg, "checkpoint_every=25");
  EXPECT_EQ(cfg.checkpoint_every, 25);
  EXPECT_NE(config::to_yaml(cfg).find("checkpoint_every: 25"), std::string::npos);
  EXPECT_EQ(config::config_value(cfg, "checkpoint_every"), "25");
  config::apply_override(cfg, "checkpoint_every=-1");
  try {
    config::resolve_and_validate(cfg);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint_every"), std::string::npos) << e.what();
  }
}

TEST(CheckpointEvery, ConfigTextRoundTripsThroughParseConfigText) {
  config::Config cfg;
  config::apply_overrides(cfg, {"seed=9", "checkpoint_every=3", "dataset.data=mnist"});
  config::resolve_and_validate(cfg);
  auto back = config::parse_config_text(config::to_yaml(cfg), "text");
  config::resolve_and_validate(back);
  EXPECT_EQ(config::to_yaml(back), config::to_yaml(cfg));
}

}  // namespace
}  // namespace pfedhn::io

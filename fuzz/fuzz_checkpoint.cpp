// libFuzzer target: the checkpoint loader that `pfedhn train --resume` uses, followed by the
// parse of the config stored inside. The first byte picks what the rest is:
//   even: a whole checkpoint file (header, CRC32, payload), as read from disk;
//   odd:  a payload, framed here with a valid header and CRC32, so that the fuzzer reaches
//         the archive and loop-state decoding that the CRC otherwise guards.
#include "fuzz/fuzz_common.h"
#include "pfedhn/config/config.h"
#include "pfedhn/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pfedhn;
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0) bytes = io::frame_checkpoint(bytes);
  fuzz::expect_accept_or_reject([&] {
    const io::LoadedCheckpoint ckpt = io::decode_checkpoint(bytes, "fuzz.pt");
    fuzz::check(ckpt.model != nullptr, "model archive present");
    fuzz::check(ckpt.loop.next_round >= 0, "non-negative round");
    config::Config cfg = config::parse_config_text(ckpt.loop.config_yaml, "checkpoint config");
    config::resolve_and_validate(cfg);
  });
  return 0;
}

// libFuzzer target: the in-memory gunzip behind read_file_maybe_gz, with a large and a tiny
// output limit so that both the bound and the normal path are exercised.
#include "fuzz/fuzz_common.h"
#include "pfedhn/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pfedhn;
  const std::vector<uint8_t> gz = fuzz::to_vector(data, size);
  for (const uint64_t limit : {uint64_t{1} << 24, uint64_t{64}}) {
    fuzz::expect_accept_or_reject([&] {
      const std::vector<uint8_t> out = data::gunzip(gz, limit, "fuzz.gz");
      fuzz::check(out.size() <= limit, "output within the limit");
    });
  }
  return 0;
}

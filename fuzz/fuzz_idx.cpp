// libFuzzer target: the IDX reader (MNIST / Fashion-MNIST files), after any gunzip.
#include "fuzz/fuzz_common.h"
#include "pfedhn/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pfedhn;
  const std::vector<uint8_t> bytes = fuzz::to_vector(data, size);
  fuzz::expect_accept_or_reject([&] {
    const torch::Tensor t = data::parse_idx(bytes, "fuzz.idx");
    // Accepted: the header is 4 + 4 * rank bytes and every other byte is an element.
    fuzz::check(t.dtype() == torch::kUInt8, "uint8 tensor");
    fuzz::check(size == 4 + 4 * static_cast<size_t>(t.dim()) + static_cast<size_t>(t.numel()),
                "header + elements = file size");
  });
  return 0;
}

// libFuzzer target: the CIFAR-10 / CIFAR-100 binary reader. The first byte picks the format
// (odd: CIFAR-100), the rest is the file.
#include "fuzz/fuzz_common.h"
#include "pfedhn/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pfedhn;
  if (size == 0) return 0;
  const bool cifar100 = (data[0] & 1) != 0;
  const std::vector<uint8_t> bytes = fuzz::to_vector(data + 1, size - 1);
  fuzz::expect_accept_or_reject([&] {
    const data::LabeledImages out = data::parse_cifar(bytes, cifar100, "fuzz.bin");
    const int64_t record = (cifar100 ? 2 : 1) + 3 * 32 * 32;
    const int64_t n = static_cast<int64_t>(bytes.size()) / record;
    fuzz::check(out.images.sizes() == torch::IntArrayRef({n, 3, 32, 32}), "image shape");
    fuzz::check(out.labels.sizes() == torch::IntArrayRef({n}), "label shape");
    fuzz::check(out.labels.min().item<int64_t>() >= 0 &&
                    out.labels.max().item<int64_t>() < (cifar100 ? 100 : 10),
                "labels in range");
  });
  return 0;
}

// libFuzzer target: YAML config text, as `--config FILE` reads it (without includes), then
// validation. A config that validates must print (to_yaml) as YAML that loads back to the
// same config: that is how a run directory's config.yaml and a checkpoint store it.
#include "fuzz/fuzz_common.h"
#include "pfedhn/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pfedhn;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_accept_or_reject([&] {
    config::Config cfg = config::parse_config_text(text, "fuzz.yaml");
    config::resolve_and_validate(cfg);
    const std::string yaml = config::to_yaml(cfg);
    config::Config again;
    try {
      again = config::parse_config_text(yaml, "to_yaml output");
      config::resolve_and_validate(again);
    } catch (const UserError& e) {
      std::fprintf(stderr, "to_yaml output does not load back: %s\n%s\n", e.what(), yaml.c_str());
      std::abort();
    }
    fuzz::check(config::to_yaml(again) == yaml, "to_yaml round trip");
  });
  return 0;
}

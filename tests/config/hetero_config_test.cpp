// model.hetero_kernels: the one list-valued key (heterogeneous target networks).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

using testing::config_error;
using testing::Contains;
using testing::overridden;
using Ints = std::vector<int64_t>;

TEST(HeteroKernelsKey, IsOffByDefaultAndInEveryForm) {
  EXPECT_TRUE(Config{}.model.hetero_kernels.empty());
  EXPECT_EQ(config_value(Config{}, "model.hetero_kernels"), "[]");
  EXPECT_EQ(overridden({"model.hetero_kernels=[8, 16, 32]"}).model.hetero_kernels,
            (Ints{8, 16, 32}));
  EXPECT_EQ(overridden({"model.hetero_kernels=8,16,32"}).model.hetero_kernels, (Ints{8, 16, 32}));
  EXPECT_EQ(overridden({"model.hetero_kernels=4"}).model.hetero_kernels, (Ints{4}));
  EXPECT_TRUE(overridden({"model.hetero_kernels=[8]", "model.hetero_kernels=[]"})
                  .model.hetero_kernels.empty());
  const Config file = parse_config_text("model:\n  hetero_kernels:\n    - 4\n    - 8\n", "f");
  EXPECT_EQ(file.model.hetero_kernels, (Ints{4, 8}));
  EXPECT_EQ(file.explicit_keys.count("model.hetero_kernels"), 1u);
}

TEST(HeteroKernelsKey, RoundTripsThroughToYamlAsAFlowList) {
  Config cfg = overridden({"model.hetero_kernels=[8, 16, 32]"});
  resolve_and_validate(cfg);
  const std::string yaml = to_yaml(cfg);
  EXPECT_TRUE(Contains(yaml, "hetero_kernels: [8, 16, 32]\n")) << yaml;
  Config back = parse_config_text(yaml, "round trip");
  resolve_and_validate(back);
  EXPECT_EQ(back.model.hetero_kernels, cfg.model.hetero_kernels);
  EXPECT_EQ(to_yaml(back), yaml);
  EXPECT_TRUE(Contains(to_yaml(Config{}), "hetero_kernels: []\n"));
}

TEST(HeteroKernelsKey, BadValuesAreOneLineErrorsNamingTheKey) {
  for (const std::string bad :
       {"model.hetero_kernels=[8, x]", "model.hetero_kernels=[8,,16]", "model.hetero_kernels=[8.5]",
        "model.hetero_kernels={a: 1}", "model.hetero_kernels=[[8], 16]"}) {
    const std::string m = config_error([&] { overridden({bad}); });
    EXPECT_TRUE(Contains(m, "model.hetero_kernels")) << bad;
  }
  EXPECT_TRUE(Contains(config_error([&] { parse_config_text("model: {n_kernels: [8]}", "f"); }),
                       "model.n_kernels"));
}

TEST(HeteroKernelsKey, ValidationNeedsDistinctPositiveWidthsAndAClientForEach) {
  auto validation_error = [](const std::vector<std::string>& overrides) {
    Config cfg = overridden(overrides);
    return config_error([&] { resolve_and_validate(cfg); });
  };
  for (const auto& [overrides, part] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"model.hetero_kernels=[8, 0]"}, "every width must be >= 1"},
           {{"model.hetero_kernels=[-4]"}, "every width must be >= 1"},
           {{"model.hetero_kernels=[8, 16, 8]"}, "twice"},
           {{"model.hetero_kernels=[4, 8, 16]", "client.num_nodes=2"}, "client.num_nodes"},
           {{"model.hetero_kernels=[4, 8]", "algorithm=fedavg"}, "needs algorithm=pfedhn"},
           {{"model.hetero_kernels=[4, 8]", "novel.num_clients=2"}, "novel.num_clients=2"}}) {
    const std::string m = validation_error(overrides);
    EXPECT_TRUE(Contains(m, "model.hetero_kernels=")) << m;
    EXPECT_TRUE(Contains(m, part)) << m;
  }
  Config ok = overridden({"model.hetero_kernels=[4, 8, 16]", "client.num_nodes=3"});
  EXPECT_NO_THROW(resolve_and_validate(ok));
  Config pc = overridden({"model.hetero_kernels=[4, 8]", "algorithm=pfedhn_pc"});
  EXPECT_NO_THROW(resolve_and_validate(pc));
}

}  // namespace
}  // namespace pfedhn::config

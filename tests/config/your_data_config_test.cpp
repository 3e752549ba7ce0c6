// The keys of user data and user networks: dataset.file, dataset.mean / dataset.std,
// model.target, model.target_file, model.local_layer, and validation against a dataset's facts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "pfedhn/config/config.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

using testing::config_error;
using testing::Contains;
using testing::overridden;

std::string error_of(const std::vector<std::string>& overrides) {
  Config cfg = overridden(overrides);
  return config_error([&] { resolve_and_validate(cfg); });
}

// What data::describe_dataset says of a small image folder.
data::DatasetInfo folder_facts() {
  data::DatasetInfo info;
  info.name = "folder";
  info.format = data::FileFormat::kFolder;
  info.num_classes = 5;
  info.channels = 1;
  info.height = 20;
  info.width = 24;
  info.train_size = 300;
  info.test_size = 0;
  info.source = "my_images";
  return info;
}

TEST(YourDataKeys, DefaultToTheBuiltInDataAndNetworkAndRoundTrip) {
  const Config defaults;
  EXPECT_EQ(defaults.model.target, TargetKind::kAuto);
  EXPECT_TRUE(defaults.dataset.file.empty() && defaults.dataset.mean.empty());
  const Config cfg =
      overridden({"dataset.data=tensors", "dataset.file=d.pt", "dataset.mean=[0.5]",
                  "dataset.std=[0.25]", "model.target=script", "model.target_file=net.pt",
                  "algorithm=pfedhn_pc", "model.local_layer=fc3"});
  const Config back = parse_config_text(to_yaml(cfg), "round trip");
  EXPECT_EQ(back.dataset.file, "d.pt");
  EXPECT_EQ(back.dataset.mean, std::vector<double>{0.5});
  EXPECT_EQ(back.dataset.std, std::vector<double>{0.25});
  EXPECT_EQ(back.model.target, TargetKind::kScript);
  EXPECT_EQ(back.model.target_file, "net.pt");
  EXPECT_EQ(back.model.local_layer, "fc3");
  EXPECT_TRUE(Contains(to_yaml(defaults), "target: auto\n"));
}

TEST(YourDataKeys, TensorsNeedAFileAndOnlyTensorsReadOne) {
  EXPECT_TRUE(Contains(error_of({"dataset.data=tensors"}), "needs dataset.file=PATH"));
  EXPECT_TRUE(Contains(error_of({"dataset.file=d.pt"}),
                       "dataset.file='d.pt' is read only with dataset.data=tensors"));
}

TEST(YourDataKeys, MeanAndStdComeTogetherOnePerChannelAndStdIsPositive) {
  EXPECT_TRUE(Contains(error_of({"dataset.mean=[0.5, 0.5, 0.5]"}), "must be given together"));
  EXPECT_TRUE(Contains(error_of({"dataset.mean=[0.5, 0.5, 0.5]", "dataset.std=[1, 0, 1]"}),
                       "every std must be > 0"));
  EXPECT_TRUE(Contains(error_of({"dataset.mean=[0.5]", "dataset.std=[0.2]"}),
                       "have 1 numbers, but dataset 'cifar10' has 3 channels"));
  Config ok = overridden({"dataset.mean=[0.5, 0.5, 0.5]", "dataset.std=[0.2, 0.2, 0.2]"});
  EXPECT_NO_THROW(resolve_and_validate(ok));
}

TEST(YourDataKeys, AScriptedTargetNeedsItsFileAndOnlyItReadsOne) {
  EXPECT_TRUE(Contains(error_of({"model.target=script"}), "needs model.target_file=PATH"));
  EXPECT_TRUE(Contains(error_of({"model.target_file=net.pt"}),
                       "is read only with model.target=script, not model.target=auto"));
  Config lenet = overridden({"model.target=lenet", "dataset.data=mnist"});
  EXPECT_NO_THROW(resolve_and_validate(lenet));
}

TEST(YourDataKeys, TheLocalLayerIsPFedHNPCsOnAScriptedTarget) {
  const std::vector<std::string> script{"model.target=script", "model.target_file=net.pt"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), script.begin(), script.end());
    return more;
  };
  EXPECT_TRUE(Contains(error_of(with({"algorithm=pfedhn_pc"})), "needs model.local_layer=NAME"));
  EXPECT_TRUE(Contains(error_of(with({"model.local_layer=fc3"})),
                       "needs algorithm=pfedhn_pc, got algorithm=pfedhn"));
  EXPECT_TRUE(Contains(error_of({"algorithm=pfedhn_pc", "model.local_layer=fc3"}),
                       "it needs model.target=script"));
  Config pc = overridden(with({"algorithm=pfedhn_pc", "model.local_layer=fc3"}));
  EXPECT_NO_THROW(resolve_and_validate(pc));
}

TEST(YourDataKeys, HeterogeneousWidthsAreForTheBuiltInTargetsOnly) {
  const std::string message =
      error_of({"model.target=script", "model.target_file=net.pt", "model.hetero_kernels=[4, 8]"});
  EXPECT_TRUE(Contains(message, "cannot be combined with model.target=script")) << message;
}

TEST(YourDataKeys, AFolderIsCheckedAgainstWhatItsFilesSay) {
  // Without the facts only the keys are checked; the channels and classes stay as given.
  Config cfg = overridden({"dataset.data=folder", "dataset.root=my_images", "dataset.val_size=50"});
  EXPECT_NO_THROW(resolve_and_validate(cfg));
  EXPECT_EQ(cfg.model.in_channels, 3);

  const data::DatasetInfo facts = folder_facts();
  resolve_and_validate(cfg, &facts);
  EXPECT_EQ(cfg.model.in_channels, 1);
  EXPECT_EQ(cfg.model.out_dim, 5);
  EXPECT_TRUE(Contains(to_yaml(cfg), "out_dim: 5\n"));

  Config big_val = overridden({"dataset.data=folder", "dataset.val_size=300"});
  const std::string message = config_error([&] { resolve_and_validate(big_val, &facts); });
  EXPECT_TRUE(Contains(message, "must be < 300 (its training-set size)")) << message;
  Config classes =
      overridden({"dataset.data=folder", "dataset.val_size=50", "client.num_classes_per_node=6"});
  EXPECT_TRUE(
      Contains(config_error([&] { resolve_and_validate(classes, &facts); }), "must be in [1, 5]"));
  Config contradiction =
      overridden({"dataset.data=folder", "dataset.val_size=50", "model.out_dim=10"});
  EXPECT_TRUE(Contains(config_error([&] { resolve_and_validate(contradiction, &facts); }),
                       "model.out_dim=10 contradicts dataset 'folder' (5 classes)"));
  Config channels = overridden({"dataset.data=folder", "dataset.val_size=50",
                                "dataset.mean=[0.5, 0.5, 0.5]", "dataset.std=[1, 1, 1]"});
  EXPECT_TRUE(Contains(config_error([&] { resolve_and_validate(channels, &facts); }),
                       "but dataset 'folder' has 1 channel"));
}

TEST(YourDataKeys, CustomDatasetsAreSuggestedAndListed) {
  EXPECT_TRUE(Contains(error_of({"dataset.data=folders"}), "did you mean 'folder'?"));
  EXPECT_TRUE(Contains(error_of({"dataset.data=imagenet"}), "|folder|tensors"));
  EXPECT_TRUE(is_custom_dataset("folder") && is_custom_dataset("tensors"));
  EXPECT_FALSE(is_custom_dataset("cifar10"));
}

}  // namespace
}  // namespace pfedhn::config

// `pfedhn train` on an image folder and a tensors file written here, and with a scripted target:
// a run that trains, resumes bit-identically and exports; and bad input that stops with one line
// and exit code 2 before anything is written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/data_fixtures.h"
#include "data/image_fixtures.h"
#include "models/script_modules.h"
#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using data::testing::write_image;
using data::testing::write_image_folder;
using data::testing::write_tensors_file;
using testing::run_pfedhn;
using testing::slurp;

// A tiny model on 16x16 images, one thread (bit-exact runs).
const char* kTiny =
    "model.n_kernels=2 model.n_hidden=1 server.hidden_dim=16 client.num_nodes=4 "
    "client.num_epochs=5 client.batch_size=16 num_threads=1 seed=4";

std::string folder_args(const fs::path& images) {
  return std::string("train dataset.data=folder dataset.root=") + images.string() +
         " dataset.val_size=40 " + kTiny;
}

TEST(YourDataCli, AnImageFolderTrainsResumesBitIdenticallyAndExports) {
  TempDir tmp;
  const fs::path images = tmp / "images";
  write_image_folder(images, 4, 60, 15);  // 300 PNGs, 3x16x16
  const std::string args = folder_args(images) + " eval_every=4";
  const auto full = run_pfedhn(args + " client.num_rounds=12 --output-dir " + (tmp / "a").string());
  ASSERT_EQ(full.exit_code, 0) << full.output;
  EXPECT_NE(full.output.find("data: folder " + images.string() + ": 4 classes: class_0"),
            std::string::npos)
      << full.output;
  EXPECT_NE(full.output.find("240 training and 60 test images of 3x16x16"), std::string::npos);

  // Stopped at an evaluated round (8), so the shorter run adds no evaluation of its own last
  // round to metrics.csv.
  const auto part = run_pfedhn(args + " client.num_rounds=9 --output-dir " + (tmp / "b").string());
  ASSERT_EQ(part.exit_code, 0) << part.output;
  const auto resumed =
      run_pfedhn("train --resume " + (tmp / "b").string() + " client.num_rounds=12");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(slurp(tmp / "a" / "metrics.csv"), slurp(tmp / "b" / "metrics.csv"));
  EXPECT_EQ(slurp(tmp / "a" / "results.json"), slurp(tmp / "b" / "results.json"));

  const auto exported = run_pfedhn("export " + (tmp / "a").string());
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const auto manifest = nlohmann::json::parse(slurp(tmp / "a" / "export" / "manifest.json"));
  EXPECT_EQ(manifest["dataset"].get<std::string>(), "folder");
  EXPECT_EQ(manifest["source"].get<std::string>(), images.string());
  EXPECT_EQ(manifest["class_names"].size(), 4u);
  EXPECT_EQ(manifest["input_shape"], nlohmann::json({3, 16, 16}));
  EXPECT_TRUE(fs::exists(tmp / "a" / "export" / "client_3.pt"));
}

TEST(YourDataCli, AScriptedTargetWithALocalLayerTrainsAndExportsTheUsersModule) {
  TempDir tmp;
  write_image_folder(tmp / "images", 4, 30, 10, 1, 8);
  const auto net =
      models::testing::save_module(models::testing::mlp_module(64, 16, 4), tmp / "mlp.pt");
  const fs::path run = tmp / "run";
  const auto r =
      run_pfedhn(folder_args(tmp / "images") +
                 " algorithm=pfedhn_pc model.target=script model.target_file=" + net.string() +
                 " model.local_layer=head client.num_rounds=8 eval_every=4"
                 " --output-dir " +
                 run.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(run / "train.log").find("each client keeps head"), std::string::npos);
  ASSERT_EQ(run_pfedhn("export " + run.string()).exit_code, 0);
  auto client = torch::jit::load((run / "export" / "client_0.pt").string());
  EXPECT_TRUE(client.hasattr("body") && client.hasattr("head"));
  EXPECT_EQ(client.attr("head").toModule().attr("weight").toTensor().sizes(),
            (std::vector<int64_t>{4, 16}));
}

TEST(YourDataCli, ATensorsFileTrainsLikeAnyDataset) {
  TempDir tmp;
  torch::manual_seed(2);
  const auto x = torch::randint(0, 256, {200, 1, 16, 16}, torch::kUInt8);
  const auto y = torch::arange(200, torch::kLong).remainder(4);
  write_tensors_file(tmp / "d.pt", {{"train_x", x}, {"train_y", y}});
  const auto r =
      run_pfedhn(std::string("train dataset.data=tensors dataset.file=") + (tmp / "d.pt").string() +
                 " dataset.test_split=holdout dataset.val_size=40 "
                 "dataset.test_size=40 client.num_rounds=3 eval_every=2 " +
                 kTiny + " --output-dir " + (tmp / "run").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto cfg = slurp(tmp / "run" / "config.yaml");
  EXPECT_NE(cfg.find("in_channels: 1\n"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("out_dim: 4\n"), std::string::npos) << cfg;
}

struct BadInput {
  const char* name;
  std::string args;      // after "train"
  std::string expected;  // part of the one-line error
};

TEST(YourDataCli, BadInputGivesOneLineAndExitCode2AndWritesNothing) {
  TempDir tmp;
  const auto folder = [&](const std::string& name) {
    const fs::path root = tmp / name;
    write_image_folder(root, 3, 20, 5);
    return root;
  };
  const fs::path empty_class = folder("empty_class");
  fs::create_directories(empty_class / "train" / "class_9");
  const fs::path not_image = folder("not_image");
  data::testing::write_bytes(not_image / "train" / "class_1" / "notes.txt", {'h', 'i'});
  const fs::path two_sizes = folder("two_sizes");
  write_image(two_sizes / "train" / "class_2" / "big.png", data::testing::class_image(2, 3, 20, 0));
  const fs::path zebra = folder("zebra");
  write_image(zebra / "test" / "zebra" / "z.png", data::testing::class_image(0, 3, 16, 0));
  const fs::path no_test = tmp / "no_test";
  write_image_folder(no_test, 3, 20, 0);

  const auto x = torch::randint(0, 256, {60, 3, 16, 16}, torch::kUInt8);
  const auto y = torch::arange(60, torch::kLong).remainder(3);
  write_tensors_file(tmp / "no_y.pt", {{"train_x", x}});
  write_tensors_file(tmp / "flat.pt", {{"train_x", x.flatten(1)}, {"train_y", y}});
  const auto mlp =
      models::testing::save_module(models::testing::mlp_module(768, 8, 5), tmp / "mlp5.pt");
  const auto good =
      models::testing::save_module(models::testing::mlp_module(768, 8, 3), tmp / "mlp3.pt");
  auto with_buffer = models::testing::mlp_module(768, 8, 3);
  with_buffer.register_buffer("running_var", torch::ones({8}));
  const auto buffered = models::testing::save_module(with_buffer, tmp / "bn.pt");

  const std::string f = folder_args(folder("good")) + " ";
  const std::string tensors =
      std::string("train dataset.data=tensors dataset.val_size=10 ") + kTiny + " dataset.file=";
  const std::vector<BadInput> cases{
      {"empty class", folder_args(empty_class), "class_9 holds no image"},
      {"not an image", folder_args(not_image), "notes.txt is not an image"},
      {"two sizes", folder_args(two_sizes), "big.png is 3x20x20 (RGB) but"},
      {"label outside the classes", folder_args(zebra), "class 'zebra' is not one of the training"},
      {"no test set", folder_args(no_test), "has no test/ folder; draw the test split"},
      {"missing key", tensors + (tmp / "no_y.pt").string(), "has no key 'train_y'"},
      {"misshapen key", tensors + (tmp / "flat.pt").string(),
       "key 'train_x' is uint8 [60, 768], expected uint8 images [N, C, H, W]"},
      {"output of another class count", f + "model.target=script model.target_file=" + mlp.string(),
       "forward gives float32 [2, 5] for a batch of 2 images of 3x16x16, expected float32 [2, 3]"},
      {"no such local layer",
       f + "algorithm=pfedhn_pc model.target=script model.local_layer=fc3 model.target_file=" +
           good.string(),
       "model.local_layer='fc3' names no submodule"},
      {"a buffer", f + "model.target=script model.target_file=" + buffered.string(),
       "has the buffer 'running_var'"},
      {"hetero with script",
       f + "model.target=script model.hetero_kernels=[2,4] model.target_file=" + good.string(),
       "cannot be combined with model.target=script"},
  };
  for (const auto& c : cases) {
    const fs::path out = tmp / ("out_" + std::to_string(&c - cases.data()));
    const auto r = run_pfedhn(c.args + " --output-dir " + out.string());
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.output;
    const auto at = r.output.find("error: ");
    ASSERT_NE(at, std::string::npos) << c.name << ": " << r.output;
    const std::string line = r.output.substr(at);
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << c.name << ": " << r.output;
    EXPECT_NE(line.find(c.expected), std::string::npos) << c.name << ": " << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.name << ": a run directory was written";
  }
}

}  // namespace
}  // namespace pfedhn

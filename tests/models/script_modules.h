#pragma once

// TorchScript modules written in C++ for the tests of scripted targets (model.target=script):
// they load exactly as modules scripted in Python do.

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace pfedhn::models::testing {

// A module of class `name` (unique per module: the file keeps one class per name) with a
// `training` flag, as Python's nn.Module has.
inline torch::jit::Module new_module(const std::string& name) {
  torch::jit::Module m(name);
  m.register_attribute("training", c10::BoolType::get(), true);
  return m;
}

// A layer holding weight [out, in...] and bias [out], drawn from N(0, 0.1).
inline torch::jit::Module layer(const std::string& name, std::vector<int64_t> weight_shape) {
  torch::jit::Module m = new_module(name);
  const int64_t out = weight_shape.front();
  m.register_parameter("weight", torch::randn(weight_shape) * 0.1, false);
  m.register_parameter("bias", torch::randn({out}) * 0.1, false);
  return m;
}

// x -> flatten -> body (Linear in -> hidden) -> ReLU [-> dropout] -> head (Linear hidden ->
// classes). With `view`, flattens by x.view(x.size(0), -1), which needs contiguous inputs.
inline torch::jit::Module mlp_module(int64_t in, int64_t hidden, int64_t classes, bool view = false,
                                     bool dropout = false) {
  torch::jit::Module body = layer("Body", {hidden, in});
  body.define(
      "def forward(self, x: Tensor) -> Tensor:\n"
      "    return torch.linear(x, self.weight, self.bias)\n");
  torch::jit::Module head = layer("Head", {classes, hidden});
  head.define(
      "def forward(self, x: Tensor) -> Tensor:\n"
      "    return torch.linear(x, self.weight, self.bias)\n");
  torch::jit::Module m = new_module("Mlp");
  m.register_module("body", body);
  m.register_module("head", head);
  std::string src = "def forward(self, x: Tensor) -> Tensor:\n";
  src += view ? "    h = x.view(x.size(0), -1)\n" : "    h = torch.flatten(x, 1)\n";
  src += "    h = torch.relu(self.body.forward(h))\n";
  if (dropout) src += "    h = torch.dropout(h, 0.5, self.training)\n";
  src += "    return self.head.forward(h)\n";
  m.define(src);
  return m;
}

// The paper's CIFAR LeNet with parameters named as the built-in target's (conv1.weight, ...).
inline torch::jit::Module lenet_module(int64_t channels, int64_t k, int64_t classes) {
  torch::jit::Module m = new_module("LeNet");
  m.register_module("conv1", layer("Conv1", {k, channels, 5, 5}));
  m.register_module("conv2", layer("Conv2", {2 * k, k, 5, 5}));
  m.register_module("fc1", layer("Fc1", {120, 2 * k * 5 * 5}));
  m.register_module("fc2", layer("Fc2", {84, 120}));
  m.register_module("fc3", layer("Fc3", {classes, 84}));
  m.define(
      "def forward(self, x: Tensor) -> Tensor:\n"
      "    h = torch.max_pool2d(torch.relu(torch.conv2d(x, self.conv1.weight, self.conv1.bias)), "
      "2)\n"
      "    h = torch.max_pool2d(torch.relu(torch.conv2d(h, self.conv2.weight, self.conv2.bias)), "
      "2)\n"
      "    h = torch.flatten(h, 1)\n"
      "    h = torch.relu(torch.linear(h, self.fc1.weight, self.fc1.bias))\n"
      "    h = torch.relu(torch.linear(h, self.fc2.weight, self.fc2.bias))\n"
      "    return torch.linear(h, self.fc3.weight, self.fc3.bias)\n");
  return m;
}

inline std::filesystem::path save_module(const torch::jit::Module& m,
                                         const std::filesystem::path& path) {
  std::filesystem::create_directories(path.parent_path());
  m.save(path.string());
  return path;
}

}  // namespace pfedhn::models::testing

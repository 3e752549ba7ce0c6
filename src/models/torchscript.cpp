#include "pfedhn/models/torchscript.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pfedhn/models/script_target.h"

namespace pfedhn::models {
namespace {

std::string attribute_name(std::string tensor_name) {
  std::replace(tensor_name.begin(), tensor_name.end(), '.', '_');
  return tensor_name;
}

void add_parameter(torch::jit::Module& m, const std::string& name, const torch::Tensor& t) {
  m.register_parameter(name, t.detach().to(torch::kCPU).contiguous().clone(), false);
}

std::string shape_list(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// The body of forward(x), layer by layer as models::target_forward runs them.
std::string client_forward_source(const TargetSpec& spec, bool has_local_layer) {
  std::vector<std::string> names;
  for (const auto& t : spec.tensors) names.push_back("self." + attribute_name(t.name));
  size_t i = 0;
  auto next = [&](const char* op, const std::string& in) {
    std::string call = fmt::format("torch.{}({}, {}, {})", op, in, names[i], names[i + 1]);
    i += 2;
    return call;
  };
  std::string src = "def forward(self, x: Tensor) -> Tensor:\n";
  src += "    h = torch.relu(torch.max_pool2d(" + next("conv2d", "x") + ", 2))\n";
  src += "    h = torch.relu(torch.max_pool2d(" + next("conv2d", "h") + ", 2))\n";
  if (spec.arch == TargetArch::kMnistCnn)
    src += "    h = torch.relu(" + next("conv2d", "h") + ")\n";
  src += "    h = torch.flatten(h, 1)\n";
  src += "    h = torch.relu(" + next("linear", "h") + ")\n";
  src += "    h = torch.relu(" + next("linear", "h") + ")\n";
  if (spec.with_head) src += "    h = " + next("linear", "h") + "\n";
  if (has_local_layer) src += "    h = torch.linear(h, self.local_weight, self.local_bias)\n";
  src += "    return h\n";
  return src;
}

std::string head_name(size_t spec, size_t tensor, const char* what) {
  return fmt::format("head{}_{}_{}", spec, tensor, what);
}

// from_embedding: the MLP (ReLU between its layers), then every head of the spec, reshaped.
std::string hypernetwork_source(const HyperNetworkImpl& hnet) {
  std::string src = "def features(self, embedding: Tensor) -> Tensor:\n";
  for (size_t i = 0; i < hnet.mlp_layers().size(); ++i) {
    const std::string in = i == 0 ? "embedding" : "torch.relu(h)";
    src += fmt::format("    h = torch.linear({}, self.mlp{}_weight, self.mlp{}_bias)\n", in, i, i);
  }
  src += "    return h\n\n";
  src += "def from_embedding(self, embedding: Tensor, spec: int = 0) -> Dict[str, Tensor]:\n";
  src += fmt::format(
      "    assert spec >= 0 and spec < {0}, \"spec must be in [0, {0}): one per entry of "
      "widths\"\n",
      hnet.target_specs().size());
  src += "    h = self.features(embedding)\n";
  src += "    out: Dict[str, Tensor] = {}\n";
  for (size_t s = 0; s < hnet.target_specs().size(); ++s) {
    src += fmt::format("    if spec == {}:\n", s);
    const auto& tensors = hnet.target_specs()[s].tensors;
    for (size_t t = 0; t < tensors.size(); ++t) {
      src += fmt::format("        out[\"{}\"] = torch.linear(h, self.{}, self.{}).view({})\n",
                         tensors[t].name, head_name(s, t, "weight"), head_name(s, t, "bias"),
                         shape_list(tensors[t].shape));
    }
    src += "        return out\n";
  }
  src += "    return out\n\n";
  src += "def spec_of(self, client: int) -> int:\n";
  src += "    if len(self.client_spec) == 0:\n        return 0\n";
  src += "    return self.client_spec[client]\n\n";
  src += "def forward(self, client: int) -> Dict[str, Tensor]:\n";
  src += "    return self.from_embedding(self.embeddings[client], self.spec_of(client))\n";
  return src;
}

}  // namespace

torch::jit::Module client_script_module(const ClientNetwork& net) {
  if (net.spec.script) return net.spec.script->module_with(net.weights, net.local_layer);
  TORCH_CHECK(net.weights.size() == net.spec.tensors.size(), "client_script_module: expected ",
              net.spec.tensors.size(), " tensors, got ", net.weights.size());
  torch::jit::Module m("ClientNetwork");
  for (size_t i = 0; i < net.weights.size(); ++i) {
    add_parameter(m, attribute_name(net.spec.tensors[i].name), net.weights[i]);
  }
  if (!net.local_layer.empty()) {
    add_parameter(m, "local_weight", net.local_layer.at(0));
    add_parameter(m, "local_bias", net.local_layer.at(1));
  }
  m.define(client_forward_source(net.spec, !net.local_layer.empty()));
  m.eval();
  return m;
}

torch::jit::Module hypernetwork_script_module(const HyperNetworkImpl& hnet) {
  torch::NoGradGuard no_grad;
  torch::jit::Module m("HyperNetwork");
  add_parameter(m, "embeddings", hnet.embeddings());
  for (size_t i = 0; i < hnet.mlp_layers().size(); ++i) {
    const auto& layer = hnet.mlp_layers()[i];
    add_parameter(m, fmt::format("mlp{}_weight", i), layer->inference_weight());
    add_parameter(m, fmt::format("mlp{}_bias", i), layer->bias);
  }
  c10::List<int64_t> widths;
  for (size_t s = 0; s < hnet.target_specs().size(); ++s) {
    widths.push_back(hnet.target_specs()[s].n_kernels);
    const auto& heads = hnet.head_layers(s);
    for (size_t t = 0; t < heads.size(); ++t) {
      add_parameter(m, head_name(s, t, "weight"), heads[t]->inference_weight());
      add_parameter(m, head_name(s, t, "bias"), heads[t]->bias);
    }
  }
  m.register_attribute("widths", c10::ListType::ofInts(), widths);
  m.register_attribute("client_spec", c10::ListType::ofInts(),
                       c10::List<int64_t>(hnet.options().client_spec));
  m.define(hypernetwork_source(hnet));
  m.eval();
  return m;
}

}  // namespace pfedhn::models

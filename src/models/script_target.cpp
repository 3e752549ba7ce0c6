#include "pfedhn/models/script_target.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <set>

#include "pfedhn/util/dtype.h"
#include "pfedhn/util/error.h"

namespace pfedhn::models {
namespace fs = std::filesystem;
namespace {

constexpr size_t kNamesShown = 12;

// A parameter's name as a module or parameter name of pfedhn's own (no '.').
std::string flat_name(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

std::string shape_text(c10::IntArrayRef sizes) {
  return fmt::format("[{}]", fmt::join(sizes, ", "));
}

std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return error_summary(c10_error->what_without_backtrace());
  }
  return error_summary(e.what());
}

// The names of the module's submodules, for the message of a local_layer that is none of them.
std::string submodule_names(const torch::jit::Module& module) {
  std::vector<std::string> names;
  for (const auto& m : module.named_modules()) {
    if (!m.name.empty()) names.push_back(m.name);
  }
  if (names.empty()) return "it has no submodules";
  std::string out = "its submodules: " + names.front();
  for (size_t i = 1; i < std::min(names.size(), kNamesShown); ++i) out += ", " + names[i];
  return out + (names.size() > kNamesShown ? ", ..." : "");
}

bool is_submodule(const torch::jit::Module& module, const std::string& name) {
  for (const auto& m : module.named_modules()) {
    if (!m.name.empty() && m.name == name) return true;
  }
  return false;
}

torch::jit::Module load_module(const fs::path& file, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw UserError(what + ": no such file");
  try {
    return torch::jit::load(file.string(), torch::kCPU);
  } catch (const std::exception& e) {
    throw UserError(what +
                    ": not a TorchScript module (save one with "
                    "torch.jit.script(MyNet()).save(PATH)): " +
                    error_text(e));
  }
}

void check_module(const torch::jit::Module& module, const std::string& what) {
  if (!module.find_method("forward")) throw UserError(what + ": the module has no forward method");
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) {
    throw UserError(what + ": the module has the buffer '" + buffer.name +
                    "' (e.g. BatchNorm's running statistics), which pfedhn would have to keep "
                    "per client; use a network without buffers (e.g. GroupNorm or LayerNorm "
                    "instead of BatchNorm)");
  }
}

}  // namespace

std::shared_ptr<const ScriptTarget> ScriptTarget::load(const fs::path& file,
                                                       const ScriptTargetOptions& options) {
  TORCH_CHECK(options.input_shape.size() == 3, "ScriptTarget::load: input shape is [C, H, W]");
  const std::string what = "model.target_file '" + file.string() + "'";
  torch::jit::Module module = load_module(file, what);
  check_module(module, what);
  std::shared_ptr<ScriptTarget> target(new ScriptTarget(file, options, std::move(module)));
  target->check_output(what);
  return target;
}

ScriptTarget::ScriptTarget(fs::path file, ScriptTargetOptions options, torch::jit::Module module)
    : file_(std::move(file)), options_(std::move(options)), module_(std::move(module)) {
  const std::string what = "model.target_file '" + file_.string() + "'";
  const std::string& local = options_.local_layer;
  if (!local.empty() && !is_submodule(module_, local)) {
    throw UserError("model.local_layer='" + local + "' names no submodule of " + file_.string() +
                    " (" + submodule_names(module_) + ")");
  }
  std::set<std::string> flat_names;
  for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
    if (p.value.scalar_type() != torch::kFloat32) {
      throw UserError(what + ": parameter '" + p.name + "' is " +
                      dtype_name(p.value.scalar_type()) +
                      "; pfedhn trains float32 networks (script the module after .float())");
    }
    if (!flat_names.insert(flat_name(p.name)).second) {
      throw UserError(what + ": parameters '" + p.name + "' and another one both read '" +
                      flat_name(p.name) + "' with '.' as '_'; rename one of them");
    }
    const bool is_local = !local.empty() && p.name.rfind(local + ".", 0) == 0;
    auto& list = is_local ? local_ : generated_;
    params_.push_back({p.name, is_local, list.size()});
    list.push_back({p.name, p.value.sizes().vec()});
    initial_.push_back(p.value.detach().clone());
  }
  if (params_.empty()) throw UserError(what + ": the module has no parameters to generate");
  if (!local.empty() && local_.empty()) {
    throw UserError("model.local_layer='" + local + "' of " + file_.string() +
                    " has no parameters for the client to keep");
  }
  if (generated_.empty()) {
    throw UserError("model.local_layer='" + local + "' holds every parameter of " + file_.string() +
                    ", leaving the hypernetwork nothing to generate");
  }
  saved_generated_ = copies(false);
  saved_local_ = copies(true);
  slots_ = slots_of(module_, params_);
}

std::vector<ScriptTarget::Slot> ScriptTarget::slots_of(const torch::jit::Module& module,
                                                       const std::vector<Parameter>& params) {
  std::vector<Slot> slots;
  slots.reserve(params.size());
  for (const Parameter& p : params) {
    // "features.0.weight": submodule features, its submodule 0, attribute weight.
    auto owner = module._ivalue();
    size_t start = 0;
    for (size_t dot = p.name.find('.'); dot != std::string::npos; dot = p.name.find('.', start)) {
      owner = owner->getAttr(p.name.substr(start, dot - start)).toObject();
      start = dot + 1;
    }
    slots.push_back({owner, owner->type()->getAttributeSlot(p.name.substr(start))});
  }
  return slots;
}

std::string ScriptTarget::describe() const {
  int64_t local_parameters = 0;
  for (const auto& t : local_) local_parameters += t.numel();
  std::string out = "scripted from " + file_.string();
  if (!local_.empty()) {
    out += fmt::format("; each client keeps {} ({} parameters)", options_.local_layer,
                       local_parameters);
  }
  if (!channels_last_) out += "; NCHW inputs (x.view needs them: flatten(1) runs faster)";
  return out;
}

Weights ScriptTarget::copies(bool local) const {
  Weights out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].local == local) out.push_back(initial_[i].clone());
  }
  return out;
}

void ScriptTarget::place(const std::vector<Slot>& slots, const Weights& generated,
                         const Weights& local) const {
  TORCH_CHECK(generated.size() == generated_.size() && local.size() == local_.size(),
              "ScriptTarget: expected ", generated_.size(), " generated and ", local_.size(),
              " local tensors, got ", generated.size(), " and ", local.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Parameter& p = params_[i];
    slots[i].object->setSlot(slots[i].index, p.local ? local[p.position] : generated[p.position]);
  }
}

torch::Tensor ScriptTarget::run(const torch::Tensor& x, Mode mode) const {
  module_.train(mode == Mode::kTrain);
  const torch::jit::GraphOptimizerEnabledGuard op_by_op(false);
  const auto input = channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
  const c10::IValue out = module_.forward({input});
  TORCH_CHECK(out.isTensor(), "the scripted target's forward returned a ", out.tagKind());
  return out.toTensor();
}

torch::Tensor ScriptTarget::forward(const Weights& generated, const Weights& local,
                                    const torch::Tensor& x, Mode mode) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  place(slots_, generated, local);
  torch::Tensor out = run(x, mode);
  // Let go of the client's tensors (and their autograd graph) once the forward has used them.
  place(slots_, saved_generated_, saved_local_);
  return out;
}

void ScriptTarget::check_output(const std::string& what) {
  const std::lock_guard<std::mutex> lock(mutex_);
  torch::NoGradGuard no_grad;
  const auto& in = options_.input_shape;
  const torch::Tensor zeros = torch::zeros({2, in[0], in[1], in[2]});
  const std::string batch = fmt::format("a batch of 2 images of {}x{}x{}", in[0], in[1], in[2]);
  c10::IValue out;
  std::string failure;
  for (const bool channels_last : {true, false}) {
    channels_last_ = channels_last;  // NCHW only if the module cannot take channels-last
    try {
      out = module_.forward(
          {channels_last ? zeros.contiguous(at::MemoryFormat::ChannelsLast) : zeros});
      failure.clear();
      break;
    } catch (const std::exception& e) {
      if (failure.empty()) failure = error_text(e);
    }
  }
  if (!failure.empty()) throw UserError(what + ": forward fails on " + batch + ": " + failure);
  if (!out.isTensor()) {
    throw UserError(what + ": forward returns a " + std::string(out.tagKind()) +
                    ", expected one tensor of logits");
  }
  const torch::Tensor logits = out.toTensor();
  const std::vector<int64_t> expected{2, options_.num_classes};
  if (logits.sizes().vec() != expected || logits.scalar_type() != torch::kFloat32) {
    throw UserError(fmt::format(
        "{}: forward gives {} {} for {}, expected float32 [2, {}] (one logit per class of the "
        "dataset)",
        what, dtype_name(logits.scalar_type()), shape_text(logits.sizes()), batch,
        options_.num_classes));
  }
}

torch::jit::Module ScriptTarget::module_with(const Weights& generated, const Weights& local) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  torch::jit::Module copy = module_.deepcopy();
  const auto cpu_copies = [](const Weights& w) {
    Weights out;
    for (const auto& t : w) out.push_back(t.detach().to(torch::kCPU).contiguous().clone());
    return out;
  };
  place(slots_of(copy, params_), cpu_copies(generated), cpu_copies(local));
  copy.eval();
  return copy;
}

void ScriptTarget::seed_random_ops(uint64_t seed) {
  auto gen = at::detail::getDefaultCPUGenerator();
  const std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
}

}  // namespace pfedhn::models

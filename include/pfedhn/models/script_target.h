#pragma once

// A target network scripted in Python (model.target=script):
//   torch.jit.script(MyNet()).save(PATH)
// pFedHN generates its parameters, so the module runs with tensors that pfedhn supplies: before
// each forward its parameter slots are pointed at them, and autograd flows into them as through
// a functional call. The graph executor's optimisations are off, so the module runs op by op as
// eager PyTorch does, the same way in every process (a resumed run is exact).
// docs/your-data-and-network.md describes what a module may hold.

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pfedhn/models/target.h"

namespace pfedhn::models {

struct ScriptTargetOptions {
  std::vector<int64_t> input_shape;  // [C, H, W] of one image
  int64_t num_classes = 0;
  std::string local_layer;  // "" = none; else the submodule whose parameters each client keeps
};

class ScriptTarget {
 public:
  // Loads `file` and checks it: a TorchScript module with a forward, with float32 parameters,
  // no buffers, `local_layer` (if any) one of its submodules with parameters but not all of
  // them, and logits [2, num_classes] for a batch of two zero images. Throws UserError with one
  // line naming the file (and the buffer, the layer, or what forward did).
  static std::shared_ptr<const ScriptTarget> load(const std::filesystem::path& file,
                                                  const ScriptTargetOptions& options);

  // The parameters in named_parameters() order: those the hypernetwork generates (all but the
  // local layer's), and the local layer's.
  const std::vector<TensorSpec>& generated_tensors() const { return generated_; }
  const std::vector<TensorSpec>& local_tensors() const { return local_; }
  const std::vector<int64_t>& input_shape() const { return options_.input_shape; }
  int64_t num_classes() const { return options_.num_classes; }
  const std::filesystem::path& file() const { return file_; }
  // False when the module needs contiguous (NCHW) inputs, e.g. for x.view(...): such a module
  // runs, more slowly than on the channels-last batches pfedhn gathers.
  bool takes_channels_last() const { return channels_last_; }

  // One line for the log: the file, the local layer, the input layout.
  std::string describe() const;

  // The values saved in the module (copies on the CPU): where the baselines' models and every
  // pFedHN-PC client's local layer start.
  Weights initial_generated() const { return copies(false); }
  Weights initial_local() const { return copies(true); }

  // The logits for `x` [B, C, H, W] with these tensors in the module's parameter slots, in
  // training or evaluation mode. One forward at a time (a mutex guards the slots).
  torch::Tensor forward(const Weights& generated, const Weights& local, const torch::Tensor& x,
                        Mode mode) const;

  // A copy of the module holding copies of these tensors on the CPU, in evaluation mode: what
  // `pfedhn export` saves.
  torch::jit::Module module_with(const Weights& generated, const Weights& local) const;

  // Seeds LibTorch's default CPU generator, which a scripted module's random ops (dropout) draw
  // from: pfedhn seeds it from (seed, round, client) before each client update.
  static void seed_random_ops(uint64_t seed);

 private:
  // Where one parameter lives: the (sub)module object and its attribute slot.
  struct Slot {
    c10::intrusive_ptr<c10::ivalue::Object> object;
    size_t index = 0;
  };
  struct Parameter {
    std::string name;  // as named_parameters() gives it, e.g. "features.0.weight"
    bool local = false;
    size_t position = 0;  // in generated_tensors() or local_tensors()
  };

  ScriptTarget(std::filesystem::path file, ScriptTargetOptions options, torch::jit::Module module);
  static std::vector<Slot> slots_of(const torch::jit::Module& module,
                                    const std::vector<Parameter>& params);
  Weights copies(bool local) const;
  void place(const std::vector<Slot>& slots, const Weights& generated, const Weights& local) const;
  torch::Tensor run(const torch::Tensor& x, Mode mode) const;
  void check_output(const std::string& what);

  std::filesystem::path file_;
  ScriptTargetOptions options_;
  std::vector<Parameter> params_;
  std::vector<TensorSpec> generated_, local_;
  Weights initial_;                        // the saved values, in parameter order
  Weights saved_generated_, saved_local_;  // the same, split as generated_ and local_ are
  bool channels_last_ = true;
  mutable std::mutex mutex_;
  mutable torch::jit::Module module_;
  std::vector<Slot> slots_;
};

}  // namespace pfedhn::models

#include "pfedhn/fl/client_update.h"

#include <vector>

#include "pfedhn/fl/batch_sampler.h"
#include "pfedhn/fl/sgd.h"
#include "pfedhn/models/script_target.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {
namespace {

torch::optim::SGDOptions sgd_options(const ClientUpdateOptions& opts) {
  return torch::optim::SGDOptions(opts.lr).momentum(opts.momentum).weight_decay(opts.weight_decay);
}

// theta_tilde as views into one flat buffer, whose gradients accumulate in place into a second
// flat buffer (autograd adds into a defined .grad rather than replacing it), so that zeroing,
// clipping and the SGD step are three whole-buffer passes instead of about six ops per tensor:
// per-op dispatch, not arithmetic, dominated MNIST's inner step.
// The step is clip_grad_norm_ then torch::optim::SGD's (fl::sgd_update), equal up to float
// rounding (the norm is taken over the flat buffer in one go).
class FlatSgd {
 public:
  FlatSgd(const models::Weights& theta, const ClientUpdateOptions& opts) : opts_(opts) {
    int64_t total = 0;
    for (const auto& t : theta) total += t.numel();
    const auto options = theta.front().options().requires_grad(false);
    torch::NoGradGuard no_grad;
    data_ = torch::empty({total}, options);
    grad_ = torch::zeros({total}, options);
    params_.reserve(theta.size());
    int64_t offset = 0;
    for (const auto& t : theta) {
      auto view = [&](const torch::Tensor& flat) {
        return flat.narrow(0, offset, t.numel()).view(t.sizes());
      };
      view(data_).copy_(t.detach());
      auto param = view(data_).detach().requires_grad_(true);
      param.mutable_grad() = view(grad_);
      params_.push_back(std::move(param));
      offset += t.numel();
    }
  }

  const models::Weights& params() const { return params_; }

  void zero_grad() { grad_.zero_(); }

  void clip_and_step() {
    const double scale = clip_coefficient(grad_.norm().item<double>(), opts_.grad_clip);
    sgd_update(data_, grad_, momentum_, scale, {opts_.lr, opts_.momentum, opts_.weight_decay});
  }

 private:
  ClientUpdateOptions opts_;
  torch::Tensor data_, grad_, momentum_;
  models::Weights params_;
};

}  // namespace

LocalState make_local_state(int64_t out_dim, uint64_t init_seed, const ClientUpdateOptions& opts,
                            const torch::Device& device) {
  LocalState state;
  state.layer = models::LocalLayer(out_dim);
  state.layer->reset_parameters(init_seed);
  state.layer->to(device);
  state.optimizer =
      std::make_unique<torch::optim::SGD>(state.layer->parameters(), sgd_options(opts));
  return state;
}

LocalState make_local_state(const models::TargetSpec& spec, uint64_t init_seed,
                            const ClientUpdateOptions& opts, const torch::Device& device) {
  if (!spec.script) return make_local_state(spec.out_dim, init_seed, opts, device);
  LocalState state;
  state.layer = models::LocalLayer(spec.script->local_tensors(), spec.script->initial_local());
  state.layer->to(device);
  state.optimizer =
      std::make_unique<torch::optim::SGD>(state.layer->parameters(), sgd_options(opts));
  return state;
}

torch::Tensor training_forward(const models::TargetSpec& spec, const models::Weights& theta,
                               const LocalState* local, const torch::Tensor& x) {
  return models::network_forward(spec, theta, local ? local->layer->tensors() : models::Weights{},
                                 x, models::Mode::kTrain);
}

std::string encode_local_state(const LocalState& state) {
  torch::serialize::OutputArchive archive, layer, opt;
  state.layer->save(layer);
  state.optimizer->save(opt);
  archive.write("layer", layer);
  archive.write("optimizer", opt);
  std::string bytes;
  archive.save_to([&](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

void decode_local_state(LocalState& state, const std::string& bytes) {
  torch::serialize::InputArchive archive, layer, opt;
  archive.load_from(bytes.data(), bytes.size());
  archive.read("layer", layer);
  archive.read("optimizer", opt);
  std::vector<std::vector<int64_t>> before;
  for (const auto& t : state.layer->tensors()) before.push_back(t.sizes().vec());
  state.layer->load(layer);
  for (size_t i = 0; i < before.size(); ++i) {
    TORCH_CHECK(state.layer->tensors()[i].sizes().vec() == before[i],
                "local layer of another shape");
  }
  state.optimizer->load(opt);
}

ClientUpdateResult client_update(const models::TargetSpec& spec, const models::Weights& theta,
                                 const data::Split& train, const torch::Tensor& client_indices,
                                 LocalState* local, const ClientUpdateOptions& opts,
                                 uint64_t stream_seed) {
  TORCH_CHECK(client_indices.numel() > 0, "client_update: the client has no training data");
  TORCH_CHECK(!theta.empty(), "client_update: theta has no tensors");
  FlatSgd tilde(theta, opts);

  BatchSampler sampler(client_indices, opts.batch_size, stream_seed);
  if (spec.script)
    models::ScriptTarget::seed_random_ops(derive_seed(stream_seed, {stream::kScriptRandomOps}));
  const auto device = train.device();
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
  torch::Tensor correct =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t seen = 0;
  for (int64_t step = 0; step < opts.inner_steps; ++step) {
    const auto idx = sampler.next().to(device, /*non_blocking=*/true);
    const auto x = train.gather(idx);
    const auto y = train.y.index_select(0, idx);
    tilde.zero_grad();
    if (local) local->optimizer->zero_grad();
    auto out = training_forward(spec, tilde.params(), local, x);
    auto loss = torch::nn::functional::cross_entropy(out, y);
    loss.backward();
    // The authors clip only the target network's gradient, not the local layer's.
    tilde.clip_and_step();
    if (local) local->optimizer->step();
    {
      torch::NoGradGuard no_grad;
      loss_sum += loss.detach();
      correct += out.argmax(1).eq(y).sum();
    }
    seen += y.size(0);
  }

  ClientUpdateResult result;
  torch::NoGradGuard no_grad;
  result.delta.reserve(theta.size());
  for (size_t i = 0; i < theta.size(); ++i) {
    result.delta.push_back(theta[i].detach() - tilde.params()[i].detach());
  }
  result.mean_loss = loss_sum.item<double>() / static_cast<double>(opts.inner_steps);
  result.accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(seen);
  return result;
}

}  // namespace pfedhn::fl

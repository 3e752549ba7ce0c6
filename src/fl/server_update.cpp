#include "pfedhn/fl/server_update.h"

#include <stdexcept>

#include "pfedhn/fl/sgd.h"

namespace pfedhn::fl {

std::unique_ptr<torch::optim::SGD> make_server_optimizer(models::HyperNetwork& hnet,
                                                         const ServerOptimizerOptions& opts) {
  auto group_options = [&](double lr) {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(lr).momentum(opts.momentum).weight_decay(opts.weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(hnet->network_parameters(), group_options(opts.lr));
  groups.emplace_back(hnet->embedding_parameters(), group_options(opts.embed_lr));
  return std::make_unique<torch::optim::SGD>(
      std::move(groups),
      torch::optim::SGDOptions(opts.lr).momentum(opts.momentum).weight_decay(opts.weight_decay));
}

void sgd_step_in_place(torch::optim::SGD& optimizer, double grad_scale) {
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    TORCH_CHECK(!o.nesterov() && o.dampening() == 0.0,
                "sgd_step_in_place: nesterov and dampening are not supported");
    const SgdHyper hyper{o.lr(), o.momentum(), o.weight_decay()};
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // The momentum buffer lives in the optimiser's own state, keyed as SGD keys it, so that
      // checkpoints of the optimiser carry it.
      auto& state = optimizer.state();
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state.find(key);
      torch::Tensor buffer;
      if (it != state.end()) {
        buffer = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
      }
      sgd_update(p, p.grad(), buffer, grad_scale, hyper);
      if (it == state.end() && buffer.defined()) {
        auto param_state = std::make_unique<torch::optim::SGDParamState>();
        param_state->momentum_buffer(buffer);
        state.emplace(key, std::move(param_state));
      }
    }
  }
}

double server_update(models::HyperNetwork& hnet, torch::optim::SGD& optimizer,
                     const std::vector<models::Weights>& thetas,
                     const std::vector<models::Weights>& deltas, double grad_clip) {
  if (thetas.empty() || thetas.size() != deltas.size()) {
    throw std::invalid_argument("server_update: need one delta per generated theta");
  }
  const double scale = 1.0 / static_cast<double>(thetas.size());
  std::vector<torch::Tensor> outputs, grad_outputs;
  for (size_t k = 0; k < thetas.size(); ++k) {
    for (size_t t = 0; t < thetas[k].size(); ++t) {
      outputs.push_back(thetas[k][t]);
      grad_outputs.push_back(thetas.size() == 1 ? deltas[k][t] : deltas[k][t] * scale);
    }
  }
  auto params = hnet->parameters();
  // One backward pass through the hypernetwork with delta as the output gradient gives the
  // summed vector-Jacobian products (the 1/K average is folded into grad_outputs).
  auto grads = torch::autograd::grad(outputs, params, grad_outputs, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].mutable_grad() = grads[i].defined() ? grads[i] : torch::zeros_like(params[i]);
  }
  const double norm = global_norm(grads);
  sgd_step_in_place(optimizer, clip_coefficient(norm, grad_clip));
  // The gradients are views into autograd's buffers; drop them rather than zeroing in place.
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  return norm;
}

}  // namespace pfedhn::fl

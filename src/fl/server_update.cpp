#include "pfedhn/fl/server_update.h"

#include <stdexcept>

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

void sgd_step_in_place(torch::optim::SGD& optimizer) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    TORCH_CHECK(!o.nesterov() && o.dampening() == 0.0,
                "sgd_step_in_place: nesterov and dampening are not supported");
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::Tensor grad = p.mutable_grad();
      if (o.weight_decay() != 0) grad.add_(p, o.weight_decay());
      if (o.momentum() != 0) {
        auto& state = optimizer.state();
        const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());  // as SGD keys it
        auto it = state.find(key);
        if (it == state.end()) {
          auto param_state = std::make_unique<torch::optim::SGDParamState>();
          param_state->momentum_buffer(torch::clone(grad).detach());
          it = state.emplace(key, std::move(param_state)).first;
        } else {
          static_cast<torch::optim::SGDParamState&>(*it->second)
              .momentum_buffer()
              .mul_(o.momentum())
              .add_(grad);
        }
        grad = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
      }
      p.add_(grad, -o.lr());
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
  const double norm = torch::nn::utils::clip_grad_norm_(params, grad_clip);
  sgd_step_in_place(optimizer);
  // The gradients are views into autograd's buffers; drop them rather than zeroing in place.
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  return norm;
}

}  // namespace pfedhn::fl

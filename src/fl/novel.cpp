// Generalisation to novel clients (Section 5.3): a client that took no part in training gets
// its own embedding fitted with the hypernetwork frozen.
#include "pfedhn/fl/batch_sampler.h"
#include "pfedhn/fl/sgd.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {

// Only the embedding table is stepped, without weight decay, so the other clients' rows (whose
// gradient is zero) stay exactly as they are.
namespace {
torch::optim::SGD embedding_optimizer(models::HyperNetwork& hnet, double lr) {
  return torch::optim::SGD(hnet->embedding_parameters(),
                           torch::optim::SGDOptions(lr).momentum(0.9));
}
}  // namespace

void Trainer::adapt_novel_client(int64_t client, int64_t steps) {
  TORCH_CHECK(client >= num_training_ && client < num_clients(), "client ", client,
              " is not a novel client");
  hnet_->eval();  // frozen: spectral norm's power iteration does not move either
  if (novel_adapt_ == config::NovelAdapt::kLoss) {
    adapt_by_loss(client, steps);
  } else {
    adapt_by_rounds(client, steps);
  }
}

void Trainer::adapt_by_rounds(int64_t client, int64_t rounds) {
  auto embedding_opt = embedding_optimizer(hnet_, novel_lr_);
  LocalState* local = locals_.empty() ? nullptr : &locals_[static_cast<size_t>(client)];
  for (int64_t round = 0; round < rounds; ++round) {
    std::vector<models::Weights> thetas{hnet_->forward(client)};
    auto update =
        client_update(target_spec(client), thetas[0], data_.train,
                      clients_[static_cast<size_t>(client)].train, local, client_opts_,
                      derive_seed(seed_, {stream::kNovelAdapt, static_cast<uint64_t>(client),
                                          static_cast<uint64_t>(round)}));
    server_update(hnet_, embedding_opt, thetas, {update.delta}, server_grad_clip_);
  }
}

// rounds x client.num_epochs steps, each on a fresh batch of the client's training data: the
// cross-entropy of the generated model is differentiated through the frozen hypernetwork into
// the client's embedding (and, for pFedHN-PC, into its local layer, stepped by its own
// optimiser as in a round). The embedding's gradient norm is clipped at server.grad_clip.
void Trainer::adapt_by_loss(int64_t client, int64_t rounds) {
  auto embedding_opt = embedding_optimizer(hnet_, novel_lr_);
  LocalState* local = locals_.empty() ? nullptr : &locals_[static_cast<size_t>(client)];
  const auto embedding = hnet_->embedding_parameters().front();
  std::vector<torch::Tensor> trained{embedding};
  if (local) {
    for (const auto& p : local->layer->parameters()) trained.push_back(p);
  }
  const auto& spec = target_spec(client);
  const auto& train = data_.train;
  BatchSampler batches(clients_[static_cast<size_t>(client)].train, client_opts_.batch_size,
                       derive_seed(seed_, {stream::kNovelLoss, static_cast<uint64_t>(client)}));
  const int64_t steps = rounds * client_opts_.inner_steps;
  for (int64_t step = 0; step < steps; ++step) {
    const auto idx = batches.next().to(train.device(), /*non_blocking=*/true);
    const auto out = training_forward(spec, hnet_->forward(client), local, train.gather(idx));
    const auto loss = torch::nn::functional::cross_entropy(out, train.y.index_select(0, idx));
    auto grads = torch::autograd::grad({loss}, trained);
    for (size_t i = 0; i < trained.size(); ++i) trained[i].mutable_grad() = grads[i];
    {
      torch::NoGradGuard no_grad;
      grads[0].mul_(clip_coefficient(grads[0].norm().item<double>(), server_grad_clip_));
    }
    embedding_opt.step();
    if (local) local->optimizer->step();
    for (auto& p : trained) p.mutable_grad() = torch::Tensor();
  }
}

}  // namespace pfedhn::fl

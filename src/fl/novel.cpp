// Generalisation to novel clients (Section 5.3): a client that took no part in training gets
// its own embedding fitted with the hypernetwork frozen.
#include "pfedhn/fl/trainer.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {

void Trainer::adapt_novel_client(int64_t client, int64_t steps) {
  TORCH_CHECK(client >= num_training_ && client < num_clients(), "client ", client,
              " is not a novel client");
  // Only the embedding table is stepped, without weight decay, so the other clients' rows
  // (whose gradient is zero) stay exactly as they are.
  torch::optim::SGD embedding_opt(hnet_->embedding_parameters(),
                                  torch::optim::SGDOptions(embed_lr_).momentum(0.9));
  LocalState* local = locals_.empty() ? nullptr : &locals_[static_cast<size_t>(client)];
  hnet_->eval();  // frozen: spectral norm's power iteration does not move either
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<models::Weights> thetas{hnet_->forward(client)};
    auto update =
        client_update(target_spec(client), thetas[0], data_.train,
                      clients_[static_cast<size_t>(client)].train, local, client_opts_,
                      derive_seed(seed_, {stream::kNovelAdapt, static_cast<uint64_t>(client),
                                          static_cast<uint64_t>(step)}));
    server_update(hnet_, embedding_opt, thetas, {update.delta}, server_grad_clip_);
  }
}

}  // namespace pfedhn::fl

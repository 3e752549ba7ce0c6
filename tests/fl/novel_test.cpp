// Generalisation to novel clients: held out of training, then only their embedding is fitted.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <vector>

#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/baselines.h"
#include "pfedhn/fl/trainer.h"
#include "support/synthetic.h"

namespace pfedhn::fl {
namespace {

config::Config novel_config(config::Algorithm algorithm) {
  auto cfg = testing::small_mnist_config(algorithm);
  cfg.client.num_nodes = 8;
  cfg.client.num_classes_per_node = 3;
  cfg.novel.num_clients = 2;
  return cfg;
}

TEST(NovelClients, NeverTakePartInTraining) {
  const auto d = testing::synthetic_mnist(600, 120, 120);
  auto cfg = novel_config(config::Algorithm::kPFedHN);
  cfg.client.clients_per_round = 3;
  Trainer t(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  cfg.algorithm = config::Algorithm::kFedAvg;
  auto fedavg = make_algorithm(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  std::vector<int> seen(8, 0);
  for (int64_t r = 0; r < 300; ++r) {
    for (int64_t c : t.sample_clients(r)) ++seen[static_cast<size_t>(c)];
  }
  for (int64_t c : fedavg->run_round(0).clients) EXPECT_LT(c, 6);
  for (size_t c = 0; c < 6; ++c) EXPECT_GT(seen[c], 0) << c;
  EXPECT_EQ(seen[6] + seen[7], 0);
}

TEST(NovelClients, AdaptingFitsOnlyTheNovelClientsEmbeddingAndHelpsIt) {
  const auto d = testing::synthetic_mnist(3000, 600, 600);
  const auto cfg = novel_config(config::Algorithm::kPFedHN);
  const auto clients = testing::partition_for(d, cfg);
  Trainer t(cfg, d, clients, torch::kCPU);
  for (int64_t r = 0; r < 150; ++r) t.run_round(r);

  const std::vector<data::ClientIndices> novel(clients.begin() + 6, clients.end());
  auto novel_eval = [&] {
    return eval::evaluate_all(
        0, [&](int64_t i) { return t.client_model(6 + i); }, d, novel, 256);
  };
  const auto before = novel_eval();
  std::vector<torch::Tensor> params_before;
  for (const auto& p : t.hypernetwork()->parameters()) params_before.push_back(p.detach().clone());
  t.adapt_novel_client(6, 15);
  t.adapt_novel_client(7, 15);
  const auto after = novel_eval();

  const auto params_after = t.hypernetwork()->parameters();
  for (size_t i = 0; i < params_after.size(); ++i) {
    if (params_after[i].is_same(t.hypernetwork()->embedding_parameters()[0])) {
      const auto& e0 = params_before[i];
      const auto& e1 = params_after[i];
      EXPECT_TRUE(torch::equal(e0.slice(0, 0, 6), e1.slice(0, 0, 6)));  // training clients
      EXPECT_FALSE(torch::equal(e0[6], e1[6]));
      EXPECT_FALSE(torch::equal(e0[7], e1[7]));
    } else {
      EXPECT_TRUE(torch::equal(params_before[i], params_after[i])) << "hypernetwork moved";
    }
  }
  EXPECT_GT(after.test.accuracy, before.test.accuracy + 0.05)
      << "before " << before.test.accuracy << " after " << after.test.accuracy;
  EXPECT_THROW(t.adapt_novel_client(0, 1), c10::Error);  // not a novel client
}

// Loads `from`'s whole state (as a checkpoint holds it) into each of `to`.
void copy_state(const Trainer& from, std::initializer_list<Trainer*> to) {
  torch::serialize::OutputArchive out;
  from.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  for (Trainer* dst : to) {
    torch::serialize::InputArchive in;
    bytes.seekg(0);
    in.load_from(bytes);
    dst->load(in);
  }
}

// The embedding table and, for pFedHN-PC, the novel client's local layer, as copies.
struct NovelState {
  torch::Tensor embeddings;
  std::vector<torch::Tensor> network, local;
};
NovelState snapshot(Trainer& t, int64_t client) {
  NovelState s;
  s.embeddings = t.hypernetwork()->embedding_parameters()[0].detach().clone();
  for (const auto& p : t.hypernetwork()->network_parameters())
    s.network.push_back(p.detach().clone());
  if (t.has_local_states()) {
    for (const auto& p : t.local_states()[static_cast<size_t>(client)].layer->parameters()) {
      s.local.push_back(p.detach().clone());
    }
  }
  return s;
}

// novel.adapt=loss (ours): SGD on the client's loss through the frozen hypernetwork moves the
// novel client's embedding (and pFedHN-PC's local layer) only, helps it, and is a pure
// function of the seed.
TEST(NovelClients, FittingByLossMovesOnlyTheNovelClientAndHelpsIt) {
  const auto d = testing::synthetic_mnist(3000, 600, 600);
  for (const auto algorithm : {config::Algorithm::kPFedHN, config::Algorithm::kPFedHNPC}) {
    auto cfg = novel_config(algorithm);
    const auto clients = testing::partition_for(d, cfg);
    Trainer t(cfg, d, clients, torch::kCPU);
    for (int64_t r = 0; r < 150; ++r) t.run_round(r);
    cfg.novel.adapt = config::NovelAdapt::kLoss;
    cfg.novel.lr = 0.05;
    Trainer fit(cfg, d, clients, torch::kCPU);
    Trainer again(cfg, d, clients, torch::kCPU);
    copy_state(t, {&fit, &again});
    const std::vector<data::ClientIndices> novel(clients.begin() + 6, clients.end());
    auto novel_eval = [&](Trainer& tr) {
      return eval::evaluate_all(
          0, [&](int64_t i) { return tr.client_model(6 + i); }, d, novel, 256);
    };
    const auto before = novel_eval(fit);
    const auto s0 = snapshot(fit, 6);
    fit.adapt_novel_client(6, 10);
    const auto s1 = snapshot(fit, 6);
    EXPECT_TRUE(torch::equal(s0.embeddings.slice(0, 0, 6), s1.embeddings.slice(0, 0, 6)));
    EXPECT_TRUE(torch::equal(s0.embeddings[7], s1.embeddings[7]));
    EXPECT_FALSE(torch::equal(s0.embeddings[6], s1.embeddings[6]));
    for (size_t i = 0; i < s0.network.size(); ++i) {
      EXPECT_TRUE(torch::equal(s0.network[i], s1.network[i])) << "hypernetwork moved";
    }
    ASSERT_EQ(s0.local.size(), algorithm == config::Algorithm::kPFedHNPC ? 2u : 0u);
    for (size_t i = 0; i < s0.local.size(); ++i) {
      EXPECT_FALSE(torch::equal(s0.local[i], s1.local[i])) << "local layer did not train";
    }
    fit.adapt_novel_client(7, 10);
    const auto after = novel_eval(fit);
    EXPECT_GT(after.test.accuracy, before.test.accuracy + 0.05)
        << config::to_string(algorithm) << ": before " << before.test.accuracy << " after "
        << after.test.accuracy;

    again.adapt_novel_client(6, 10);
    again.adapt_novel_client(7, 10);
    EXPECT_TRUE(torch::equal(snapshot(again, 7).embeddings, snapshot(fit, 7).embeddings));
  }
}

// novel.lr sets the embedding's step in the rounds adaptation too: a larger lr moves it further.
TEST(NovelClients, NovelLrScalesTheRoundsAdaptationsStep) {
  const auto d = testing::synthetic_mnist(3000, 600, 600);
  auto cfg = novel_config(config::Algorithm::kPFedHN);
  const auto clients = testing::partition_for(d, cfg);
  auto moved = [&](double lr) {
    cfg.novel.lr = lr;
    Trainer t(cfg, d, clients, torch::kCPU);
    for (int64_t r = 0; r < 20; ++r) t.run_round(r);
    const auto e0 = snapshot(t, 6).embeddings[6];
    t.adapt_novel_client(6, 1);
    return (snapshot(t, 6).embeddings[6] - e0).norm().item<double>();
  };
  const double small = moved(0.01), large = moved(0.1);
  EXPECT_GT(small, 0.0);
  EXPECT_NEAR(large / small, 10.0, 0.5);  // one momentum step from zero: proportional to lr
}

// novel.scheme=sets: `pfedhn generalize` puts a set's novel clients in place of the training
// run's on the trained model. Their embeddings start from the trained values, adapting moves
// them alone, and it fits the set's data (not that of the training run's novel clients).
TEST(NovelClients, ASetsClientsAdaptOnTheTrainedModelMovingOnlyTheirEmbeddings) {
  const auto d = testing::synthetic_mnist(3000, 600, 600);
  const auto cfg = novel_config(config::Algorithm::kPFedHN);
  data::PartitionOptions p;
  p.num_clients = cfg.client.num_nodes;
  p.scheme = data::Scheme::kDirichletPerClient;
  p.dirichlet_alpha = 1.0;
  p.num_novel = cfg.novel.num_clients;
  p.novel_scheme = data::NovelScheme::kSets;
  p.novel_alphas = {0.1, 1.0};
  const auto clients = data::partition_clients(d.train.y, d.val.y, d.test.y, p, cfg.seed);
  Trainer trained(cfg, d, clients, torch::kCPU);
  for (int64_t r = 0; r < 60; ++r) trained.run_round(r);

  const data::NovelSet set = data::novel_client_set(d.train.y, d.val.y, d.test.y, p, cfg.seed, 1);
  auto with_set = clients;
  std::copy(set.clients.begin(), set.clients.end(), with_set.begin() + 6);
  Trainer on_set(cfg, d, with_set, torch::kCPU);
  Trainer on_first_set(cfg, d, clients, torch::kCPU);
  copy_state(trained, {&on_set, &on_first_set});
  const auto s0 = snapshot(on_set, 6);
  EXPECT_TRUE(torch::equal(s0.embeddings, snapshot(trained, 6).embeddings));
  for (Trainer* t : {&on_set, &on_first_set}) {
    t->adapt_novel_client(6, 5);
    t->adapt_novel_client(7, 5);
  }
  const auto s1 = snapshot(on_set, 6);
  EXPECT_TRUE(torch::equal(s0.embeddings.slice(0, 0, 6), s1.embeddings.slice(0, 0, 6)));
  for (int64_t c : {6, 7}) EXPECT_FALSE(torch::equal(s0.embeddings[c], s1.embeddings[c])) << c;
  for (size_t i = 0; i < s0.network.size(); ++i) {
    EXPECT_TRUE(torch::equal(s0.network[i], s1.network[i])) << "hypernetwork moved";
  }
  EXPECT_FALSE(torch::equal(s1.embeddings[6], snapshot(on_first_set, 6).embeddings[6]))
      << "the set's client adapted as the training run's novel client did";
}

}  // namespace
}  // namespace pfedhn::fl

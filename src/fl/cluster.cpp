#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "pfedhn/fl/distributed.h"
#include "pfedhn/util/error.h"
#include "wire_protocol.h"

namespace pfedhn::fl {

using namespace wire;  // the messages and their bytes (wire_protocol.h)

namespace {

// ---------------------------------------------------------------------------------------------
// Environment and config fingerprint

std::optional<std::string> env_var(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int fallback, int lo, int hi) {
  const auto v = env_var(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    const long n = std::stol(*v, &used);
    if (used == v->size() && n >= lo && n <= hi) return static_cast<int>(n);
  } catch (const std::exception&) {
  }
  throw UserError(std::string("environment variable ") + name + "='" + *v +
                  "' is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  "]");
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

// Keys that change results, each once: an alias is compared under its canonical key.
bool fingerprinted(const config::KeyInfo& info) {
  return config::changes_results(info.key) && info.key != "dataset.root" && info.alias_of.empty();
}

// Start-up (processes starting, loading libtorch) is bounded by max(dist_timeout, this).
constexpr std::chrono::seconds kStartupTimeout(60);

std::vector<int64_t> owned_clients(int rank, int world, int64_t num_clients) {
  std::vector<int64_t> out;
  for (int64_t c = rank; c < num_clients; c += world) out.push_back(c);
  return out;
}

}  // namespace

std::optional<DistEnv> dist_env_from_environment() {
  if (!env_var("WORLD_SIZE") && !env_var("RANK")) return std::nullopt;
  DistEnv env;
  env.world_size = env_int("WORLD_SIZE", 1, 1, 65536);
  env.rank = env_int("RANK", 0, 0, env.world_size - 1);
  env.local_rank = env_int("LOCAL_RANK", env.rank, 0, 65535);
  env.master_port = env_int("MASTER_PORT", 29500, 0, 65535);
  if (auto addr = env_var("MASTER_ADDR")) env.master_addr = *addr;
  if (env.master_addr.empty()) throw UserError("environment variable MASTER_ADDR is empty");
  if (env.world_size > 1 && env.rank > 0 && env.master_port == 0) {
    throw UserError("environment variable MASTER_PORT=0: workers need rank 0's port");
  }
  return env;
}

std::string config_fingerprint(const config::Config& cfg) {
  std::string text = std::string("pfedhn ") + PFEDHN_VERSION + "\n";
  for (const auto& info : config::all_keys()) {
    if (fingerprinted(info)) text += info.key + "=" + config::config_value(cfg, info.key) + "\n";
  }
  return fmt::format("{:016x}", fnv1a(text));
}

// ---------------------------------------------------------------------------------------------
// The transport: c10d's TCPStore and ProcessGroupGloo.

class Communicator {
 public:
  Communicator(const DistEnv& env, std::chrono::seconds timeout) : env_(env), timeout_(timeout) {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(env.master_port);
    // Under torchrun the agent already serves the store at MASTER_PORT; every rank is a client.
    const bool agent_store = env_var("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    opts.isServer = env.rank == 0 && !agent_store;
    opts.numWorkers = c10::nullopt;
    opts.waitWorkers = false;
    opts.timeout = timeout;
    try {
      tcp_store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    } catch (const std::exception& e) {
      throw UserError(fmt::format("rank {}: cannot {} the rendezvous store at {}:{}: {}", env.rank,
                                  opts.isServer ? "serve" : "reach", env.master_addr,
                                  env.master_port, first_line(e.what())));
    }
    store_ = c10::make_intrusive<c10d::PrefixStore>("pfedhn", tcp_store_);
  }

  void connect_group() {
    auto opts = c10d::ProcessGroupGloo::Options::create();
    // Bounds forming the group (processes may take a while to start on a busy machine); the
    // waits of a round pass their own timeout (see wait()).
    opts->timeout = std::max<std::chrono::milliseconds>(timeout_, kStartupTimeout);
    if (auto ifname = env_var("GLOO_SOCKET_IFNAME")) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
    } else if (is_loopback(env_.master_addr)) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    try {
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env_.rank, env_.world_size, opts);
    } catch (const std::exception& e) {
      throw RankFailure(-1, fmt::format("rank {}: the process group did not form within {} s: {}",
                                        env_.rank, timeout_.count(), first_line(e.what())));
    }
  }

  c10d::Store& store() { return *store_; }
  int port() const { return tcp_store_->getPort(); }

  // A pending message; the tensor must stay alive until it completes.
  struct Pending {
    c10::intrusive_ptr<c10d::Work> work;
    torch::Tensor tensor;
    int peer = 0;
  };

  // Gloo throws at once, not in wait(), when the peer's connection is already closed.
  Pending send(torch::Tensor t, int dst, int tag) {
    std::vector<at::Tensor> v{t};
    try {
      return {pg_->send(v, dst, tag), t, dst};
    } catch (const std::exception& e) {
      throw_failure(dst, "while sending to it", e.what());
    }
  }
  Pending recv(torch::Tensor t, int src, int tag) {
    std::vector<at::Tensor> v{t};
    try {
      return {pg_->recv(v, src, tag), t, src};
    } catch (const std::exception& e) {
      throw_failure(src, "while receiving from it", e.what());
    }
  }

  // Waits for a message; bounded by the timeout on rank 0. Any failure names the peer.
  void wait(Pending& p, const std::string& during) {
    try {
      // Rank 0 bounds every wait by dist_timeout. A worker waits as long as rank 0 needs (it
      // may evaluate or write a checkpoint for a long time); if rank 0 dies, the connection
      // breaks and the wait fails at once.
      const auto limit = env_.rank == 0 ? std::chrono::milliseconds(timeout_)
                                        : std::chrono::milliseconds(std::chrono::hours(24 * 365));
      p.work->wait(limit);
    } catch (const std::exception& e) {
      throw_failure(p.peer, during, e.what());
    }
  }

  // The RankFailure naming the peer of a failed exchange (rank 0 for a worker).
  [[noreturn]] void throw_failure(int peer, const std::string& during, const std::string& what) {
    if (env_.rank != 0) {
      throw RankFailure(0, fmt::format("rank {}: lost rank 0 (the server) {}: {}", env_.rank,
                                       during, first_line(what)));
    }
    if (what.find("Timed out") != std::string::npos) {
      throw RankFailure(peer, fmt::format("worker rank {} did not answer within "
                                          "dist_timeout={} s {} (hung or overloaded)",
                                          peer, timeout_.count(), during));
    }
    throw RankFailure(peer, fmt::format("worker rank {} failed {} (it died or its connection "
                                        "broke: {})",
                                        peer, during, first_line(what)));
  }

  static std::string first_line(const std::string& s) {
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
  }

 private:
  static bool is_loopback(const std::string& addr) {
    return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
  }

  DistEnv env_;
  std::chrono::seconds timeout_;
  c10::intrusive_ptr<c10d::TCPStore> tcp_store_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

// ---------------------------------------------------------------------------------------------
// Start-up

Cluster::Cluster(const DistEnv& env, const config::Config& cfg, std::chrono::seconds timeout)
    : comm_(std::make_unique<Communicator>(env, timeout)),
      env_(env),
      cfg_(cfg),
      timeout_(timeout) {}

Cluster::~Cluster() = default;

int Cluster::rank() const {
  return env_.rank;
}
int Cluster::world_size() const {
  return env_.world_size;
}
int Cluster::port() const {
  return comm_->port();
}

namespace {

// The first key (of those that change results) on which two configs differ, as a message.
std::string first_difference(const config::Config& mine, const config::Config& theirs, int rank) {
  for (const auto& info : config::all_keys()) {
    if (!fingerprinted(info)) continue;
    const auto a = config::config_value(mine, info.key), b = config::config_value(theirs, info.key);
    if (a != b) {
      return fmt::format("rank {} was started with {}={} but rank 0 with {}={}", rank, info.key, b,
                         info.key, a);
    }
  }
  return fmt::format("rank {} runs another pfedhn version than rank 0", rank);
}

}  // namespace

void Cluster::connect(bool adopt_config, const std::function<void()>& poll) {
  auto& store = comm_->store();
  const int world = world_size();
  const std::string hint =
      "; start every rank with the same --config and overrides (dataset.root, num_threads, "
      "device, log_every, eval_batch_size, checkpoint_every and dist_timeout may differ)";
  if (rank() == 0) {
    store.set("config/0", bytes_of(config::to_yaml(cfg_)));
    store.set("fingerprint/0", bytes_of(config_fingerprint(cfg_)));
    const auto startup = std::max<std::chrono::seconds>(timeout_, kStartupTimeout);
    const auto deadline = std::chrono::steady_clock::now() + startup;
    std::string verdict = "ok";
    for (int r = 1; r < world; ++r) {
      const std::string key = "fingerprint/" + std::to_string(r);
      while (!store.check({key})) {
        if (poll) poll();
        if (std::chrono::steady_clock::now() > deadline) {
          throw RankFailure(r, fmt::format("worker rank {} did not start within {} s (is it "
                                           "running, with MASTER_ADDR/MASTER_PORT of rank 0?)",
                                           r, startup.count()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (string_of(store.get(key)) != config_fingerprint(cfg_) && verdict == "ok") {
        const config::Config theirs = config::parse_config_text(
            string_of(store.get("config/" + std::to_string(r))), "rank's config");
        verdict = first_difference(cfg_, theirs, r) + hint;
      }
    }
    store.set("verdict", bytes_of(verdict));
    if (verdict != "ok") {
      // Let the workers read the verdict before this process (the store's server) exits.
      std::vector<std::string> acks;
      for (int r = 1; r < world; ++r) acks.push_back("ack/" + std::to_string(r));
      try {
        store.wait(acks, std::chrono::seconds(5));
      } catch (const std::exception&) {
      }
      throw UserError("config mismatch: " + verdict);
    }
  } else {
    try {
      if (adopt_config) {
        cfg_ = config::parse_config_text(string_of(store.get("config/0")), "rank 0's config");
        config::resolve_and_validate(cfg_);
      }
      store.set("config/" + std::to_string(rank()), bytes_of(config::to_yaml(cfg_)));
      store.set("fingerprint/" + std::to_string(rank()), bytes_of(config_fingerprint(cfg_)));
      const std::string verdict = string_of(store.get("verdict"));
      store.set("ack/" + std::to_string(rank()), bytes_of("1"));
      if (verdict != "ok") throw UserError("config mismatch: " + verdict);
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      throw RankFailure(0, fmt::format("rank {}: lost rank 0 during start-up: {}", rank(),
                                       Communicator::first_line(e.what())));
    }
  }
  comm_->connect_group();
}

int Cluster::rank_for_update(int64_t slot, int64_t client, int world_size, bool pc) {
  return static_cast<int>((pc ? client : slot) % world_size);
}

// ---------------------------------------------------------------------------------------------
// Rank 0

RoundReport Cluster::run_round(Trainer& trainer, int64_t round) {
  Trainer::RoundPlan plan = trainer.begin_round(round);
  const int world = world_size();
  const bool pc = trainer.has_local_states();
  const int64_t params = trainer.target_spec().num_parameters();
  const std::string during = fmt::format("in round {}", round);
  const size_t k_total = plan.clients.size();

  struct Remote {
    size_t slot;
    Communicator::Pending delta, stats;
  };
  std::vector<Communicator::Pending> sends;
  std::vector<Remote> remotes;
  for (size_t k = 0; k < k_total; ++k) {
    const int64_t client = plan.clients[k];
    const int r = rank_for_update(static_cast<int64_t>(k), client, world, pc);
    if (r == 0) continue;
    auto h = header(kTrain, round, client, static_cast<int64_t>(k));
    auto theta = flatten(plan.thetas[k]);
    traffic_.control += nbytes(h);
    traffic_.train_sent += nbytes(theta);
    sends.push_back(comm_->send(h, r, kTagHeader));
    sends.push_back(comm_->send(theta, r, kTagTheta));
    remotes.push_back({k, comm_->recv(torch::empty({params}), r, kTagDelta),
                       comm_->recv(torch::empty({2}, torch::kDouble), r, kTagStats)});
  }
  std::vector<ClientUpdateResult> results(k_total);
  for (size_t k = 0; k < k_total; ++k) {
    const int64_t client = plan.clients[k];
    if (rank_for_update(static_cast<int64_t>(k), client, world, pc) != 0) continue;
    results[k] = trainer.run_client(round, client, plan.thetas[k]);
  }
  const auto device = plan.thetas.front().front().device();
  for (auto& remote : remotes) {
    comm_->wait(remote.delta, during);
    comm_->wait(remote.stats, during);
    traffic_.train_received += nbytes(remote.delta.tensor) + nbytes(remote.stats.tensor);
    auto& result = results[remote.slot];
    result.delta = unflatten(remote.delta.tensor, trainer.target_spec(), device);
    result.mean_loss = remote.stats.tensor[0].item<double>();
    result.accuracy = remote.stats.tensor[1].item<double>();
  }
  for (auto& s : sends) comm_->wait(s, during);
  return trainer.finish_round(std::move(plan), std::move(results));
}

eval::EvalRecord Cluster::evaluate(Trainer& trainer, int64_t round, int64_t batch_size) {
  const int world = world_size();
  const int64_t n = trainer.num_clients();
  const std::string during = fmt::format("in the evaluation after round {}", round);
  struct Remote {
    std::vector<int64_t> clients;
    Communicator::Pending counts, losses;
  };
  std::vector<Communicator::Pending> sends;
  std::vector<Remote> remotes;
  for (int r = 1; r < world; ++r) {
    auto clients = owned_clients(r, world, n);
    if (clients.empty()) continue;
    const auto m = static_cast<int64_t>(clients.size());
    auto h = header(kEval, round, batch_size, m);
    traffic_.control += nbytes(h);
    sends.push_back(comm_->send(h, r, kTagHeader));
    for (int64_t c : clients) {
      auto theta = flatten(trainer.eval_weights(c));
      traffic_.eval_sent += nbytes(theta);
      sends.push_back(comm_->send(theta, r, kTagTheta));
    }
    remotes.push_back({std::move(clients),
                       comm_->recv(torch::empty({m * 4}, torch::kLong), r, kTagCounts),
                       comm_->recv(torch::empty({m * 2}, torch::kDouble), r, kTagLosses)});
  }
  std::vector<eval::ClientCounts> val(static_cast<size_t>(n)), test(static_cast<size_t>(n));
  const auto& data = trainer.data();
  for (int64_t c : owned_clients(0, world, n)) {
    const auto model = trainer.client_model(c);
    const auto& idx = trainer.clients()[static_cast<size_t>(c)];
    val[static_cast<size_t>(c)] = eval::evaluate_client(model, data.val, idx.val, batch_size);
    test[static_cast<size_t>(c)] = eval::evaluate_client(model, data.test, idx.test, batch_size);
  }
  for (auto& remote : remotes) {
    comm_->wait(remote.counts, during);
    comm_->wait(remote.losses, during);
    traffic_.eval_received += nbytes(remote.counts.tensor) + nbytes(remote.losses.tensor);
    const auto* cnt = remote.counts.tensor.data_ptr<int64_t>();
    const auto* loss = remote.losses.tensor.data_ptr<double>();
    for (size_t i = 0; i < remote.clients.size(); ++i) {
      const auto c = static_cast<size_t>(remote.clients[i]);
      val[c] = {cnt[4 * i], cnt[4 * i + 1], loss[2 * i]};
      test[c] = {cnt[4 * i + 2], cnt[4 * i + 3], loss[2 * i + 1]};
    }
  }
  for (auto& s : sends) comm_->wait(s, during);
  eval::EvalRecord record;
  record.round = round;
  record.val = eval::summarise(val);
  record.test = eval::summarise(test);
  return record;
}

namespace {

// One pFedHN-PC local state over the wire: its size, then its bytes. Returns the bytes moved.
int64_t send_local_state(Communicator& comm, const LocalState& state, int peer,
                         const std::string& during) {
  auto data = to_byte_tensor(encode_local_state(state));
  auto a = comm.send(torch::tensor({data.numel()}, torch::kLong), peer, kTagStateSize);
  auto b = comm.send(data, peer, kTagState);
  comm.wait(a, during);
  comm.wait(b, during);
  return nbytes(a.tensor) + nbytes(b.tensor);
}

int64_t recv_local_state(Communicator& comm, LocalState& state, int peer,
                         const std::string& during) {
  auto size = comm.recv(torch::empty({1}, torch::kLong), peer, kTagStateSize);
  comm.wait(size, during);
  auto bytes =
      comm.recv(torch::empty({size.tensor[0].item<int64_t>()}, torch::kUInt8), peer, kTagState);
  comm.wait(bytes, during);
  decode_local_state(state, from_byte_tensor(bytes.tensor));
  return nbytes(size.tensor) + nbytes(bytes.tensor);
}

}  // namespace

void Cluster::gather_local_states(Trainer& trainer) {
  exchange_local_states(trainer, true);
}
void Cluster::scatter_local_states(Trainer& trainer) {
  exchange_local_states(trainer, false);
}

void Cluster::exchange_local_states(Trainer& trainer, bool gather) {
  if (!trainer.has_local_states()) return;
  const int world = world_size();
  for (int r = 1; r < world; ++r) {
    const auto clients = owned_clients(r, world, trainer.num_clients());
    if (clients.empty()) continue;
    auto h = header(gather ? kGather : kScatter, static_cast<int64_t>(clients.size()));
    traffic_.control += nbytes(h);
    auto sent = comm_->send(h, r, kTagHeader);
    for (int64_t c : clients) {
      auto& state = trainer.local_states()[static_cast<size_t>(c)];
      const std::string during = fmt::format("moving client {}'s local layer", c);
      if (gather) {
        traffic_.state_received += recv_local_state(*comm_, state, r, during);
      } else {
        traffic_.state_sent += send_local_state(*comm_, state, r, during);
      }
    }
    comm_->wait(sent, "moving local layers");
  }
}

void Cluster::stop_workers() {
  std::vector<Communicator::Pending> sends;
  for (int r = 1; r < world_size(); ++r) sends.push_back(comm_->send(header(kStop), r, kTagHeader));
  for (auto& s : sends) comm_->wait(s, "at the end");
}

// ---------------------------------------------------------------------------------------------
// Worker ranks

void Cluster::work(Trainer& trainer) {
  const auto& spec = trainer.target_spec();
  const int64_t params = spec.num_parameters();
  const auto device = trainer.data().train.device();
  const auto mine = owned_clients(rank(), world_size(), trainer.num_clients());
  for (;;) {
    auto h = comm_->recv(torch::empty({4}, torch::kLong), 0, kTagHeader);
    comm_->wait(h, "waiting for a command");
    const int64_t* f = h.tensor.data_ptr<int64_t>();
    const int64_t cmd = f[0];
    if (cmd == kStop) return;
    if (cmd == kTrain) {
      const int64_t round = f[1], client = f[2];
      auto theta = comm_->recv(torch::empty({params}), 0, kTagTheta);
      comm_->wait(theta, "waiting for theta");
      auto result = trainer.run_client(round, client, unflatten(theta.tensor, spec, device));
      auto delta = comm_->send(flatten(result.delta), 0, kTagDelta);
      auto stats = comm_->send(torch::tensor({result.mean_loss, result.accuracy}, torch::kDouble),
                               0, kTagStats);
      comm_->wait(delta, "sending delta_theta");
      comm_->wait(stats, "sending delta_theta");
    } else if (cmd == kEval) {
      const int64_t batch_size = f[2], m = f[3];
      TORCH_CHECK(m == static_cast<int64_t>(mine.size()), "evaluation of another client set");
      auto counts = torch::empty({m * 4}, torch::kLong);
      auto losses = torch::empty({m * 2}, torch::kDouble);
      const auto& data = trainer.data();
      for (int64_t i = 0; i < m; ++i) {
        const int64_t c = mine[static_cast<size_t>(i)];
        auto theta = comm_->recv(torch::empty({params}), 0, kTagTheta);
        comm_->wait(theta, "waiting for evaluation weights");
        const auto model = trainer.client_model(c, unflatten(theta.tensor, spec, device));
        const auto& idx = trainer.clients()[static_cast<size_t>(c)];
        const auto v = eval::evaluate_client(model, data.val, idx.val, batch_size);
        const auto t = eval::evaluate_client(model, data.test, idx.test, batch_size);
        int64_t* cp = counts.data_ptr<int64_t>() + 4 * i;
        cp[0] = v.correct;
        cp[1] = v.total;
        cp[2] = t.correct;
        cp[3] = t.total;
        losses.data_ptr<double>()[2 * i] = v.loss_sum;
        losses.data_ptr<double>()[2 * i + 1] = t.loss_sum;
      }
      auto a = comm_->send(counts, 0, kTagCounts);
      auto b = comm_->send(losses, 0, kTagLosses);
      comm_->wait(a, "sending evaluation counts");
      comm_->wait(b, "sending evaluation counts");
    } else if (cmd == kGather || cmd == kScatter) {
      for (int64_t c : mine) {
        auto& state = trainer.local_states()[static_cast<size_t>(c)];
        if (cmd == kGather) {
          send_local_state(*comm_, state, 0, "sending local layers");
        } else {
          recv_local_state(*comm_, state, 0, "receiving local layers");
        }
      }
    } else {
      throw RankFailure(0, fmt::format("rank {}: unknown command {} from rank 0", rank(), cmd));
    }
  }
}

}  // namespace pfedhn::fl

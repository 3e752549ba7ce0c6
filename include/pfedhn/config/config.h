#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace pfedhn::data {
struct DatasetInfo;
}

namespace pfedhn::config {

// What is trained: pFedHN or pFedHN-PC, or one of the baselines on the same partitions.
enum class Algorithm {
  kPFedHN,     // the paper's hypernetwork
  kPFedHNPC,   // pFedHN with a personal classifier per client
  kLocal,      // each client trains its own target network alone
  kFedAvg,     // one global target network, weighted average of the clients' models
  kFedAvgFT,   // FedAvg, then each client fine-tunes the global model before evaluation
  kPerFedAvg,  // Per-FedAvg, first-order (MAML-style), one personalisation step at evaluation
  kFedPer,     // FedAvg of the body, each client keeps its own last layer
};
// Whether the algorithm trains a hypernetwork (the model.* and server.* hypernetwork keys).
inline bool uses_hypernetwork(Algorithm a) {
  return a == Algorithm::kPFedHN || a == Algorithm::kPFedHNPC;
}
// classes: the reference page's classes per client; dirichlet: Dirichlet(alpha) shares of every
// class over the clients; dirichlet_per_client: Dirichlet(alpha) class proportions per client,
// normalised per class (the authors' lab, pFedGP); file: the classes and proportions of
// client.partition_file.
enum class PartitionKind { kClasses, kDirichlet, kDirichletPerClient, kFile };
// partition=classes: exact = ceil(classes_per_client * num_nodes / num_classes) shares per class
// (the authors' code the paper was made with), spare = that // + 1 (their code before and
// since; one share of every class unused). See data::ClassShares.
enum class ClassShares { kExact, kSpare };
// Which clients are novel (novel.num_clients): last = the last ones of the one partition;
// shifted (ours) = drawn apart, client j from Dirichlet(novel.alphas[j mod n]); sets (the
// authors' lab, pFedGP) = drawn apart, one set of novel clients per alpha of novel.alphas, each
// a per-client Dirichlet(alpha) partition of the set-aside share. See data::NovelScheme.
enum class NovelScheme { kAuto, kLast, kShifted, kSets };  // auto: shifted with alphas, else last
// official: the dataset's test files; holdout: a seeded subset of the official training set,
// disjoint from validation (for when the official test set is absent).
enum class TestSplit { kOfficial, kHoldout };
enum class DeviceKind { kAuto, kCpu, kCuda };
// How `pfedhn generalize` fits a novel client's embedding (hypernetwork frozen). rounds: the
// paper's round with the hypernetwork frozen (the client trains its generated weights, and
// delta_theta's vector-Jacobian product steps the embedding once per round). loss (ours): SGD
// steps on the client's training loss, backpropagated through the hypernetwork into the
// embedding, one embedding step per batch.
enum class NovelAdapt { kRounds, kLoss };
// The target network: auto (the dataset's: MNIST's CNN for mnist and fashion_mnist, CIFAR's
// LeNet otherwise), one of the two built-in networks by name, or a module scripted in Python
// (model.target_file).
enum class TargetKind { kAuto, kLeNet, kMnistCnn, kScript };

struct DatasetConfig {
  // mnist | fashion_mnist | cifar10 | cifar100, or folder (an image folder at `root`) or
  // tensors (a file that torch.save wrote, `file`)
  std::string data = "cifar10";
  std::string root = "data";  // folder that scripts/fetch_data.sh fills; data=folder: the images
  int64_t val_size = 10000;   // validation samples drawn (seeded) from the official train set
  TestSplit test_split = TestSplit::kOfficial;
  int64_t test_size = 10000;  // test_split=holdout: test samples drawn from the official train set
  std::string file;           // data=tensors: the file
  // Per-channel normalisation for pixels scaled to [0, 1]; empty = the catalog's (built-in
  // datasets) or computed on the training split (folder, tensors).
  std::vector<double> mean, std;
};

struct ModelConfig {
  int64_t n_kernels = 16;
  int64_t n_hidden = 3;
  int64_t in_channels = 3;  // defaults from the dataset
  int64_t out_dim = 10;     // defaults from the dataset (number of classes)
  double inner_lr = 5e-3;
  double inner_momentum = 0.9;
  double wd = 5e-5;  // inner (client) weight decay
  double inner_grad_clip = 50.0;
  bool spec_norm = false;
  // Heterogeneous target networks (paper Section 5.2): the widths served by one hypernetwork;
  // client i gets hetero_kernels[i % size()]. Empty = off (every client gets n_kernels).
  std::vector<int64_t> hetero_kernels;
  TargetKind target = TargetKind::kAuto;
  std::string target_file;  // target=script: torch.jit.script(MyNet()).save(target_file)
  std::string local_layer;  // target=script with pfedhn_pc: the submodule kept on the client
};

struct ServerConfig {
  double lr = 1e-2;
  double embed_lr = 0.0;  // 0 = same as lr
  double wd = 1e-3;
  double momentum = 0.9;
  int64_t embedding_dim_denominator = 4;
  int64_t embedding_dim = 0;  // 0 = int(1 + num_nodes / embedding_dim_denominator)
  int64_t hidden_dim = 100;
  double grad_clip = 50.0;
};

struct ClientConfig {
  int64_t num_epochs = 50;  // inner SGD steps per round (name kept from the Flower baseline)
  int64_t num_rounds = 5000;
  int64_t num_nodes = 50;
  int64_t clients_per_round = 1;  // K clients sampled per round (1 = the paper)
  int64_t batch_size = 64;
  int64_t num_classes_per_node = 2;
  PartitionKind partition = PartitionKind::kClasses;
  ClassShares class_shares = ClassShares::kExact;  // partition=classes
  double dirichlet_alpha = 0.5;
  std::string partition_file;  // partition=file: a partition.json (data/partition_file.h)
};

// Settings that only the baselines use.
struct BaselineConfig {
  int64_t finetune_steps = 50;    // fedavg_ft: local SGD steps on the global model at evaluation
  double perfedavg_alpha = 1e-2;  // perfedavg: lr of the inner (personalisation) step
};

// Generalisation to novel clients (Section 5.3 of the paper; `pfedhn generalize`).
struct NovelConfig {
  int64_t num_clients = 0;  // the last this-many clients take no part in training
  int64_t steps = 10;       // pfedhn: rounds of embedding-only training per novel client
  NovelAdapt adapt = NovelAdapt::kRounds;
  double lr = 0.0;  // lr of the novel client's embedding; 0 = the training embedding lr
  // [] = the novel clients are the last ones of the one partition. Otherwise (ours) a share
  // num_clients / client.num_nodes of every class is set aside and novel client j draws its
  // class proportions from Dirichlet(alphas[j mod n]): a chosen spread of label shifts.
  std::vector<double> alphas;
  // auto (resolved by resolve_and_validate): shifted when alphas is non-empty, else last (what
  // runs before the key meant).
  NovelScheme scheme = NovelScheme::kAuto;
};

struct Config {
  // keys: algorithm; model.variant (pfedhn|pfedhn_pc) and model.local are older aliases
  Algorithm algorithm = Algorithm::kPFedHN;
  uint64_t seed = 42;
  DeviceKind device = DeviceKind::kAuto;
  int64_t num_threads = 0;  // 0 = all cores
  int64_t eval_every = 30;
  int64_t eval_batch_size = 1024;
  int64_t log_every = 0;         // rounds between progress log lines when not a terminal; 0 = auto
  int64_t checkpoint_every = 0;  // rounds between checkpoints; 0 = at each evaluation
  int64_t dist_timeout = 300;    // seconds rank 0 waits for another rank (multi-process runs)
  DatasetConfig dataset;
  ModelConfig model;
  ServerConfig server;
  ClientConfig client;
  BaselineConfig baseline;
  NovelConfig novel;

  // Dotted keys set explicitly (by the file or an override), e.g. "model.out_dim".
  // Used to tell a dataset-derived default from a contradicting explicit value.
  std::set<std::string> explicit_keys;

  double effective_embed_lr() const { return server.embed_lr > 0 ? server.embed_lr : server.lr; }
  double effective_novel_lr() const { return novel.lr > 0 ? novel.lr : effective_embed_lr(); }
  int64_t effective_embedding_dim() const {
    return server.embedding_dim > 0 ? server.embedding_dim
                                    : 1 + client.num_nodes / server.embedding_dim_denominator;
  }
};

// One entry per valid dotted key, in the order they are printed.
struct KeyInfo {
  std::string key;   // "client.num_rounds"
  std::string type;  // "int", "float", "bool", "string", "int list", "float list", or "a|b|c"
  std::string description;  // one line
  std::string alias_of;     // the canonical key this one is another name for; empty if none
};
const std::vector<KeyInfo>& all_keys();

// False for the keys that never change a number of metrics.csv or results.json (log_every,
// eval_batch_size, num_threads, device, checkpoint_every, dist_timeout): they may change on
// resume and may differ between the ranks of a multi-process run.
bool changes_results(const std::string& key);

// The value of a dotted key as to_yaml writes it (e.g. "42", "mnist"). Throws ConfigError for
// an unknown key.
std::string config_value(const Config& cfg, const std::string& key);

// A canonical key whose value differs between two configs, with both values as config_value
// writes them.
struct KeyChange {
  std::string key, before, now;
};

// Every canonical key (aliases are compared under theirs) whose value in `now` differs from
// `before`, in the order of all_keys(). Generic over the key table, so new keys are compared too.
std::vector<KeyChange> changed_keys(const Config& before, const Config& now);

// Reads a YAML file (nested groups, e.g. `client: {num_rounds: 10}`) and applies its values on
// top of the built-in defaults. A file may `include: other.yaml` (path relative to the file)
// as its first key to start from another file's values.
// Throws ConfigError naming the file and key on any problem.
Config load_config_file(const std::filesystem::path& file);

// Like load_config_file, from YAML text (no `include:`); `name` names it in errors.
Config parse_config_text(const std::string& yaml, const std::string& name);

// Applies one `group.key=value` override (value parsed as a YAML scalar). Throws ConfigError.
void apply_override(Config& cfg, const std::string& assignment);

// Applies several overrides as one source, in order (a repeated key: the last one wins).
// Unlike calling apply_override in a loop, it rejects algorithm and its aliases given
// together with different meanings, as a file does. On error `cfg` is left unchanged.
void apply_overrides(Config& cfg, const std::vector<std::string>& assignments);

// A config read from a run directory (its config.yaml, a checkpoint's config): a key that the
// run's pfedhn did not write yet takes the value that pfedhn used where today's default differs
// (client.class_shares: spare). Call after reading, before overrides and resolve_and_validate.
void apply_older_run_defaults(Config& cfg);

// Fills dataset-derived keys (in_channels, out_dim) unless explicit, then checks every value
// and combination. Throws ConfigError with a one-line message naming the key. Reads no data.
// A dataset that is not built in (dataset.data=folder or tensors) is described by
// `custom_facts` (data::describe_dataset reads them); without them its dataset-derived keys are
// kept as they are (a run's saved config.yaml holds them) and only the keys are checked.
void resolve_and_validate(Config& cfg, const data::DatasetInfo* custom_facts = nullptr);

// True for the datasets that are not built in: folder and tensors.
bool is_custom_dataset(const std::string& name);

// The whole resolved config as YAML, nested by group, loadable by load_config_file.
std::string to_yaml(const Config& cfg);

// Lowercase names used in YAML and messages.
std::string to_string(Algorithm a);
std::string to_string(PartitionKind p);
std::string to_string(TestSplit t);
std::string to_string(DeviceKind d);
std::string to_string(NovelAdapt a);
std::string to_string(ClassShares c);
std::string to_string(NovelScheme n);
std::string to_string(TargetKind t);

}  // namespace pfedhn::config

// The key table: every config key with its type, range, description and the field it writes;
// and what is built from it (the key list, config_value, to_yaml).
#include <algorithm>

#include "internal.h"

namespace pfedhn::config {
namespace detail {
namespace {

Range at_least(double lo) {
  return Range{lo, false, std::nullopt, false};
}
Range above(double lo) {
  return Range{lo, true, std::nullopt, false};
}
Range closed_open(double lo, double hi) {
  return Range{lo, false, hi, true};
}

// Accessors usable with both `Config&` and `const Config&` (the parentheses make
// decltype(auto) deduce a reference).
template <typename T, typename G>
auto field(G Config::*group, T G::*member) {
  return [group, member](auto& c) -> decltype(auto) { return ((c.*group).*member); };
}
template <typename T>
auto field(T Config::*member) {
  return [member](auto& c) -> decltype(auto) { return (c.*member); };
}

KeyDescriptor new_key(const char* key, std::string type, const char* description) {
  KeyDescriptor d;
  d.info = KeyInfo{key, std::move(type), description, ""};
  d.field = key;
  return d;
}

template <typename Access>
KeyDescriptor int_key(const char* key, const char* description, Access access, Range range = {}) {
  KeyDescriptor d = new_key(key, "int", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_int(t); };
  d.get = [access](const Config& c) { return std::to_string(access(c)); };
  d.number = [access](const Config& c) { return static_cast<double>(access(c)); };
  d.range = range;
  return d;
}

template <typename Access>
KeyDescriptor seed_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "int", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_non_negative_int(t); };
  d.get = [access](const Config& c) { return std::to_string(access(c)); };
  return d;
}

template <typename Access>
KeyDescriptor float_key(const char* key, const char* description, Access access, Range range) {
  KeyDescriptor d = new_key(key, "float", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_float(t); };
  d.get = [access](const Config& c) { return format_double(access(c)); };
  d.number = [access](const Config& c) { return access(c); };
  d.range = range;
  return d;
}

template <typename Access>
KeyDescriptor bool_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "bool", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_bool(t); };
  d.get = [access](const Config& c) { return std::string(access(c) ? "true" : "false"); };
  return d;
}

template <typename Access>
KeyDescriptor string_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "string", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = t; };
  d.get = [access](const Config& c) { return access(c); };
  d.quoted = true;
  return d;
}

template <typename E, typename Access>
KeyDescriptor enum_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, enum_choices<E>(), description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_enum<E>(t); };
  d.get = [access](const Config& c) { return enum_name(access(c)); };
  return d;
}

template <typename Access>
KeyDescriptor int_list_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "int list", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_int_list(t); };
  d.get = [access](const Config& c) { return int_list_text(access(c)); };
  d.items = [access](const Config& c) {
    std::vector<std::string> out;
    for (const int64_t v : access(c)) out.push_back(std::to_string(v));
    return out;
  };
  d.list_example = "a list of integers, e.g. [8, 16, 32]";
  return d;
}

template <typename Access>
KeyDescriptor float_list_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "float list", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_float_list(t); };
  d.get = [access](const Config& c) { return float_list_text(access(c)); };
  d.items = [access](const Config& c) {
    std::vector<std::string> out;
    for (const double v : access(c)) out.push_back(format_double(v));
    return out;
  };
  d.list_example = "a list of numbers, e.g. [0.1, 1, 10]";
  return d;
}

// The key's older name: model.variant chose between pfedhn and pfedhn_pc before the baselines
// came; it still does, and writes `algorithm`. Not written by to_yaml.
KeyDescriptor variant_key() {
  KeyDescriptor d = new_key("model.variant", "pfedhn|pfedhn_pc",
                            "older name of `algorithm` (pfedhn or pfedhn_pc only)");
  d.field = "algorithm";
  d.set = [](Config& c, const std::string& t) {
    if (t != "pfedhn" && t != "pfedhn_pc") {
      throw BadValue("expected pfedhn or pfedhn_pc (model.variant is the older name of the " +
                     std::string("top-level key 'algorithm', which also selects the baselines: ") +
                     enum_choices<Algorithm>() + ")");
    }
    c.algorithm = parse_enum<Algorithm>(t);
  };
  d.get = [](const Config& c) { return enum_name(c.algorithm); };
  return d;
}

// Flower's spelling of the variant: local: true means pFedHN-PC. Not written by to_yaml.
KeyDescriptor local_key() {
  KeyDescriptor d =
      new_key("model.local", "bool", "true = pFedHN-PC (Flower's name for algorithm=pfedhn_pc)");
  d.field = "algorithm";
  d.set = [](Config& c, const std::string& t) {
    c.algorithm = parse_bool(t) ? Algorithm::kPFedHNPC : Algorithm::kPFedHN;
  };
  d.get = [](const Config& c) {
    return std::string(c.algorithm == Algorithm::kPFedHNPC ? "true" : "false");
  };
  return d;
}

std::vector<KeyDescriptor> build_key_table() {
  const auto D = &Config::dataset;
  const auto M = &Config::model;
  const auto S = &Config::server;
  const auto C = &Config::client;
  using DC = DatasetConfig;
  using MC = ModelConfig;
  using SC = ServerConfig;
  using CC = ClientConfig;
  using BC = BaselineConfig;
  const auto B = &Config::baseline;
  // Top-level keys first, then each group's keys together: to_yaml relies on this order.
  std::vector<KeyDescriptor> table{
      enum_key<Algorithm>("algorithm",
                          "pfedhn, pfedhn_pc, or a baseline: local, fedavg, fedavg_ft, "
                          "perfedavg, fedper",
                          field(&Config::algorithm)),
      seed_key("seed", "base seed of every random stream", field(&Config::seed)),
      enum_key<DeviceKind>("device", "where to compute", field(&Config::device)),
      int_key("num_threads", "CPU threads; 0 = all cores", field(&Config::num_threads),
              at_least(0)),
      int_key("eval_every", "rounds between evaluations", field(&Config::eval_every), at_least(1)),
      int_key("eval_batch_size", "batch size for evaluation", field(&Config::eval_batch_size),
              at_least(1)),
      int_key("log_every", "rounds between progress lines when not a terminal; 0 = auto",
              field(&Config::log_every), at_least(0)),
      int_key("checkpoint_every", "rounds between checkpoints; 0 = at each evaluation",
              field(&Config::checkpoint_every), at_least(0)),
      int_key("dist_timeout", "seconds to wait for another rank of a multi-process run",
              field(&Config::dist_timeout), at_least(1)),

      string_key("dataset.data", "dataset: mnist, fashion_mnist, cifar10 or cifar100",
                 field(D, &DC::data)),
      string_key("dataset.root", "folder holding the dataset files", field(D, &DC::root)),
      int_key("dataset.val_size", "validation samples drawn from the official train set",
              field(D, &DC::val_size), at_least(1)),
      enum_key<TestSplit>("dataset.test_split",
                          "official test files, or holdout: drawn from the official train set",
                          field(D, &DC::test_split)),
      int_key("dataset.test_size", "test samples drawn from the train set (test_split=holdout)",
              field(D, &DC::test_size), at_least(1)),

      variant_key(),
      local_key(),
      int_key("model.n_kernels", "channels of the first conv layer of the target network",
              field(M, &MC::n_kernels), at_least(1)),
      int_key("model.n_hidden", "hidden layers of the hypernetwork MLP", field(M, &MC::n_hidden),
              at_least(0)),
      int_key("model.in_channels", "image channels; defaults from the dataset",
              field(M, &MC::in_channels), at_least(1)),
      int_key("model.out_dim", "output classes; defaults from the dataset", field(M, &MC::out_dim),
              at_least(1)),
      float_key("model.inner_lr", "client SGD learning rate", field(M, &MC::inner_lr), above(0)),
      float_key("model.inner_momentum", "client SGD momentum", field(M, &MC::inner_momentum),
                closed_open(0, 1)),
      float_key("model.wd", "client SGD weight decay", field(M, &MC::wd), at_least(0)),
      float_key("model.inner_grad_clip", "client gradient-norm clip",
                field(M, &MC::inner_grad_clip), above(0)),
      bool_key("model.spec_norm", "spectral norm on every hypernetwork linear layer",
               field(M, &MC::spec_norm)),
      int_list_key("model.hetero_kernels",
                   "target widths of heterogeneous clients (client i: entry i mod n); [] = off",
                   field(M, &MC::hetero_kernels)),

      float_key("server.lr", "hypernetwork SGD learning rate", field(S, &SC::lr), above(0)),
      float_key("server.embed_lr", "learning rate of the client embeddings; 0 = server.lr",
                field(S, &SC::embed_lr), at_least(0)),
      float_key("server.wd", "hypernetwork SGD weight decay", field(S, &SC::wd), at_least(0)),
      float_key("server.momentum", "hypernetwork SGD momentum", field(S, &SC::momentum),
                closed_open(0, 1)),
      int_key("server.embedding_dim_denominator",
              "embedding size = 1 + num_nodes / this, unless server.embedding_dim is set",
              field(S, &SC::embedding_dim_denominator), at_least(1)),
      int_key("server.embedding_dim", "client embedding size; 0 = derived from num_nodes",
              field(S, &SC::embedding_dim), at_least(0)),
      int_key("server.hidden_dim", "width of the hypernetwork MLP", field(S, &SC::hidden_dim),
              at_least(1)),
      float_key("server.grad_clip", "hypernetwork gradient-norm clip", field(S, &SC::grad_clip),
                above(0)),

      int_key("client.num_epochs", "inner SGD steps per round", field(C, &CC::num_epochs),
              at_least(1)),
      int_key("client.num_rounds", "federated rounds", field(C, &CC::num_rounds), at_least(1)),
      int_key("client.num_nodes", "number of clients", field(C, &CC::num_nodes), at_least(1)),
      int_key("client.clients_per_round", "clients sampled per round, K (1 = the paper)",
              field(C, &CC::clients_per_round), at_least(1)),
      int_key("client.batch_size", "client training batch size", field(C, &CC::batch_size),
              at_least(1)),
      int_key("client.num_classes_per_node", "classes per client (partition=classes)",
              field(C, &CC::num_classes_per_node)),
      enum_key<PartitionKind>("client.partition",
                              "how labels are split across clients: classes per client, "
                              "dirichlet (per class), dirichlet_per_client, or a file",
                              field(C, &CC::partition)),
      enum_key<ClassShares>("client.class_shares",
                            "partition=classes: shares per class, exact (the paper's code) or "
                            "spare (one more, left unused)",
                            field(C, &CC::class_shares)),
      float_key("client.dirichlet_alpha", "concentration of the Dirichlet partitions",
                field(C, &CC::dirichlet_alpha), above(0)),
      string_key("client.partition_file",
                 "partition=file: JSON with every client's classes and proportions (e.g. a "
                 "run's partition.json)",
                 field(C, &CC::partition_file)),

      int_key("baseline.finetune_steps",
              "fedavg_ft: SGD steps each client fine-tunes the global model before evaluation",
              field(B, &BC::finetune_steps), at_least(0)),
      float_key("baseline.perfedavg_alpha",
                "perfedavg: lr of the personalisation step (the inner MAML step)",
                field(B, &BC::perfedavg_alpha), above(0)),

      int_key("novel.num_clients",
              "clients held out of training, the last ones (pfedhn generalize adapts them)",
              field(&Config::novel, &NovelConfig::num_clients), at_least(0)),
      int_key("novel.steps",
              "pfedhn generalize: embedding-only rounds per novel client (novel.adapt=loss: "
              "that many times client.num_epochs SGD steps)",
              field(&Config::novel, &NovelConfig::steps), at_least(1)),
      enum_key<NovelAdapt>("novel.adapt",
                           "how generalize fits a novel client's embedding: rounds (delta_theta "
                           "through the frozen hypernetwork) or loss (ours: SGD on its loss)",
                           field(&Config::novel, &NovelConfig::adapt)),
      float_key("novel.lr", "lr of a novel client's embedding; 0 = the training embedding lr",
                field(&Config::novel, &NovelConfig::lr), at_least(0)),
      float_list_key("novel.alphas",
                     "[] = novel clients are the last ones of the partition; else the "
                     "Dirichlet alphas of the novel clients drawn apart (novel.scheme)",
                     field(&Config::novel, &NovelConfig::alphas)),
      enum_key<NovelScheme>("novel.scheme",
                            "novel clients: last of the partition, shifted (one alpha each) or "
                            "sets (one set per alpha); auto: shifted with alphas, else last",
                            field(&Config::novel, &NovelConfig::scheme)),
  };
  for (auto& d : table) {
    if (d.field != d.info.key) d.info.alias_of = d.field;
  }
  return table;
}
}  // namespace

const std::vector<KeyDescriptor>& key_table() {
  static const std::vector<KeyDescriptor> table = build_key_table();
  return table;
}

const KeyDescriptor* find_key(const std::string& key) {
  for (const auto& d : key_table()) {
    if (d.info.key == key) return &d;
  }
  return nullptr;
}

std::string group_of(const std::string& key) {
  const auto dot = key.find('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

std::string leaf_of(const std::string& key) {
  const auto dot = key.find('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::vector<std::string> group_names() {
  std::vector<std::string> groups;
  for (const auto& d : key_table()) {
    const std::string g = group_of(d.info.key);
    if (!g.empty() && std::find(groups.begin(), groups.end(), g) == groups.end()) {
      groups.push_back(g);
    }
  }
  return groups;
}

bool is_group(const std::string& name) {
  const auto groups = group_names();
  return std::find(groups.begin(), groups.end(), name) != groups.end();
}

}  // namespace detail

using detail::find_key;
using detail::group_of;
using detail::key_table;
using detail::KeyDescriptor;
using detail::leaf_of;

const std::vector<KeyInfo>& all_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> out;
    for (const auto& d : key_table()) out.push_back(d.info);
    return out;
  }();
  return keys;
}

bool changes_results(const std::string& key) {
  return key != "log_every" && key != "eval_batch_size" && key != "num_threads" &&
         key != "device" && key != "checkpoint_every" && key != "dist_timeout";
}

std::string config_value(const Config& cfg, const std::string& key) {
  const KeyDescriptor* d = find_key(key);
  if (d == nullptr) throw ConfigError("unknown config key '" + key + "'");
  return d->get(cfg);
}

std::string to_yaml(const Config& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_group;
  for (const auto& d : key_table()) {
    if (!d.info.alias_of.empty()) continue;  // the canonical key says it
    const std::string group = group_of(d.info.key);
    if (group != open_group) {
      if (!open_group.empty()) out << YAML::EndMap;
      out << YAML::Key << group << YAML::Value << YAML::BeginMap;
      open_group = group;
    }
    out << YAML::Key << leaf_of(d.info.key) << YAML::Value;
    if (d.items) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const std::string& v : d.items(cfg)) out << v;
      out << YAML::EndSeq;
      continue;
    }
    if (d.quoted) out << YAML::DoubleQuoted;
    out << d.get(cfg);
  }
  if (!open_group.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace pfedhn::config

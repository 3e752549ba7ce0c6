#include "pfedhn/config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "pfedhn/data/catalog.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Enum names

template <typename E>
struct EnumNames;

template <>
struct EnumNames<Algorithm> {
  static constexpr std::array<std::pair<Algorithm, const char*>, 7> kValues{
      {{Algorithm::kPFedHN, "pfedhn"},
       {Algorithm::kPFedHNPC, "pfedhn_pc"},
       {Algorithm::kLocal, "local"},
       {Algorithm::kFedAvg, "fedavg"},
       {Algorithm::kFedAvgFT, "fedavg_ft"},
       {Algorithm::kPerFedAvg, "perfedavg"},
       {Algorithm::kFedPer, "fedper"}}};
};

template <>
struct EnumNames<PartitionKind> {
  static constexpr std::array<std::pair<PartitionKind, const char*>, 2> kValues{
      {{PartitionKind::kClasses, "classes"}, {PartitionKind::kDirichlet, "dirichlet"}}};
};

template <>
struct EnumNames<TestSplit> {
  static constexpr std::array<std::pair<TestSplit, const char*>, 2> kValues{
      {{TestSplit::kOfficial, "official"}, {TestSplit::kHoldout, "holdout"}}};
};

template <>
struct EnumNames<DeviceKind> {
  static constexpr std::array<std::pair<DeviceKind, const char*>, 3> kValues{
      {{DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}}};
};

template <typename E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (v == value) return name;
  }
  return "<invalid " + std::to_string(static_cast<int>(value)) + ">";
}

template <typename E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    out += out.empty() ? "" : "|";
    out += name;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scalar parsing and printing

// Thrown by the scalar parsers; says what is allowed. The caller adds key, value and origin.
class BadValue : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Drops one leading '+' (valid YAML) unless a sign or nothing follows it.
std::string_view strip_plus(std::string_view s) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  return s;
}

int64_t parse_int(const std::string& text) {
  const std::string_view s = strip_plus(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  const bool whole = !s.empty() && end == s.data() + s.size();
  if (ec == std::errc::result_out_of_range) {
    throw BadValue("expected an integer within the int64 range");
  }
  if (ec != std::errc() || !whole) {
    throw BadValue("expected an integer (decimal digits only, no decimal point or exponent)");
  }
  return value;
}

uint64_t parse_non_negative_int(const std::string& text) {
  const std::string_view s = strip_plus(text);
  const char* kExpected = "expected a non-negative integer (decimal digits only)";
  if (!s.empty() && s[0] == '-') throw BadValue(kExpected);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw BadValue("expected a non-negative integer no larger than 18446744073709551615");
  }
  if (ec != std::errc() || s.empty() || end != s.data() + s.size()) throw BadValue(kExpected);
  return value;
}

bool is_yaml_non_finite(std::string_view s) {
  static const std::array<std::string_view, 12> kSpellings{".inf",  ".Inf",  ".INF",  "+.inf",
                                                           "+.Inf", "+.INF", "-.inf", "-.Inf",
                                                           "-.INF", ".nan",  ".NaN",  ".NAN"};
  return std::find(kSpellings.begin(), kSpellings.end(), s) != kSpellings.end();
}

double parse_float(const std::string& text) {
  const std::string_view s = strip_plus(text);
  const char* kNotFinite = "expected a finite number (NaN and infinity are not allowed)";
  double value = 0;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::general);
  const bool whole = !s.empty() && end == s.data() + s.size();
  if (ec == std::errc() && whole) {
    if (!std::isfinite(value)) throw BadValue(kNotFinite);
    return value;
  }
  if (ec == std::errc::result_out_of_range && whole) {
    throw BadValue("expected a number within the double range");
  }
  if (is_yaml_non_finite(s)) throw BadValue(kNotFinite);
  throw BadValue("expected a number, e.g. 0.01 or 5e-3");
}

bool parse_bool(const std::string& text) {
  bool value = false;
  if (!YAML::convert<bool>::decode(YAML::Node(text), value)) {
    throw BadValue("expected true or false");
  }
  return value;
}

template <typename E>
E parse_enum(const std::string& text) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (text == name) return v;
  }
  throw BadValue("expected one of " + enum_choices<E>() + " (lowercase)");
}

// Shortest text that parses back to exactly `value`; always looks like a float ("50.0").
std::string format_double(double value) {
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  std::string text(buf.data(), ec == std::errc() ? end : buf.data());
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

// ---------------------------------------------------------------------------------------------
// Ranges

// A numeric interval; missing bounds are unbounded.
struct Range {
  std::optional<double> lo;
  bool lo_open = false;
  std::optional<double> hi;
  bool hi_open = false;

  bool contains(double v) const {
    if (lo && (lo_open ? v <= *lo : v < *lo)) return false;
    if (hi && (hi_open ? v >= *hi : v > *hi)) return false;
    return true;
  }

  std::string describe() const {
    const auto num = [](double v) {
      std::string text = format_double(v);
      if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0)
        text.resize(text.size() - 2);
      return text;
    };
    if (lo && hi) {
      return "must be in " + std::string(lo_open ? "(" : "[") + num(*lo) + ", " + num(*hi) +
             (hi_open ? ")" : "]");
    }
    if (lo) return std::string("must be ") + (lo_open ? "> " : ">= ") + num(*lo);
    if (hi) return std::string("must be ") + (hi_open ? "< " : "<= ") + num(*hi);
    return "";
  }
};

Range at_least(double lo) {
  return Range{lo, false, std::nullopt, false};
}
Range above(double lo) {
  return Range{lo, true, std::nullopt, false};
}
Range closed_open(double lo, double hi) {
  return Range{lo, false, hi, true};
}

// ---------------------------------------------------------------------------------------------
// The key table

struct KeyDescriptor {
  KeyInfo info;
  // Canonical key of the field this key writes; keys sharing a field are aliases
  // (model.variant and model.local write algorithm).
  std::string field;
  std::function<void(Config&, const std::string&)> set;  // from a YAML scalar; throws BadValue
  std::function<std::string(const Config&)> get;         // YAML scalar text
  std::function<double(const Config&)> number;           // numeric keys only, for `range`
  Range range;
  bool quoted = false;  // strings are written double-quoted so any text round-trips
  // List keys only: the values, written as a YAML flow sequence; `set` and `get` use the text
  // "[8, 16, 32]", and a YAML sequence is turned into that text before `set`.
  std::function<std::vector<int64_t>(const Config&)> ints;
};

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

std::string int_list_text(const std::vector<int64_t>& values) {
  std::string out;
  for (const int64_t v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return "[" + out + "]";
}

// "[8, 16, 32]", "8,16,32", "[]" or "" (the empty list).
std::vector<int64_t> parse_int_list(const std::string& text) {
  const char* kExpected = "expected a list of integers, e.g. [8, 16, 32]";
  std::string_view s(text);
  const auto trim_view = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  s = trim_view(s);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') throw BadValue(kExpected);
    s = trim_view(s.substr(1, s.size() - 2));
  }
  std::vector<int64_t> out;
  if (s.empty()) return out;
  for (;;) {
    const size_t comma = s.find(',');
    const std::string item(trim_view(s.substr(0, comma)));
    try {
      out.push_back(parse_int(item));
    } catch (const BadValue&) {
      throw BadValue(kExpected);
    }
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

template <typename Access>
KeyDescriptor int_list_key(const char* key, const char* description, Access access) {
  KeyDescriptor d = new_key(key, "int list", description);
  d.set = [access](Config& c, const std::string& t) { access(c) = parse_int_list(t); };
  d.get = [access](const Config& c) { return int_list_text(access(c)); };
  d.ints = [access](const Config& c) { return access(c); };
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
      enum_key<PartitionKind>("client.partition", "how labels are split across clients",
                              field(C, &CC::partition)),
      float_key("client.dirichlet_alpha", "concentration of the Dirichlet partition",
                field(C, &CC::dirichlet_alpha), above(0)),

      int_key("baseline.finetune_steps",
              "fedavg_ft: SGD steps each client fine-tunes the global model before evaluation",
              field(B, &BC::finetune_steps), at_least(0)),
      float_key("baseline.perfedavg_alpha",
                "perfedavg: lr of the personalisation step (the inner MAML step)",
                field(B, &BC::perfedavg_alpha), above(0)),

      int_key("novel.num_clients",
              "clients held out of training, the last ones (pfedhn generalize adapts them)",
              field(&Config::novel, &NovelConfig::num_clients), at_least(0)),
      int_key("novel.steps", "pfedhn generalize: embedding-only rounds per novel client",
              field(&Config::novel, &NovelConfig::steps), at_least(1)),
  };
  for (auto& d : table) {
    if (d.field != d.info.key) d.info.alias_of = d.field;
  }
  return table;
}

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

// ---------------------------------------------------------------------------------------------
// Suggestions for misspelt names

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Levenshtein distance, ignoring case (for suggestions only; names are matched exactly).
size_t edit_distance(const std::string& a_text, const std::string& b_text) {
  const std::string a = lowercase(a_text);
  const std::string b = lowercase(b_text);
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string quoted_alternatives(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& n : names) quoted.push_back("'" + n + "'");
  return join(quoted, " or ");
}

// The valid keys closest to `key`. Comparing leaf names (with a cost of 1 for the wrong or
// missing group) finds `client.num_rounds` for both `num_rounds` and `server.num_rounds`.
std::vector<std::string> closest_keys(const std::string& key) {
  size_t best = std::string::npos;
  std::vector<std::string> matches;
  for (const auto& d : key_table()) {
    const std::string& candidate = d.info.key;
    const size_t score = std::min(edit_distance(key, candidate),
                                  edit_distance(leaf_of(key), leaf_of(candidate)) + 1);
    if (score < best) {
      best = score;
      matches.clear();
    }
    if (score == best) matches.push_back(candidate);
  }
  const size_t tolerance = 2 + leaf_of(key).size() / 4;
  if (best > tolerance || matches.size() > 3) return {};
  return matches;
}

std::string valid_keys_hint(const std::string& key) {
  const std::string group = group_of(key);
  if (!group.empty() && is_group(group)) {
    std::vector<std::string> leaves;
    for (const auto& d : key_table()) {
      if (group_of(d.info.key) == group) leaves.push_back(leaf_of(d.info.key));
    }
    return "valid keys in '" + group + "': " + join(leaves, ", ");
  }
  std::vector<std::string> top;
  for (const auto& d : key_table()) {
    if (group_of(d.info.key).empty()) top.push_back(d.info.key);
  }
  return "valid top-level keys: " + join(top, ", ") + "; groups: " + join(group_names(), ", ");
}

[[noreturn]] void throw_unknown_key(const std::string& key, const std::string& origin) {
  const auto matches = closest_keys(key);
  const std::string hint =
      matches.empty() ? valid_keys_hint(key) : "did you mean " + quoted_alternatives(matches) + "?";
  throw ConfigError("unknown config key '" + key + "' in " + origin + "; " + hint);
}

[[noreturn]] void throw_unknown_group(const std::string& group, const std::string& origin) {
  std::string best;
  size_t best_distance = 3;  // suggest only within 2 edits
  for (const auto& g : group_names()) {
    const size_t distance = edit_distance(group, g);
    if (distance < best_distance) {
      best_distance = distance;
      best = g;
    }
  }
  const std::string hint =
      best.empty() ? "valid groups: " + join(group_names(), ", ") : "did you mean '" + best + "'?";
  throw ConfigError("unknown config group '" + group + "' in " + origin + "; " + hint);
}

// ---------------------------------------------------------------------------------------------
// Applying values

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// The values of one source: one file (not its includes) or one batch of overrides. Two keys
// that write the same field (algorithm, model.variant, model.local) must agree within a source; a
// later source simply replaces an earlier one's value.
class Source {
 public:
  explicit Source(bool reject_repeated_keys) : reject_repeated_keys_(reject_repeated_keys) {}

  // `origin` names where the value comes from in messages ("conf/x.yaml", "override 'a=1'").
  void apply(Config& cfg, const std::string& key, const YAML::Node& value,
             const std::string& origin) {
    const KeyDescriptor* d = find_key(key);
    if (d == nullptr) throw_unknown_key(key, origin);
    const bool list = d->ints && value.IsSequence();
    if (!value.IsScalar() && !list) {
      throw ConfigError("config key '" + key + "' in " + origin + " needs " +
                        (d->ints ? "a list of integers, e.g. [8, 16, 32]"
                                 : "a single value (" + d->info.type + ")") +
                        ", got " + node_kind(value));
    }
    if (reject_repeated_keys_ && set_keys_.count(key) > 0) {
      throw ConfigError("config key '" + key + "' is given twice in " + origin);
    }
    const std::string text = list ? sequence_text(key, value, origin) : value.Scalar();
    try {
      d->set(cfg, text);
    } catch (const BadValue& e) {
      throw ConfigError("invalid value '" + text + "' for config key '" + key + "' in " + origin +
                        ": " + e.what());
    }
    check_agrees_with_aliases(cfg, *d, text, origin);
    set_keys_.insert(key);
    cfg.explicit_keys.insert(key);
  }

 private:
  struct Setting {
    std::string text;       // as written
    std::string canonical;  // the field's value afterwards, as its canonical key prints it
  };

  void check_agrees_with_aliases(const Config& cfg, const KeyDescriptor& d, const std::string& text,
                                 const std::string& origin) {
    const std::string canonical = find_key(d.field)->get(cfg);
    auto& settings = fields_[d.field];
    for (const auto& [other_key, other] : settings) {
      if (other_key == d.info.key || other.canonical == canonical) continue;
      throw ConfigError("config keys '" + other_key + "' and '" + d.info.key + "' disagree in " +
                        origin + ": " + other_key + "=" + other.text + " but " + d.info.key + "=" +
                        text + "; set only one of them");
    }
    settings[d.info.key] = Setting{text, canonical};
  }

  // A YAML sequence of scalars as the list text "[a, b]" that list keys parse.
  static std::string sequence_text(const std::string& key, const YAML::Node& value,
                                   const std::string& origin) {
    std::string out;
    for (const auto& item : value) {
      if (!item.IsScalar()) {
        throw ConfigError("config key '" + key + "' in " + origin +
                          " needs a list of integers, got " + node_kind(item) + " in the list");
      }
      out += (out.empty() ? "" : ", ") + item.Scalar();
    }
    return "[" + out + "]";
  }

  bool reject_repeated_keys_;
  std::set<std::string> set_keys_;
  std::map<std::string, std::map<std::string, Setting>> fields_;  // field -> key -> value
};

// ---------------------------------------------------------------------------------------------
// Files

std::string read_text(const fs::path& file, const std::string& context) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw ConfigError("config file '" + file.string() + "'" + context + " does not exist");
  }
  if (fs::is_directory(file, ec)) {
    throw ConfigError("config file '" + file.string() + "'" + context + " is a directory");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    throw ConfigError("cannot read config file '" + file.string() + "'" + context);
  }
  return text.str();
}

// yaml-cpp 0.7 never returns from parsing a document whose first token is ',' (found by
// fuzz_config: the 2-byte file ",a" hangs and grows without bound), so such text is refused
// before yaml-cpp sees it: the reason with its line, or "" if the text is fine. NUL bytes are
// refused too, as yaml-cpp would read such text as UTF-16 or UTF-32 and this check could not.
std::string yaml_cpp_hazard(const std::string& text) {
  if (const size_t nul = text.find('\0'); nul != std::string::npos) {
    return "line " + std::to_string(1 + std::count(text.begin(), text.begin() + nul, '\n')) +
           ": NUL byte (not a text file)";
  }
  bool document_start = true;
  size_t line_no = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    std::string_view rest(line);
    if (line_no == 1 && rest.rfind("\xef\xbb\xbf", 0) == 0) rest.remove_prefix(3);  // UTF-8 BOM
    if (rest.rfind("---", 0) == 0 || rest.rfind("...", 0) == 0) {
      document_start = true;
      rest.remove_prefix(3);
    } else if (document_start && rest.rfind('%', 0) == 0) {
      continue;  // a directive
    }
    const size_t first = rest.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || rest[first] == '#') continue;
    if (document_start && rest[first] == ',') {
      return "line " + std::to_string(line_no) + ": a document cannot start with ','";
    }
    document_start = false;
  }
  return "";
}

// Ignores every event: only the number of documents matters.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

YAML::Node parse_yaml_file(const std::string& text, const std::string& name) {
  if (const std::string hazard = yaml_cpp_hazard(text); !hazard.empty()) {
    throw ConfigError("YAML syntax error in " + name + " at " + hazard);
  }
  try {
    // Not YAML::LoadAll: on a token its parser cannot place (a stray ',' found by
    // fuzz_config) yaml-cpp 0.7 yields empty documents forever. Counting stops at two.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int documents = 0;
    while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
    if (documents > 1) {
      throw ConfigError(name +
                        " is not one YAML document (a second document follows the first, or "
                        "a stray ',' ends it)");
    }
    return documents == 0 ? YAML::Node() : YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("YAML syntax error in " + name + " at line " +
                      std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

fs::path identity_of(const fs::path& file) {
  std::error_code ec;
  fs::path id = fs::weakly_canonical(file, ec);
  return ec ? fs::absolute(file).lexically_normal() : id;
}

std::string describe_cycle(const std::vector<fs::path>& chain, const fs::path& again) {
  std::string out;
  for (const auto& f : chain) out += f.string() + " -> ";
  return out + again.string();
}

void load_into(Config& cfg, const fs::path& file, const std::string& context,
               std::vector<fs::path>& chain);

// Applies the file named by a top-level `include:` (relative to the including file).
void load_include(Config& cfg, const YAML::Node& value, const fs::path& including,
                  std::vector<fs::path>& chain) {
  const std::string name = including.string();
  if (!value.IsScalar() || value.Scalar().empty()) {
    throw ConfigError("'include' in " + name + " must be a file name, got " + node_kind(value));
  }
  const fs::path target = (including.parent_path() / value.Scalar()).lexically_normal();
  load_into(cfg, target, " (included from " + name + ")", chain);
}

void apply_group(Config& cfg, Source& source, const std::string& group, const YAML::Node& keys,
                 const std::string& origin) {
  if (keys.IsNull()) return;  // a group with every key commented out
  if (!keys.IsMap()) {
    throw ConfigError("group '" + group + "' in " + origin + " must be a map of keys, got " +
                      node_kind(keys));
  }
  for (const auto& entry : keys) {
    source.apply(cfg, group + "." + entry.first.Scalar(), entry.second, origin);
  }
}

void apply_file_values(Config& cfg, const YAML::Node& root, const std::string& origin) {
  Source source(/*reject_repeated_keys=*/true);
  for (const auto& entry : root) {
    const std::string name = entry.first.Scalar();
    if (name == "include") continue;
    if (is_group(name)) {
      apply_group(cfg, source, name, entry.second, origin);
    } else if (entry.second.IsMap() && find_key(name) == nullptr) {
      throw_unknown_group(name, origin);
    } else {
      source.apply(cfg, name, entry.second, origin);
    }
  }
}

void load_into(Config& cfg, const fs::path& file, const std::string& context,
               std::vector<fs::path>& chain) {
  const fs::path id = identity_of(file);
  if (std::find(chain.begin(), chain.end(), id) != chain.end()) {
    throw ConfigError("config include cycle: " + describe_cycle(chain, id));
  }
  const std::string name = file.string();
  const YAML::Node root = parse_yaml_file(read_text(file, context), name);
  if (root.IsNull()) return;  // empty, or only comments
  if (!root.IsMap()) {
    throw ConfigError("top level of config file " + name + " must be a map of keys, got " +
                      node_kind(root));
  }
  chain.push_back(id);
  std::optional<YAML::Node> include;
  for (const auto& entry : root) {
    if (entry.first.Scalar() != "include") continue;
    if (include) throw ConfigError("'include' is given twice in " + name);
    include = entry.second;
  }
  if (include) load_include(cfg, *include, file, chain);  // its values first, whatever its position
  chain.pop_back();
  apply_file_values(cfg, root, name);
}

// ---------------------------------------------------------------------------------------------
// Overrides

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

void apply_one_override(Config& cfg, Source& source, const std::string& assignment) {
  const std::string origin = "override '" + assignment + "'";
  const auto eq = assignment.find('=');
  const std::string key = eq == std::string::npos ? "" : trim(assignment.substr(0, eq));
  if (key.empty()) {
    throw ConfigError("invalid " + origin +
                      ": expected group.key=value, e.g. client.num_rounds=10");
  }
  const std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    if (const std::string hazard = yaml_cpp_hazard(text); !hazard.empty()) {
      throw YAML::ParserException(YAML::Mark(), hazard);
    }
    value = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("invalid " + origin + ": value '" + text + "' is not a YAML scalar (" +
                      e.msg + ")");
  }
  source.apply(cfg, key, value, origin);
}

// ---------------------------------------------------------------------------------------------
// Validation

std::string plural(int64_t n, const std::string& singular, const std::string& plural_form) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural_form);
}

const data::DatasetInfo& require_dataset(const std::string& name) {
  if (const data::DatasetInfo* info = data::find_dataset(name)) return *info;
  std::vector<std::string> names;
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& ds : data::all_datasets()) {
    names.push_back(ds.name);
    const size_t distance = edit_distance(name, ds.name);
    if (distance < best_distance) {
      best_distance = distance;
      best = ds.name;
    }
  }
  const std::string hint = best_distance <= 3 ? "did you mean '" + best + "'? " : "";
  throw ConfigError("unknown dataset '" + name + "' for dataset.data; " + hint +
                    "allowed: " + join(names, "|"));
}

// Takes a dataset-derived value unless the key is explicit, in which case it must agree.
void derive_from_dataset(Config& cfg, const std::string& key, int64_t& value, int64_t from_dataset,
                         const std::string& what) {
  if (cfg.explicit_keys.count(key) == 0) {
    value = from_dataset;
  } else if (value != from_dataset) {
    throw ConfigError(key + "=" + std::to_string(value) + " contradicts dataset '" +
                      cfg.dataset.data + "' (" + what + ")");
  }
}

void check_ranges(const Config& cfg) {
  for (const auto& d : key_table()) {
    if (!d.number || d.range.contains(d.number(cfg))) continue;
    throw ConfigError(d.info.key + "=" + d.get(cfg) + " is out of range: " + d.range.describe());
  }
}

void check_hetero_kernels(const Config& cfg) {
  const auto& sizes = cfg.model.hetero_kernels;
  const std::string key = "model.hetero_kernels=" + int_list_text(sizes);
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1) throw ConfigError(key + " is out of range: every width must be >= 1");
    if (std::find(sizes.begin(), sizes.begin() + static_cast<std::ptrdiff_t>(i), sizes[i]) !=
        sizes.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw ConfigError(key + " lists the width " + std::to_string(sizes[i]) +
                        " twice: every width must be distinct");
    }
  }
  if (static_cast<int64_t>(sizes.size()) > cfg.client.num_nodes) {
    throw ConfigError(key + " has more widths than client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + "): every width needs a client");
  }
  if (sizes.empty()) return;
  // The baselines train one network shape, and generalize one embedding per width is not built.
  if (!uses_hypernetwork(cfg.algorithm)) {
    throw ConfigError(key + " needs algorithm=pfedhn or pfedhn_pc (the baselines train one " +
                      "target width), got algorithm=" + to_string(cfg.algorithm));
  }
  if (cfg.novel.num_clients > 0) {
    throw ConfigError(key + " cannot be combined with novel.num_clients=" +
                      std::to_string(cfg.novel.num_clients) + " (novel clients have one width)");
  }
}

void check_against_dataset(const Config& cfg, const data::DatasetInfo& ds) {
  const std::string of_dataset = " for dataset '" + ds.name + "'";
  if (cfg.dataset.val_size >= ds.train_size) {
    throw ConfigError("dataset.val_size=" + std::to_string(cfg.dataset.val_size) +
                      " is out of range" + of_dataset + ": must be < " +
                      std::to_string(ds.train_size) + " (its official training-set size)");
  }
  const bool holdout = cfg.dataset.test_split == TestSplit::kHoldout;
  const int64_t held_out = cfg.dataset.val_size + (holdout ? cfg.dataset.test_size : 0);
  if (holdout && held_out >= ds.train_size) {
    throw ConfigError("dataset.test_size=" + std::to_string(cfg.dataset.test_size) +
                      " with dataset.val_size=" + std::to_string(cfg.dataset.val_size) +
                      " leaves no training samples" + of_dataset + ": their sum must be < " +
                      std::to_string(ds.train_size) + " (its official training-set size)");
  }
  const int64_t train_samples = ds.train_size - held_out;
  if (cfg.client.num_nodes > train_samples) {
    throw ConfigError("client.num_nodes=" + std::to_string(cfg.client.num_nodes) +
                      " is out of range" + of_dataset + ": must be <= " +
                      std::to_string(train_samples) + " (training samples left after " +
                      (holdout ? "dataset.val_size and dataset.test_size)" : "dataset.val_size)"));
  }
  const int64_t per_node = cfg.client.num_classes_per_node;
  if (cfg.client.partition == PartitionKind::kClasses &&
      (per_node < 1 || per_node > ds.num_classes)) {
    throw ConfigError("client.num_classes_per_node=" + std::to_string(per_node) +
                      " is out of range" + of_dataset + ": must be in [1, " +
                      std::to_string(ds.num_classes) + "] with client.partition=classes");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

const std::vector<KeyInfo>& all_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> out;
    for (const auto& d : key_table()) out.push_back(d.info);
    return out;
  }();
  return keys;
}

Config load_config_file(const std::filesystem::path& file) {
  Config cfg;
  std::vector<fs::path> chain;
  load_into(cfg, file, "", chain);
  return cfg;
}

Config parse_config_text(const std::string& yaml, const std::string& name) {
  Config cfg;
  const YAML::Node root = parse_yaml_file(yaml, name);
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) {
    throw ConfigError("top level of " + name + " must be a map of keys, got " + node_kind(root));
  }
  if (root["include"]) throw ConfigError("'include' is not allowed in " + name);
  apply_file_values(cfg, root, name);
  return cfg;
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

void apply_override(Config& cfg, const std::string& assignment) {
  apply_overrides(cfg, {assignment});
}

void apply_overrides(Config& cfg, const std::vector<std::string>& assignments) {
  Config next = cfg;
  Source source(/*reject_repeated_keys=*/false);
  for (const auto& assignment : assignments) apply_one_override(next, source, assignment);
  cfg = std::move(next);
}

void resolve_and_validate(Config& cfg) {
  const data::DatasetInfo& ds = require_dataset(cfg.dataset.data);
  derive_from_dataset(cfg, "model.in_channels", cfg.model.in_channels, ds.channels,
                      plural(ds.channels, "channel", "channels"));
  derive_from_dataset(cfg, "model.out_dim", cfg.model.out_dim, ds.num_classes,
                      plural(ds.num_classes, "class", "classes"));
  if (cfg.dataset.root.empty()) {
    throw ConfigError("dataset.root is empty: it must name the folder holding the datasets");
  }
  check_ranges(cfg);
  check_hetero_kernels(cfg);
  if (cfg.client.clients_per_round > cfg.client.num_nodes) {
    throw ConfigError("client.clients_per_round=" + std::to_string(cfg.client.clients_per_round) +
                      " is out of range: must be <= client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + ")");
  }
  if (cfg.novel.num_clients >= cfg.client.num_nodes ||
      cfg.client.clients_per_round > cfg.client.num_nodes - cfg.novel.num_clients) {
    throw ConfigError("novel.num_clients=" + std::to_string(cfg.novel.num_clients) +
                      " is out of range: it must leave at least client.clients_per_round (" +
                      std::to_string(cfg.client.clients_per_round) + ") of client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + ") clients for training");
  }
  check_against_dataset(cfg, ds);
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
    if (d.ints) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const int64_t v : d.ints(cfg)) out << v;
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

std::string to_string(Algorithm a) {
  return enum_name(a);
}
std::string to_string(PartitionKind p) {
  return enum_name(p);
}
std::string to_string(TestSplit t) {
  return enum_name(t);
}
std::string to_string(DeviceKind d) {
  return enum_name(d);
}

}  // namespace pfedhn::config

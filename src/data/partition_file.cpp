#include "pfedhn/data/partition_file.h"

#include <fstream>
#include <sstream>
#include <type_traits>

#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {

// A partition file is small (a few numbers per client); anything far larger is not one.
constexpr std::uintmax_t kMaxFileBytes = 64u << 20;

std::vector<int64_t> label_counts(const torch::Tensor& labels, const torch::Tensor& indices,
                                  int64_t num_classes) {
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  const torch::Tensor y = labels.index_select(0, indices.to(torch::kInt64)).to(torch::kInt64);
  const int64_t* data = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (data[i] >= 0 && data[i] < num_classes) ++counts[static_cast<size_t>(data[i])];
  }
  return counts;
}

nlohmann::json samples_json(const ClientIndices& client, const torch::Tensor (&labels)[3],
                            int64_t num_classes) {
  const torch::Tensor* indices[3] = {&client.train, &client.val, &client.test};
  const char* names[3] = {"train", "val", "test"};
  nlohmann::json samples, counts;
  for (size_t s = 0; s < 3; ++s) {
    samples[names[s]] = indices[s]->numel();
    counts[names[s]] = label_counts(labels[s], *indices[s], num_classes);
  }
  return {{"samples", samples}, {"label_counts", counts}};
}

nlohmann::json client_json(size_t i, const std::vector<int64_t>& classes,
                           const std::vector<double>& proportions, bool novel,
                           const ClientIndices& indices, const torch::Tensor (&labels)[3],
                           int64_t num_classes) {
  nlohmann::json j{
      {"client", i}, {"classes", classes}, {"proportions", proportions}, {"novel", novel}};
  j.update(samples_json(indices, labels, num_classes));
  return j;
}

std::string read_small_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw DataError("partition file '" + path.string() + "' does not exist or is not a file");
  }
  if (std::filesystem::file_size(path, ec) > kMaxFileBytes) {
    throw DataError("partition file '" + path.string() +
                    "' is larger than 64 MiB: not a partition");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw DataError("cannot read partition file '" + path.string() + "'");
  return text.str();
}

template <typename T>
std::vector<T> list_field(const nlohmann::json& entry, const char* key, const std::string& where) {
  if (!entry.contains(key) || !entry.at(key).is_array()) {
    throw DataError(where + " has no list \"" + key + "\"");
  }
  std::vector<T> out;
  for (const auto& v : entry.at(key)) {
    const bool ok = std::is_integral<T>::value ? v.is_number_integer() : v.is_number();
    if (!ok) {
      throw DataError(where + ": \"" + key + "\" holds " + v.dump() + ", not " +
                      (std::is_integral<T>::value ? "an integer" : "a number"));
    }
    out.push_back(v.get<T>());
  }
  return out;
}

}  // namespace

nlohmann::json partition_json(const Partition& partition, const PartitionRecordInfo& info,
                              const torch::Tensor (&labels)[3]) {
  const ClassAssignment& a = partition.assignment;
  const size_t assigned = static_cast<size_t>(a.num_clients());
  const size_t total = partition.clients.size();
  // With the novel clients drawn apart, the assignment covers only the training clients; else
  // (novel clients the last ones of the partition) the novel ones are its last entries.
  const bool novel_apart =
      !partition.novel_label_distributions.empty() || partition.novel_assignment.num_clients() > 0;
  const size_t novel = total - assigned;
  nlohmann::json clients = nlohmann::json::array();
  for (size_t i = 0; i < assigned; ++i) {
    clients.push_back(client_json(i, a.classes[i], a.proportions[i], false, partition.clients[i],
                                  labels, info.num_classes));
  }
  nlohmann::json j{{"format", "pfedhn partition 1"},
                   {"dataset", info.dataset},
                   {"num_classes", info.num_classes},
                   {"scheme", info.scheme},
                   {"seed", info.seed}};
  if (!info.class_shares.empty()) j["class_shares"] = info.class_shares;
  j["clients"] = clients;
  if (!novel_apart) return j;
  nlohmann::json novel_clients = nlohmann::json::array();
  for (size_t k = 0; k < novel; ++k) {
    const ClientIndices& indices = partition.clients[assigned + k];
    nlohmann::json c;
    if (!partition.novel_label_distributions.empty()) {
      c = {{"client", assigned + k},
           {"label_distribution", partition.novel_label_distributions[k]}};
      c.update(samples_json(indices, labels, info.num_classes));
    } else {
      const ClassAssignment& n = partition.novel_assignment;
      c = client_json(assigned + k, n.classes[k], n.proportions[k], true, indices, labels,
                      info.num_classes);
    }
    c["novel"] = true;
    novel_clients.push_back(c);
  }
  j["novel_clients"] = novel_clients;
  return j;
}

ClassAssignment read_partition_file(const std::filesystem::path& path, int64_t num_clients,
                                    int64_t num_classes) {
  const std::string source = "partition file '" + path.string() + "'";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_small_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw DataError(source + " is not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("clients") || !j.at("clients").is_array()) {
    throw DataError(source + " has no list \"clients\" at its top level");
  }
  ClassAssignment a;
  const auto& clients = j.at("clients");
  for (size_t i = 0; i < clients.size(); ++i) {
    const std::string where = source + ", client " + std::to_string(i);
    if (!clients[i].is_object()) throw DataError(where + " is not an object");
    a.classes.push_back(list_field<int64_t>(clients[i], "classes", where));
    a.proportions.push_back(list_field<double>(clients[i], "proportions", where));
  }
  if (a.num_clients() != num_clients) {
    throw DataError(source + " lists " + std::to_string(a.num_clients()) +
                    " clients, but this run partitions " + std::to_string(num_clients) +
                    " (client.num_nodes, less novel.num_clients when novel.alphas draws them "
                    "apart)");
  }
  check_assignment(a, num_clients, num_classes, source);
  return a;
}

}  // namespace pfedhn::data

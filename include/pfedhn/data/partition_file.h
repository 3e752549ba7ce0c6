#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "pfedhn/data/partition.h"

namespace pfedhn::data {

// What a partition record says besides the partition itself (for the reader of the file).
struct PartitionRecordInfo {
  std::string dataset;
  std::string scheme;        // client.partition
  std::string class_shares;  // client.class_shares (scheme classes only; else empty)
  uint64_t seed = 0;
  int64_t num_classes = 0;
};

// The run's partition.json: per client its classes and proportions (as drawn: proportion p of a
// class is the share of that class's samples the client gets, in every split), whether it is
// novel, and its samples per split, in all and per class ("label_counts", one entry per class).
// `labels` are the three splits' labels (train, val, test) that `partition.clients` index.
// "clients" lists the clients the assignment covers (PartitionOptions::num_assigned());
// novel clients drawn apart (novel.alphas) follow in "novel_clients".
nlohmann::json partition_json(const Partition& partition, const PartitionRecordInfo& info,
                              const torch::Tensor (&labels)[3]);

// Reads the assignment of a partition file (client.partition=file): the "classes" and
// "proportions" of every entry of "clients", in order; any other field is ignored, so a run's
// partition.json is a valid input. Throws DataError, one line naming the file, when it cannot
// be read, is not such JSON, or does not hold an assignment of `num_clients` clients over
// `num_classes` classes (check_assignment).
ClassAssignment read_partition_file(const std::filesystem::path& path, int64_t num_clients,
                                    int64_t num_classes);

}  // namespace pfedhn::data

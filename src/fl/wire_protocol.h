// Private to src/fl/: the messages rank 0 and the workers exchange, and their bytes. Every
// exchange is rank 0 <-> one worker: a header, then fixed-size payloads whose sizes both sides
// know from the header and the config. The cluster (ranks, rendezvous, faults) is
// cluster.cpp.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pfedhn/models/target.h"

namespace pfedhn::fl::wire {

enum Command : int64_t { kTrain = 1, kEval = 2, kGather = 3, kScatter = 4, kStop = 5 };
enum Tag : int {
  kTagHeader = 1,
  kTagTheta,
  kTagDelta,
  kTagStats,
  kTagCounts,
  kTagLosses,
  kTagStateSize,
  kTagState
};

// The 4-int64 header of every command: the command and up to three arguments.
torch::Tensor header(Command cmd, int64_t a = 0, int64_t b = 0, int64_t c = 0);

// A target network's weights as one flat CPU float tensor, and back onto `device`.
torch::Tensor flatten(const models::Weights& w);
models::Weights unflatten(const torch::Tensor& flat, const models::TargetSpec& spec,
                          const torch::Device& device);

torch::Tensor to_byte_tensor(const std::string& bytes);
std::string from_byte_tensor(const torch::Tensor& t);

// Values in the rendezvous store.
std::vector<uint8_t> bytes_of(const std::string& s);
std::string string_of(const std::vector<uint8_t>& v);

int64_t nbytes(const torch::Tensor& t);  // the bytes a message moves

}  // namespace pfedhn::fl::wire

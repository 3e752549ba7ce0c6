#include "wire_protocol.h"

#include <cstring>

namespace pfedhn::fl::wire {

torch::Tensor header(Command cmd, int64_t a, int64_t b, int64_t c) {
  return torch::tensor({static_cast<int64_t>(cmd), a, b, c}, torch::kLong);
}

torch::Tensor flatten(const models::Weights& w) {
  std::vector<torch::Tensor> parts;
  parts.reserve(w.size());
  for (const auto& t : w) parts.push_back(t.detach().reshape({-1}).to(torch::kCPU));
  return torch::cat(parts).contiguous();
}

models::Weights unflatten(const torch::Tensor& flat, const models::TargetSpec& spec,
                          const torch::Device& device) {
  const auto on_device = flat.to(device);
  models::Weights out;
  int64_t offset = 0;
  for (const auto& t : spec.tensors) {
    out.push_back(on_device.narrow(0, offset, t.numel()).view(t.shape));
    offset += t.numel();
  }
  return out;
}

torch::Tensor to_byte_tensor(const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string from_byte_tensor(const torch::Tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()),
                     static_cast<size_t>(t.numel()));
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}
std::string string_of(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

int64_t nbytes(const torch::Tensor& t) {
  return t.numel() * static_cast<int64_t>(t.element_size());
}

}  // namespace pfedhn::fl::wire

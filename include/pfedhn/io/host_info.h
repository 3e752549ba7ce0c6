#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace pfedhn::io {

// What a run's floats depend on beyond its config, seed and thread count: the same binary and
// configuration give different numbers on CPUs whose kernels differ (docs/cifar10.md, "Which
// machine made a run"). Recorded in run_info.json so that a run's machine can be told apart.
struct HostInfo {
  std::string cpu_name;  // /proc/cpuinfo "model name"; empty where unknown
  int cpu_family = -1;   // /proc/cpuinfo "cpu family" and "model" (AMD 25 = Zen 3/4, 26 = Zen 5)
  int cpu_model = -1;
  bool avx512 = false;              // the CPU offers avx512f
  std::string torch_version;        // the LibTorch this binary runs on
  std::string aten_cpu_capability;  // the vector kernels ATen dispatches to ("AVX2", ...)
  std::string openblas_core;        // OpenBLAS's kernel choice, when OpenBLAS is loaded
};

// The first processor's fields of a /proc/cpuinfo text.
HostInfo parse_cpuinfo(std::string_view cpuinfo);
// "AVX2" from at::show_config()'s "CPU capability usage: AVX2" line; empty if absent.
std::string parse_cpu_capability(std::string_view torch_config);

HostInfo probe_host();
nlohmann::json host_json(const HostInfo& host);

}  // namespace pfedhn::io

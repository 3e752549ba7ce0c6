#include "pfedhn/io/host_info.h"

#include <ATen/Version.h>
#include <dlfcn.h>
#include <torch/version.h>

#include <fstream>
#include <sstream>

namespace pfedhn::io {
namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

int to_int_or(std::string_view s, int fallback) {
  try {
    return std::stoi(std::string(s));
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string openblas_core() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn ? fn() : nullptr;
  return name ? std::string(trim(name)) : std::string();
}

}  // namespace

HostInfo parse_cpuinfo(std::string_view cpuinfo) {
  HostInfo host;
  bool seen_name = false, seen_family = false, seen_model = false, seen_flags = false;
  size_t start = 0;
  while (start < cpuinfo.size()) {
    auto end = cpuinfo.find('\n', start);
    if (end == std::string_view::npos) end = cpuinfo.size();
    const auto line = cpuinfo.substr(start, end - start);
    start = end + 1;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto key = trim(line.substr(0, colon));
    const auto value = trim(line.substr(colon + 1));
    if (key == "model name" && !seen_name) {
      host.cpu_name = std::string(value);
      seen_name = true;
    } else if (key == "cpu family" && !seen_family) {
      host.cpu_family = to_int_or(value, -1);
      seen_family = true;
    } else if (key == "model" && !seen_model) {
      host.cpu_model = to_int_or(value, -1);
      seen_model = true;
    } else if (key == "flags" && !seen_flags) {
      host.avx512 = (" " + std::string(value) + " ").find(" avx512f ") != std::string::npos;
      seen_flags = true;
    }
  }
  return host;
}

std::string parse_cpu_capability(std::string_view torch_config) {
  constexpr std::string_view kKey = "CPU capability usage:";
  const auto at = torch_config.find(kKey);
  if (at == std::string_view::npos) return {};
  auto rest = torch_config.substr(at + kKey.size());
  return std::string(trim(rest.substr(0, rest.find('\n'))));
}

HostInfo probe_host() {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  if (in) text << in.rdbuf();
  HostInfo host = parse_cpuinfo(text.str());
  host.torch_version = TORCH_VERSION;
  host.aten_cpu_capability = parse_cpu_capability(at::show_config());
  host.openblas_core = openblas_core();
  return host;
}

nlohmann::json host_json(const HostInfo& host) {
  return {{"cpu_name", host.cpu_name},           {"cpu_family", host.cpu_family},
          {"cpu_model", host.cpu_model},         {"avx512", host.avx512},
          {"torch_version", host.torch_version}, {"aten_cpu_capability", host.aten_cpu_capability},
          {"openblas_core", host.openblas_core}};
}

}  // namespace pfedhn::io

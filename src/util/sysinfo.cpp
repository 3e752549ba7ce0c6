#include "pfedhn/util/sysinfo.h"

#include <sys/resource.h>

#include <fstream>
#include <sstream>

namespace pfedhn {

int64_t peak_rss_bytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double CpuInfo::flops_per_cycle() const {
  const double lanes = avx512f ? 16.0 : (avx2_fma ? 8.0 : 4.0);
  const double fma = avx2_fma || avx512f ? 2.0 : 1.0;  // multiply and add in one instruction
  return 2.0 * lanes * fma;                            // two vector pipes
}

double CpuInfo::peak_gflops(int64_t threads) const {
  return mhz * 1e-3 * flops_per_cycle() * static_cast<double>(threads);
}

CpuInfo read_cpu_info() {
  CpuInfo info;
  info.model = "unknown";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  bool have_model = false, have_mhz = false, have_flags = false;
  while (std::getline(in, line) && !(have_model && have_mhz && have_flags)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && !have_model) {
      info.model = value;
      have_model = true;
    } else if (key == "cpu MHz" && !have_mhz) {
      info.mhz = std::atof(value.c_str());
      have_mhz = true;
    } else if (key == "flags" && !have_flags) {
      std::istringstream flags(value);
      bool avx2 = false, fma = false;
      for (std::string f; flags >> f;) {
        avx2 |= f == "avx2";
        fma |= f == "fma";
        info.avx512f |= f == "avx512f";
      }
      info.avx2_fma = avx2 && fma;
      have_flags = true;
    }
  }
  return info;
}

}  // namespace pfedhn

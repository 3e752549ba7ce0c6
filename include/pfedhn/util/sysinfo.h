#pragma once

#include <cstdint>
#include <string>

namespace pfedhn {

// Peak resident set size of this process so far (getrusage), in bytes.
int64_t peak_rss_bytes();

struct CpuInfo {
  std::string model;      // /proc/cpuinfo "model name", or "unknown"
  double mhz = 0.0;       // nominal clock from /proc/cpuinfo "cpu MHz", 0 if unknown
  bool avx2_fma = false;  // both flags present
  bool avx512f = false;
  bool amd = false;  // vendor AuthenticAMD: AVX-512 runs on 256-bit pipes (Zen 4)
  // Single-precision FLOPs per cycle per core: two FMA pipes of the widest native vector width.
  double flops_per_cycle() const;
  // Theoretical single-precision peak for `threads` cores, in GFLOP/s (0 if the clock is unknown).
  double peak_gflops(int64_t threads) const;
};

CpuInfo read_cpu_info();

}  // namespace pfedhn

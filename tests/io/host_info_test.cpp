#include "pfedhn/io/host_info.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pfedhn/io/results.h"

namespace pfedhn::io {
namespace {

constexpr const char* kTwoProcessors =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC 9B45\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512bw\n"
    "\n"
    "processor\t: 1\n"
    "cpu family\t: 25\n"
    "model\t\t: 17\n"
    "model name\t: something else\n"
    "flags\t\t: fpu sse2 avx2\n";

TEST(HostInfo, ReadsTheFirstProcessorOfCpuinfo) {
  const HostInfo host = parse_cpuinfo(kTwoProcessors);
  EXPECT_EQ(host.cpu_name, "AMD EPYC 9B45");
  EXPECT_EQ(host.cpu_family, 26);
  EXPECT_EQ(host.cpu_model, 2);
  EXPECT_TRUE(host.avx512);
}

TEST(HostInfo, Avx512NeedsTheWholeFlagAndMissingFieldsStayUnknown) {
  const HostInfo host = parse_cpuinfo("flags : avx512fx avx2\nmodel : n/a\n");
  EXPECT_FALSE(host.avx512);
  EXPECT_EQ(host.cpu_model, -1);
  EXPECT_EQ(host.cpu_family, -1);
  EXPECT_EQ(host.cpu_name, "");
  EXPECT_FALSE(parse_cpuinfo("").avx512);
}

TEST(HostInfo, CpuCapabilityComesFromTorchsConfigLine) {
  EXPECT_EQ(parse_cpu_capability("PyTorch built with:\n  - CPU capability usage: AVX2\n  - x\n"),
            "AVX2");
  EXPECT_EQ(parse_cpu_capability("PyTorch built with:\n  - GCC 12.2\n"), "");
}

TEST(HostInfo, RunInfoRecordsTheMachine) {
  const auto dir = std::filesystem::temp_directory_path() / "pfedhn_host_info_test";
  std::filesystem::create_directories(dir);
  RunInfo info;
  info.host = probe_host();
  EXPECT_FALSE(info.host.torch_version.empty());
  EXPECT_FALSE(info.host.aten_cpu_capability.empty());
  write_run_info(dir / "run_info.json", info);
  std::ifstream in(dir / "run_info.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["host"]["torch_version"], info.host.torch_version);
  EXPECT_EQ(j["host"]["aten_cpu_capability"], info.host.aten_cpu_capability);
  EXPECT_EQ(j["host"]["cpu_family"], info.host.cpu_family);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pfedhn::io

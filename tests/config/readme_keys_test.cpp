// docs/configuration.md's config-keys table documents every key (aliases included).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "pfedhn/config/config.h"

namespace pfedhn::config {
namespace {

TEST(ReadmeKeys, EveryConfigKeyHasARowInTheKeysTable) {
  std::ifstream in(std::filesystem::path(PFEDHN_SOURCE_DIR) / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md not found";
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto begin = readme.find("## Config keys");
  ASSERT_NE(begin, std::string::npos);
  const auto end = readme.find("\n## ", begin + 1);
  // Only the table's rows: lines starting with '|', whose first cell names the key(s).
  std::string first_cells;
  std::istringstream lines(readme.substr(begin, end - begin));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| ", 0) != 0) continue;
    first_cells += line.substr(0, line.find(" |", 2)) + "\n";
  }
  for (const auto& info : all_keys()) {
    EXPECT_NE(first_cells.find("`" + info.key + "`"), std::string::npos)
        << info.key << " has no row in the config-keys table of docs/configuration.md";
  }
}

}  // namespace
}  // namespace pfedhn::config

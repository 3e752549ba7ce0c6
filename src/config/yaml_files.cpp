// Config files: reading them, guarding yaml-cpp against text it cannot parse, and `include`.
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string_view>

#include "internal.h"

namespace pfedhn::config {
namespace detail {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& file, const std::string& context) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw ConfigError("config file '" + file.string() + "'" + context + " does not exist");
  }
  if (fs::is_directory(file, ec)) {
    throw ConfigError("config file '" + file.string() + "'" + context + " is a directory");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    throw ConfigError("cannot read config file '" + file.string() + "'" + context);
  }
  return text.str();
}

// Ignores every event: only the number of documents matters.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

// yaml-cpp 0.7 never returns from parsing a document whose first token is ',' (found by
// fuzz_config: the 2-byte file ",a" hangs and grows without bound), so such text is refused
// before yaml-cpp sees it: the reason with its line, or "" if the text is fine. NUL bytes are
// refused too, as yaml-cpp would read such text as UTF-16 or UTF-32 and this check could not.
std::string yaml_cpp_hazard(const std::string& text) {
  if (const size_t nul = text.find('\0'); nul != std::string::npos) {
    return "line " + std::to_string(1 + std::count(text.begin(), text.begin() + nul, '\n')) +
           ": NUL byte (not a text file)";
  }
  bool document_start = true;
  size_t line_no = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    std::string_view rest(line);
    if (line_no == 1 && rest.rfind("\xef\xbb\xbf", 0) == 0) rest.remove_prefix(3);  // UTF-8 BOM
    if (rest.rfind("---", 0) == 0 || rest.rfind("...", 0) == 0) {
      document_start = true;
      rest.remove_prefix(3);
    } else if (document_start && rest.rfind('%', 0) == 0) {
      continue;  // a directive
    }
    const size_t first = rest.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || rest[first] == '#') continue;
    if (document_start && rest[first] == ',') {
      return "line " + std::to_string(line_no) + ": a document cannot start with ','";
    }
    document_start = false;
  }
  return "";
}

YAML::Node parse_yaml_file(const std::string& text, const std::string& name) {
  if (const std::string hazard = yaml_cpp_hazard(text); !hazard.empty()) {
    throw ConfigError("YAML syntax error in " + name + " at " + hazard);
  }
  try {
    // Not YAML::LoadAll: on a token its parser cannot place (a stray ',' found by
    // fuzz_config) yaml-cpp 0.7 yields empty documents forever. Counting stops at two.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int documents = 0;
    while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
    if (documents > 1) {
      throw ConfigError(name +
                        " is not one YAML document (a second document follows the first, or "
                        "a stray ',' ends it)");
    }
    return documents == 0 ? YAML::Node() : YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("YAML syntax error in " + name + " at line " +
                      std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

namespace {

fs::path identity_of(const fs::path& file) {
  std::error_code ec;
  fs::path id = fs::weakly_canonical(file, ec);
  return ec ? fs::absolute(file).lexically_normal() : id;
}

std::string describe_cycle(const std::vector<fs::path>& chain, const fs::path& again) {
  std::string out;
  for (const auto& f : chain) out += f.string() + " -> ";
  return out + again.string();
}

void load_into(Config& cfg, const fs::path& file, const std::string& context,
               std::vector<fs::path>& chain);

// Applies the file named by a top-level `include:` (relative to the including file).
void load_include(Config& cfg, const YAML::Node& value, const fs::path& including,
                  std::vector<fs::path>& chain) {
  const std::string name = including.string();
  if (!value.IsScalar() || value.Scalar().empty()) {
    throw ConfigError("'include' in " + name + " must be a file name, got " + node_kind(value));
  }
  const fs::path target = (including.parent_path() / value.Scalar()).lexically_normal();
  load_into(cfg, target, " (included from " + name + ")", chain);
}

void apply_group(Config& cfg, Source& source, const std::string& group, const YAML::Node& keys,
                 const std::string& origin) {
  if (keys.IsNull()) return;  // a group with every key commented out
  if (!keys.IsMap()) {
    throw ConfigError("group '" + group + "' in " + origin + " must be a map of keys, got " +
                      node_kind(keys));
  }
  for (const auto& entry : keys) {
    source.apply(cfg, group + "." + entry.first.Scalar(), entry.second, origin);
  }
}

}  // namespace

void apply_file_values(Config& cfg, const YAML::Node& root, const std::string& origin) {
  Source source(/*reject_repeated_keys=*/true);
  for (const auto& entry : root) {
    const std::string name = entry.first.Scalar();
    if (name == "include") continue;
    if (is_group(name)) {
      apply_group(cfg, source, name, entry.second, origin);
    } else if (entry.second.IsMap() && find_key(name) == nullptr) {
      throw_unknown_group(name, origin);
    } else {
      source.apply(cfg, name, entry.second, origin);
    }
  }
}

namespace {

void load_into(Config& cfg, const fs::path& file, const std::string& context,
               std::vector<fs::path>& chain) {
  const fs::path id = identity_of(file);
  if (std::find(chain.begin(), chain.end(), id) != chain.end()) {
    throw ConfigError("config include cycle: " + describe_cycle(chain, id));
  }
  const std::string name = file.string();
  const YAML::Node root = parse_yaml_file(read_text(file, context), name);
  if (root.IsNull()) return;  // empty, or only comments
  if (!root.IsMap()) {
    throw ConfigError("top level of config file " + name + " must be a map of keys, got " +
                      node_kind(root));
  }
  chain.push_back(id);
  std::optional<YAML::Node> include;
  for (const auto& entry : root) {
    if (entry.first.Scalar() != "include") continue;
    if (include) throw ConfigError("'include' is given twice in " + name);
    include = entry.second;
  }
  if (include) load_include(cfg, *include, file, chain);  // its values first, whatever its position
  chain.pop_back();
  apply_file_values(cfg, root, name);
}

}  // namespace
}  // namespace detail

Config load_config_file(const std::filesystem::path& file) {
  Config cfg;
  std::vector<std::filesystem::path> chain;
  detail::load_into(cfg, file, "", chain);
  return cfg;
}

Config parse_config_text(const std::string& yaml, const std::string& name) {
  Config cfg;
  const YAML::Node root = detail::parse_yaml_file(yaml, name);
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) {
    throw ConfigError("top level of " + name + " must be a map of keys, got " +
                      detail::node_kind(root));
  }
  if (root["include"]) throw ConfigError("'include' is not allowed in " + name);
  detail::apply_file_values(cfg, root, name);
  return cfg;
}

}  // namespace pfedhn::config

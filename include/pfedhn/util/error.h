#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace pfedhn {

// `text` with every control character written as an escape (\n, \t, \x7f, ...), so that a
// message quoting user input (a key, a value, a path) stays one line.
inline std::string one_line(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    }
  }
  return out;
}

// The line of a (possibly multi-line) library error that says what went wrong: the text after
// "Error: " on the last line that has it (TorchScript's tracebacks end so), else the first
// non-empty line.
inline std::string error_summary(const std::string& text) {
  std::string first, last_error;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (first.empty() && line.find_first_not_of(" \t\r") != std::string::npos) first = line;
    const size_t at = line.find("Error: ");
    if (at != std::string::npos) last_error = line.substr(at + 7);
    start = end + 1;
  }
  return last_error.empty() ? first : last_error;
}

// An error caused by the user's input (config, command line, data files, checkpoints).
// The command line prints its message as one line and exits with kUserErrorExitCode; the
// message is made one line here, whatever the input it quotes.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(one_line(message)) {}
};

class ConfigError : public UserError {
 public:
  using UserError::UserError;
};

class DataError : public UserError {
 public:
  using UserError::UserError;
};

// Training produced a non-finite loss or gradient.
class TrainingDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another rank of a multi-process run died, hung past dist_timeout, or lost its connection.
class RankFailure : public std::runtime_error {
 public:
  RankFailure(int rank, const std::string& message) : std::runtime_error(message), rank_(rank) {}
  int rank() const { return rank_; }

 private:
  int rank_;
};

inline constexpr int kUserErrorExitCode = 2;
inline constexpr int kDivergedExitCode = 3;
inline constexpr int kRankFailureExitCode = 4;

}  // namespace pfedhn

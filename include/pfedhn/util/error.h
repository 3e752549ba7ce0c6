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

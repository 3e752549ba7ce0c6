#pragma once

#include <stdexcept>
#include <string>

namespace pfedhn {

// An error caused by the user's input (config, command line, data files, checkpoints).
// The command line prints its message as one line and exits with kUserErrorExitCode.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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

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

inline constexpr int kUserErrorExitCode = 2;
inline constexpr int kDivergedExitCode = 3;

}  // namespace pfedhn

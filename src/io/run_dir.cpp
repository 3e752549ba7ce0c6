#include "pfedhn/io/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include "pfedhn/util/error.h"

namespace pfedhn::io {
namespace fs = std::filesystem;

fs::path default_run_dir(const fs::path& base) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char day[16], time[16];
  std::strftime(day, sizeof(day), "%Y-%m-%d", &local);
  std::strftime(time, sizeof(time), "%H-%M-%S", &local);
  return base / day / time;
}

namespace {

// The path itself if it exists, else its nearest existing ancestor ("." for a relative path
// whose first component is missing).
fs::path nearest_existing(const fs::path& path) {
  std::error_code ec;
  fs::path p = path;
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  return p.empty() ? fs::path(".") : p;
}

// "" if this process may write `path` (for a folder: create files in it), else why not.
std::string why_not_writable(const fs::path& path, bool folder) {
  if (::access(path.c_str(), folder ? W_OK | X_OK : W_OK) == 0) return "";
  return std::strerror(errno);
}

}  // namespace

void check_output_dir(const fs::path& dir, bool overwrite, const std::string& option) {
  std::error_code ec;
  const fs::path existing = nearest_existing(dir);
  const std::string named = option + " '" + dir.string() + "'";
  const std::string cannot_create = "cannot create " + named + ": '" + existing.string() + "' ";
  if (!fs::is_directory(existing, ec)) {
    throw UserError(existing == dir ? named + " exists and is not a directory"
                                    : cannot_create + "is not a directory");
  }
  if (existing == dir && !fs::is_empty(dir, ec) && !overwrite) {
    throw UserError(named +
                    " is not empty: pass --overwrite to write into it anyway, or choose "
                    "another " +
                    option);
  }
  if (const std::string why = why_not_writable(existing, /*folder=*/true); !why.empty()) {
    throw UserError((existing == dir ? named + " " : cannot_create) + "is not writable (" + why +
                    ")");
  }
}

void check_output_file(const fs::path& file, const std::string& option) {
  std::error_code ec;
  const std::string named = option + " '" + file.string() + "'";
  if (fs::is_directory(file, ec) || file.filename().empty()) {
    throw UserError(named + " is a directory: give a file name");
  }
  const fs::path folder = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  if (!fs::is_directory(folder, ec)) {
    throw UserError(named + ": the folder '" + folder.string() + "' does not exist");
  }
  if (const std::string why = why_not_writable(folder, /*folder=*/true); !why.empty()) {
    throw UserError(named + ": the folder '" + folder.string() + "' is not writable (" + why + ")");
  }
  if (fs::exists(file, ec)) {
    if (const std::string why = why_not_writable(file, /*folder=*/false); !why.empty()) {
      throw UserError(named + " is not writable (" + why + ")");
    }
  }
}

void prepare_output_dir(const fs::path& dir, bool overwrite, const std::string& option) {
  check_output_dir(dir, overwrite, option);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw UserError("cannot create " + option + " '" + dir.string() + "': " + ec.message());
  }
  const fs::path probe = dir / ".pfedhn_write_test";
  {
    std::ofstream out(probe);
    if (!out || !(out << "ok") || !out.flush()) {
      throw UserError(option + " '" + dir.string() + "' is not writable");
    }
  }
  fs::remove(probe, ec);
}

void prepare_run_dir(const fs::path& dir, bool overwrite) {
  prepare_output_dir(dir, overwrite, "--output-dir");
}

namespace {

// Makes a rename in `dir` durable: without this, a power cut may forget the new name.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the data itself is already synced
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw UserError("cannot write '" + tmp.string() + "': " + std::strerror(errno));
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw UserError("cannot write '" + tmp.string() + "': " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) throw UserError("cannot flush '" + tmp.string() + "' to disk");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw UserError("cannot rename '" + tmp.string() + "': " + ec.message());
  sync_directory(path.parent_path());
}

}  // namespace pfedhn::io

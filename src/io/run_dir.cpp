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

void prepare_run_dir(const fs::path& dir, bool overwrite) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw UserError("output path '" + dir.string() + "' exists and is not a directory");
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !overwrite) {
    throw UserError("output directory '" + dir.string() +
                    "' already holds a run; pass --overwrite to replace it or choose another "
                    "--output-dir");
  }
  fs::create_directories(dir, ec);
  if (ec) {
    throw UserError("cannot create output directory '" + dir.string() + "': " + ec.message());
  }
  const fs::path probe = dir / ".pfedhn_write_test";
  {
    std::ofstream out(probe);
    if (!out || !(out << "ok") || !out.flush()) {
      throw UserError("output directory '" + dir.string() + "' is not writable");
    }
  }
  fs::remove(probe, ec);
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

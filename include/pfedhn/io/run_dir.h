#pragma once

#include <filesystem>
#include <string>

namespace pfedhn::io {

// outputs/<YYYY-MM-DD>/<HH-MM-SS> under `base`, from the local time now.
std::filesystem::path default_run_dir(const std::filesystem::path& base = "outputs");

// Creates `dir` (and parents) and checks it is writable, before any training starts.
// An existing non-empty directory is refused unless `overwrite`. Throws UserError.
void prepare_run_dir(const std::filesystem::path& dir, bool overwrite);

// Writes `text` to `path` atomically: a temporary file in the same folder, fsynced, renamed
// over the target, then the folder fsynced, so readers (and a crash at any moment) never see a
// half-written file: either the old content or the new.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace pfedhn::io

#pragma once

#include <filesystem>
#include <string>

namespace pfedhn::io {

// outputs/<YYYY-MM-DD>/<HH-MM-SS> under `base`, from the local time now.
std::filesystem::path default_run_dir(const std::filesystem::path& base = "outputs");

// Checks, creating nothing, that `dir` can be an output directory: it is a writable directory,
// empty unless `overwrite`, or it does not exist and its nearest existing ancestor is a writable
// directory. Throws UserError naming `option` (the command-line option that chose it, e.g.
// "--out"), so every command checks its outputs before its work starts.
void check_output_dir(const std::filesystem::path& dir, bool overwrite, const std::string& option);

// Checks, creating nothing, that `file` can be written: not a directory, in an existing
// writable folder, and writable if it exists. Throws UserError naming `option`.
void check_output_file(const std::filesystem::path& file, const std::string& option);

// check_output_dir, then creates `dir` (and parents) and checks by a probe file that it is
// writable. Throws UserError.
void prepare_output_dir(const std::filesystem::path& dir, bool overwrite,
                        const std::string& option);

// prepare_output_dir for a run directory (option --output-dir), before any training starts.
void prepare_run_dir(const std::filesystem::path& dir, bool overwrite);

// Writes `text` to `path` atomically: a temporary file in the same folder, fsynced, renamed
// over the target, then the folder fsynced, so readers (and a crash at any moment) never see a
// half-written file: either the old content or the new.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace pfedhn::io

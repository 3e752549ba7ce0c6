#pragma once

// A bounds check of a torch::serialize archive before LibTorch parses it. LibTorch 1.13 trusts
// the lengths written inside an archive (a zip entry's size, a pickled string's length) and
// allocates them before it finds the bytes missing, so a forged checkpoint with a valid CRC
// could make it allocate gigabytes. This walks the zip directory and every pickle in it and
// checks each such length against the bytes actually present.

#include <string>

namespace pfedhn::io {

// Throws std::invalid_argument with a one-line reason if a length in the archive points past
// its end, or if the archive uses features LibTorch never writes (zip64, other compression
// methods than deflate for code files).
// Anything else (an unknown pickle opcode, a wrong type) is left to LibTorch's own checks.
void check_torch_archive(const std::string& archive);

}  // namespace pfedhn::io

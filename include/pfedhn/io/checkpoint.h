#pragma once

// Checkpoints of a training run: everything the round loop needs to continue exactly where it
// stopped. A file is our own small header (magic, format version, pfedhn version, payload
// length, CRC32 of the payload) followed by a torch::serialize archive, so a truncated or
// bit-flipped file is rejected before torch parses a byte of it.
//
// There is no random-generator state to save: every random stream of a run is derived from
// (seed, purpose, round, client) by derive_seed (util/rng.h), so the next round's randomness
// is a pure function of the config and the round number.

#include <torch/serialize.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pfedhn/eval/evaluator.h"
#include "pfedhn/util/error.h"

namespace pfedhn::io {

// A checkpoint that cannot be used: corrupt, cut short, from another format, or unreadable.
class CheckpointError : public UserError {
 public:
  using UserError::UserError;
};

inline constexpr char kCheckpointMagic[8] = {'P', 'F', 'H', 'N', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointFormatVersion = 1;

// The round loop's own state, next to the model state that fl::Trainer saves.
struct LoopState {
  int64_t next_round = 0;        // rounds completed = the next round to run
  double loss_since_eval = 0.0;  // sum of round losses since the last evaluation
  int64_t rounds_since_eval = 0;
  double last_test_accuracy = -1.0;       // for the progress line
  double elapsed_seconds = 0.0;           // wall time spent so far (timing.csv, run_info.json)
  int64_t resumes = 0;                    // how often this run was resumed before
  std::vector<std::string> metrics_rows;  // every metrics.csv row so far (no header)
  std::vector<std::string> timing_rows;   // every timing.csv row so far (no header)
  bool has_best = false;                  // the best-val tracker
  eval::EvalRecord best;
  bool has_last_eval = false;  // the latest evaluation (results.json's "final")
  eval::EvalRecord last_eval;
  std::string config_yaml;  // the resolved config of the run
};

// The header around a payload, and its check. `unframe` throws CheckpointError naming `what`.
std::string frame_checkpoint(const std::string& payload);
std::string unframe_checkpoint(const std::string& file_bytes, const std::string& what);

using ArchiveWriter = std::function<void(torch::serialize::OutputArchive&)>;

// The whole file content: header + archive of `loop` and whatever `write_model` adds.
std::string encode_checkpoint(const LoopState& loop, const ArchiveWriter& write_model);

struct LoadedCheckpoint {
  std::filesystem::path path;
  LoopState loop;
  std::string pfedhn_version;  // of the program that wrote it
  // The model part, for fl::Trainer::load.
  std::unique_ptr<torch::serialize::InputArchive> model;
};

// Verifies and decodes a whole checkpoint file's content (header, CRC, archive, loop state).
// Throws CheckpointError naming `what` with a one-line reason. `path` is left empty.
LoadedCheckpoint decode_checkpoint(const std::string& file_bytes, const std::string& what);

// Reads and decodes a checkpoint file. Throws CheckpointError with a one-line reason.
LoadedCheckpoint read_checkpoint(const std::filesystem::path& path);

// <run_dir>/checkpoints/ckpt-<next_round>.pt
std::filesystem::path checkpoint_dir(const std::filesystem::path& run_dir);
std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, int64_t next_round);

// <run_dir>/checkpoints/best.pt: a copy of the checkpoint of the best validation evaluation so
// far (the model that results.json's "best" describes). Never a resume point: list_checkpoints
// does not list it.
std::filesystem::path best_checkpoint_path(const std::filesystem::path& run_dir);

// Replaces best_checkpoint_path(run_dir) by a copy of `checkpoint`, atomically.
void keep_as_best(const std::filesystem::path& run_dir, const std::filesystem::path& checkpoint);

// The checkpoint files of a run, newest (highest round) first; temporaries are ignored.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);

// Writes the checkpoint atomically, then deletes all but the newest `keep` checkpoints, so a
// crash at any moment leaves the previous good checkpoint in place. Returns the new file.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const LoopState& loop,
                                      const ArchiveWriter& write_model, int keep = 2);

// Doubles stored as their bit patterns so that NaN and every last bit survive.
int64_t double_bits(double x);
double bits_double(int64_t bits);

}  // namespace pfedhn::io

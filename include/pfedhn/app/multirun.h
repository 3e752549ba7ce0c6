#pragma once

// `pfedhn train -m`: a Hydra-style sweep. Every combination of the swept overrides
// (config/sweep.h) is one `pfedhn train` child process of this program, in OUT/<folder>
// (default OUT: multirun/<date>/<time>), `jobs` at a time, each with num_threads=1 unless an
// override sets num_threads. A child's stdout and stderr go to OUT/<folder>/output.log.
//
// Before any run starts, every combination's config is resolved and validated (one line and
// UserError otherwise), and existing run folders are checked: a run with results.json is
// skipped, one with a checkpoint but no results.json is resumed (`train --resume`), any other
// one starts afresh. A folder whose config differs from the combination in a key that changes
// the results is refused, so that a changed command never mixes its runs with older ones.
//
// OUT/summary.csv and OUT/summary.md (app/sweep_summary.h) are rewritten after every finished
// run; a progress line per finished run goes to stderr. SIGINT / SIGTERM is forwarded to the
// running children (they checkpoint and stop); no new run starts, and once they have exited
// the summary is written.

#include "pfedhn/app/train.h"

namespace pfedhn::app {

// Returns 0 when every run is done (now or before), 1 when one failed or was stopped on its
// own, or 130/143 after SIGINT/SIGTERM. Throws UserError for bad input (nothing started then).
int run_multirun(const TrainOptions& options);

}  // namespace pfedhn::app

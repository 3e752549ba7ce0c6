// The pfedhn command line: parses arguments and hands over to the library.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <iostream>
#include <string>

#include "pfedhn/app/bench.h"
#include "pfedhn/app/export.h"
#include "pfedhn/app/generalize.h"
#include "pfedhn/app/multirun.h"
#include "pfedhn/app/train.h"
#include "pfedhn/util/error.h"

namespace {

// Checks an integer option before CLI11 converts it: the whole text an integer from `lo` to
// `hi`, else one line that states the range (CLI11's own range check prints doubles and lets a
// number beyond int64 through, clamped).
CLI::Validator integer_in(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || stop != end || value < lo || value > hi) {
          return "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                 ", got '" + text + "'";
        }
        return "";
      },
      "from " + std::to_string(lo) + " to " + std::to_string(hi));
}

// Each command's options, with the strings CLI11 fills in before they become optional paths.
struct TrainCommand {
  CLI::App* cmd = nullptr;
  pfedhn::app::TrainOptions options;
  std::string config_file, output_dir, resume_dir;
};
struct BenchCommand {
  CLI::App* cmd = nullptr;
  pfedhn::app::BenchOptions options;
  std::string config_file, profile_file;
};
struct GeneralizeCommand {
  CLI::App* cmd = nullptr;
  pfedhn::app::GeneralizeOptions options;
  std::string run_dir, out_dir;
};
struct ExportCommand {
  CLI::App* cmd = nullptr;
  pfedhn::app::ExportOptions options;
  std::string run_dir, out, checkpoint;
};

void add_train_command(CLI::App& app, TrainCommand& t) {
  t.cmd = app.add_subcommand("train", "Train a hypernetwork on a partitioned dataset");
  t.cmd->add_option(
      "overrides", t.options.overrides,
      "Config overrides, group.key=value (e.g. dataset.data=mnist client.num_rounds=500)");
  t.cmd->add_option("-c,--config", t.config_file,
                    "YAML config file (default: built-in CIFAR-10 pFedHN = conf/config.yaml)");
  t.cmd->add_option("-o,--output-dir", t.output_dir,
                    "Run directory (default: outputs/<date>/<time>)");
  t.cmd->add_flag("--print-config", t.options.print_config, "Print the resolved config and exit");
  t.cmd->add_flag("--overwrite", t.options.overwrite,
                  "Allow writing into an existing run directory");
  t.cmd
      ->add_option("--workers", t.options.workers,
                   "Run N processes on this machine (rank 0 plus N-1 spawned workers) that share "
                   "each round's client updates and the evaluation over Gloo")
      ->check(integer_in(1, 1024));
  t.cmd->add_option("--resume", t.resume_dir,
                    "Continue the run in RUN_DIR from its newest good checkpoint (overrides may "
                    "extend client.num_rounds)");
  auto* multirun = t.cmd->add_flag(
      "-m,--multirun", t.options.multirun,
      "Sweep: every override with a comma list (seed=1,2,3) is swept, each combination is its own "
      "run in OUT/<n>_<key>=<value>,... (OUT: --output-dir, default multirun/<date>/<time>); "
      "docs/sweeps.md");
  t.cmd->add_option("--jobs", t.options.jobs, "With -m: runs at a time (default: one per core)")
      ->check(integer_in(1, 1024))
      ->needs(multirun);
  t.cmd
      ->add_option("--max-runs", t.options.max_runs,
                   "With -m: refuse a sweep of more runs than this (counted before anything runs)")
      ->capture_default_str()
      ->check(integer_in(1, pfedhn::app::kMaxSweepRuns))
      ->needs(multirun);
}

void add_bench_command(CLI::App& app, BenchCommand& b) {
  b.cmd = app.add_subcommand(
      "bench",
      "Time the configured round and evaluation on synthetic data of the real shapes (no "
      "dataset needed); prints per-phase times, the projected run time, GFLOP/s and peak memory");
  b.cmd->add_option("overrides", b.options.overrides,
                    "Config overrides, group.key=value (e.g. num_threads=2)");
  b.cmd->add_option("-c,--config", b.config_file,
                    "YAML config file (default: built-in CIFAR-10 pFedHN = conf/config.yaml)");
  b.cmd->add_option("--rounds", b.options.rounds, "Timed rounds")
      ->capture_default_str()
      ->check(integer_in(1, pfedhn::app::kMaxBenchRounds));
  b.cmd
      ->add_option("--warmup", b.options.warmup_rounds,
                   "Untimed rounds first (and one untimed evaluation if > 0)")
      ->capture_default_str()
      ->check(integer_in(0, pfedhn::app::kMaxBenchRounds));
  b.cmd->add_flag("--no-eval{false}", b.options.evaluate, "Skip timing the full evaluation");
  b.cmd->add_flag("--json", b.options.json, "Print one JSON object instead of a table");
  b.cmd->add_option("--profile", b.profile_file,
                    "Record LibTorch's profiler trace of the timed rounds into FILE (Chrome "
                    "trace JSON)");
}

void add_generalize_command(CLI::App& app, GeneralizeCommand& g) {
  g.cmd = app.add_subcommand(
      "generalize",
      "Adapt a run's held-out novel clients (novel.num_clients) and report their accuracy");
  g.cmd->add_option("run_dir", g.run_dir, "Run directory of a pfedhn train run")->required();
  g.cmd->add_option("overrides", g.options.overrides,
                    "novel.steps=N, baseline.finetune_steps=N, num_threads=N");
  g.cmd->add_flag("--best", g.options.at_best,
                  "Adapt the model of the best validation evaluation (RUN_DIR/checkpoints/"
                  "best.pt) instead of the newest checkpoint; writes novel-best.json and "
                  "novel_clients-best.csv");
  g.cmd
      ->add_option("--alpha", g.options.alphas,
                   "novel.scheme=sets: adapt only the novel-client set of this alpha (one of the "
                   "run's novel.alphas; repeat for several); default every set")
      ->allow_extra_args(false);
  g.cmd->add_option("--out", g.out_dir,
                    "Folder for the result files (made if missing; default RUN_DIR)");
}

void add_export_command(CLI::App& app, ExportCommand& e) {
  e.cmd = app.add_subcommand(
      "export",
      "Write a run's personalised client models (and its hypernetwork) as TorchScript modules "
      "that Python loads with torch.jit.load, with manifest.json (docs/export.md)");
  e.cmd->add_option("run_dir", e.run_dir, "Run directory of a pfedhn train run")->required();
  e.cmd->add_option("-o,--out", e.out, "Output folder (default: RUN_DIR/export)");
  e.cmd->add_option("--clients", e.options.clients, "all, or a list such as 0,3,5-9")
      ->capture_default_str();
  e.cmd->add_option("--checkpoint", e.checkpoint,
                    "Checkpoint file to export (default: the run's newest good one)");
  e.cmd->add_flag("--overwrite", e.options.overwrite, "Allow writing into a non-empty --out");
}

// The command line after the program name without --workers: what the workers re-run.
std::vector<std::string> worker_args(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--workers") {
      ++i;
      continue;
    }
    if (a.rfind("--workers=", 0) == 0) continue;
    out.push_back(a);
  }
  return out;
}

// The words that name a command, for the message about one that does not.
std::string command_names(const CLI::App& app) {
  std::string names;
  for (const auto* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return names;
}

// A command-line error as one line: which command word was not known, or CLI11's message with
// the help command that explains the options.
std::string parse_error_line(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const CLI::App* command = nullptr;
  for (const auto* sub : app.get_subcommands({})) {
    if (sub->parsed()) command = sub;
  }
  if (command == nullptr) {
    for (int i = 1; i < argc; ++i) {
      const std::string word = argv[i];
      if (word.empty() || word[0] != '-') {
        const auto known =
            app.get_subcommands([&](const CLI::App* sub) { return sub->check_name(word); });
        if (!known.empty()) break;  // a command: CLI11's own message says what went wrong
        return "unknown command '" + word + "' (the commands are " + command_names(app) +
               "; see pfedhn --help)";
      }
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      return "a command is required: " + command_names(app) + " (see pfedhn --help)";
    }
  }
  const std::string help =
      command == nullptr ? "pfedhn --help" : "pfedhn " + command->get_name() + " --help";
  return pfedhn::one_line(e.what()) + " (see " + help + ")";
}

// Runs `command` and maps each error type to its exit code with a one-line message.
template <typename Command>
int with_exit_codes(Command&& command) {
  try {
    return command();
  } catch (const pfedhn::UserError& e) {
    std::cerr << "pfedhn: error: " << e.what() << '\n';
    return pfedhn::kUserErrorExitCode;
  } catch (const pfedhn::RankFailure& e) {
    std::cerr << "pfedhn: error: " << e.what() << '\n';
    return pfedhn::kRankFailureExitCode;
  } catch (const pfedhn::TrainingDiverged& e) {
    std::cerr << "pfedhn: error: " << e.what() << '\n';
    return pfedhn::kDivergedExitCode;
  } catch (const c10::Error& e) {
    std::cerr << "pfedhn: internal error: " << e.what_without_backtrace() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pfedhn: internal error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "pfedhn: personalized federated learning with hypernetworks (pFedHN, pFedHN-PC).\n"
      "Example: pfedhn train --config conf/mnist.yaml client.num_rounds=500"};
  app.set_version_flag("--version", std::string("pfedhn ") + PFEDHN_VERSION);
  app.require_subcommand(1);
  TrainCommand train;
  BenchCommand bench;
  GeneralizeCommand generalize;
  ExportCommand export_cmd;
  add_train_command(app, train);
  add_bench_command(app, bench);
  add_generalize_command(app, generalize);
  add_export_command(app, export_cmd);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "pfedhn: error: " << parse_error_line(app, e, argc, argv) << '\n';
    return pfedhn::kUserErrorExitCode;
  }
  return with_exit_codes([&] {
    if (train.cmd->parsed()) {
      auto& o = train.options;
      if (!train.config_file.empty()) o.config_file = train.config_file;
      if (!train.output_dir.empty()) o.output_dir = train.output_dir;
      if (!train.resume_dir.empty()) o.resume_dir = train.resume_dir;
      o.program = argv[0];
      o.worker_args = worker_args(argc, argv);
      if (o.multirun) return pfedhn::app::run_multirun(o);
      return pfedhn::app::run_train(o);
    }
    if (bench.cmd->parsed()) {
      if (!bench.config_file.empty()) bench.options.config_file = bench.config_file;
      if (!bench.profile_file.empty()) bench.options.profile_file = bench.profile_file;
      return pfedhn::app::run_bench(bench.options);
    }
    if (export_cmd.cmd->parsed()) {
      auto& o = export_cmd.options;
      o.run_dir = export_cmd.run_dir;
      if (!export_cmd.out.empty()) o.out = export_cmd.out;
      if (!export_cmd.checkpoint.empty()) o.checkpoint = export_cmd.checkpoint;
      return pfedhn::app::run_export(o);
    }
    generalize.options.run_dir = generalize.run_dir;
    if (!generalize.out_dir.empty()) generalize.options.out_dir = generalize.out_dir;
    return pfedhn::app::run_generalize(generalize.options);
  });
}

// The pfedhn command line: parses arguments and hands over to the library.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "pfedhn/app/bench.h"
#include "pfedhn/app/generalize.h"
#include "pfedhn/app/train.h"
#include "pfedhn/util/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "pfedhn: personalized federated learning with hypernetworks (pFedHN, pFedHN-PC).\n"
      "Example: pfedhn train --config conf/mnist.yaml client.num_rounds=500"};
  app.set_version_flag("--version", std::string("pfedhn ") + PFEDHN_VERSION);
  app.require_subcommand(1);

  pfedhn::app::TrainOptions train;
  std::string config_file, output_dir, resume_dir;
  auto* cmd = app.add_subcommand("train", "Train a hypernetwork on a partitioned dataset");
  cmd->add_option(
      "overrides", train.overrides,
      "Config overrides, group.key=value (e.g. dataset.data=mnist client.num_rounds=500)");
  cmd->add_option("-c,--config", config_file,
                  "YAML config file (default: built-in CIFAR-10 pFedHN = conf/config.yaml)");
  cmd->add_option("-o,--output-dir", output_dir, "Run directory (default: outputs/<date>/<time>)");
  cmd->add_flag("--print-config", train.print_config, "Print the resolved config and exit");
  cmd->add_flag("--overwrite", train.overwrite, "Allow writing into an existing run directory");
  cmd->add_option("--workers", train.workers,
                  "Run N processes on this machine (rank 0 plus N-1 spawned workers) that share "
                  "each round's client updates and the evaluation over Gloo")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--resume", resume_dir,
                  "Continue the run in RUN_DIR from its newest good checkpoint (overrides may "
                  "extend client.num_rounds)");

  pfedhn::app::BenchOptions bench;
  std::string bench_config;
  auto* bench_cmd = app.add_subcommand(
      "bench",
      "Time the configured round and evaluation on synthetic data of the real shapes (no "
      "dataset needed); prints per-phase times, the projected run time, GFLOP/s and peak memory");
  bench_cmd->add_option("overrides", bench.overrides,
                        "Config overrides, group.key=value (e.g. num_threads=2)");
  bench_cmd->add_option("-c,--config", bench_config,
                        "YAML config file (default: built-in CIFAR-10 pFedHN = conf/config.yaml)");
  bench_cmd->add_option("--rounds", bench.rounds, "Timed rounds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  bench_cmd
      ->add_option("--warmup", bench.warmup_rounds,
                   "Untimed rounds first (and one untimed evaluation if > 0)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  bench_cmd->add_flag("--no-eval{false}", bench.evaluate, "Skip timing the full evaluation");
  bench_cmd->add_flag("--json", bench.json, "Print one JSON object instead of a table");
  std::string profile_file;
  bench_cmd->add_option("--profile", profile_file,
                        "Record LibTorch's profiler trace of the timed rounds into FILE (Chrome "
                        "trace JSON)");

  pfedhn::app::GeneralizeOptions generalize;
  std::string generalize_dir;
  auto* gen = app.add_subcommand(
      "generalize",
      "Adapt a run's held-out novel clients (novel.num_clients) and report their accuracy");
  gen->add_option("run_dir", generalize_dir, "Run directory of a pfedhn train run")->required();
  gen->add_option("overrides", generalize.overrides,
                  "novel.steps=N, baseline.finetune_steps=N, num_threads=N");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : pfedhn::kUserErrorExitCode;
  }
  if (!config_file.empty()) train.config_file = config_file;
  if (!output_dir.empty()) train.output_dir = output_dir;
  if (!resume_dir.empty()) train.resume_dir = resume_dir;
  train.program = argv[0];
  // The workers re-run this command line without --workers.
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--workers") {
      ++i;
      continue;
    }
    if (a.rfind("--workers=", 0) == 0) continue;
    train.worker_args.push_back(a);
  }

  try {
    if (cmd->parsed()) return pfedhn::app::run_train(train);
    if (bench_cmd->parsed()) {
      if (!bench_config.empty()) bench.config_file = bench_config;
      if (!profile_file.empty()) bench.profile_file = profile_file;
      return pfedhn::app::run_bench(bench);
    }
    if (gen->parsed()) {
      generalize.run_dir = generalize_dir;
      return pfedhn::app::run_generalize(generalize);
    }
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
  return 0;
}

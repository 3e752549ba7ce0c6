#include "pfedhn/run/run_loop.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <csignal>

namespace pfedhn::run {
namespace fs = std::filesystem;

namespace {

std::string eval_line(const eval::EvalRecord& r) {
  return fmt::format(
      "eval round {}: val acc {:.4f} loss {:.4f} | test acc {:.4f} loss {:.4f} "
      "(clients min {:.3f} max {:.3f} std {:.3f})",
      r.round, r.val.accuracy, r.val.mean_loss, r.test.accuracy, r.test.mean_loss,
      r.test.min_accuracy, r.test.max_accuracy, r.test.std_accuracy);
}

std::vector<int64_t> sample_counts(const std::vector<data::ClientIndices>& clients,
                                   torch::Tensor data::ClientIndices::*split) {
  std::vector<int64_t> out;
  for (const auto& c : clients) out.push_back((c.*split).numel());
  return out;
}

// The classes of each client's training samples, ascending: the task its accuracy is made of.
std::vector<std::vector<int64_t>> client_classes(const std::vector<data::ClientIndices>& clients,
                                                 const torch::Tensor& train_labels) {
  const torch::Tensor labels = train_labels.cpu().to(torch::kInt64);
  std::vector<std::vector<int64_t>> out;
  for (const auto& c : clients) {
    const torch::Tensor held = std::get<0>(torch::_unique(labels.index_select(0, c.train.cpu())));
    const torch::Tensor sorted = std::get<0>(held.sort());
    out.emplace_back(sorted.data_ptr<int64_t>(), sorted.data_ptr<int64_t>() + sorted.numel());
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

bool evaluates_after(int64_t round, int64_t eval_every, int64_t total_rounds) {
  return round % eval_every == 0 || round == total_rounds - 1;
}

RunLoop::RunLoop(const config::Config& cfg, RunSettings settings, fl::Algorithm& algorithm,
                 Execution& execution, RunInputs inputs, io::LoadedCheckpoint* resume)
    : cfg_(cfg),
      settings_(std::move(settings)),
      algorithm_(algorithm),
      execution_(execution),
      inputs_(inputs),
      hetero_(cfg, inputs.eval_clients) {
  if (resume != nullptr) load(*resume);
  loop_.config_yaml = config::to_yaml(cfg_);
  // On resume both files are rewritten from the checkpoint: rows written after it are dropped.
  metrics_.emplace(settings_.run_dir / "metrics.csv",
                   io::MetricsCsv::header() + hetero_.csv_header_suffix(), loop_.metrics_rows);
  timing_.emplace(settings_.run_dir / "timing.csv", io::TimingCsv::header(), loop_.timing_rows);
  best_ = eval::BestTracker{loop_.has_best, loop_.best};
  const int64_t total = cfg_.client.num_rounds;
  const int64_t log_every = cfg_.log_every > 0 ? cfg_.log_every : std::max<int64_t>(1, total / 50);
  progress_.emplace(settings_.logger, ::isatty(STDOUT_FILENO) == 1, log_every, loop_.next_round);
  progress_state_.round = loop_.next_round;
  progress_state_.total_rounds = total;
  progress_state_.last_test_accuracy = loop_.last_test_accuracy;
}

void load_checkpoint_model(fl::Algorithm& algorithm, const io::LoadedCheckpoint& checkpoint) {
  try {
    algorithm.load(*checkpoint.model);
  } catch (const c10::Error& e) {
    throw UserError("checkpoint '" + checkpoint.path.string() +
                    "' does not fit this config: " + e.what_without_backtrace());
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {  // e.g. torch::jit::ObjectAttributeError: a missing field
    throw UserError("checkpoint '" + checkpoint.path.string() +
                    "' does not fit this config: " + e.what());
  }
}

void RunLoop::load(io::LoadedCheckpoint& checkpoint) {
  load_checkpoint_model(algorithm_, checkpoint);
  loop_ = checkpoint.loop;
  ++loop_.resumes;
  last_checkpoint_ = checkpoint.path;
  // A stop between the best round's checkpoint and its copy leaves an older best.pt behind.
  if (loop_.has_best && loop_.best.round == loop_.next_round - 1 && !checkpoint.path.empty()) {
    io::keep_as_best(settings_.run_dir, checkpoint.path);
  }
  settings_.logger->info("resumed from {} at round {}", checkpoint.path.string(), loop_.next_round);
  execution_.after_resume();
}

int RunLoop::run(StopRequests& stops) {
  const int64_t total = cfg_.client.num_rounds;
  const int64_t first_round = loop_.next_round;
  elapsed_before_ = loop_.elapsed_seconds;
  start_ = std::chrono::steady_clock::now();
  stops.stop_after_round();  // from here a signal ends the run with a checkpoint
  for (int64_t round = first_round; round < total; ++round) {
    fl::RoundReport report;
    try {
      report = execution_.run_round(round);
    } catch (const RankFailure& e) {
      throw with_resume_hint(e);
    }
    check_finite(report, round);
    loop_.loss_since_eval += report.loss;
    ++loop_.rounds_since_eval;
    progress_state_.round = round + 1;
    progress_state_.client = report.clients.front();
    progress_state_.loss = report.loss;
    progress_state_.train_accuracy = report.accuracy;
    const bool eval_now = evaluates_after(round, cfg_.eval_every, total);
    const bool last = round == total - 1;
    const bool stop_now = stops.pending() != 0 && !last;
    const bool due =
        cfg_.checkpoint_every > 0 ? (round + 1) % cfg_.checkpoint_every == 0 : eval_now;
    try {
      const bool new_best = eval_now && evaluate(round);
      progress_->update(progress_state_);
      loop_.next_round = round + 1;
      if (due || last || stop_now || new_best) checkpoint();
      if (new_best) io::keep_as_best(settings_.run_dir, last_checkpoint_);
    } catch (const RankFailure& e) {
      throw with_resume_hint(e);
    }
    if (stop_now) return stop(stops.pending(), round);
  }
  finish(total - first_round, seconds_since(start_));
  return 0;
}

double RunLoop::elapsed() const {
  return elapsed_before_ + seconds_since(start_);
}

bool RunLoop::evaluate(int64_t round) {
  const auto record = execution_.evaluate(round, cfg_.eval_batch_size);
  const double train_loss =
      loop_.rounds_since_eval > 0
          ? loop_.loss_since_eval / static_cast<double>(loop_.rounds_since_eval)
          : NAN;
  metrics_->append(
      io::MetricsCsv::row(record, (round + 1) * algorithm_.clients_per_round(), train_loss) +
      hetero_.csv_row_suffix(record));
  timing_->append(io::TimingCsv::row(round, elapsed()));
  loop_.loss_since_eval = 0.0;
  loop_.rounds_since_eval = 0;
  const bool is_best = best_.update(record);
  progress_->log(eval_line(record) + (is_best ? " *best*" : ""));
  if (hetero_.enabled()) progress_->log(hetero_.log_line(record));
  loop_.last_test_accuracy = progress_state_.last_test_accuracy = record.test.accuracy;
  loop_.last_eval = record;
  loop_.has_last_eval = true;
  return is_best;
}

void RunLoop::checkpoint() {
  loop_.elapsed_seconds = elapsed();
  loop_.metrics_rows = metrics_->rows();
  loop_.timing_rows = timing_->rows();
  loop_.has_best = best_.has_best;
  loop_.best = best_.best;
  execution_.before_checkpoint();
  last_checkpoint_ = io::save_checkpoint(
      settings_.run_dir, loop_, [&](torch::serialize::OutputArchive& a) { algorithm_.save(a); });
}

// A non-finite delta_theta shows up here too: the gradient is its vector-Jacobian product, and
// NaN/Inf survive any multiplication, so the gradient norm is non-finite as well.
void RunLoop::check_finite(const fl::RoundReport& report, int64_t round) const {
  if (std::isfinite(report.loss) && std::isfinite(report.grad_norm)) return;
  const bool hypernetwork = config::uses_hypernetwork(cfg_.algorithm);
  const char* what = !std::isfinite(report.loss) ? "training loss"
                     : hypernetwork              ? "hypernetwork gradient"
                                                 : "model update";
  throw TrainingDiverged(fmt::format(
      "training diverged: non-finite {} in round {} (client {}); the evaluations so far are in "
      "{}{}; try a lower {}",
      what, round, report.clients.front(), (settings_.run_dir / "metrics.csv").string(),
      last_checkpoint_.empty() ? "" : ", the last good checkpoint is " + last_checkpoint_.string(),
      hypernetwork ? "model.inner_lr or server.lr" : "model.inner_lr"));
}

// A failed rank stops the run with one line; the last checkpoint stays the resume point.
RankFailure RunLoop::with_resume_hint(const RankFailure& e) {
  progress_->finish();
  return RankFailure(e.rank(), std::string(e.what()) + "; stopped" +
                                   (last_checkpoint_.empty()
                                        ? " before the first checkpoint"
                                        : "; the last checkpoint is " + last_checkpoint_.string() +
                                              "; resume with: " + settings_.resume_command));
}

int RunLoop::stop(int signal, int64_t round) {
  progress_->finish();
  settings_.logger->warn("{} received: stopped after round {} of {}; checkpoint {}",
                         signal == SIGINT ? "SIGINT" : "SIGTERM", round + 1, cfg_.client.num_rounds,
                         last_checkpoint_.string());
  settings_.logger->warn("resume with: {}", settings_.resume_command);
  execution_.stop();
  return signal;
}

void RunLoop::finish(int64_t rounds_run, double round_seconds) {
  progress_->finish();
  const int64_t k = algorithm_.clients_per_round();
  if (rounds_run > 0) {
    settings_.logger->info(
        "throughput: {:.2f} client updates/s ({} rounds of {} clients in {:.1f}s, "
        "evaluations and checkpoints included)",
        static_cast<double>(rounds_run * k) / round_seconds, rounds_run, k, round_seconds);
  }
  write_results();
  io::RunInfo info;
  info.wall_seconds = elapsed();
  info.resumes = loop_.resumes;
  info.num_threads = settings_.threads;
  info.device = settings_.device;
  info.host = io::probe_host();
  execution_.stop();
  if (auto line = execution_.report(info, rounds_run)) settings_.logger->info("{}", *line);
  io::write_run_info(settings_.run_dir / "run_info.json", info);
  settings_.logger->info(
      "done in {}: test accuracy at best val (round {}) = {:.4f}; final test accuracy {:.4f}",
      io::ProgressReporter::format_duration(info.wall_seconds), best_.best.round,
      best_.best.test.accuracy, loop_.last_eval.test.accuracy);
  if (hetero_.enabled()) settings_.logger->info("at best val: {}", hetero_.log_line(best_.best));
  settings_.logger->info("results: {}", (settings_.run_dir / "results.json").string());
}

void RunLoop::write_results() const {
  const auto& splits = inputs_.splits;
  const auto& clients = inputs_.eval_clients;
  io::RunSummary summary;
  summary.dataset = cfg_.dataset.data;
  summary.variant = config::to_string(cfg_.algorithm);
  summary.test_split = config::to_string(cfg_.dataset.test_split);
  summary.train_size = splits.train.size();
  summary.val_size = splits.val.size();
  summary.test_size = splits.test.size();
  summary.num_clients = static_cast<int64_t>(clients.size());
  summary.novel_clients = cfg_.novel.num_clients;
  summary.client_train_samples = sample_counts(clients, &data::ClientIndices::train);
  summary.client_val_samples = sample_counts(clients, &data::ClientIndices::val);
  summary.client_test_samples = sample_counts(clients, &data::ClientIndices::test);
  summary.client_classes = client_classes(clients, splits.train.y);
  summary.rounds_completed = cfg_.client.num_rounds;
  summary.client_updates = cfg_.client.num_rounds * algorithm_.clients_per_round();
  summary.best = best_.best;
  summary.final = loop_.last_eval;
  summary.widths = hetero_.widths();
  summary.best_per_width = hetero_.per_width(summary.best);
  summary.final_per_width = hetero_.per_width(summary.final);
  io::write_results(settings_.run_dir / "results.json", summary);
}

}  // namespace pfedhn::run

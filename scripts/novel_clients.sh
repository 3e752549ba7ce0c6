#!/usr/bin/env bash
# Generalisation to novel clients (the paper's Section 5.3, Figure 2) on CIFAR-10: trains each
# method with novel clients held out, adapts them with `pfedhn generalize`, and draws accuracy
# against distribution shift with scripts/plot_novel.py. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/novel_clients.sh [--out DIR] [--root DIR] [--bin PATH] [--threads N] [--seed S]
                                [--methods "pfedhn pfedhn_pc fedavg_ft perfedavg"]
                                [--clients N] [--novel M] [--alphas LIST] [--updates N]
                                [--steps N] [--adapt "rounds loss"] [--novel-lr LR] [--best]
                                [--protocol shifted|lab] [--train-only] [--quick]

Every method trains on client.num_nodes - M clients of CIFAR-10 (the held-out split, train
40,000 / val 5,000 / test 5,000 from the official training set, 2 classes per training client);
the last M clients are novel, with Dirichlet(alpha) label proportions from a set-aside share of
the data (novel.alphas; see docs/algorithms.md). Then `pfedhn generalize` adapts each novel
client: pFedHN and pFedHN-PC train its embedding (pFedHN-PC also its local layer) for --steps
rounds of client.num_epochs steps, the hypernetwork frozen (--adapt: by the training round, or
by SGD on the client's loss through the hypernetwork; see novel.adapt in
docs/configuration.md); fedavg_ft fine-tunes the global model for the same number of SGD steps;
perfedavg takes its own one-step personalisation.

Runs are OUT/<method>/ (normal pfedhn run directories): a finished run is not trained again, a
stopped one is resumed from its checkpoint; generalize runs again each time (a few minutes).
OUT/novel.png and OUT/novel.md are the figure and the table, one entry per method and
adaptation.

Options:
  --out DIR       default outputs/novel
  --root DIR      data root with cifar-10-batches-bin (default data)
  --bin PATH      the pfedhn binary (default build/pfedhn)
  --threads N     num_threads of every run (default 1)
  --seed S        default 1
  --methods LIST  default "pfedhn pfedhn_pc fedavg_ft perfedavg"
  --clients N     client.num_nodes, novel clients included (default 50)
  --novel M       novel.num_clients (default 10)
  --alphas LIST   novel.alphas (default "[0.1, 0.25, 0.5, 1, 10]": two clients each)
  --updates N     client updates per run (default 5000; the averaging baselines average
                  K=5 clients per round over N/5 rounds)
  --steps N       adaptation rounds for pFedHN and pFedHN-PC (default 10: 500 SGD steps)
  --adapt LIST    novel.adapt of pFedHN and pFedHN-PC, each one adapted separately: rounds
                  (default; files novel.json) and/or loss (ours; files novel-loss.json)
  --novel-lr LR   novel.lr: lr of the novel embedding (default 0: the training embedding lr)
  --best          also adapt each run's best validation evaluation's model (`pfedhn generalize
                  --best`, checkpoints/best.pt) and draw it as OUT/novel-best.png and
                  OUT/novel-best.md, beside the final model's figure
  --protocol P    shifted (default, ours; the above) or lab: the protocol of the pFedHN
                  authors' lab (pFedGP's novel-client experiment; docs/partitions.md): 100
                  clients, 90 training clients on client.partition=dirichlet_per_client with
                  alpha 0.1, 10% of every split set aside, and one set of 10 novel clients per
                  alpha in "[0.1, 0.25, 0.5, 0.75, 1.0]" (novel.scheme=sets), each a fresh
                  per-client Dirichlet(alpha) partition of the set-aside share; one training run
                  per method serves every set. --clients, --novel and --alphas change its sizes
  --train-only    train (or resume) the runs, adapt nothing
  --quick         a smoke run: 10 client updates of 5 steps, 1 adaptation round, evaluation
                  only at the end, 1,000 validation samples; default --out outputs/novel-quick
  -h, --help      this help
EOF
}

die() {
  echo "novel_clients.sh: $*" >&2
  exit 2
}

cd "$(dirname "$0")/.."
# shellcheck source=run_lib.sh
source scripts/run_lib.sh
prog=novel_clients
out="" root=data bin=build/pfedhn threads=1 seed=1 clients="" novel=10 updates=5000 steps=10
alphas="" methods="pfedhn pfedhn_pc fedavg_ft perfedavg" quick=0 best=0
adapt=rounds novel_lr=0 protocol=shifted train_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out | --root | --bin | --threads | --seed | --methods | --clients | --novel | --alphas | \
      --updates | --steps | --adapt | --novel-lr | --protocol)
      [ $# -ge 2 ] || die "$1 needs a value"
      opt=${1#--}
      declare "${opt//-/_}=$2"
      shift
      ;;
    --quick) quick=1 ;;
    --best) best=1 ;;
    --train-only) train_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
case "$protocol" in
  shifted) : "${clients:=50}" "${alphas:=[0.1, 0.25, 0.5, 1, 10]}" ;;
  lab) : "${clients:=100}" "${alphas:=[0.1, 0.25, 0.5, 0.75, 1.0]}" ;;
  *) die "--protocol must be shifted or lab, got '$protocol'" ;;
esac
require_int 1 threads clients novel updates steps
require_int 0 seed
[[ "$novel_lr" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
  die "--novel-lr must be a number >= 0, got '$novel_lr'"
[ -n "$adapt" ] || die "--adapt is empty"
for a in $adapt; do
  case "$a" in rounds | loss) ;; *) die "--adapt: each mode must be rounds or loss, got '$a'" ;; esac
done
[ -x "$bin" ] || die "no pfedhn binary at '$bin'; build it first (scripts/build.sh)"
for m in $methods; do
  case "$m" in pfedhn | pfedhn_pc | fedavg_ft | perfedavg) ;;
    *) die "method '$m' has no novel-client adaptation (pfedhn pfedhn_pc fedavg_ft perfedavg)" ;;
  esac
done
[ -n "$out" ] || out=$([ $quick = 1 ] && echo outputs/novel-quick || echo outputs/novel)
mkdir -p "$out"

epochs=50 every=30 val=10000
extra=()
if [ $quick = 1 ]; then
  updates=10 steps=1 epochs=5 every=10 val=2000
  extra+=(client.num_epochs=5)
fi
read -r -a split <<<"$(holdout_args "$val")"
partition=()
[ "$protocol" = shifted ] ||
  partition=(client.partition=dirichlet_per_client client.dirichlet_alpha=0.1 novel.scheme=sets)
suffixes=("")
[ $best = 0 ] || suffixes+=(-best)
declare -A results=([newest]="" [best]="")  # the generalize results files to draw, per model
model_of() { if [ -n "$1" ]; then echo best; else echo newest; fi; }
for m in $methods; do
  k=1 conf=conf/config.yaml
  case "$m" in fedavg_ft | perfedavg) k=5 ;; pfedhn_pc) conf=conf/cifar10_pc.yaml ;; esac
  rounds=$(((updates + k - 1) / k)) m_every=$(((every + k - 1) / k))
  [ $quick = 0 ] || m_every=$rounds
  run="$out/$m"
  train_run "$m" "$run" "$rounds" "$bin" 1 --config "$conf" algorithm="$m" seed="$seed" \
    dataset.root="$root" "${split[@]}" client.num_nodes="$clients" \
    novel.num_clients="$novel" "novel.alphas=$alphas" client.clients_per_round="$k" \
    client.num_rounds="$rounds" eval_every="$m_every" num_threads="$threads" \
    ${partition[@]+"${partition[@]}"} ${extra[@]+"${extra[@]}"}
  [ $train_only = 0 ] || continue
  # The same adaptation budget for every method: steps rounds of client.num_epochs SGD steps.
  # "" adapts the newest checkpoint, "-best" best.pt (`generalize --best`, files *-best.*); a
  # hypernetwork is adapted once per --adapt mode (novel.adapt=loss writes files *-loss*.*).
  modes=(rounds) lr=()
  case "$m" in pfedhn | pfedhn_pc)
    read -r -a modes <<<"$adapt"
    [ "$novel_lr" = 0 ] || lr=(novel.lr="$novel_lr")
    ;;
  esac
  for mode in "${modes[@]}"; do
    tag=$([ "$mode" = loss ] && echo -loss || true)
    for suffix in "${suffixes[@]}"; do
      log="$run.generalize$tag$suffix.out"
      "$bin" generalize ${suffix:+--best} "$run" novel.steps="$steps" novel.adapt="$mode" "${lr[@]}" \
        baseline.finetune_steps=$((steps * epochs)) num_threads="$threads" >"$log" 2>&1 ||
        die "$m: generalize $mode ${suffix:+--best }failed (exit $?); see $log"
      echo "novel_clients: $m ($mode): $(head -n 1 "$log")"
      results[$(model_of "$suffix")]+=" $run/novel$tag$suffix.json"
    done
  done
done
[ $train_only = 0 ] || exit 0
for suffix in "${suffixes[@]}"; do
  read -r -a files <<<"${results[$(model_of "$suffix")]}"
  /usr/bin/python3 scripts/plot_novel.py "${files[@]}" \
    -o "$out/novel$suffix.png" --table "$out/novel$suffix.md"
done

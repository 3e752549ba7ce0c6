#!/usr/bin/env bash
# Generalisation to novel clients (the paper's Section 5.3, Figure 2) on CIFAR-10: trains each
# method with novel clients held out, adapts them with `pfedhn generalize`, and draws accuracy
# against distribution shift with scripts/plot_novel.py. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/novel_clients.sh [--out DIR] [--root DIR] [--dataset cifar10|mnist] [--bin PATH]
                                [--threads N] [--seed S]
                                [--methods "pfedhn pfedhn_pc fedavg_ft perfedavg"]
                                [--clients N] [--novel M] [--alphas LIST] [--updates N]
                                [--steps N|LIST] [--adapt "rounds loss"] [--novel-lr LR|LIST]
                                [--best] [--protocol shifted|lab] [--train-only] [--quick]

Every method trains on client.num_nodes - M clients of CIFAR-10 (the held-out split, train
40,000 / val 5,000 / test 5,000 from the official training set, 2 classes per training client;
--dataset mnist: MNIST, val and test 5,000 each from its training set); the last M clients are novel, with Dirichlet(alpha) label proportions from a set-aside share of
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

With --protocol lab, --steps and --novel-lr may be lists: every method is adapted with every
setting of the grid (pFedHN and pFedHN-PC: each steps x lr, per --adapt mode; FedAvg+FT: each
steps as fine-tuning steps; Per-FedAvg: its own step), each into OUT/<method>/grid/<setting>/
(`pfedhn generalize --out`; a grid point whose results exist is not adapted again: remove its
folder to redo it). Per method and adaptation mode the setting with the best pooled validation
accuracy of the novel clients (over every set) is picked, never by test; OUT/novel-grid.md lists
every setting with its validation accuracy and which was picked, and the figure
(gap against shift, docs/algorithms.md) and the per-alpha tables in OUT/novel.md are of the
picked settings.

Options:
  --out DIR       default outputs/novel
  --root DIR      data root with cifar-10-batches-bin (or mnist/ with --dataset mnist;
                  default data)
  --dataset D     cifar10 (default; conf/config.yaml, pFedHN-PC conf/cifar10_pc.yaml) or
                  mnist (conf/mnist.yaml for every method: a small stand-in, e.g. for CI)
  --bin PATH      the pfedhn binary (default build/pfedhn)
  --threads N     num_threads of every run (default 1)
  --seed S        default 1
  --methods LIST  default "pfedhn pfedhn_pc fedavg_ft perfedavg"
  --clients N     client.num_nodes, novel clients included (default 50)
  --novel M       novel.num_clients (default 10)
  --alphas LIST   novel.alphas (default "[0.1, 0.25, 0.5, 1, 10]": two clients each)
  --updates N     client updates per run (default 5000; the averaging baselines average
                  K=5 clients per round over N/5 rounds). pFedHN and pFedHN-PC evaluate every
                  30 client updates, the averaging baselines every 250 (50 rounds): each of
                  their evaluations fine-tunes or personalises every training client, which at
                  30 updates was three quarters of their CPU
  --steps N       adaptation rounds for pFedHN and pFedHN-PC (default 10: 500 SGD steps);
                  with --protocol lab a list to choose from on validation (default "10 20")
  --adapt LIST    novel.adapt of pFedHN and pFedHN-PC, each one adapted separately: rounds
                  (files novel.json) and/or loss (ours; files novel-loss.json); default rounds,
                  with --protocol lab "rounds loss" (the setting is chosen per mode)
  --novel-lr LR   novel.lr: lr of the novel embedding (default 0: the training embedding lr);
                  with --protocol lab a list to choose from on validation (default "0 0.1")
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
                  only at the end (FedAvg+FT fine-tuning 5 steps there), 1,000 validation
                  samples; default --out outputs/novel-quick
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
out="" root=data dataset=cifar10 bin=build/pfedhn threads=1 seed=1 clients="" novel=10 updates=5000 steps=""
alphas="" methods="pfedhn pfedhn_pc fedavg_ft perfedavg" quick=0 best=0
adapt="" novel_lr="" protocol=shifted train_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out | --root | --dataset | --bin | --threads | --seed | --methods | --clients | --novel | --alphas | \
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
[ $quick = 0 ] || : "${steps:=1}"
case "$protocol" in
  shifted) : "${clients:=50}" "${alphas:=[0.1, 0.25, 0.5, 1, 10]}" "${steps:=10}" "${novel_lr:=0}" "${adapt:=rounds}" ;;
  lab) : "${clients:=100}" "${alphas:=[0.1, 0.25, 0.5, 0.75, 1.0]}" "${steps:=10 20}" "${novel_lr:=0 0.1}" "${adapt:=rounds loss}" ;;
  *) die "--protocol must be shifted or lab, got '$protocol'" ;;
esac
case "$dataset" in cifar10 | mnist) ;; *) die "--dataset must be cifar10 or mnist, got '$dataset'" ;; esac
require_int 1 threads clients novel updates
require_int 0 seed
read -r -a steps_grid <<<"$steps"
read -r -a lr_grid <<<"$novel_lr"
[ ${#steps_grid[@]} -ge 1 ] || die "--steps is empty"
[ ${#lr_grid[@]} -ge 1 ] || die "--novel-lr is empty"
if [ "$protocol" = shifted ] && [ $((${#steps_grid[@]} * ${#lr_grid[@]})) != 1 ]; then
  die "--steps and --novel-lr take one value each with --protocol shifted (lists: --protocol lab)"
fi
for steps in "${steps_grid[@]}"; do require_int 1 steps; done
for lr in "${lr_grid[@]}"; do
  [[ "$lr" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
    die "--novel-lr must be a number >= 0, got '$lr'"
done
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

epochs=50 every=30 baseline_every=250 val=10000
extra=()
if [ $quick = 1 ]; then
  updates=10 epochs=5 every=10 val=2000
  extra+=(client.num_epochs=5 baseline.finetune_steps=5)
fi
read -r -a split <<<"$(holdout_args "$val")"
partition=()
[ "$protocol" = shifted ] ||
  partition=(client.partition=dirichlet_per_client client.dirichlet_alpha=0.1 novel.scheme=sets)
suffixes=("")
[ $best = 0 ] || suffixes+=(-best)
declare -A results=([newest]="" [best]="")  # the generalize results files to draw, per model
model_of() { if [ -n "$1" ]; then echo best; else echo newest; fi; }

# generalize_into RUN DIR MODE STEPS LR SUFFIX: `pfedhn generalize` of RUN (--best when SUFFIX is
# -best) with novel.adapt=MODE, novel.steps=STEPS (fedavg_ft: STEPS x client.num_epochs
# fine-tuning steps, the same budget) and novel.lr=LR (0: the training embedding lr, not
# given); the result files go into DIR (RUN itself: RUN/novel*.json as always), the output into
# a .out file beside them.
generalize_into() {
  local run=$1 dir=$2 mode=$3 steps=$4 lr=$5 suffix=$6 tag log options=()
  tag=$([ "$mode" = loss ] && echo -loss || true)
  if [ "$dir" = "$run" ]; then
    log="$run.generalize$tag$suffix.out"
  else
    mkdir -p "$dir"
    log="$dir/generalize$tag$suffix.out" options=(--out "$dir")
  fi
  [ "$lr" = 0 ] || options+=(novel.lr="$lr")
  "$bin" generalize ${suffix:+--best} "$run" "${options[@]}" novel.steps="$steps" \
    novel.adapt="$mode" baseline.finetune_steps=$((steps * epochs)) num_threads="$threads" \
    </dev/null >"$log" 2>&1 || die "$(basename "$run"): generalize $mode ${suffix:+--best }failed (exit $?); see $log"
  echo "novel_clients: $(basename "$run") ($mode, $steps steps, lr $lr): $(head -n 1 "$log")"
}

# The adaptation settings of method $1 to choose from ("MODE STEPS LR"): pFedHN and pFedHN-PC
# every --adapt mode x --steps x --novel-lr, FedAvg+FT every --steps, Per-FedAvg its one step.
grid_of() {
  local mode st lr
  case "$1" in
    pfedhn | pfedhn_pc)
      for mode in $adapt; do
        for st in "${steps_grid[@]}"; do
          for lr in "${lr_grid[@]}"; do echo "$mode $st $lr"; done
        done
      done
      ;;
    fedavg_ft) for st in "${steps_grid[@]}"; do echo "rounds $st 0"; done ;;
    *) echo "rounds ${steps_grid[0]} 0" ;;
  esac
}

# A grid point's folder under RUN/grid/.
setting_name() {
  case "$1" in
    pfedhn | pfedhn_pc) echo "$2-s$3-lr$4" ;;
    fedavg_ft) echo "finetune-s$3" ;;
    *) echo "own-step" ;;
  esac
}

# The pooled novel validation accuracy after adaptation of a novel-sets results file ("nan"
# when there is none).
val_accuracy() {
  /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get("novel_val_accuracy_after")
print("nan" if v is None else v)' "$1"
}

# How method $1 adapts in mode $2, for the grid table.
adaptation_of() {
  case "$1" in
    pfedhn | pfedhn_pc) echo "$2" ;;
    fedavg_ft) echo "fine-tuning" ;;
    *) echo "its own step" ;;
  esac
}

# adapt_lab METHOD RUN SUFFIX: every grid point of METHOD on RUN, skipping those already done;
# appends its rows to the grid table of SUFFIX and, per adaptation mode, the results file of the
# setting with the best novel validation accuracy (the first of equals) to the files to draw.
adapt_lab() {
  local m=$1 run=$2 suffix=$3 mode st lr name dir file val tag picked
  local -A best_val=() best_file=() best_name=() rows=()
  local modes=()
  while read -r mode st lr; do
    name=$(setting_name "$m" "$mode" "$st" "$lr") dir="$run/grid/$name"
    tag=$([ "$mode" = loss ] && echo -loss || true)
    file="$dir/novel-sets$tag$suffix.json"
    if [ -s "$file" ]; then
      echo "novel_clients: $m ($name${suffix:+, best}): adapted (skipped)"
    else
      generalize_into "$run" "$dir" "$mode" "$st" "$lr" "$suffix"
    fi
    [ -s "$file" ] || die "$m: generalize wrote no $file"
    val=$(val_accuracy "$file")
    [ -n "${best_file[$mode]+x}" ] || modes+=("$mode")
    rows[$mode]+="$name $val"$'\n'
    if [ -z "${best_file[$mode]+x}" ] ||
      awk -v a="$val" -v b="${best_val[$mode]}" 'BEGIN { exit !(a != "nan" && (b == "nan" || a + 0 > b + 0)) }'; then
      best_val[$mode]=$val best_file[$mode]=$file best_name[$mode]=$name
    fi
  done < <(grid_of "$m")
  for mode in "${modes[@]}"; do
    while read -r name val; do
      [ -n "$name" ] || continue
      picked=""
      [ "$name" != "${best_name[$mode]}" ] || picked="**picked**"
      printf '| %s | %s | %s | %.4f | %s |\n' "$m" "$(adaptation_of "$m" "$mode")" "$name" "$val" \
        "$picked" >>"$out/novel-grid$suffix.md.tmp"
    done <<<"${rows[$mode]}"
    results[$(model_of "$suffix")]+=" ${best_file[$mode]}"
    echo "novel_clients: $m ($mode${suffix:+, best}): picked ${best_name[$mode]} (novel val accuracy ${best_val[$mode]})"
  done
}

if [ "$protocol" = lab ] && [ $train_only = 0 ]; then
  for suffix in "${suffixes[@]}"; do
    printf '%s\n' "| method | adaptation | setting (OUT/<method>/grid/...) | novel clients' val accuracy after adaptation, pooled over the sets | |" \
      "|---|---|---|---|---|" >"$out/novel-grid$suffix.md.tmp"
  done
fi
for m in $methods; do
  k=1 m_updates=$every conf=conf/config.yaml
  case "$m" in
    fedavg_ft | perfedavg) k=5 m_updates=$baseline_every ;;
    pfedhn_pc) conf=conf/cifar10_pc.yaml ;;
  esac
  [ "$dataset" = cifar10 ] || conf=conf/mnist.yaml
  rounds=$(((updates + k - 1) / k)) m_every=$(((m_updates + k - 1) / k))
  [ $quick = 0 ] || m_every=$rounds
  run="$out/$m"
  train_run "$m" "$run" "$rounds" "$bin" 1 --config "$conf" algorithm="$m" seed="$seed" \
    dataset.root="$root" "${split[@]}" client.num_nodes="$clients" \
    novel.num_clients="$novel" "novel.alphas=$alphas" client.clients_per_round="$k" \
    client.num_rounds="$rounds" eval_every="$m_every" num_threads="$threads" \
    ${partition[@]+"${partition[@]}"} ${extra[@]+"${extra[@]}"}
  [ $train_only = 0 ] || continue
  # "" adapts the newest checkpoint, "-best" best.pt (`generalize --best`, files *-best.*).
  if [ "$protocol" = lab ]; then
    for suffix in "${suffixes[@]}"; do adapt_lab "$m" "$run" "$suffix"; done
    continue
  fi
  # The same adaptation budget for every method: steps rounds of client.num_epochs SGD steps; a
  # hypernetwork is adapted once per --adapt mode (novel.adapt=loss writes files *-loss*.*).
  modes=(rounds) lr=0 steps=${steps_grid[0]}
  case "$m" in pfedhn | pfedhn_pc)
    read -r -a modes <<<"$adapt"
    lr=${lr_grid[0]}
    ;;
  esac
  for mode in "${modes[@]}"; do
    tag=$([ "$mode" = loss ] && echo -loss || true)
    for suffix in "${suffixes[@]}"; do
      generalize_into "$run" "$run" "$mode" "$steps" "$lr" "$suffix"
      results[$(model_of "$suffix")]+=" $run/novel$tag$suffix.json"
    done
  done
done
[ $train_only = 0 ] || exit 0
for suffix in "${suffixes[@]}"; do
  [ "$protocol" = shifted ] || mv "$out/novel-grid$suffix.md.tmp" "$out/novel-grid$suffix.md"
  read -r -a files <<<"${results[$(model_of "$suffix")]}"
  /usr/bin/python3 scripts/plot_novel.py "${files[@]}" \
    -o "$out/novel$suffix.png" --table "$out/novel$suffix.md"
done

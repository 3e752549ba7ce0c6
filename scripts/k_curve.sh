#!/usr/bin/env bash
# K clients per round at one budget of client updates (issue 15, item 4) on CIFAR-10: trains
# pFedHN and pFedHN-PC with K = 1, 2, 5 and draws the curves with scripts/plot_k_curve.py.
# Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/k_curve.sh [--out DIR] [--root DIR] [--bin PATH] [--threads N] [--workers N]
                          [--seed S] [--methods "pfedhn pfedhn_pc"] [--ks "1 2 5"]
                          [--clients N] [--updates N] [--lr-scale none|linear] [--quick]

Every run trains on CIFAR-10 (the held-out split, train 40,000 / val 5,000 / test 5,000 from
the official training set, 2 classes per client) with the presets (conf/config.yaml,
conf/cifar10_pc.yaml) and client.clients_per_round=K over --updates / K rounds, evaluated
every 30 / K rounds (rounded up), so that every K gets the same client updates and about the
same evaluations. The server averages the K clients' vector-Jacobian products in each round.

Runs are OUT/<method>_k<K>/ (normal pfedhn run directories; OUT/<method>_k<K>_lr-linear/ with
--lr-scale linear and K > 1): a finished run is not trained again, a stopped one is resumed from
its checkpoint. OUT/k_curve.png and OUT/k_curve.md are
the figure (test accuracy against client updates) and the table (with wall times).

Options:
  --out DIR       default outputs/k_curve
  --root DIR      data root with cifar-10-batches-bin (default data)
  --bin PATH      the pfedhn binary (default build/pfedhn)
  --threads N     num_threads of every run (default 1)
  --workers N     processes per run (`pfedhn train --workers N`, default 1): the K updates of a
                  round and the evaluation run in N processes; results equal one process's
  --seed S        default 1
  --methods LIST  default "pfedhn pfedhn_pc"
  --ks LIST       default "1 2 5"
  --clients N     client.num_nodes (default 50)
  --updates N     client updates per run (default 5000)
  --lr-scale S    none (default): every K keeps the preset's server.lr. linear (ours): server.lr
                  = K x the preset's, so that a round's step is the sum, not the mean, of its K
                  clients' steps: as long as K rounds of one client to first order (the linear
                  scaling rule of large-batch SGD), where the mean makes 5000/K rounds K times
                  shorter in all
  --quick         a smoke run: 10 client updates of 5 steps, evaluation only at the end,
                  1,000 validation samples; default --out outputs/k_curve-quick
  -h, --help      this help
EOF_USAGE
}

die() {
  echo "k_curve.sh: $*" >&2
  exit 2
}

cd "$(dirname "$0")/.."
# shellcheck source=run_lib.sh
source scripts/run_lib.sh
prog=k_curve
out="" root=data bin=build/pfedhn threads=1 workers=1 seed=1 clients=50 updates=5000
methods="pfedhn pfedhn_pc" ks="1 2 5" quick=0 lr_scale=none
while [ $# -gt 0 ]; do
  case "$1" in
    --out | --root | --bin | --threads | --workers | --seed | --methods | --ks | --clients | \
      --updates | --lr-scale)
      [ $# -ge 2 ] || die "$1 needs a value"
      opt=${1#--}
      declare "${opt//-/_}=$2"
      shift
      ;;
    --quick) quick=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
require_int 1 threads workers clients updates
require_int 0 seed
[ -n "$ks" ] || die "--ks is empty"
for k in $ks; do
  [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -ge 1 ] && [ "$k" -le "$clients" ] ||
    die "--ks: K must be a number from 1 to --clients ($clients), got '$k'"
done
case "$lr_scale" in none | linear) ;; *) die "--lr-scale must be none or linear, got '$lr_scale'" ;; esac
for m in $methods; do
  case "$m" in pfedhn | pfedhn_pc) ;; *) die "method '$m' is not a hypernetwork (pfedhn pfedhn_pc)" ;; esac
done
[ -x "$bin" ] || die "no pfedhn binary at '$bin'; build it first (scripts/build.sh)"
[ -n "$out" ] || out=$([ $quick = 1 ] && echo outputs/k_curve-quick || echo outputs/k_curve)
mkdir -p "$out"

every=30 val=10000 extra=()
if [ $quick = 1 ]; then
  updates=10 val=2000
  extra+=(client.num_epochs=5)
fi
read -r -a split <<<"$(holdout_args "$val")"
run_dirs=()
for m in $methods; do
  conf=conf/config.yaml
  [ "$m" = pfedhn ] || conf=conf/cifar10_pc.yaml
  base_lr=$(yaml_value "$conf" server lr)
  for k in $ks; do
    rounds=$(((updates + k - 1) / k)) k_every=$(((every + k - 1) / k))
    [ $quick = 0 ] || k_every=$rounds
    run="$out/${m}_k$k" lr=()
    if [ "$lr_scale" = linear ]; then
      [ "$k" = 1 ] || run+=_lr-linear
      lr=(server.lr="$(awk -v lr="$base_lr" -v k="$k" 'BEGIN { printf "%g", lr * k }')")
    fi
    run_dirs+=("$run")
    train_run "$m K=$k" "$run" "$rounds" "$bin" "$workers" --config "$conf" algorithm="$m" \
      seed="$seed" dataset.root="$root" "${split[@]}" client.num_nodes="$clients" \
      client.clients_per_round="$k" client.num_rounds="$rounds" eval_every="$k_every" \
      num_threads="$threads" "${lr[@]}" "${extra[@]}"
  done
done
/usr/bin/python3 scripts/plot_k_curve.py "${run_dirs[@]}" -o "$out/k_curve.png" --table "$out/k_curve.md"

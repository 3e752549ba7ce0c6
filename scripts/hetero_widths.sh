#!/usr/bin/env bash
# Heterogeneous widths (the paper's Section 5.2) on CIFAR-10: one hypernetwork serving several
# target-network widths against homogeneous runs at each width, tabled and drawn with
# scripts/hetero_table.py. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/hetero_widths.sh [--out DIR] [--root DIR] [--bin PATH] [--threads N] [--seed S]
                                [--method pfedhn|pfedhn_pc] [--widths "8 16 32"]
                                [--homogeneous "8 16 32"] [--with RUN_DIR...]
                                [--clients N] [--updates N] [--no-hetero] [--quick]

One run with model.hetero_kernels = --widths (client i gets width w_(i mod n)) and one
homogeneous run (model.n_kernels=w) for each width in --homogeneous, all on CIFAR-10 (the
held-out split, train 40,000 / val 5,000 / test 5,000 from the official training set, 2 classes
per client) with the method's preset and --updates rounds of one client. The partition depends
only on the seed and the clients, so every run has the same clients, and the table compares the
same clients in every column.

Runs are OUT/hetero/ and OUT/k<w>/ (normal pfedhn run directories): a finished run is not
trained again, a stopped one is resumed from its checkpoint. OUT/hetero.png and OUT/hetero.md
are the figure and the table.

Options:
  --out DIR           default outputs/hetero
  --root DIR          data root with cifar-10-batches-bin (default data)
  --bin PATH          the pfedhn binary (default build/pfedhn)
  --threads N         num_threads of every run (default 1)
  --seed S            default 1
  --method M          pfedhn (default) or pfedhn_pc
  --widths LIST       the heterogeneous run's widths (default "8 16 32"; the preset is 16)
  --homogeneous LIST  widths to train alone (default: --widths); "" for none
  --with "DIR..."     finished homogeneous runs made elsewhere to add to the table (a run of
                      scripts/k_curve.sh with K=1 is the preset's width-16 run of this setup)
  --clients N         client.num_nodes (default 50)
  --updates N         rounds of one client per run (default 5000)
  --no-hetero         train only the homogeneous runs (so that another invocation can train
                      OUT/hetero at the same time); the table is drawn if OUT/hetero is finished
  --quick             a smoke run: 10 rounds of 5 steps, evaluation only at the end, 1,000
                      validation samples; default --out outputs/hetero-quick
  -h, --help          this help
EOF_USAGE
}

die() {
  echo "hetero_widths.sh: $*" >&2
  exit 2
}

cd "$(dirname "$0")/.."
# shellcheck source=run_lib.sh
source scripts/run_lib.sh
prog=hetero_widths
out="" root=data bin=build/pfedhn threads=1 seed=1 clients=50 updates=5000 method=pfedhn
widths="8 16 32" homogeneous=unset with="" quick=0 hetero=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out | --root | --bin | --threads | --seed | --method | --widths | --homogeneous | \
      --with | --clients | --updates)
      [ $# -ge 2 ] || die "$1 needs a value"
      declare "${1#--}=$2"
      shift
      ;;
    --quick) quick=1 ;;
    --no-hetero) hetero=0 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
require_int 1 threads clients updates
require_int 0 seed
[ "$homogeneous" != unset ] || homogeneous=$widths
read -r -a width_list <<<"$widths"
[ ${#width_list[@]} -ge 2 ] || die "--widths needs at least two widths, got '$widths'"
for w in "${width_list[@]}" $homogeneous; do
  [[ "$w" =~ ^[0-9]+$ ]] && [ "$w" -ge 1 ] || die "a width must be a positive number, got '$w'"
done
case "$method" in pfedhn | pfedhn_pc) ;; *) die "--method must be pfedhn or pfedhn_pc, got '$method'" ;; esac
for d in $with; do [ -d "$d" ] || die "--with: '$d' is not a directory"; done
[ $hetero = 1 ] || [ -n "$homogeneous" ] || die "--no-hetero with --homogeneous \"\": nothing to train"
[ -n "$homogeneous$with" ] || die "nothing to compare with: --homogeneous and --with are both empty"
[ -x "$bin" ] || die "no pfedhn binary at '$bin'; build it first (scripts/build.sh)"
[ -n "$out" ] || out=$([ $quick = 1 ] && echo outputs/hetero-quick || echo outputs/hetero)
mkdir -p "$out"

conf=conf/config.yaml
[ "$method" = pfedhn ] || conf=conf/cifar10_pc.yaml
every=30 val=10000 extra=()
if [ $quick = 1 ]; then
  updates=10 every=10 val=2000
  extra+=(client.num_epochs=5)
fi
read -r -a split <<<"$(holdout_args "$val")"
common=(--config "$conf" algorithm="$method" seed="$seed" dataset.root="$root" "${split[@]}"
  client.num_nodes="$clients" client.num_rounds="$updates" eval_every="$every"
  num_threads="$threads" "${extra[@]}")
list=$(IFS=,; echo "[${width_list[*]}]")
[ $hetero = 0 ] || train_run "heterogeneous $list" "$out/hetero" "$updates" "$bin" 1 \
  "${common[@]}" "model.hetero_kernels=$list"
runs=()
for w in $homogeneous; do
  train_run "width $w" "$out/k$w" "$updates" "$bin" 1 "${common[@]}" model.n_kernels="$w"
  runs+=("$out/k$w")
done
# shellcheck disable=SC2206
runs+=($with)
if [ ! -s "$out/hetero/results.json" ]; then
  echo "$prog: no table yet: $out/hetero is not finished (run again without --no-hetero)"
  exit 0
fi
/usr/bin/python3 scripts/hetero_table.py "$out/hetero" "${runs[@]}" -o "$out/hetero.png" \
  --table "$out/hetero.md"

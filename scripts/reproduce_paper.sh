#!/usr/bin/env bash
# Runs every configuration of the paper's tables (datasets x {10, 50, 100} clients x methods x
# seeds) and writes paper_tables.md and paper_tables.csv beside the paper's numbers.
# Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/reproduce_paper.sh [--quick] [--seeds N] [--out DIR] [--data-from DIR]
                                  [--root DIR] [--bin PATH] [--clients "10 50 100"]
                                  [--methods "pfedhn local ..."] [--threads N] [--updates N]
                                  [--holdout] [--authors-partitions] [--seed-list "42 27 13"]
                                  [--set KEY=VALUE]... [TABLE...]

TABLE: mnist, cifar10, cifar100 (default: all three). A dataset that is not available is
reported as "no data" in the tables, not as an error.

Every run is OUT/runs/<dataset>/n<clients>/<method>/seed<k>/ (a normal pfedhn run directory).
A run whose results.json exists is skipped; one that stopped half way is resumed from its
checkpoint; so the script can be stopped and started again at any time.

Methods: pfedhn pfedhn_pc local fedavg fedavg_ft perfedavg fedper. Every method gets the same
number of client updates (client.num_epochs SGD steps each): pFedHN, pFedHN-PC and Local run
the preset's client.num_rounds with one client per round, as the paper; the averaging
baselines (fedavg, fedavg_ft, perfedavg, fedper) average K=5 clients per round over
num_rounds/5 rounds, evaluated every eval_every/5 rounds.

Options:
  --quick         a smoke test for CI (a few minutes on 2 cores): every method on 10 clients,
                  10 client updates of 5 steps (averaging baselines: 2 rounds of 5 clients),
                  evaluated after the first and the last round on 1,000 validation samples,
                  5 fine-tuning steps, 1 thread, 1 seed, and only datasets already in the data
                  root (or in --data-from); default --out outputs/paper-quick
  --seeds N       seeds 1..N per configuration (default 3; --quick: 1)
  --out DIR       runs and tables (default outputs/paper)
  --data-from DIR local dataset mirror, handed to scripts/fetch_data.sh --from
  --root DIR      data root (default data)
  --bin PATH      the pfedhn binary (default build/pfedhn)
  --clients LIST  client counts (default "10 50 100"; --quick: "10")
  --methods LIST  methods (default: all seven)
  --updates N     client updates per run instead of the preset's client.num_rounds (5000):
                  a shorter real run, for a first look at the real table; the tables' note
                  says so. Evaluation stays every eval_every updates. Default --out
                  outputs/paper-uN, so that runs of other lengths are never mixed.
  --holdout       draw every dataset's test split from its official training set
                  (dataset.test_split=holdout), half of the preset's validation size each
                  for validation and test, so the training set keeps its size (CIFAR: train
                  40,000 / val 5,000 / test 5,000). CIFAR-10 does this by itself when the data
                  root has no test_batch.bin (the offline copy in ../shared/data has only
                  1,000 test images). The tables say which cells were made so.
  --authors-partitions
                  train every run on the partition that the pFedHN authors' paper-era code
                  draws for its seed (scripts/authors_partition.py: their class pairs and
                  proportions, written to OUT/partitions/<dataset>/n<clients>/seed<k>.json and
                  given as client.partition=file); pfedhn's own streams (initialisation, client
                  sampling, the split shuffles) use the same seed. Seeds default to the
                  authors' own sweep, 42 27 13; default --out outputs/paper-authors
  --seed-list L   these seeds instead of 1..N (e.g. "42 27 13")
  --set KEY=VALUE a config override for every run (repeatable), e.g.
                  --set client.class_shares=spare for the share count pfedhn had before
                  2026-12-06; the tables' note lists them. Give such runs their own --out
  --threads N     num_threads of every run (default 0 = all cores; --quick: 1). On a machine
                  shared with other work, 1 is much faster than 2 (see docs/performance.md).
  -h, --help      this help
EOF
}

die() {
  echo "reproduce_paper.sh: $*" >&2
  exit 2
}

cd "$(dirname "$0")/.."
quick=0 updates="" seeds="" out="" data_from="" root="data" bin="build/pfedhn" threads=""
clients="" holdout=0 authors=0 seed_list="" sets=()
methods="pfedhn pfedhn_pc local fedavg fedavg_ft perfedavg fedper"
tables=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --seeds) [ $# -ge 2 ] || die "--seeds needs a number"; seeds="$2"; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift ;;
    --data-from) [ $# -ge 2 ] || die "--data-from needs a folder"; data_from="$2"; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a folder"; root="$2"; shift ;;
    --bin) [ $# -ge 2 ] || die "--bin needs a path"; bin="$2"; shift ;;
    --clients) [ $# -ge 2 ] || die "--clients needs a list"; clients="$2"; shift ;;
    --methods) [ $# -ge 2 ] || die "--methods needs a list"; methods="$2"; shift ;;
    --updates) [ $# -ge 2 ] || die "--updates needs a number"; updates="$2"; shift ;;
    --threads) [ $# -ge 2 ] || die "--threads needs a number"; threads="$2"; shift ;;
    --holdout) holdout=1 ;;
    --authors-partitions) authors=1 ;;
    --seed-list) [ $# -ge 2 ] || die "--seed-list needs a list"; seed_list="$2"; shift ;;
    --set)
      [ $# -ge 2 ] && [[ "$2" == *=* ]] || die "--set needs KEY=VALUE, e.g. --set client.class_shares=spare"
      sets+=("$2"); shift ;;
    -h | --help) usage; exit 0 ;;
    mnist | cifar10 | cifar100) tables+=("$1") ;;
    *) die "unknown argument '$1' (tables: mnist, cifar10, cifar100; see --help)" ;;
  esac
  shift
done
[ ${#tables[@]} -gt 0 ] || tables=(mnist cifar10 cifar100)
[ -n "$seeds" ] || seeds=$([ $quick = 1 ] && echo 1 || echo 3)
[ -n "$clients" ] || clients=$([ $quick = 1 ] && echo 10 || echo "10 50 100")
[ -n "$threads" ] || threads=$([ $quick = 1 ] && echo 1 || echo 0)
[[ "$threads" =~ ^[0-9]+$ ]] || die "--threads must be a number, got '$threads'"
[ -z "$updates" ] || [[ "$updates" =~ ^[1-9][0-9]*$ ]] ||
  die "--updates must be a positive integer, got '$updates'"
[ -z "$updates" ] || [ $quick = 0 ] || die "--updates and --quick do not go together"
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || die "--seeds must be a positive integer, got '$seeds'"
if [ -n "$seed_list" ]; then
  for s in $seed_list; do
    [[ "$s" =~ ^[0-9]+$ ]] && [ "$s" -lt 4294967296 ] || die "--seed-list: bad seed '$s'"
  done
elif [ $authors = 1 ] && [ $quick = 0 ]; then
  seed_list="42 27 13"
else
  seed_list=$(seq -s ' ' 1 "$seeds")
fi
if [ -z "$out" ]; then
  if [ $quick = 1 ]; then out=outputs/paper-quick
  elif [ -n "$updates" ]; then out=outputs/paper-u$updates
  else out=outputs/paper
  fi
  [ $authors = 0 ] || out=$out-authors
fi
[ -x "$bin" ] || die "no pfedhn binary at '$bin'; build it first (scripts/build.sh)"
if [ ${#sets[@]} -gt 0 ]; then
  err=$("$bin" train "${sets[@]}" --print-config 2>&1 >/dev/null) || die "--set: $err"
fi
for m in $methods; do
  case "$m" in pfedhn | pfedhn_pc | local | fedavg | fedavg_ft | perfedavg | fedper) ;;
    *) die "unknown method '$m'" ;; esac
done
for n in $clients; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "bad client count '$n'"; done
mkdir -p "$out"

data_dir() { # where fetch_data.sh puts a dataset
  case "$1" in
    mnist) echo "$root/mnist" ;;
    cifar10) echo "$root/cifar-10-batches-bin" ;;
    cifar100) echo "$root/cifar-100-binary" ;;
  esac
}

# The datasets that can be used. --quick never goes to the internet: only what is in the data
# root or the --data-from mirror.
available=() missing=()
for ds in "${tables[@]}"; do
  fetch=(bash scripts/fetch_data.sh --root "$root")
  [ -n "$data_from" ] && fetch+=(--from "$data_from")
  if [ $quick = 1 ] && [ -z "$data_from" ] && [ ! -d "$(data_dir "$ds")" ]; then
    missing+=("$ds")
  elif "${fetch[@]}" "$ds" >"$out/fetch_$ds.log" 2>&1; then
    available+=("$ds")
  else
    missing+=("$ds")
  fi
done
echo "reproduce_paper: datasets available: ${available[*]:-none}; no data: ${missing[*]:-none}"

preset() { # dataset method -> config file
  case "$1:$2" in
    mnist:*) echo conf/mnist.yaml ;;
    cifar10:pfedhn_pc) echo conf/cifar10_pc.yaml ;;
    cifar10:*) echo conf/config.yaml ;;
    cifar100:pfedhn_pc) echo conf/cifar100_pc.yaml ;;
    cifar100:*) echo conf/cifar100.yaml ;;
  esac
}

# Whether a dataset's runs use the held-out test split (see --holdout).
uses_holdout() {
  [ $holdout = 1 ] && return 0
  [ "$1" = cifar10 ] && [ ! -f "$root/cifar-10-batches-bin/test_batch.bin" ]
}
holdout_tables=()
for ds in "${available[@]}"; do
  if uses_holdout "$ds"; then holdout_tables+=("$ds"); fi
done
[ ${#holdout_tables[@]} = 0 ] ||
  echo "reproduce_paper: held-out test split (drawn from the training set) for: ${holdout_tables[*]}"

declare -A preset_cache=()
preset_value() { # file key -> value (the presets are flat two-level YAML); one call per file
  if [ -z "${preset_cache[$1]+set}" ]; then
    preset_cache[$1]=$("$bin" train --config "$1" --print-config)
  fi
  awk -v k="$2" '$1 == k":" { print $2; exit }' <<<"${preset_cache[$1]}"
}

failed=0 done_runs=0 skipped=0
start=$(date +%s)
for ds in "${available[@]}"; do
  for n in $clients; do
    for m in $methods; do
      conf=$(preset "$ds" "$m")
      rounds=$(preset_value "$conf" num_rounds)
      every=$(preset_value "$conf" eval_every)
      extra=(num_threads="$threads")
      [ -z "$updates" ] || rounds=$updates
      val=$(preset_value "$conf" val_size)
      if [ $quick = 1 ]; then
        rounds=10 val=1000
        extra+=(client.num_epochs=5 baseline.finetune_steps=5 dataset.val_size=1000)
      fi
      split=official
      if uses_holdout "$ds"; then
        split=holdout
        extra+=(dataset.test_split=holdout dataset.val_size=$((val / 2)) dataset.test_size=$((val / 2)))
      fi
      k=1
      case "$m" in fedavg | fedavg_ft | perfedavg | fedper) k=5 ;; esac
      [ "$k" -le "$n" ] || k=$n
      rounds=$(((rounds + k - 1) / k)) every=$(((every + k - 1) / k))
      # --quick: evaluated only after the first and the last round.
      [ $quick = 0 ] || every=$rounds
      for s in $seed_list; do
        run="$out/runs/$ds/n$n/$m/seed$s"
        part=()
        if [ $authors = 1 ]; then
          pfile="$out/partitions/$ds/n$n/seed$s.json"
          if [ ! -s "$pfile" ]; then
            mkdir -p "$(dirname "$pfile")"
            per=$(preset_value "$conf" num_classes_per_node)
            classes=$([ "$ds" = cifar100 ] && echo 100 || echo 10)
            /usr/bin/python3 scripts/authors_partition.py --seed "$s" --clients "$n" \
              --classes "$classes" --per-client "$per" -o "$pfile" || die "cannot write $pfile"
          fi
          part=(client.partition=file client.partition_file="$pfile")
        fi
        # A run made by a call with another length is never skipped, resumed or tabled as this one.
        if [ -f "$run/config.yaml" ]; then
          made=$(awk '$1 == "num_rounds:" { print $2; exit }' "$run/config.yaml")
          [ "$made" = "$rounds" ] || die "$run has client.num_rounds=$made, this call asks for $rounds (other --updates or --quick): give another --out"
          made=$(awk '$1 == "test_split:" { print $2; exit }' "$run/config.yaml")
          [ "${made:-official}" = "$split" ] || die "$run has dataset.test_split=${made:-official}, this call asks for $split (see --holdout): give another --out"
          made=$(awk '$1 == "partition:" { print $2; exit }' "$run/config.yaml")
          want=$([ $authors = 1 ] && echo file || echo classes)
          [ "$made" = "$want" ] || die "$run has client.partition=$made, this call asks for $want (see --authors-partitions): give another --out"
        fi
        if [ -s "$run/results.json" ]; then
          skipped=$((skipped + 1))
          continue
        fi
        args=(train --config "$conf" algorithm="$m" seed="$s" dataset.root="$root"
          client.num_nodes="$n" client.clients_per_round="$k" client.num_rounds="$rounds"
          eval_every="$every" "${extra[@]}" ${part[@]+"${part[@]}"} ${sets[@]+"${sets[@]}"})
        if compgen -G "$run/checkpoints/ckpt-*.pt" >/dev/null; then
          cmd=("$bin" train --resume "$run")
        else
          mkdir -p "$(dirname "$run")"
          cmd=("$bin" "${args[@]}" --output-dir "$run" --overwrite)
        fi
        printf 'reproduce_paper: %-8s %3d clients  %-9s seed %d (%s test) ... ' "$ds" "$n" "$m" "$s" "$split"
        t0=$(date +%s)
        if "${cmd[@]}" >"$run.out" 2>&1; then
          acc=$(/usr/bin/python3 -c 'import json,sys; print("%.2f%%" % (100*json.load(open(sys.argv[1]))["test_accuracy_at_best_val"]))' "$run/results.json")
          echo "$acc ($(($(date +%s) - t0))s)"
          done_runs=$((done_runs + 1))
        else
          echo "FAILED (exit $?); see $run.out"
          tail -n 3 "$run.out" | sed 's/^/    /'
          failed=$((failed + 1))
        fi
      done
    done
  done
done

if [ $quick = 1 ]; then
  settings="--quick (10 client updates of 5 steps: a smoke test, not the paper's numbers)"
elif [ -n "$updates" ]; then
  settings="the presets in conf/ but $updates client updates per run instead of the paper's 5000 (shorter runs: accuracies below the converged ones)"
else
  settings="the presets in conf/"
fi
note="Settings: $settings; seeds ${seed_list// /, }; averaging baselines with 5 clients per round over 1/5 of the rounds."
[ ${#sets[@]} = 0 ] || note+=" Overrides for every run: ${sets[*]}."
[ $authors = 0 ] ||
  note+=" Partitions: the pFedHN authors' paper-era draws for each seed (scripts/authors_partition.py, client.partition=file)."
[ ${#holdout_tables[@]} = 0 ] ||
  note+=" Test split held out from the official training set (dataset.test_split=holdout) for ${holdout_tables[*]}: the official test set was not used (absent here, or --holdout); such cells say holdout."
/usr/bin/python3 scripts/paper_tables.py "$out" --datasets "${tables[@]}" --clients $clients \
  --methods $methods --no-data ${missing[@]+"${missing[@]}"} --note "$note" >/dev/null
echo "reproduce_paper: $done_runs runs done, $skipped already finished, $failed failed in $(($(date +%s) - start))s"
echo
cat "$out/paper_tables.md"
echo
echo "reproduce_paper: tables in $out/paper_tables.md and $out/paper_tables.csv"
[ $failed -eq 0 ] || exit 1

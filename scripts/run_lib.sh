# Sourced by the experiment scripts (novel_clients.sh, k_curve.sh, hetero_widths.sh): trains one
# run directory, skipping a finished run and resuming a stopped one. The caller defines
# die MESSAGE (prints it, exits non-zero) and sets prog (the script's name, for messages).

# train_run NAME RUN ROUNDS BIN WORKERS TRAIN_ARGS...: trains RUN (`BIN train TRAIN_ARGS
# --output-dir RUN`) unless RUN/results.json exists; a run with a checkpoint and no results.json
# is resumed (`BIN train --resume RUN`). WORKERS > 1 adds `--workers WORKERS`. A RUN made with
# another client.num_rounds than ROUNDS (another --updates or --quick) is refused, never mixed
# in. The run's output goes to RUN.out.
train_run() {
  local name=$1 run=$2 rounds=$3 bin=$4 workers=$5 made
  shift 5
  if [ -f "$run/config.yaml" ]; then
    made=$(awk '$1 == "num_rounds:" { print $2; exit }' "$run/config.yaml")
    [ "$made" = "$rounds" ] ||
      die "$run has client.num_rounds=$made, this call asks for $rounds (other --updates or --quick): give another --out"
  fi
  if [ -s "$run/results.json" ]; then
    echo "$prog: $name: trained (skipped)"
    return 0
  fi
  local cmd=() par=()
  [ "$workers" -le 1 ] || par=(--workers "$workers")
  if compgen -G "$run/checkpoints/ckpt-*.pt" >/dev/null; then
    cmd=("$bin" train --resume "$run" "${par[@]}")
  else
    mkdir -p "$(dirname "$run")"
    cmd=("$bin" train "$@" "${par[@]}" --output-dir "$run" --overwrite)
  fi
  echo "$prog: $name: training $rounds rounds ... (log: $run.out)"
  "${cmd[@]}" >"$run.out" 2>&1 || die "$name: training failed (exit $?); see $run.out"
}

# require_int MIN VAR...: each variable VAR holds a whole number >= MIN, else die naming the
# option --VAR (the scripts keep each option's value in the variable of its name).
require_int() {
  local min=$1 v what="a number"
  shift
  [ "$min" -le 0 ] || what="a positive number"
  [ "$min" -le 1 ] || what="a number >= $min"
  for v in "$@"; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge "$min" ] || die "--$v must be $what, got '${!v}'"
  done
}

# holdout_args VAL: the held-out CIFAR-10 split of these scripts, VAL samples for val + test.
holdout_args() {
  echo "dataset.test_split=holdout dataset.val_size=$(($1 / 2)) dataset.test_size=$(($1 / 2))"
}

# yaml_value FILE SECTION KEY: the value of SECTION.KEY in a preset of conf/ (two-level YAML,
# comments after the value), e.g. `yaml_value conf/config.yaml server lr`; dies if it is missing.
yaml_value() {
  local value
  value=$(awk -v section="$2:" -v key="$3:" '
    /^[^ #]/ { inside = ($1 == section) }
    inside && /^  [^ ]/ && $1 == key { print $2; exit }' "$1")
  [ -n "$value" ] || die "$1 has no $2.$3"
  echo "$value"
}

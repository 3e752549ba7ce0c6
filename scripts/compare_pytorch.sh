#!/usr/bin/env bash
# Same-machine comparison of pfedhn with the authors' PyTorch round (scripts/bench_pytorch.py):
# runs `pfedhn bench --json` and `bench_pytorch.py --json` on the same config back to back,
# alternating N times, and prints the ratios pytorch / pfedhn of the time per round and per
# evaluation (median and min-max over the repeats) and both tools' medians.
# Builds nothing: expects build/pfedhn, or the binary named by $PFEDHN_BIN.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/compare_pytorch.sh [--repeats N] [--rounds R] [--warmup W] [--config FILE] [key=value...]

  --repeats N    pairs of runs, alternating pfedhn / pytorch (default 3)
  --rounds R     timed rounds per run (default: each tool's default)
  --warmup W     untimed warm-up rounds per run (default: each tool's default)
  --config FILE  YAML preset for both tools (default conf/config.yaml)
  key=value      config overrides for both tools, e.g. num_threads=2 client.num_nodes=10

environment: PFEDHN_BIN (default build/pfedhn), PYTHON (default /usr/bin/python3)
EOF
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repeats=3
config="$repo/conf/config.yaml"
tool_args=()
overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats="${2:?--repeats needs a value}"; shift 2 ;;
    --rounds | --warmup) tool_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --config) config="${2:?--config needs a value}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "compare_pytorch: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "compare_pytorch: '$1' is neither an option nor key=value" >&2; exit 2 ;;
  esac
done
case "$repeats" in '' | *[!0-9]* | 0) echo "compare_pytorch: --repeats must be a positive integer" >&2; exit 2 ;; esac

bin="${PFEDHN_BIN:-$repo/build/pfedhn}"
python="${PYTHON:-/usr/bin/python3}"
if [ ! -x "$bin" ]; then
  echo "compare_pytorch: no pfedhn binary at $bin; build it (scripts/build.sh) or set PFEDHN_BIN" >&2
  exit 1
fi
[ -f "$config" ] || { echo "compare_pytorch: no config file $config" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run NAME OUT CMD...: runs one benchmark, its JSON to OUT; on failure says so and exits 1.
run() {
  local name="$1" out="$2"
  shift 2
  local rc=0
  "$@" >"$out" 2>"$tmp/stderr" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "compare_pytorch: $name failed (exit $rc): $*" >&2
    tail -n 20 "$tmp/stderr" >&2
    exit 1
  fi
}

for i in $(seq 1 "$repeats"); do
  echo "compare_pytorch: repeat $i/$repeats: pfedhn bench" >&2
  run "pfedhn bench" "$tmp/pfedhn.$i.json" \
    "$bin" bench --config "$config" "${tool_args[@]}" --json "${overrides[@]}"
  echo "compare_pytorch: repeat $i/$repeats: bench_pytorch.py" >&2
  run "bench_pytorch.py" "$tmp/pytorch.$i.json" \
    "$python" "$repo/scripts/bench_pytorch.py" --config "$config" "${tool_args[@]}" --json "${overrides[@]}"
done

"$python" - "$tmp" "$repeats" <<'EOF'
import json, statistics, sys

tmp, repeats = sys.argv[1], int(sys.argv[2])

def load(tool, i):
    path = f"{tmp}/{tool}.{i}.json"
    text = open(path).read().strip()
    try:
        return json.loads(text)
    except ValueError:  # tolerate lines before the JSON object
        lines = [l for l in text.splitlines() if l.strip()]
        try:
            return json.loads(lines[-1])
        except (ValueError, IndexError):
            sys.exit(f"compare_pytorch: {tool} run {i} printed no JSON object")

runs = {t: [load(t, i) for i in range(1, repeats + 1)] for t in ("pfedhn", "pytorch")}
first_pf, first_pt = runs["pfedhn"][0], runs["pytorch"][0]
for key in ("dataset", "variant", "threads", "num_nodes", "inner_steps", "batch_size",
            "eval_batch_size", "rounds", "target_parameters", "evaluations_config"):
    if first_pf.get(key) != first_pt.get(key):
        print(f"compare_pytorch: warning: {key} differs: pfedhn {first_pf.get(key)}, "
              f"pytorch {first_pt.get(key)}", file=sys.stderr)

print(f"config: {first_pf.get('dataset')}, {first_pf.get('variant')}, "
      f"{first_pf.get('num_nodes')} clients, {first_pf.get('threads')} thread(s), "
      f"{first_pf.get('rounds')} timed rounds, {repeats} repeat(s) per tool")
print()
print(f"{'ratio pytorch / pfedhn':<28}{'median':>10}{'min':>10}{'max':>10}")
for label, key in (("time per round", "s_per_round"), ("time per evaluation", "s_per_eval")):
    pairs = list(zip(runs["pfedhn"], runs["pytorch"]))
    if any(pf[key] <= 0 for pf, _ in pairs):
        print(f"{label:<28}{'n/a':>10}")
        continue
    ratios = [pt[key] / pf[key] for pf, pt in pairs]
    print(f"{label:<28}{statistics.median(ratios):>9.2f}x{min(ratios):>9.2f}x{max(ratios):>9.2f}x")
print()
print(f"{'median of ' + str(repeats):<28}{'pfedhn':>12}{'pytorch':>12}")
for label, key, fmt in (("ms per inner step", "ms_per_inner_step", "{:.2f}"),
                        ("s per round", "s_per_round", "{:.4f}"),
                        ("  hypernetwork forward", "s_generate", "{:.4f}"),
                        ("  local training", "s_local", "{:.4f}"),
                        ("  hypernetwork bwd+step", "s_server", "{:.4f}"),
                        ("s per full evaluation", "s_per_eval", "{:.3f}"),
                        ("projected run (s)", "projected_s", "{:.0f}"),
                        ("peak RSS (MB)", "peak_rss_mb", "{:.0f}")):
    med = [fmt.format(statistics.median(r[key] for r in runs[t])) for t in ("pfedhn", "pytorch")]
    print(f"{label:<28}{med[0]:>12}{med[1]:>12}")
EOF

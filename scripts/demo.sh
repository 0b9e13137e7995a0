#!/usr/bin/env bash
# Set up and run the all-in-one Overcast cloud on this machine (Debian 12, root), then boot a
# demo server from the tiny guest image with the real `openstack` CLI.
#   scripts/demo.sh            (idempotent: re-running reuses the cloud, image, flavor and server)
# Environment: OVERCAST_DATA_DIR (default /var/lib/overcast/demo), OVERCAST_GUEST_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-host-deps.sh
bash scripts/start-host-services.sh

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[clients]' $(for p in plugins/*/pyproject.toml; do printf -- '-e %s ' "${p%/pyproject.toml}"; done)
export PATH="$PWD/.venv/bin:$PATH"

GUEST=${OVERCAST_GUEST_DIR:-/var/lib/overcast/tinyguest}
bash scripts/build-tiny-guest.sh "$GUEST" >/dev/null

DATA=${OVERCAST_DATA_DIR:-/var/lib/overcast/demo}
export OVERCAST_CONFIG="$DATA/overcast.toml"
if [ ! -f "$OVERCAST_CONFIG" ]; then
    overcast init --data-dir "$DATA"
fi
overcast config check
overcast down >/dev/null 2>&1 || true     # restart a cloud left by an earlier run
overcast up --detach

export OS_CLIENT_CONFIG_FILE="$DATA/clouds.yaml" OS_CLOUD=overcast
for i in $(seq 60); do openstack token issue -f value -c id >/dev/null 2>&1 && break; sleep 1; done

openstack image show tinyguest >/dev/null 2>&1 || \
    openstack image create --file "$GUEST/tinyguest.qcow2" --disk-format qcow2 --container-format bare tinyguest
openstack flavor show m1.tiny >/dev/null 2>&1 || \
    openstack flavor create --vcpus 1 --ram 256 --disk 1 m1.tiny
openstack server show demo >/dev/null 2>&1 || \
    openstack server create --flavor m1.tiny --image tinyguest --nic none --wait demo

echo "waiting for the guest's READY marker on its console..."
for i in $(seq 120); do
    if openstack console log show demo 2>/dev/null | grep -q TINYGUEST-READY; then break; fi
    sleep 1
done
openstack server list
openstack console log show demo | grep TINYGUEST- || true
overcast hosts list
cat <<EOM

Overcast is running. Use it with:
    export OS_CLIENT_CONFIG_FILE=$DATA/clouds.yaml OS_CLOUD=overcast PATH=$PWD/.venv/bin:\$PATH
    openstack server list
Stop it with: OVERCAST_CONFIG=$OVERCAST_CONFIG $PWD/.venv/bin/overcast down
EOM

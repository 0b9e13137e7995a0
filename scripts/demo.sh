#!/usr/bin/env bash
# Set up and run the all-in-one Overcast cloud on this machine (Debian 12, root), then boot a
# demo server from the tiny guest image with the real `openstack` CLI; then, if the Debian image
# is built (scripts/build-debian-image.sh), a Debian server with a key pair on a private network
# behind a router, with a floating IP on the `public` network `overcast init` made (br-ex),
# and print the ssh command that works.
#   scripts/demo.sh            (idempotent: re-running reuses the cloud, image, flavor and server)
# Environment: OVERCAST_DATA_DIR (default /var/lib/overcast/demo), OVERCAST_GUEST_DIR,
#   OVERCAST_DEBIAN_DIR (default /var/lib/overcast/debian), DEMO_DEBIAN=0 to skip Debian.
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

# --- a Debian guest you can ssh into (issue 17) -------------------------------------------
DEBIAN=${OVERCAST_DEBIAN_DIR:-/var/lib/overcast/debian}/debian-12.qcow2
SSH_HINT=""
if [ "${DEMO_DEBIAN:-1}" = 1 ] && [ -f "$DEBIAN" ] && openstack network show public >/dev/null 2>&1; then
    KEY="$DATA/demo-key"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N "" -f "$KEY"
    openstack keypair show demo-key >/dev/null 2>&1 || openstack keypair create --public-key "$KEY.pub" demo-key >/dev/null
    openstack image show debian-12 >/dev/null 2>&1 || \
        openstack image create --file "$DEBIAN" --disk-format qcow2 --container-format bare debian-12 >/dev/null
    openstack flavor show m1.small >/dev/null 2>&1 || openstack flavor create --vcpus 1 --ram 1024 --disk 4 m1.small >/dev/null
    openstack network show private >/dev/null 2>&1 || openstack network create private >/dev/null
    openstack subnet show private-subnet >/dev/null 2>&1 || \
        openstack subnet create --network private --subnet-range 10.0.0.0/24 private-subnet >/dev/null
    if ! openstack router show router1 >/dev/null 2>&1; then
        openstack router create router1 >/dev/null
        openstack router set --external-gateway public router1
        openstack router add subnet router1 private-subnet
    fi
    openstack security group rule list default -f value -c "Port Range" | grep -q '^22:22$' || \
        openstack security group rule create --protocol tcp --dst-port 22 default >/dev/null
    if ! openstack server show debian >/dev/null 2>&1; then
        started=$(date +%s)
        openstack server create --flavor m1.small --image debian-12 --key-name demo-key --network private --wait debian >/dev/null
        echo "debian: ACTIVE after $(( $(date +%s) - started )) s"
    fi
    FIP=$(openstack floating ip list --port "$(openstack port list --server debian -f value -c ID | head -1)" -f value -c "Floating IP Address" | head -1)
    if [ -z "$FIP" ]; then
        FIP=$(openstack floating ip create public -f value -c floating_ip_address)
        openstack server add floating ip debian "$FIP"
    fi
    SSH="ssh -i $KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null debian@$FIP"
    echo "waiting for ssh on $FIP (a Debian boot under TCG takes a minute or two)..."
    for i in $(seq 120); do
        if $SSH -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR hostname 2>/dev/null; then
            SSH_HINT="    $SSH"
            break
        fi
        sleep 5
    done
    [ -n "$SSH_HINT" ] || echo "ssh did not answer yet; see: openstack console log show debian"
fi
cat <<EOM

Overcast is running. Use it with:
    export OS_CLIENT_CONFIG_FILE=$DATA/clouds.yaml OS_CLOUD=overcast PATH=$PWD/.venv/bin:\$PATH
    openstack server list
${SSH_HINT:+The Debian server answers ssh:
$SSH_HINT
}Stop it with: OVERCAST_CONFIG=$OVERCAST_CONFIG $PWD/.venv/bin/overcast down
EOM

#!/usr/bin/env bash
# OpenStack conformance with Tempest against a throwaway Overcast cloud (Debian 12, root).
#   bash scripts/conformance.sh [interop|api] [extra `tempest run` args...]
#     interop  the 273 required tests of the OpenStack Powered Platform interop guideline 2020.06
#              (os_powered_compute + os_powered_storage), selected by idempotent id from
#              conformance/interop-2020.06-platform.tsv
#     api      all of tempest.api for identity, compute, image, network, volume and object storage
# Prints a table per service (run, passed, failed, skipped) with each failure's test id and the
# first line of its error; exits non-zero if any test failed.
# Idempotent: the Tempest venv (.conformance/venv) is reused; the cloud is made fresh each run and
# torn down at the end (`overcast down`, its servers, routers and networks deleted first).
# Environment: TEMPEST_VERSION (default 47.0.0), CONFORMANCE_CONCURRENCY (default 2),
#   OVERCAST_GUEST_DIR (default /var/lib/overcast/tinyguest), CONFORMANCE_KEEP=1 keeps the data dir.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELECTION=${1:-interop}
shift || true
case "$SELECTION" in interop|api) ;; *) echo "usage: $0 [interop|api] [tempest run args...]" >&2; exit 2 ;; esac

# --- the host and Overcast itself (as scripts/test.sh does) ------------------------------------
bash scripts/install-host-deps.sh
bash scripts/start-host-services.sh
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e '.[test,clients]' $(for p in plugins/*/pyproject.toml; do printf -- '-e %s ' "${p%/pyproject.toml}"; done)
GUEST=${OVERCAST_GUEST_DIR:-/var/lib/overcast/tinyguest}
bash scripts/build-tiny-guest.sh "$GUEST" >/dev/null
OC=$ROOT/.venv/bin/overcast
OCPY=$ROOT/.venv/bin/python

# --- Tempest from PyPI, in its own venv (its pins conflict with the clients') ------------------
TEMPEST_VERSION=${TEMPEST_VERSION:-47.0.0}
TV=$ROOT/.conformance/venv
[ -x "$TV/bin/python" ] || "$PY" -m venv "$TV"
if ! "$TV/bin/python" -m pip show tempest 2>/dev/null | grep -qx "Version: $TEMPEST_VERSION"; then
    "$TV/bin/python" -m pip install -q "tempest==$TEMPEST_VERSION"
fi
WORK=$ROOT/.conformance/workspace
# the workspace is registered in this checkout's own registry: the default one (~/.tempest) is
# shared by every checkout, and `tempest init` refuses a second workspace of the same name
if [ ! -f "$WORK/.stestr.conf" ]; then
    rm -rf "$WORK"
    "$TV/bin/tempest" init --workspace-path "$ROOT/.conformance/workspaces.yaml" "$WORK" >/dev/null
fi

# --- the selection --------------------------------------------------------------------------
LIST=$WORK/selection.txt
if [ "$SELECTION" = interop ]; then
    # one idempotent id per line: stestr matches each line as a regex against the test ids,
    # which carry "[id-<uuid>,...]"
    awk -F'\t' '!/^#/ && $3 == "required" { print $1 }' conformance/interop-2020.06-platform.tsv | sort -u > "$LIST"
    SELECT=(--include-list "$LIST")
    IDS=("$LIST")
else
    SELECT=(--regex '^tempest\.api\.(identity|compute|image|network|volume|object_storage)\.')
    IDS=()
fi

# --- the cloud's lifetime, under the machine lock (it creates bridges and namespaces) -------------
LOCK=${OVERCAST_MACHINE_LOCK:-/run/lock/overcast-machine-tests.lock}
exec 9>"$LOCK"
echo "waiting for the machine lock $LOCK ..."
flock 9

DATA=$(mktemp -d /var/tmp/oc-conformance-XXXXXX)
chmod 755 "$DATA"            # QEMU (libvirt-qemu) traverses it to the instances and image cache
PORT=$("$OCPY" -c 'import socket
for _ in range(50):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()')     # the API's port and the next one (the Swift workers')
PASSWORD=$("$OCPY" -c 'from overcast.passwords import new_password; print(new_password())')  # never a leading '-' (argparse would take it for an option)
URL=http://127.0.0.1:$PORT
export OVERCAST_CONFIG=$DATA/overcast.toml

teardown() {
    local rc=$?
    set +e
    if [ -f "$DATA/overcast.pid" ]; then
        "$OCPY" -m overcast.testing.conformance cleanup --url "$URL" --password "$PASSWORD"
        "$OC" down
    fi
    cp -f "$DATA/overcast.log" "$WORK/overcast.log" 2>/dev/null   # the cloud's side of the run
    if [ "${CONFORMANCE_KEEP:-0}" = 1 ]; then echo "kept $DATA"; else rm -rf "$DATA"; fi
    exit $rc
}
trap teardown EXIT

"$OC" init --data-dir "$DATA" --port "$PORT" --admin-password "$PASSWORD" >/dev/null
"$OCPY" -m overcast.testing.conformance cloud-config --config "$OVERCAST_CONFIG"
"$OC" config check
"$OC" up --detach
"$OCPY" -m overcast.testing.conformance prepare --url "$URL" --password "$PASSWORD" --guest "$GUEST" \
    --out "$WORK/etc/tempest.conf"

START=$(date +%s)
set +e
(cd "$WORK" && "$TV/bin/tempest" run --concurrency "${CONFORMANCE_CONCURRENCY:-2}" "${SELECT[@]}" "$@" >"$WORK/run.log" 2>&1)
RUN_RC=$?
set -e
ELAPSED=$(( $(date +%s) - START ))

echo
echo "Tempest $TEMPEST_VERSION, selection '$SELECTION', $(( ELAPSED / 60 )) min $(( ELAPSED % 60 )) s (log: $WORK/run.log, $WORK/tempest.log, the cloud's: $WORK/overcast.log)"
(cd "$WORK" && "$TV/bin/stestr" last --subunit) | "$TV/bin/python" core/overcast/testing/tempest_results.py "${IDS[@]}" \
    | tee "$WORK/table-$SELECTION.txt"
exit $RUN_RC

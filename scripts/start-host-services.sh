#!/bin/bash
# start-host-services.sh -- bring up the host services Overcast's real backends use,
# on machines without systemd or udev (containers, microVMs, CI runners).
#
# Idempotent: each service is started only if it does not already answer.
#   * /dev/kvm -> root:kvm 0660, /dev/net/tun -> 0666 (what udev would have done).
#     Without the /dev/kvm fix, libvirtd re-probes QEMU on *every* defineXML (31-40 s each).
#   * virtlogd + libvirtd (daemonized, pid files in /run), then waits until
#     `virsh -c qemu:///system version` answers (a cold first start takes ~10 s while
#     libvirt probes QEMU's capabilities).
#   * PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672 (installed from Debian
#     packages if absent).
#
#   usage: scripts/start-host-services.sh [--no-libvirt] [--no-postgres] [--no-rabbitmq]
#   env:   LIBVIRT_WAIT=120  seconds to wait for libvirtd;  SERVICE_WAIT=60 for the others
set -euo pipefail

DO_LIBVIRT=1 DO_PG=1 DO_RABBIT=1
for a in "$@"; do
    case "$a" in
        --no-libvirt) DO_LIBVIRT=0 ;;
        --no-postgres) DO_PG=0 ;;
        --no-rabbitmq) DO_RABBIT=0 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "start-host-services: unknown argument $a" >&2; exit 2 ;;
    esac
done
LIBVIRT_WAIT=${LIBVIRT_WAIT:-120}
SERVICE_WAIT=${SERVICE_WAIT:-60}
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
    echo "start-host-services: must run as root" >&2
    exit 1
fi

# Serialise concurrent runs (several test sessions may call this at once).
# Daemons started below get `9>&-` so that they do not inherit (and hold) the lock.
exec 9>/run/overcast-start-host-services.lock
flock 9

log() { echo "start-host-services: $*"; }

# tcp_open HOST PORT: true if something accepts a TCP connection there.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# pid_alive PIDFILE: true if the pid file names a live process.  A zombie does not count:
# without systemd, PID 1 reaps lazily and a dead daemon lingers as <defunct>.
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# apt_install PKG...: install missing packages, retrying on the dpkg lock.
apt_install() {
    local need=() p i
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing ${need[*]}"
    for i in $(seq 1 60); do
        apt-get -o DPkg::Lock::Timeout=60 update -q && \
            apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends "${need[@]}" && return 0
        echo "start-host-services: apt-get failed (lock?), retry $i" >&2; sleep 5
    done
    return 1
}

# --- device nodes --------------------------------------------------------------------
fix_devices() {
    if [ -e /dev/kvm ]; then
        if getent group kvm >/dev/null; then
            chgrp kvm /dev/kvm
            chmod 0660 /dev/kvm
        else
            # no kvm group yet (libvirt not installed); libvirt-daemon-system creates it
            log "group kvm missing; leaving /dev/kvm as is"
        fi
    fi
    if [ ! -e /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod /dev/net/tun c 10 200
    fi
    chmod 0666 /dev/net/tun
}

# --- libvirt -------------------------------------------------------------------------
virsh_ok() { timeout 20 virsh -c qemu:///system version >/dev/null 2>&1; }

start_libvirt() {
    command -v libvirtd >/dev/null || apt_install libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
    if ! pid_alive /run/virtlogd.pid; then
        log "starting virtlogd"
        virtlogd -d 9>&- </dev/null
    fi
    if virsh_ok; then
        log "libvirtd already answering"
        return 0
    fi
    if ! pid_alive /run/libvirtd.pid; then
        log "starting libvirtd"
        libvirtd -d 9>&- </dev/null
    else
        log "libvirtd (pid $(cat /run/libvirtd.pid)) running but not answering yet; waiting"
    fi
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$LIBVIRT_WAIT" ]; do
        if virsh_ok; then
            log "libvirtd answers after $((SECONDS - t0)) s"
            return 0
        fi
        sleep 0.3
    done
    echo "start-host-services: libvirtd did not answer within ${LIBVIRT_WAIT} s" >&2
    return 1
}

# --- PostgreSQL ----------------------------------------------------------------------
start_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "postgresql already answering on 127.0.0.1:5432"
        return 0
    fi
    [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || apt_install postgresql
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    log "starting postgresql $ver/main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start 9>&- </dev/null || true
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$SERVICE_WAIT" ]; do
        pg_isready -q -h 127.0.0.1 -p 5432 && { log "postgresql up"; return 0; }
        sleep 0.5
    done
    echo "start-host-services: postgresql did not answer within ${SERVICE_WAIT} s" >&2
    return 1
}

# --- RabbitMQ ------------------------------------------------------------------------
start_rabbitmq() {
    if tcp_open 127.0.0.1 5672; then
        log "rabbitmq already answering on 127.0.0.1:5672"
        return 0
    fi
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    log "starting rabbitmq-server"
    mkdir -p /var/log/rabbitmq
    # -detached leaves the Erlang VM attached to our stdout; send it to a log instead
    rabbitmq-server -detached 9>&- </dev/null >>/var/log/rabbitmq/overcast-start.log 2>&1 || true
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$SERVICE_WAIT" ]; do
        tcp_open 127.0.0.1 5672 && { log "rabbitmq up"; return 0; }
        sleep 0.5
    done
    echo "start-host-services: rabbitmq did not answer within ${SERVICE_WAIT} s" >&2
    return 1
}

rc=0
fix_devices
[ "$DO_LIBVIRT" = 1 ] && { start_libvirt || rc=1; }
[ "$DO_PG" = 1 ] && { start_postgres || rc=1; }
[ "$DO_RABBIT" = 1 ] && { start_rabbitmq || rc=1; }
exit $rc

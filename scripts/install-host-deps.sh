#!/bin/bash
# install-host-deps.sh -- install the Debian packages Overcast's real backends need.
#
# Idempotent: packages already installed are skipped, and `apt-get update` runs only
# when something is missing.  Safe to run while other engineers/CI jobs use apt: it
# retries while another apt/dpkg process holds the lock.
#
#   usage: scripts/install-host-deps.sh [--print]     (--print: list missing packages, install nothing)
#   env:   EXTRA_PACKAGES="pkg1 pkg2"   more packages to install
#          APT_LOCK_RETRIES=60          attempts (5 s apart) while the dpkg lock is held
set -euo pipefail

PACKAGES=(
    # hypervisor: QEMU (TCG/KVM) + libvirt monolithic daemon
    qemu-system-x86 qemu-utils
    libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
    # building libvirt-python from its sdist (PyPI ships no wheel)
    libvirt-dev pkg-config gcc python3-dev python3-venv
    # storage backends
    lvm2 thin-provisioning-tools xfsprogs btrfs-progs
    # networking backends
    dnsmasq-base iproute2 iptables bridge-utils
    # load balancing (plugins/lb_haproxy)
    haproxy
    # the tiny test guest (scripts/build-tiny-guest.sh)
    busybox-static cpio syslinux syslinux-common mtools dosfstools
    # issue 17: the metadata proxies (haproxy, as Neutron uses), the Debian cloud image
    # (scripts/build-debian-image.sh; SYSLINUX, mtools are above), ssh, noVNC (the VNC console)
    haproxy mmdebstrap fdisk openssh-client curl novnc
)
# shellcheck disable=SC2206
[ -n "${EXTRA_PACKAGES:-}" ] && PACKAGES+=(${EXTRA_PACKAGES})

export DEBIAN_FRONTEND=noninteractive
RETRIES=${APT_LOCK_RETRIES:-60}

if [ "$(id -u)" != 0 ]; then
    echo "install-host-deps.sh: must run as root" >&2
    exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
    # "install ok installed" only: a package left half-configured or removed counts as missing
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-host-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi
echo "install-host-deps: missing: ${missing[*]}"
[ "${1:-}" = "--print" ] && exit 0

# Run an apt command, retrying while another process holds the dpkg/apt lock.
# Other failures are retried too (a transient mirror error looks the same to us) but
# the last attempt's exit status is returned.
apt_retry() {
    local i rc=0
    for i in $(seq 1 "$RETRIES"); do
        if "$@"; then return 0; else rc=$?; fi
        echo "install-host-deps: '$*' failed (rc=$rc; dpkg lock held?), retry $i/$RETRIES in 5 s" >&2
        sleep 5
    done
    return "$rc"
}

apt_retry apt-get -o DPkg::Lock::Timeout=60 update -q
apt_retry apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends "${missing[@]}"

# verify
still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || still+=("$p")
done
if [ ${#still[@]} -gt 0 ]; then
    echo "install-host-deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "install-host-deps: installed ${#missing[@]} packages"

#!/bin/bash
# build-debian-image.sh -- a Debian 12 (bookworm) cloud image from Debian's packages only.
#
#   usage: scripts/build-debian-image.sh [OUTDIR]
#          OUTDIR defaults to ${OVERCAST_DEBIAN_DIR:-/var/lib/overcast/debian}
#   env:   SIZE_MB=2048     the disk's virtual size (cloud-init grows the root partition
#                           and filesystem to the flavor's disk at first boot)
#          MIRROR=...       the Debian mirror (default: the host's apt sources)
#          FORCE=1          rebuild even if OUTDIR is up to date
#
# Outputs (OUTDIR 0755, files 0644):
#   debian-12.qcow2   BIOS-bootable disk: MBR (SYSLINUX's mbr.bin), partition 1 FAT16 with
#                     SYSLINUX + the image's own kernel and initramfs, partition 2 ext4 root
#                     (label debian-root) made with `mkfs.ext4 -d` from the tree mmdebstrap built
#   SHA256SUMS, build.stamp (recipe version + kernel version; rebuilt only when it changes),
#   build.log (the last build's timings)
#
# What is in it: Debian's packages only -- linux-image-cloud-amd64, systemd, cloud-init,
# openssh-server, ifupdown + isc-dhcp-client, cloud-guest-utils (growpart), sudo, curl.
# Nothing Overcast-specific: cloud-init finds the cloud through its standard datasources
# (ConfigDrive: a filesystem labelled config-2; OpenStack: SMBIOS product "OpenStack Nova"
# and http://169.254.169.254/), creates the user "debian" with the instance's key pair,
# sets the hostname, runs user data. No SSH host keys, no machine-id are baked in.
#
# No loop device, no device-mapper, no mount: the filesystems are built as files (mkfs.ext4
# -d, mkfs.vfat + mtools + `syslinux --install` on the image file) and copied into the
# partitions' offsets of the raw disk with dd. Under TCG (this project's hosts) the guest
# reaches its login prompt in ~30-60 s.
set -euo pipefail

RECIPE_VERSION=2
OUT=${1:-${OVERCAST_DEBIAN_DIR:-/var/lib/overcast/debian}}
SIZE_MB=${SIZE_MB:-2048}
BOOT_MB=128
FORCE=${FORCE:-0}
PACKAGES=linux-image-cloud-amd64,systemd-sysv,udev,cloud-init,openssh-server,ifupdown,isc-dhcp-client
PACKAGES=$PACKAGES,cloud-guest-utils,e2fsprogs,sudo,curl,ca-certificates,netbase,iproute2,less,procps,locales
export DEBIAN_FRONTEND=noninteractive

log() { echo "build-debian-image: $*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap builds the tree as root)"

need=()
for p in mmdebstrap syslinux syslinux-common mtools dosfstools qemu-utils e2fsprogs fdisk; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

KVER=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*\)/\1/p' | head -1)
[ -n "$KVER" ] || die "cannot resolve linux-image-cloud-amd64 with apt-cache"
STAMP="debian-12 recipe=$RECIPE_VERSION kernel=$KVER size=$SIZE_MB"
if [ "$FORCE" != 1 ] && [ -s "$OUT/debian-12.qcow2" ] && [ "$(cat "$OUT/build.stamp" 2>/dev/null)" = "$STAMP" ]; then
    log "up to date: $OUT/debian-12.qcow2 ($STAMP)"
    exit 0
fi

mkdir -p "$OUT"
chmod 0755 "$OUT"
WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
lap() { printf '%-28s %6s s\n' "$1" "$(elapsed)" | tee -a "$WORK/build.log" >&2; }

# ---- 1. the root tree ---------------------------------------------------------------
ROOT=$WORK/root
mmdebstrap --variant=apt --components=main --include="$PACKAGES" \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*_key "$1"/etc/ssh/ssh_host_*_key.pub' \
    --customize-hook='truncate -s 0 "$1"/etc/machine-id; rm -f "$1"/var/lib/dbus/machine-id' \
    --customize-hook='echo localhost > "$1"/etc/hostname' \
    --customize-hook='echo "en_US.UTF-8 UTF-8" > "$1"/etc/locale.gen; chroot "$1" locale-gen >/dev/null' \
    --customize-hook='echo LANG=en_US.UTF-8 > "$1"/etc/default/locale' \
    --customize-hook='printf "LABEL=debian-root / ext4 defaults,errors=remount-ro 0 1\n" > "$1"/etc/fstab' \
    --customize-hook='printf "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n" > "$1"/etc/network/interfaces' \
    --customize-hook='printf "datasource_list: [ ConfigDrive, OpenStack, None ]\n" > "$1"/etc/cloud/cloud.cfg.d/90_datasources.cfg' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$ROOT" ${MIRROR:+"$MIRROR"} >"$WORK/mmdebstrap.log" 2>&1 \
    || { tail -30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
lap "mmdebstrap"
VMLINUZ=$(ls "$ROOT"/boot/vmlinuz-* | head -1)
INITRD=$(ls "$ROOT"/boot/initrd.img-* | head -1)
[ -f "$VMLINUZ" ] && [ -f "$INITRD" ] || die "no kernel or initramfs in the tree"
grep -q '^  *name: debian' "$ROOT"/etc/cloud/cloud.cfg || log "warning: cloud.cfg's default user is not 'debian'"

# ---- 2. the boot partition: FAT16 + SYSLINUX + kernel + initramfs ----------------------
BOOT=$WORK/boot.img
mkfs.vfat -n DEBBOOT -C "$BOOT" $((BOOT_MB * 1024)) >/dev/null
cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT debian
PROMPT 0
TIMEOUT 1
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=LABEL=debian-root rw console=tty0 console=ttyS0,115200n8
EOF
mcopy -i "$BOOT" "$VMLINUZ" ::/vmlinuz
mcopy -i "$BOOT" "$INITRD" ::/initrd.img
mcopy -i "$BOOT" "$WORK/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$BOOT"
lap "boot filesystem"

# ---- 3. the root filesystem, from the tree (no mount) ----------------------------------
ROOT_MB=$((SIZE_MB - BOOT_MB - 1))
ROOTFS=$WORK/root.img
mkfs.ext4 -q -F -L debian-root -d "$ROOT" "$ROOTFS" "${ROOT_MB}M"
lap "mkfs.ext4 -d"

# ---- 4. the disk: MBR + two partitions at their offsets --------------------------------
DISK=$WORK/disk.raw
truncate -s "${SIZE_MB}M" "$DISK"
sfdisk -q "$DISK" <<EOF
label: dos
start=2048, size=$((BOOT_MB * 2048)), type=6, bootable
start=$((2048 + BOOT_MB * 2048)), type=83
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$BOOT" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$ROOTFS" of="$DISK" bs=1M seek=$((1 + BOOT_MB)) conv=notrunc,sparse status=none
lap "disk assembled"
qemu-img convert -f raw -O qcow2 "$DISK" "$WORK/debian-12.qcow2"
lap "qcow2"

chmod 0644 "$WORK/debian-12.qcow2"
(cd "$WORK" && sha256sum debian-12.qcow2) >"$WORK/SHA256SUMS"
rm -f "$OUT/build.stamp"
mv -f "$WORK/debian-12.qcow2" "$WORK/SHA256SUMS" "$WORK/build.log" "$OUT/"
chmod 0644 "$OUT/SHA256SUMS" "$OUT/build.log"
echo "$STAMP" >"$OUT/build.stamp.tmp" && mv -f "$OUT/build.stamp.tmp" "$OUT/build.stamp"
log "built $OUT/debian-12.qcow2 ($(du -h "$OUT/debian-12.qcow2" | cut -f1) on disk) in $(elapsed) s"

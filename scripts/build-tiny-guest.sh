#!/bin/bash
# build-tiny-guest.sh -- build Overcast's tiny test guest from Debian packages only.
#
#   usage: scripts/build-tiny-guest.sh [OUTDIR]
#          OUTDIR defaults to ${OVERCAST_GUEST_DIR:-/var/lib/overcast/tinyguest}
#   env:   FLAVOUR=cloud-amd64   kernel flavour (linux-image-$FLAVOUR meta-package), or amd64
#          DISK_IMAGE=1          also build the bootable disk images (0: kernel + initrd only)
#          FORCE=1               rebuild even if OUTDIR is up to date
#
# Outputs (all world-readable, OUTDIR 0755 so libvirt's qemu user can reach them):
#   vmlinuz          Debian kernel, extracted from its .deb (never installed on the host)
#   initrd.img       gzip'd cpio: busybox-static + /init + the virtio/ACPI modules
#   kernel.version   e.g. 6.1.0-56-cloud-amd64
#   tinyguest.qcow2  BIOS-bootable disk: FAT16 "superfloppy" + SYSLINUX + kernel + initrd,
#   tinyguest.raw    kernel command line "console=ttyS0 quiet" baked in (a Glance-style image)
#   SHA256SUMS       checksums of the above
#   build.stamp      kernel version + recipe version; a rebuild happens only if it changes
#
# Guest behaviour (serial console ttyS0; boot it with TCG -- see below):
#   TINYGUEST-BOOTED uptime=<s>                       /init started
#   TINYGUEST-DISK <vdX> <bytes> serial=<serial>      one per virtio disk present at boot
#   TINYGUEST-DHCP eth0 <ip>/<prefix> router=<gw>     (or TINYGUEST-NODHCP / TINYGUEST-STATIC)
#   TINYGUEST-CONFIGDRIVE uuid=<uuid>                 a vfat disk with serial config-2 (Nova's
#                                                     config drive) was mounted; if its
#                                                     openstack/latest/user_data starts with #!,
#                                                     it runs (busybox sh, in the background)
#   TINYGUEST-USERDATA <line>                         each line the user-data script prints
#   TINYGUEST-CONFIGDRIVE-FAIL <error>                the config drive did not mount
#   TINYGUEST-READY host=<name> ip=<ip|none> uptime=<s>
#   TINYGUEST-SSH keys=<n> host=<name>               dropbear listens on port 22 for root with the
#                                                     server's key pair (from the config drive's
#                                                     meta_data.json, else the metadata service at
#                                                     169.254.169.254, which also names the host)
#   TINYGUEST-DISK-ADDED <vdX> <bytes> serial=<s>, TINYGUEST-DISK-REMOVED <vdX>,
#   TINYGUEST-DISK-RESIZED <vdX> <bytes>              (online extend: the disk's size changed)
#   TINYGUEST-NIC-ADDED <ethN>                        hot-plug, polled once a second; then
#                                                     the new NIC runs DHCP: TINYGUEST-DHCP
#                                                     <ethN> <ip>/<prefix> router=<gw> (or
#                                                     TINYGUEST-NODHCP <ethN>)
#   TINYGUEST-NIC-REMOVED <ethN>                      hot-unplug
#   TINYGUEST-ACPI-POWEROFF                           ACPI power button -> poweroff
#   With a NIC it serves "tinyguest <hostname> <ip>" on http://<ip>:80/ (busybox httpd).
# Kernel arguments: tinyguest.halt=1 (power off after READY), tinyguest.ip=A.B.C.D/NN[,GW],
#   tinyguest.hostname=NAME, tinyguest.shell=1 (shell on the console, for a pty console).
#
# Debian kernels do not boot under this project's PVM-based /dev/kvm: use TCG
# (`qemu-system-x86_64 -accel tcg`, libvirt <domain type='qemu'>).
set -euo pipefail

# Bump when the initramfs/disk recipe changes, so existing outputs get rebuilt.
RECIPE_VERSION=10

OUT=${1:-${OVERCAST_GUEST_DIR:-/var/lib/overcast/tinyguest}}
FLAVOUR=${FLAVOUR:-cloud-amd64}
DISK_IMAGE=${DISK_IMAGE:-1}
FORCE=${FORCE:-0}
export DEBIAN_FRONTEND=noninteractive

log() { echo "build-tiny-guest: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- host tools --------------------------------------------------------------------
PKGS="busybox-static cpio gzip"
[ "$DISK_IMAGE" = 1 ] && PKGS="$PKGS syslinux syslinux-common mtools dosfstools qemu-utils"
need=()
for p in $PKGS; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${need[*]} (run scripts/install-host-deps.sh as root)"
    log "installing ${need[*]}"
    ok=0
    for i in $(seq 1 60); do
        if apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends "${need[@]}" >&2 \
           || { apt-get -o DPkg::Lock::Timeout=60 update -q >&2 && \
                apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends "${need[@]}" >&2; }; then
            ok=1; break
        fi
        log "apt-get failed (dpkg lock?), retry $i"; sleep 5
    done
    [ "$ok" = 1 ] || die "could not install ${need[*]}"
fi

# ---- which kernel ------------------------------------------------------------------
resolve_kpkg() {
    apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
KPKG=$(resolve_kpkg || true)
if [ -z "$KPKG" ] && [ -s "$OUT/build.stamp" ] && [ "$FORCE" != 1 ]; then
    # No apt metadata (offline, or lists cleaned): keep what we have rather than fail.
    log "cannot resolve linux-image-$FLAVOUR; reusing existing $OUT"
    exit 0
fi
if [ -z "$KPKG" ]; then
    [ "$(id -u)" = 0 ] && apt-get -o DPkg::Lock::Timeout=60 update -q >&2 || true
    KPKG=$(resolve_kpkg || true)
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-$FLAVOUR with apt-cache"
KVER=${KPKG#linux-image-}
STAMP="kernel=$KVER flavour=$FLAVOUR recipe=$RECIPE_VERSION disk=$DISK_IMAGE"

outputs_ok() {
    local f
    [ "$(cat "$OUT/build.stamp" 2>/dev/null)" = "$STAMP" ] || return 1
    for f in vmlinuz initrd.img kernel.version SHA256SUMS; do [ -s "$OUT/$f" ] || return 1; done
    if [ "$DISK_IMAGE" = 1 ]; then
        for f in tinyguest.qcow2 tinyguest.raw; do [ -s "$OUT/$f" ] || return 1; done
    fi
}

mkdir -p "$OUT"
chmod 0755 "$OUT"
# One builder at a time per OUTDIR (parallel test sessions); the loser then finds it done.
exec 8>>"$OUT/.build.lock"   # >> : opening does not touch the file
flock 8
if [ "$FORCE" != 1 ] && outputs_ok; then
    log "up to date in $OUT ($KVER)"
    echo "$OUT"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/overcast-tinyguest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "building $KVER into $OUT"

# ---- kernel: fetch the .deb with apt (no install) and unpack it ------------------------
# `apt-get download` as root into a root-only dir warns about sandboxing; make it 0777.
chmod 0777 "$WORK"
( cd "$WORK" && apt-get download "$KPKG" >&2 ) || die "apt-get download $KPKG failed"
mkdir -p "$WORK/k"
dpkg-deb -x "$WORK/${KPKG}"_*.deb "$WORK/k"
MODDIR="$WORK/k/lib/modules/$KVER/kernel"
[ -f "$WORK/k/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in $KPKG"

# ---- initramfs tree ------------------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,www,lib/modules,etc/acpi/PWRF,usr/bin,usr/sbin}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"

# dropbear (an SSH server, for Tempest's instance validation and users' key pairs): the
# binary from its .deb with the shared libraries it links, found with ldd
( cd "$WORK" && apt-get download dropbear-bin libtomcrypt1 libtommath1 >&2 ) || die "apt-get download dropbear-bin failed"
mkdir -p "$WORK/db" "$R/usr/sbin" "$R/etc/dropbear" "$R/root/.ssh" "$R/lib64" "$R/lib/x86_64-linux-gnu"
for deb in "$WORK"/dropbear-bin_*.deb "$WORK"/libtomcrypt1_*.deb "$WORK"/libtommath1_*.deb; do dpkg-deb -x "$deb" "$WORK/db"; done
cp "$WORK/db/usr/sbin/dropbear" "$R/usr/sbin/dropbear"
LD_LIBRARY_PATH="$WORK/db/usr/lib/x86_64-linux-gnu" ldd "$WORK/db/usr/sbin/dropbear" \
    | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
        case "$lib" in
            /lib64/*) cp -L "$lib" "$R/lib64/" ;;
            *) cp -L "$lib" "$R/lib/x86_64-linux-gnu/" ;;
        esac
    done
[ -e "$R/lib64/ld-linux-x86-64.so.2" ] || die "dropbear's loader was not copied"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
printf '/bin/sh\n' > "$R/etc/shells"
chmod 0700 "$R/root" "$R/root/.ssh"

# lsblk for the checks that list a guest's disks over SSH (Tempest runs `lsblk -lb --nodeps`):
# busybox has none, so this prints its table for the virtio disks from /sys/block
cat > "$R/usr/sbin/lsblk" <<'LSBLK'
#!/bin/sh
# columns aligned as lsblk aligns them (Tempest reads TYPE by its column)
F="%-7s %-7s %2s %14s %2s %-4s %s\n"
printf "$F" NAME MAJ:MIN RM SIZE RO TYPE MOUNTPOINT
for d in /sys/block/vd*; do
  [ -e "$d" ] || continue
  printf "$F" "${d##*/}" "$(cat $d/dev)" "$(cat $d/removable)" "$(( $(cat $d/size) * 512 ))" "$(cat $d/ro)" disk ""
done
LSBLK
chmod 755 "$R/usr/sbin/lsblk"

# Modules and their dependencies in load order.  Debian 6.1 ships uncompressed .ko files;
# dependencies come from each module's .modinfo "depends=" string, so no kmod is needed.
# (virtio_ring must precede virtio, etc. -- a wrong order gives "Unknown symbol" and no eth0.)
# vfat + code pages: the config drive (a vfat disk labelled config-2).
WANT="virtio_pci virtio_net virtio_blk virtio_console virtio-rng button evdev vfat nls_cp437 nls_iso8859-1 nls_utf8 nls_ascii"
declare -A MODPATH=() SEEN=()
while IFS= read -r f; do b=${f##*/}; MODPATH[${b%.ko}]=$f; done < <(find "$MODDIR" -name '*.ko')
: > "$R/lib/modules/order"
add_mod() {
    local m=$1 d deps f
    [ -n "${SEEN[$m]:-}" ] && return 0
    SEEN[$m]=1
    f=${MODPATH[$m]:-${MODPATH[${m//_/-}]:-${MODPATH[${m//-/_}]:-}}}
    [ -n "$f" ] || { log "module $m not found (built in?)"; return 0; }
    deps=$(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | head -1)
    for d in ${deps//,/ }; do add_mod "$d"; done
    cp "$f" "$R/lib/modules/"
    echo "${f##*/}" >> "$R/lib/modules/order"
}
for m in $WANT; do add_mod "$m"; done
grep -q '^virtio_net.ko$' "$R/lib/modules/order" || die "virtio_net.ko not found in $KPKG"

cat > "$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    # the first NIC owns the default route; a hot-plugged one only gets its subnet
    if [ -n "$router" ] && { [ "$interface" = eth0 ] || ! ip route | grep -q '^default'; }; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    set -- $staticroutes   # option 121: "dest/len gateway ..." (e.g. the metadata service's route)
    while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    echo "$ip" > /run/ip.$interface
    echo "TINYGUEST-DHCP $interface $ip/${mask:-24} router=${router:-none}" > /dev/console ;;
esac
exit 0
EOF
chmod 755 "$R/etc/udhcpc.script"

# busybox acpid runs /etc/acpi/<group>/<code> on an event: PWRF/00000080 = power button.
cat > "$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "TINYGUEST-ACPI-POWEROFF" > /dev/console
sync
poweroff -f
EOF
chmod 755 "$R/etc/acpi/PWRF/00000080"

cat > "$R/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
echo "TINYGUEST-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
CMDLINE=$(cat /proc/cmdline)
arg() { for w in $CMDLINE; do case "$w" in "$1"=*) echo "${w#*=}";; esac; done; }
for m in $(cat /lib/modules/order); do
  insmod /lib/modules/$m 2>/tmp/insmod.err || echo "TINYGUEST-INSMOD-FAIL $m $(cat /tmp/insmod.err)"
done
HN=$(arg tinyguest.hostname); hostname "${HN:-tinyguest}"
ip link set lo up
acpid -c /etc/acpi -l /tmp/acpid.log 2>/dev/null
sleep 0.2
disk_line() { echo "$1 $(( $(cat /sys/block/$1/size) * 512 )) serial=$(cat /sys/block/$1/serial 2>/dev/null)"; }
for d in /sys/block/vd*; do
  [ -e "$d" ] && echo "TINYGUEST-DISK $(disk_line ${d##*/})"
done
IP=""
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  STATIC=$(arg tinyguest.ip)
  if [ -n "$STATIC" ]; then
    ip addr add "${STATIC%%,*}" dev eth0
    case "$STATIC" in *,*) ip route add default via "${STATIC#*,}";; esac
    IP=${STATIC%%/*}; echo "TINYGUEST-STATIC eth0 ${STATIC}"
  elif udhcpc -i eth0 -s /etc/udhcpc.script -O staticroutes -n -q -t 10 -T 1 >/tmp/udhcpc.log 2>&1; then
    IP=$(cat /run/ip.eth0 2>/dev/null)
  else
    echo "TINYGUEST-NODHCP eth0"
    # keep asking in the background, as a cloud image's DHCP client does (a slow DHCP server
    # on a loaded host); the address is then reported by the script as TINYGUEST-DHCP
    ( udhcpc -i eth0 -s /etc/udhcpc.script -O staticroutes -f -t 0 -T 3 >/tmp/udhcpc.log 2>&1 ) &
  fi
  echo "tinyguest $(hostname) $IP" > /www/index.html
  httpd -p 80 -h /www
fi
# config drive: the virtio disk whose serial is config-2
for d in /sys/block/vd*; do
  [ "$(cat $d/serial 2>/dev/null)" = "config-2" ] || continue
  mkdir -p /mnt/config
  if mount -t vfat -o ro /dev/${d##*/} /mnt/config 2>/tmp/mount.err; then
    CD=/mnt/config/openstack/latest
    U=$(grep -o '"uuid": *"[^"]*"' $CD/meta_data.json 2>/dev/null | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
    echo "TINYGUEST-CONFIGDRIVE uuid=$U"
    if [ "$(head -c 2 $CD/user_data 2>/dev/null)" = "#!" ]; then
      cp $CD/user_data /tmp/user_data
      ( sh /tmp/user_data 2>&1 | while IFS= read -r l; do echo "TINYGUEST-USERDATA $l"; done ) &
    fi
  else
    echo "TINYGUEST-CONFIGDRIVE-FAIL $(cat /tmp/mount.err)"
  fi
  break
done
echo "TINYGUEST-READY host=$(hostname) ip=${IP:-none} uptime=$(cut -d' ' -f1 /proc/uptime)"
# SSH for the server's key pair: keys from the config drive, else from the metadata service
# (which also gives the host its name unless the kernel command line did), in the background
(
  K=/root/.ssh/authorized_keys
  CDMD=/mnt/config/openstack/latest/meta_data.json
  if [ -f $CDMD ]; then
    tr ',{}' '\n\n\n' < $CDMD | grep -oE '"(ssh-|ecdsa-)[^"]*"' | tr -d '"' > $K
    CDHN=$(grep -o '"hostname": *"[^"]*"' $CDMD | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
    [ -z "$HN" ] && [ -n "$CDHN" ] && HN=$CDHN && hostname "$HN"
  fi
  MD=http://169.254.169.254/latest/meta-data
  for i in $(seq 1 60); do [ -n "$IP" ] && break; sleep 2; IP=$(cat /run/ip.eth0 2>/dev/null); done
  if [ -n "$IP" ] && [ ! -s $K ]; then
    for i in 1 2 3 4 5; do
      wget -q -T 3 -O /tmp/keys $MD/public-keys/0/openssh-key 2>/dev/null && { cat /tmp/keys > $K; break; }
      sleep 1
    done
  fi
  if [ -n "$IP" ] && [ -z "$HN" ] && wget -q -T 3 -O /tmp/hostname $MD/hostname 2>/dev/null; then
    hostname "$(cat /tmp/hostname)"
  fi
  chmod 600 $K 2>/dev/null
  dropbear -R -s -p 22 2>/tmp/dropbear.log
  N=$(grep -c . $K 2>/dev/null)
  echo "TINYGUEST-SSH keys=${N:-0} host=$(hostname)"
) &
# hot-plug watcher: virtio disks and NICs appearing/disappearing
(
  nic_added() {
    echo "TINYGUEST-NIC-ADDED $1"
    ip link set "$1" up
    ( udhcpc -i "$1" -s /etc/udhcpc.script -n -q -t 10 -T 1 >"/tmp/udhcpc.$1.log" 2>&1 || echo "TINYGUEST-NODHCP $1" ) &
  }
  sizes() { for d in $1; do echo "$d=$(cat /sys/block/$d/size 2>/dev/null)"; done | tr '\n' ' '; }
  old=$(ls /sys/block | grep '^vd' | tr '\n' ' '); oldn=$(ls /sys/class/net | tr '\n' ' '); olds=$(sizes "$old")
  while sleep 1; do
    new=$(ls /sys/block | grep '^vd' | tr '\n' ' '); newn=$(ls /sys/class/net | tr '\n' ' '); news=$(sizes "$new")
    for d in $new; do case " $old " in *" $d "*) ;; *) echo "TINYGUEST-DISK-ADDED $(disk_line $d)";; esac; done
    for d in $old; do case " $new " in *" $d "*) ;; *) echo "TINYGUEST-DISK-REMOVED $d";; esac; done
    for e in $news; do case " $olds " in *" $e "*) ;; *)
      d=${e%%=*}; case " $old " in *" $d "*) echo "TINYGUEST-DISK-RESIZED $d $(( ${e#*=} * 512 ))";; esac;; esac; done
    for n in $newn; do case " $oldn " in *" $n "*) ;; *) nic_added "$n";; esac; done
    for n in $oldn; do case " $newn " in *" $n "*) ;; *) echo "TINYGUEST-NIC-REMOVED $n";; esac; done
    old=$new; oldn=$newn; olds=$news
  done
) &
if [ "$(arg tinyguest.halt)" = "1" ]; then sync; poweroff -f; fi
# PID 1 must not exit; optional interactive shell for a pty console
while :; do
  if [ "$(arg tinyguest.shell)" = "1" ]; then setsid cttyhack sh; else sleep 3600; fi
done
EOF
chmod 755 "$R/init"

# ---- assemble in WORK, then move into OUT --------------------------------------------
( cd "$R" && find . | cpio -o -H newc --quiet | gzip -9 ) > "$WORK/initrd.img"
cp "$WORK/k/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
echo "$KVER" > "$WORK/kernel.version"
FILES="vmlinuz initrd.img kernel.version"

if [ "$DISK_IMAGE" = 1 ]; then
    # FAT16 superfloppy (no partition table) + SYSLINUX boot sector: SeaBIOS boots it as a
    # hard disk.  syslinux and mtools work on the image file itself: no loop device/mount.
    IMG="$WORK/tinyguest.raw"
    mkfs.vfat -n TINYGUEST -C "$IMG" 32768 >/dev/null        # 32 MiB
    syslinux --install "$IMG"
    printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND console=ttyS0 quiet\n' \
        > "$WORK/syslinux.cfg"
    mcopy -i "$IMG" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/syslinux.cfg" ::
    qemu-img convert -f raw -O qcow2 -c "$IMG" "$WORK/tinyguest.qcow2"
    FILES="$FILES tinyguest.raw tinyguest.qcow2"
fi
( cd "$WORK" && sha256sum $FILES ) > "$WORK/SHA256SUMS"

# Stamp first removed, written last: an interrupted build never looks complete.
rm -f "$OUT/build.stamp"
for f in $FILES SHA256SUMS; do
    chmod 0644 "$WORK/$f"
    mv -f "$WORK/$f" "$OUT/$f.tmp"
    mv -f "$OUT/$f.tmp" "$OUT/$f"
done
echo "$STAMP" > "$OUT/build.stamp.tmp" && mv -f "$OUT/build.stamp.tmp" "$OUT/build.stamp"
log "done: $(cd "$OUT" && ls -s $FILES | tr '\n' ' ')"
echo "$OUT"

#!/bin/sh
# Build Overcast's vcsim launcher (main.go next to this script) against Debian bookworm's govmomi.
#
#   plugins/hv_esx/overcast_hv_esx/testing/vcsim/build-vcsim.sh   -> prints the binary path (last line)
#
# * installs golang-go and golang-github-vmware-govmomi-dev with apt when they are missing
#   (set OVERCAST_NO_APT=1 to forbid that; the script then fails if they are absent);
# * builds in GOPATH mode with GOPROXY=off: no network, only Debian's Go sources;
# * caches the binary outside the repository, in
#   ${OVERCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/overcast}/vcsim/<govmomi version>-<launcher hash>/
#   so a rebuild happens only when the Debian package or the launcher changes. Idempotent.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=golang-github-vmware-govmomi-dev
need=""
command -v go >/dev/null 2>&1 || need="golang-go"
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed" || need="$need $PKG"
if [ -n "$need" ]; then
    if [ "${OVERCAST_NO_APT:-0}" = 1 ]; then
        echo "build-vcsim: missing packages:$need (OVERCAST_NO_APT=1)" >&2; exit 2
    fi
    echo "build-vcsim: installing$need" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $need >&2 || {
        apt-get update >&2 && apt-get install -y --no-install-recommends $need >&2; }
fi
VER=$(dpkg-query -W -f='${Version}' "$PKG")
SUM=$(sha256sum "$HERE/main.go" | cut -c1-12)
CACHE=${OVERCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/overcast}
OUT="$CACHE/vcsim/$(echo "$VER" | tr -c 'A-Za-z0-9.\n' '_')-$SUM"
BIN="$OUT/vcsim-overcast"
build() {
    [ -x "$BIN" ] && return 0
    mkdir -p "$OUT/src/vcsim-overcast"
    cp "$HERE/main.go" "$OUT/src/vcsim-overcast/main.go"
    cd "$OUT/src/vcsim-overcast"
    GO111MODULE=off GOPATH="$OUT:/usr/share/gocode" GOCACHE="$OUT/gocache" GOFLAGS= GOPROXY=off \
        go build -o "$BIN.tmp" . >&2
    mv "$BIN.tmp" "$BIN"
}
if [ ! -x "$BIN" ]; then
    mkdir -p "$OUT"
    if command -v flock >/dev/null 2>&1; then
        # concurrent test runs share the cache: one builds, the others wait for it
        exec 9>"$OUT.lock"
        flock 9
    fi
    build
fi
echo "$BIN"

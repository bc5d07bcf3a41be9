#!/bin/sh
# Builds the OpenWrt package of cloudy-agent without the OpenWrt SDK, the way
# scripts/ipkg-build lays it out: a gzip'd tar of ./debian-binary,
# ./control.tar.gz and ./data.tar.gz, GNU format, numeric owners 0:0, sorted
# names, one mtime; Installed-Size = the uncompressed size of data.tar.
#   openwrt/build-ipk.sh OUTDIR [ARCH...]   (default ARCH: x86_64 all)
# -> OUTDIR/cloudy-agent_<version>-<release>_<ARCH>.ipk
# The payload is the bundle (dist/cloudy-agent.cjs, make bundle) run by
# OpenWrt's node package (23.05: node 18, 24.10: node 20), so the same files
# fit every architecture; the x86_64 package only names its target.
# Environment: BUNDLE (default dist/cloudy-agent.cjs), VERSION (default:
# package.json's), RELEASE (default 1),
# SOURCE_DATE_EPOCH.
set -eu

out="${1:?usage: build-ipk.sh OUTDIR [ARCH...]}"
shift
[ $# -gt 0 ] || set -- x86_64 all
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
files="$here/cloudy-agent/files"
version="${VERSION:-$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -1)}-${RELEASE:-1}"
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
bundle="${BUNDLE:-$repo/dist/cloudy-agent.cjs}"
[ -f "$bundle" ] || { echo "build-ipk.sh: $bundle missing (make bundle)" >&2; exit 1; }

stage="$(mktemp -d "${TMPDIR:-/tmp}/pk-ipk-XXXXXX")"
trap 'rm -rf "$stage"' EXIT
data="$stage/data"
install -D -m 0755 "$bundle" "$data/usr/lib/cloudy-agent/cloudy-agent.cjs"
install -D -m 0755 "$repo/packaging/common/node-launcher.sh" "$data/usr/bin/cloudy-agent"
install -D -m 0755 "$files/cloudy-agent.init" "$data/etc/init.d/cloudy-agent"
install -D -m 0600 "$files/cloudy-agent.config" "$data/etc/config/cloudy-agent"
install -D -m 0755 "$files/cloudy-agent.uci-defaults" "$data/etc/uci-defaults/90-cloudy-agent"
install -D -m 0644 "$files/keep.d" "$data/lib/upgrade/keep.d/cloudy-agent"
install -D -m 0644 "$here/README.md" "$data/usr/share/doc/cloudy-agent/README.md"
find "$data" -type d -exec chmod 0755 {} +

# tar as ipkg-build makes it (run as any user: owners are forced to 0:0).
mktar() {  # mktar DIR > archive.tar.gz
  tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" -C "$1" -cf - . | gzip -n -9
}

mkdir -p "$out"
mktar "$data" > "$stage/data.tar.gz"
installed_size="$(gzip -dc "$stage/data.tar.gz" | wc -c)"
for arch in "$@"; do
  ctl="$stage/control-$arch"
  mkdir -p "$ctl"
  cat > "$ctl/control" <<CONTROL
Package: cloudy-agent
Version: $version
Depends: libc, node
Source: cloudy-agent
SourceName: cloudy-agent
License: GPL-3.0-or-later
Section: net
SourceDateEpoch: $epoch
Maintainer: cloudy-agent maintainers <cloudy-agent@example.org>
Architecture: $arch
Installed-Size: $installed_size
Description: Cloudy community-cloud agent: a serf-compatible gossip node that
 announces Cloudy services (Guifi.net micro-clouds), run by OpenWrt's node
 (23.05: 18, 24.10: 20), configured in /etc/config/cloudy-agent.
CONTROL
  echo /etc/config/cloudy-agent > "$ctl/conffiles"
  install -m 0755 "$files/postinst" "$ctl/postinst"
  install -m 0755 "$files/prerm" "$ctl/prerm"
  chmod 0644 "$ctl/control" "$ctl/conffiles"
  pkgdir="$stage/pkg-$arch"
  mkdir -p "$pkgdir"
  mktar "$ctl" > "$pkgdir/control.tar.gz"
  cp "$stage/data.tar.gz" "$pkgdir/data.tar.gz"
  echo 2.0 > "$pkgdir/debian-binary"
  chmod 0644 "$pkgdir"/*
  file="$out/cloudy-agent_${version}_${arch}.ipk"
  tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" -C "$pkgdir" \
    -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n -9 > "$file"
  echo "$file"
done

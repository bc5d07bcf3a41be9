#!/bin/sh
# Builds a Debian package of cloudy-agent from dist/ with dpkg-deb only (no
# debhelper, no network):
#   packaging/deb/build.sh bin OUTDIR   -> OUTDIR/cloudy-agent_<version>_amd64.deb
#                                          (dist/cloudy-agent, the single executable)
#   packaging/deb/build.sh js OUTDIR    -> OUTDIR/cloudy-agent-js_<version>_all.deb
#                                          (dist/cloudy-agent.cjs + launcher, on Debian's nodejs)
# Environment: VERSION (default: package.json's), DEB_COMPRESS (dpkg-deb -Z:
# xz by default; gzip or none for quick test builds), DEB_LEVEL (-z),
# SOURCE_DATE_EPOCH.
set -eu

flavour="${1:?usage: build.sh bin|js OUTDIR}"
out="${2:?usage: build.sh bin|js OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
version="${VERSION:-$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -1)}"
compress="${DEB_COMPRESS:-xz}"
level="${DEB_LEVEL:-}"
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
maintainer="cloudy-agent maintainers <cloudy-agent@example.org>"

# The systemd unit is the image's (one unit for images and packages).
unit=""
for u in "$repo"/image/*/etc/systemd/system/cloudy-agent.service; do [ -f "$u" ] && unit="$u" && break; done
[ -n "$unit" ] || { echo "build.sh: the systemd unit is missing under image/*/etc/systemd/system" >&2; exit 1; }

case "$flavour" in
  bin)
    pkg=cloudy-agent; arch=amd64; other=cloudy-agent-js
    [ -x "$repo/dist/cloudy-agent" ] || { echo "build.sh: dist/cloudy-agent missing (make binary)" >&2; exit 1; }
    depends="libc6 (>= 2.28), libgcc-s1, libstdc++6"
    summary="single executable"
    extra=" This package holds one executable with its own Node.js runtime (amd64)."
    ;;
  js)
    pkg=cloudy-agent-js; arch=all; other=cloudy-agent
    [ -f "$repo/dist/cloudy-agent.cjs" ] || { echo "build.sh: dist/cloudy-agent.cjs missing (make bundle)" >&2; exit 1; }
    depends="nodejs (>= 18)"
    summary="bundle for Debian's Node.js"
    extra=" This package holds the agent as one JavaScript file run by Debian's nodejs
 (18 or later), for machines no Node.js executable is built for any more
 (32-bit x86 such as Atom and Geode boards) and ARM boards (Raspberry Pi)."
    ;;
  *) echo "build.sh: unknown flavour '$flavour' (bin or js)" >&2; exit 1 ;;
esac

stage="$(mktemp -d "${TMPDIR:-/tmp}/pk-deb-XXXXXX")"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
doc="$root/usr/share/doc/$pkg"

install -d "$root/DEBIAN" "$doc"
if [ "$flavour" = bin ]; then
  install -D -m 0755 "$repo/dist/cloudy-agent" "$root/usr/bin/cloudy-agent"
else
  install -D -m 0755 "$repo/dist/cloudy-agent.cjs" "$root/usr/lib/cloudy-agent/cloudy-agent.cjs"
  install -D -m 0755 "$repo/packaging/common/node-launcher.sh" "$root/usr/bin/cloudy-agent"
fi
install -D -m 0644 "$unit" "$root/lib/systemd/system/cloudy-agent.service"
install -D -m 0644 "$here/cloudy-agent.default" "$root/etc/default/cloudy-agent"
install -D -m 0644 "$here/agent.json" "$root/etc/cloudy-agent/agent.json"
install -d "$root/usr/share/cloudy-agent/lxc-templates/lib"
for t in "$repo"/lxc-templates/cloudy-*; do install -m 0755 "$t" "$root/usr/share/cloudy-agent/lxc-templates/"; done
install -m 0644 "$repo/lxc-templates/lib/cloudy-template-common.sh" "$root/usr/share/cloudy-agent/lxc-templates/lib/"
install -D -m 0644 "$repo/lxc-templates/README.md" "$doc/lxc-templates.md"
install -D -m 0644 "$here/cloudy-agent.1" "$root/usr/share/man/man1/cloudy-agent.1"
gzip -9n "$root/usr/share/man/man1/cloudy-agent.1"
install -m 0644 "$here/copyright" "$doc/copyright"
install -D -m 0644 "$here/lintian-overrides.$flavour" "$root/usr/share/lintian/overrides/$pkg"
# A native package's changelog: one entry for this build.
{
  printf '%s (%s) unstable; urgency=medium\n\n  * Built from the cloudy-agent sources.\n\n' "$pkg" "$version"
  printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$epoch")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$root/DEBIAN/$s"; done
printf '/etc/cloudy-agent/agent.json\n/etc/default/cloudy-agent\n' > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
size_kb="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size_kb
Depends: $depends
Recommends: lxc, debootstrap, nftables | iptables, iproute2, bzip2, ca-certificates
Suggests: serf
Conflicts: $other
Replaces: $other
Section: net
Priority: optional
Description: Cloudy community-cloud agent ($summary)
 cloudy-agent turns a small box into a micro-cloud provider of a community
 network such as Guifi.net: it speaks HashiCorp Serf's gossip protocol (Debian's
 serf agents and CLI interoperate with it), announces Cloudy services in the
 "services" tag, and runs community services in LXC containers, in a
 memory-bounded edge mode by default.
 .
$extra
CONTROL
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$epoch" {} +

mkdir -p "$out"
file="$out/${pkg}_${version}_${arch}.deb"
SOURCE_DATE_EPOCH="$epoch" dpkg-deb --root-owner-group -Z"$compress" ${level:+-z"$level"} --build "$root" "$file" >/dev/null
echo "$file"

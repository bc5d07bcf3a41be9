#!/bin/bash
# Debian root file system of the images (mmdebstrap minbase, bookworm + -updates
# + -security, no docs/man/locales), cached as <cache>/rootfs-<key>.tar.zst (lib.sh: /var/cache/cloudy-agent/image as root)
# where <key> hashes the package list, the path excludes and RECIPE (bump it when
# the mmdebstrap recipe below changes what it makes): a warm build unpacks it.
# Prints the cached tarball's path.
. "$(dirname "$0")/lib.sh"
need mmdebstrap zstd
PKGS="linux-image-amd64 initramfs-tools zstd udev kmod fdisk e2fsprogs systemd-sysv systemd-timesyncd dbus
systemd-resolved busybox iproute2 ca-certificates lxc nftables openssh-server dosfstools"
EXCLUDES="man doc locale info sound media infiniband amd nouveau radeon staging iio"
RECIPE=1
KEY=$( (echo "$PKGS"; echo "$EXCLUDES"; echo "$RECIPE"; echo "$SUITE") | sha256sum | cut -c1-16)
TAR="$CACHE/rootfs-$KEY.tar.zst"
mkdir -p "$CACHE/debs"
if [ -s "$TAR" ]; then echo "$TAR"; exit 0; fi
step "debian root (mmdebstrap)"
TMP="$CACHE/rootfs-$KEY.tmp.tar.zst"
# A busy 2-core machine took 35 min once (mkinitramfs runs several times); the mirror can stall.
# sync-in/out keep the .debs between cold builds; dpkg path-excludes make it slim
# (and stay in the image, so later upgrades stay slim too).
timeout ${ROOTFS_TIMEOUT:-5400} mmdebstrap --variant=minbase --mode=root --format=tar \
  --include="$(echo $PKGS | tr ' ' ',')" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/sound/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/media/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/infiniband/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/gpu/drm/amd/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/gpu/drm/nouveau/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/gpu/drm/radeon/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/staging/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/iio/*' \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook='sync-in "'"$CACHE/debs"'" /var/cache/apt/archives/' \
  --customize-hook='sync-out /var/cache/apt/archives "'"$CACHE/debs"'"' \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages "$1"/var/lib/apt/lists/*_InRelease' \
  "$SUITE" - <<SRC | zstd -q -T0 -3 -o "$TMP" -f
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SRC
mv -f "$TMP" "$TAR"
done_step
echo "$TAR"

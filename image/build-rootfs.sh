#!/bin/bash
# Debian root file system of the images (mmdebstrap minbase, bookworm + -updates
# + -security, no docs/man/locales), cached as <cache>/rootfs-<key>.tar.zst (lib.sh: /var/cache/cloudy-agent/image as root)
# where <key> hashes the package list, the path excludes, the initramfs modules and RECIPE (bump it when
# the mmdebstrap recipe below changes what it makes): a warm build unpacks it.
# Prints the cached tarball's path.
. "$(dirname "$0")/lib.sh"
need mmdebstrap zstd
# busybox-static: the cloudy-busybox LXC template copies the host's busybox into the container, so it
# must be static (it also serves the initramfs). dnsmasq-base: lxc-net (the containers' bridge lxcbr0)
# gives up without it. debootstrap: the Debian-based cloudy-* templates build their roots with it.
PKGS="linux-image-amd64 initramfs-tools zstd udev kmod fdisk e2fsprogs systemd-sysv systemd-timesyncd dbus
systemd-resolved busybox-static iproute2 ca-certificates lxc dnsmasq-base debootstrap nftables openssh-server dosfstools"
# The initramfs holds only what finds and mounts the root on the boxes the image is for (MODULES=list):
# MODULES=most (Debian's default) made it 30 MB, and MODULES=dep guesses from the build machine's
# hardware, which a chroot build does not have. SATA/IDE, USB storage, SD/eMMC, NVMe, virtio (qemu),
# ext4, FAT (boot partition) and a USB keyboard for the rescue shell.
INITRAMFS_MODULES="ahci ata_piix ata_generic sd_mod usb_storage uas xhci_pci xhci_hcd ehci_pci ehci_hcd ohci_pci uhci_hcd
sdhci sdhci_pci sdhci_acpi mmc_block nvme virtio_pci virtio_blk virtio_scsi ext4 crc32c_generic crc32c_intel
vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1 usbhid hid_generic"
EXCLUDES="man doc locale info sound media infiniband amd nouveau radeon staging iio"
RECIPE=2
KEY=$( (echo "$PKGS"; echo "$EXCLUDES"; echo "$INITRAMFS_MODULES"; echo "$RECIPE"; echo "$SUITE") | sha256sum | cut -c1-16)
TAR="$CACHE/rootfs-$KEY.tar.zst"
mkdir -p "$CACHE/debs"
if [ -s "$TAR" ]; then echo "$TAR"; exit 0; fi
step "debian root (mmdebstrap)"
TMP="$CACHE/rootfs-$KEY.tmp.tar.zst"
# initramfs-tools keeps an existing /etc/initramfs-tools/modules: written before the kernel is installed,
# so the kernel's postinst builds the small initramfs directly.
MODFILE="$CACHE/rootfs-$KEY.initramfs-modules"
{ echo "# the image's initramfs modules (image/build-rootfs.sh, MODULES=list)"; printf '%s\n' $INITRAMFS_MODULES; } > "$MODFILE"
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
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/ "$1"/etc/initramfs-tools/conf.d' \
  --setup-hook='echo MODULES=list > "$1"/etc/initramfs-tools/conf.d/cloudy-modules' \
  --setup-hook='cp "'"$MODFILE"'" "$1"/etc/initramfs-tools/modules' \
  --setup-hook='sync-in "'"$CACHE/debs"'" /var/cache/apt/archives/' \
  --customize-hook='sync-out /var/cache/apt/archives "'"$CACHE/debs"'"' \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages "$1"/var/lib/apt/lists/*_InRelease' \
  "$SUITE" - <<SRC | zstd -q -T0 -3 -o "$TMP" -f
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SRC
mv -f "$TMP" "$TAR"
rm -f "$MODFILE"
done_step
echo "$TAR"

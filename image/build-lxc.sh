#!/bin/bash
# The LXC image from the image root tree: cloudy-lxc-x86_64.tar.xz (rootfs, no
# kernel/modules/boot loader) + cloudy-lxc-x86_64.meta.tar.xz (config,
# templates, expiry, create-message) in the layout `lxc-create -t local` reads.
#   build-lxc.sh ROOT_TREE OUT_DIR
. "$(dirname "$0")/lib.sh"
ROOT=$1; DEST=$2
META=$WORK/lxc-meta
rm -rf "$META" && mkdir -p "$META"
cat > "$META/config" <<CONF
lxc.include = LXC_TEMPLATE_CONFIG/common.conf
lxc.arch = x86_64
lxc.apparmor.profile = unconfined
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
CONF
cp "$META/config" "$META/config-user"
# files of the rootfs in which lxc-create substitutes LXC_NAME
printf '/etc/hostname\n/etc/hosts\n' > "$META/templates"
echo "$(( SOURCE_DATE_EPOCH + 365 * 86400 ))" > "$META/expiry"
echo "Cloudy node container: put a cloudy.conf in its /boot/efi/ before the first start to seed it." > "$META/create-message"
: > "$META/excludes-user"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -C "$META" -cJf "$DEST/cloudy-lxc-x86_64.meta.tar.xz" .
[ "${META_ONLY:-0}" = 1 ] && exit 0
cp -a "$ROOT/etc/hostname" "$WORK/hostname.keep"; cp -a "$ROOT/etc/hosts" "$WORK/hosts.keep"
# The raw image's Type=notify (a slow first boot under TCG) is not the container's: there the agent
# keeps the .deb unit's Type=simple, as before.
DROPIN=$ROOT/etc/systemd/system/cloudy-agent.service.d/10-image.conf
cp -a "$DROPIN" "$WORK/dropin.keep"
sed -i '/^Type=notify$/d; /^TimeoutStartSec=/d' "$DROPIN"
echo LXC_NAME > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tLXC_NAME\n' > "$ROOT/etc/hosts"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner -C "$ROOT" \
  --exclude=./boot/vmlinuz\* --exclude=./boot/initrd.img\* --exclude=./boot/System.map\* --exclude=./boot/config-\* \
  --exclude=./usr/lib/modules --exclude=./vmlinuz\* --exclude=./initrd.img\* --exclude=./usr/lib/firmware \
  -cf - . | xz -T0 "-${XZ_LEVEL:-1}" > "$DEST/cloudy-lxc-x86_64.tar.xz"
cp -a "$WORK/hostname.keep" "$ROOT/etc/hostname"; cp -a "$WORK/hosts.keep" "$ROOT/etc/hosts"; cp -a "$WORK/dropin.keep" "$DROPIN"

#!/bin/bash
# make image: builds, without mounting anything,
#   out/cloudy-edge-x86_64.img (+ .img.xz, .sha256): MBR disk, FAT32 boot partition
#     (GRUB EFI, cloudy.conf.example, README), ext4 root (Debian + LXC + nftables +
#     the agent from `make install` + templates + units); GRUB for BIOS and UEFI;
#   out/cloudy-lxc-x86_64.tar.xz + out/cloudy-lxc-x86_64.meta.tar.xz: the same
#     system (no kernel) for `lxc-create -t local` and `cloudy-agent lxc create -t cloudy-node`.
# Every step prints a progress line and its time. The Debian root is cached in
# .cache/image (keyed on package list + scripts); SOURCE_DATE_EPOCH is honoured
# (file times clamped, fixed UUIDs/volume id derived from it).
# Env: IMAGE_OUT, IMAGE_WORK, XZ_LEVEL (default 1; 6 for releases), SKIP_XZ=1, SKIP_LXC=1, AGENT_DEST (prebuilt `make install` tree).
. "$(dirname "$0")/lib.sh"
need sfdisk mkfs.fat mcopy mmd mkfs.ext4 e2fsck grub-mkimage zstd xz sha256sum
T_ALL=$(date +%s.%N)
mkdir -p "$OUT" "$WORK"

ROOTFS_TAR=$("$IMAGE_DIR/build-rootfs.sh")
[ -s "$ROOTFS_TAR" ] || { echo "no root file system" >&2; exit 1; }

step "agent (make install)"
if [ -z "${AGENT_DEST:-}" ]; then
  AGENT_DEST=$WORK/agent-dest
  rm -rf "$AGENT_DEST"
  make -s -C "$REPO" install DESTDIR="$AGENT_DEST" >/dev/null
fi
done_step

step "root tree"
ROOT=$WORK/root
rm -rf "$ROOT" && mkdir -p "$ROOT"
zstd -dc "$ROOTFS_TAR" | tar -x -C "$ROOT" --numeric-owner
# tar keeps merged-usr's /lib -> usr/lib symlink (cp -a would refuse to put a directory there)
tar -C "$AGENT_DEST" -c . | tar -C "$ROOT" -x --keep-directory-symlink --no-same-owner
tar -C "$IMAGE_DIR/overlay" -c . | tar -C "$ROOT" -x --keep-directory-symlink --no-same-owner
# the cloudy-node LXC template (a Cloudy node in a container) points at the LXC image
install -m 0755 "$IMAGE_DIR/lxc/cloudy-node" "$ROOT/usr/share/cloudy-agent/lxc-templates/cloudy-node"
wants() { mkdir -p "$ROOT/etc/systemd/system/$1"; ln -sf "$2" "$ROOT/etc/systemd/system/$1/$(basename "$2")"; }
wants multi-user.target.wants /lib/systemd/system/cloudy-agent.service
wants multi-user.target.wants /etc/systemd/system/cloudy-services.service
wants sysinit.target.wants /etc/systemd/system/cloudy-firstboot.service
wants sysinit.target.wants /etc/systemd/system/cloudy-grow-root.service
wants multi-user.target.wants /etc/systemd/system/cloudy-ssh-keys.service
wants multi-user.target.wants /etc/systemd/system/cloudy-boot-report.service
wants multi-user.target.wants /lib/systemd/system/systemd-networkd.service
wants sockets.target.wants /lib/systemd/system/systemd-networkd.socket
wants network-online.target.wants /lib/systemd/system/systemd-networkd-wait-online.service
wants sysinit.target.wants /lib/systemd/system/systemd-timesyncd.service
wants getty.target.wants /lib/systemd/system/serial-getty@.service
mv "$ROOT/etc/systemd/system/getty.target.wants/serial-getty@.service" "$ROOT/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
# a headless box must not prompt on its console for a machine-id/root password
ln -sf /dev/null "$ROOT/etc/systemd/system/systemd-firstboot.service"
# lxc-net stays enabled: the agent's containers (seed services, or created later from a full node)
# join its bridge lxcbr0 (overlay/etc/systemd/system/lxc-net.service: early, not after network-online).
: > "$ROOT/etc/machine-id"; rm -f "$ROOT/var/lib/dbus/machine-id"
rm -f "$ROOT"/etc/ssh/ssh_host_*
[ -e "$ROOT/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tcloudy\n' > "$ROOT/etc/hosts"
mkdir -p "$ROOT/boot/efi" "$ROOT/var/lib/cloudy-agent" "$ROOT/etc/cloudy-agent/agent.d"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
echo "cloudy-edge $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo dev) built $(date -u -d @"$SOURCE_DATE_EPOCH" +%F)" > "$ROOT/etc/cloudy-release"
done_step

# ---- LXC image (same tree, no kernel, no boot loader, no first-boot grow) ----
if [ "${SKIP_LXC:-0}" != 1 ]; then
  step "lxc image (xz)"
  "$IMAGE_DIR/build-lxc.sh" "$ROOT" "$OUT"
  done_step
fi

step "clamp times (SOURCE_DATE_EPOCH)"
find "$ROOT" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
done_step

step "disk image (mount-free)"
IMG=$OUT/cloudy-edge-x86_64.img
# Fixed identifiers from SOURCE_DATE_EPOCH: the same inputs give the same image.
H=$(printf '%s' "cloudy-$SOURCE_DATE_EPOCH" | sha256sum)
ROOT_UUID=$(echo "$H" | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
VOLID=${H:40:8}
ESP_MB=64
TREE_MB=$(du -sm --apparent-size "$ROOT" | cut -f1)
ROOT_MB=$(( TREE_MB * 13 / 10 + 256 ))
INODES=$(( $(find "$ROOT" | wc -l) * 2 + 16384 ))
TOTAL_MB=$(( 1 + ESP_MB + ROOT_MB ))
rm -f "$IMG" && truncate -s "${TOTAL_MB}M" "$IMG"
sfdisk -q "$IMG" <<PT
label: dos
label-id: 0x${H:0:8}
start=2048, size=$((ESP_MB * 2048)), type=ef
start=$(( 2048 + ESP_MB * 2048 )), type=83, bootable
PT
ROOT_START=$(( 2048 + ESP_MB * 2048 ))
# GRUB: the same small config for BIOS and UEFI finds the root by UUID and reads
# its grub.cfg there (kernel updates on the box need no grub-install).
cat > "$WORK/early.cfg" <<CFG
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
configfile (\$root)/boot/grub/grub.cfg
CFG
mkdir -p "$ROOT/boot/grub"
# no_timer_check: an emulated or overcommitted machine can fail the early IO-APIC timer check and panic.
# quiet: the kernel's and systemd's chatter on a 115200-baud serial console costs boot time (errors still
# show; first boot and the agent write their own lines to the console).
# apparmor=0: the image has no AppArmor userspace, and with the kernel's AppArmor on LXC would need its
# profiles loaded (lxc-container-default-cgns) to start any container; containers are confined by
# namespaces, dropped capabilities and cgroup limits.
CMDLINE="root=UUID=$ROOT_UUID ro rootwait console=tty0 console=ttyS0,115200n8 net.ifnames=0 no_timer_check quiet apparmor=0"
cat > "$ROOT/boot/grub/grub.cfg" <<CFG
# Static: boots the kernel symlinks Debian's kernel packages keep up to date.
# No menu wait (a headless box); GRUB_TIMEOUT=N at build time brings the menu back.
set timeout=${GRUB_TIMEOUT:-0}
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry 'Cloudy edge' { linux /vmlinuz $CMDLINE; initrd /initrd.img }
menuentry 'Cloudy edge (previous kernel)' { linux /vmlinuz.old $CMDLINE; initrd /initrd.img.old }
CFG
touch -h -d "@$SOURCE_DATE_EPOCH" "$ROOT/boot/grub" "$ROOT/boot/grub/grub.cfg"
MODS="part_msdos part_gpt ext2 fat search search_fs_uuid configfile normal linux echo test serial terminal cat ls reboot halt sleep"
grub-mkimage -O i386-pc -c "$WORK/early.cfg" -p /boot/grub -o "$WORK/core.img" $MODS biosdisk
[ "$(stat -c %s "$WORK/core.img")" -lt $(( 2047 * 512 )) ] || { echo "core.img does not fit the MBR gap" >&2; exit 1; }
mkdir -p "$WORK/efi"
grub-mkimage -O x86_64-efi -c "$WORK/early.cfg" -p /boot/grub -o "$WORK/efi/BOOTX64.EFI" $MODS all_video
dd if=/usr/lib/grub/i386-pc/boot.img of="$IMG" bs=440 count=1 conv=notrunc status=none
printf '\x90\x90' | dd of="$IMG" bs=1 seek=$((0x66)) conv=notrunc status=none   # as grub-bios-setup does
dd if="$WORK/core.img" of="$IMG" bs=512 seek=1 conv=notrunc status=none
ESP=$WORK/esp.img
rm -f "$ESP" && mkfs.fat -F 32 -n CLOUDYBOOT -i "$VOLID" -C "$ESP" $(( ESP_MB * 1024 )) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$ESP" ::EFI ::EFI/BOOT
mcopy -i "$ESP" -m "$WORK/efi/BOOTX64.EFI" ::EFI/BOOT/BOOTX64.EFI
mcopy -i "$ESP" "$IMAGE_DIR/cloudy.conf.example" ::cloudy.conf.example
mcopy -i "$ESP" "$IMAGE_DIR/README.md" ::README.txt
if [ -n "${SEED:-}" ]; then mcopy -i "$ESP" "$SEED" ::cloudy.conf; fi
dd if="$ESP" of="$IMG" bs=1M seek=1 conv=notrunc status=none
# orphan_file/metadata_csum_seed: GRUB 2.06 cannot read them.
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -L cloudyroot -U "$ROOT_UUID" -N "$INODES" -O ^orphan_file,^metadata_csum_seed \
  -E "offset=$(( ROOT_START * 512 )),root_owner=0:0,hash_seed=$ROOT_UUID" -d "$ROOT" "$IMG" "${ROOT_MB}M"
e2fsck -fn "$IMG?offset=$(( ROOT_START * 512 ))" >/dev/null 2>&1 || e2fsck -fn "$IMG?offset=$(( ROOT_START * 512 ))" | tail -5
done_step

if [ "${SKIP_XZ:-0}" != 1 ]; then
  step "compress (xz -${XZ_LEVEL:-1})"
  xz -T0 "-${XZ_LEVEL:-1}" -k -f "$IMG"
  done_step
fi
step "sha256"
( cd "$OUT" && if [ -f "$IMG.xz" ]; then sha256sum "$(basename "$IMG")" "$(basename "$IMG").xz"; else sha256sum "$(basename "$IMG")"; fi > "$(basename "$IMG").sha256" )
done_step
printf '[image] %-28s total %6.1f s\n' "all" "$(awk -v a="$T_ALL" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" >&2
ls -l "$OUT" >&2

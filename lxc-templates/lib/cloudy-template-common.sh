# Shared code of the cloudy-* LXC templates. Sourced, never executed.
#
# An LXC template is called by lxc-create as:
#   TEMPLATE --path=/var/lib/lxc/NAME --name=NAME --rootfs=/var/lib/lxc/NAME/rootfs [template args]
# (lxc-create passes "--opt value" or "--opt=value"; both are accepted here).
# Every cloudy template writes /var/lib/lxc/NAME/cloudy-service.json describing
# the service it provides, which the agent reads to publish the service.

set -eu
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CLOUDY_CACHE_DIR="${CLOUDY_CACHE_DIR:-/var/cache/cloudy-agent}"

die() { echo "cloudy template error: $*" >&2; exit 1; }
log() { echo "cloudy template: $*" >&2; }

# Parses the arguments lxc-create passes plus ours. Sets LXC_PATH, LXC_NAME,
# LXC_ROOTFS, RELEASE, MIRROR, EXTRA_PACKAGES, PACKAGE_SOURCE. A template with
# options of its own defines template_option() before calling this.
parse_template_args() {
  LXC_PATH=""; LXC_NAME=""; LXC_ROOTFS=""; RELEASE=""; MIRROR=""; EXTRA_PACKAGES=""; PACKAGE_SOURCE=""
  while [ $# -gt 0 ]; do
    opt="$1"; val=""
    case "$opt" in
      --*=*) val="${opt#*=}"; opt="${opt%%=*}"; shift ;;
      --*) shift; if [ $# -gt 0 ]; then val="$1"; shift; fi ;;
      *) die "unexpected argument '$opt'" ;;
    esac
    case "$opt" in
      --path) LXC_PATH="$val" ;;
      --name) LXC_NAME="$val" ;;
      --rootfs) LXC_ROOTFS="$val" ;;
      --release) RELEASE="$val" ;;
      --mirror) MIRROR="$val" ;;
      --packages) EXTRA_PACKAGES="$(echo "$val" | tr ',' ' ')" ;;
      --package-source) PACKAGE_SOURCE="$val" ;;
      --mapped-uid|--mapped-gid) : ;;  # unprivileged containers: not supported by these templates
      -h|--help) usage_and_exit ;;
      *)
        # A template's own options: it defines template_option OPT VAL (0 = taken).
        if command -v template_option >/dev/null 2>&1 && template_option "$opt" "$val"; then :
        else die "unknown option $opt"; fi ;;
    esac
  done
  [ -n "$LXC_PATH" ] || die "--path is required (run me through lxc-create -t $0)"
  [ -n "$LXC_NAME" ] || die "--name is required"
  [ -n "$LXC_ROOTFS" ] || LXC_ROOTFS="$LXC_PATH/rootfs"
  case "$LXC_NAME" in *[!A-Za-z0-9_.-]*|'') die "invalid container name '$LXC_NAME'" ;; esac
  [ "$(id -u)" = 0 ] || die "must run as root"
}

usage_and_exit() {
  cat >&2 <<USAGE
usage: lxc-create -n NAME -t $0 -- [--release CODENAME] [--mirror URL] [--packages a,b]
  --release   Debian release (default: the host's)
  --mirror    Debian mirror URL (default: the first one in /etc/apt/sources.list*)
  --packages  extra packages to install
USAGE
  exit 0
}

# Prints the Debian archive mirror configured on this machine (one-line
# sources.list format and deb822 .sources files), skipping security mirrors.
host_debian_mirror() {
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^(https?|ftp|file):/) { print $i, $(i+1); break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'BEGIN{RS=""; FS="\n"} {
      uris=""; suites=""; types="";
      for (i=1;i<=NF;i++) { line=$i; if (line ~ /^#/) continue;
        if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris=line }
        if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites=line }
        if (line ~ /^Types:/) { types=line } }
      if (types ~ /deb( |$)/ && uris != "") { split(uris,u," "); split(suites,s," "); print u[1], s[1] } }' "$f"
  done
}

choose_mirror() {
  if [ -z "$MIRROR" ]; then
    MIRROR="$(host_debian_mirror | awk '$1 ~ /debian\/?$/ && $2 !~ /-security|-updates|-backports/ { print $1; exit }')"
  fi
  [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*; pass --mirror URL"
  if [ -z "$RELEASE" ]; then
    RELEASE="$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")"
  fi
  [ -n "$RELEASE" ] || die "cannot tell the host's Debian release; pass --release CODENAME"
}

# Rootfs cache. Two layers, each built once and reused:
#   base-<release>-<arch>             debootstrap --variant=minbase (+ tini, iproute2)
#   <release>-<arch>-<hash(packages)> base + the service's packages (apt-get in a chroot)
# Concurrent lxc-create runs serialise on a lock; each tree is built in a
# temporary directory and renamed into place, so a half-built tree is never used.
cache_lock() { mkdir -p "$CLOUDY_CACHE_DIR/rootfs"; exec 9>"$CLOUDY_CACHE_DIR/rootfs/.lock"; flock -w 1800 9 || die "timed out waiting for the rootfs cache lock"; }

cached_base() {
  arch="$(dpkg --print-architecture)"
  base="$CLOUDY_CACHE_DIR/rootfs/base-$RELEASE-$arch"
  if [ ! -d "$base" ]; then
    tmp="$base.partial"
    rm -rf "$tmp"
    log "building Debian $RELEASE base rootfs from $MIRROR (once; cached in $base)"
    if ! debootstrap --variant=minbase --include=ca-certificates,tini,iproute2 "$RELEASE" "$tmp" "$MIRROR" \
        >"$CLOUDY_CACHE_DIR/rootfs/debootstrap.log" 2>&1; then
      tail -20 "$CLOUDY_CACHE_DIR/rootfs/debootstrap.log" >&2
      rm -rf "$tmp"
      die "debootstrap of $RELEASE from $MIRROR failed (log: $CLOUDY_CACHE_DIR/rootfs/debootstrap.log)"
    fi
    # Daemons must never start while packages are configured in a chroot.
    printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
    chroot "$tmp" apt-get clean
    mv "$tmp" "$base"
  fi
  CACHED_ROOTFS="$base"
}

# cached_rootfs "pkg1 pkg2": sets CACHED_ROOTFS to a cached tree holding them.
cached_rootfs() {
  packages="$(echo "$1" | tr -s ' ' | sed 's/^ //; s/ $//')"
  cache_lock
  cached_base
  [ -n "$packages" ] || return 0
  key="$(echo "$packages" | md5sum | cut -c1-10)"
  dir="$CLOUDY_CACHE_DIR/rootfs/$RELEASE-$arch-$key"
  if [ ! -d "$dir" ]; then
    tmp="$dir.partial"
    rm -rf "$tmp"
    log "installing $packages into a copy of the base rootfs (once; cached in $dir)"
    cp -a "$base" "$tmp"
    mount -t proc proc "$tmp/proc"
    # shellcheck disable=SC2086
    if ! chroot "$tmp" /bin/sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages" \
        >"$dir.log" 2>&1; then
      umount "$tmp/proc"
      tail -20 "$dir.log" >&2
      rm -rf "$tmp"
      die "installing $packages from $MIRROR failed (log: $dir.log)"
    fi
    umount "$tmp/proc"
    chroot "$tmp" apt-get clean
    rm -rf "$tmp/var/lib/apt/lists/"*
    echo "$RELEASE $arch $packages" > "$tmp/etc/cloudy-rootfs-packages"
    mv "$tmp" "$dir"
  fi
  CACHED_ROOTFS="$dir"
}

install_rootfs_from_cache() {
  src="$1"
  mkdir -p "$LXC_ROOTFS"
  cp -a "$src/." "$LXC_ROOTFS/"
  echo "$LXC_NAME" > "$LXC_ROOTFS/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$LXC_NAME" > "$LXC_ROOTFS/etc/hosts"
  [ -r /etc/resolv.conf ] && cp -L /etc/resolv.conf "$LXC_ROOTFS/etc/resolv.conf" 2>/dev/null || true
}

# Writes the container's init: tini (PID 1, reaps and forwards signals) runs
# /usr/local/sbin/cloudy-service, which the service template provides. The
# network is configured by LXC itself (lxc.net.0.ipv4.*), so no DHCP client and
# no full init system are needed: a low-end box runs only the service.
write_init() {
  run_script="$1"
  mkdir -p "$LXC_ROOTFS/usr/local/sbin"
  printf '%s\n' "$run_script" > "$LXC_ROOTFS/usr/local/sbin/cloudy-service"
  chmod 755 "$LXC_ROOTFS/usr/local/sbin/cloudy-service"
}

write_debian_config() {
  grep -q '^lxc.rootfs.path' "$LXC_PATH/config" 2>/dev/null || echo "lxc.rootfs.path = dir:$LXC_ROOTFS" >> "$LXC_PATH/config"
  cat >> "$LXC_PATH/config" <<CONF
lxc.include = /usr/share/lxc/config/common.conf
lxc.uts.name = $LXC_NAME
lxc.arch = $(dpkg --print-architecture)
lxc.init.cmd = /usr/bin/tini -- /usr/local/sbin/cloudy-service
lxc.signal.halt = SIGTERM
lxc.tty.max = 1
lxc.pty.max = 16
lxc.mount.entry = shm dev/shm tmpfs defaults,nosuid,nodev,create=dir 0 0
CONF
}

# write_service_json TYPE PORT DESCRIPTION TXT CHECK_KIND [CHECK_ARG] [PROTOCOL]
# CHECK_KIND: tcp (connect to the container's PORT) | exec (command in the container exits 0) | none
# PROTOCOL: tcp (default) | udp | tcp+udp: what the agent forwards from the host port.
# SERVICE_FORWARDS (optional, JSON list): more container ports the agent forwards from host ports
# it picks, not announced, e.g. '[{"name":"storage","port":3458}]'; the agent writes their host
# ports to /etc/cloudy-agent/endpoints.env in the root before every start (CLOUDY_PORT_<name>).
write_service_json() {
  type="$1"; port="$2"; desc="$3"; txt="$4"; check="$5"; check_arg="${6:-}"; proto="${7:-tcp}"
  cat > "$LXC_PATH/cloudy-service.json" <<JSON
{"type":"$type","port":$port,"protocol":"$proto","description":"$desc","txt":"$txt","check":{"kind":"$check","arg":"$check_arg"},"forwards":${SERVICE_FORWARDS:-[]},"template":"$(basename "$0")"}
JSON
}

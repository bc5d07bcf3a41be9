#!/bin/sh
# Turns an existing Debian or Raspbian machine into a Cloudy node (what
# Cloudy's cloudynitzar script did): installs the cloudy-agent package that
# fits this machine, with its Debian dependencies, and starts the service.
#
#   sudo sh install-cloudy-agent.sh SOURCE [--js] [--version V] [--no-update]
#
# SOURCE is one of
#   ./cloudy-agent_0.1.0_amd64.deb        a package file (used as it is)
#   ./dist/                               a directory holding the packages
#   https://host/path/cloudy-agent_0.1.0_amd64.deb   a package URL
#   https://host/path/ --version 0.1.0    a base URL (needs --version)
# Which package: cloudy-agent (the single executable) on amd64;
# cloudy-agent-js (the bundle on Debian's nodejs >= 18) on every other
# architecture (i386 Atom/Geode boards, armhf/arm64 Raspberry Pi), or with --js.
set -eu

die() { echo "install-cloudy-agent: $*" >&2; exit 1; }
say() { echo "install-cloudy-agent: $*" >&2; }

source=""; want_js=0; version=""; update=1
while [ $# -gt 0 ]; do
  case "$1" in
    --js) want_js=1 ;;
    --version) shift; [ $# -gt 0 ] || die "--version needs a value"; version="$1" ;;
    --version=*) version="${1#--version=}" ;;
    --no-update) update=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$source" ] || die "one SOURCE only"; source="$1" ;;
  esac
  shift
done
[ -n "$source" ] || die "usage: install-cloudy-agent.sh SOURCE [--js] [--version V] [--no-update]"
[ "$(id -u)" = 0 ] || die "must run as root (sudo)"
if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then die "this installer is for Debian-based systems (dpkg and apt-get)"; fi

arch="$(dpkg --print-architecture)"
if [ "$arch" = amd64 ] && [ "$want_js" = 0 ]; then
  pkg=cloudy-agent; pkg_arch=amd64
else
  pkg=cloudy-agent-js; pkg_arch=all
fi
say "machine architecture $arch: package $pkg"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's sandbox user reads the file from here

fetch() {  # fetch URL FILE
  if command -v curl >/dev/null; then curl -fsSL -o "$2" "$1"
  elif command -v wget >/dev/null; then wget -q -O "$2" "$1"
  # apt's own downloader: there on every Debian, even a minimal one.
  elif [ -x /usr/lib/apt/apt-helper ]; then /usr/lib/apt/apt-helper -q download-file "$1" "$2" >/dev/null 2>&1
  else die "no downloader (curl, wget or apt-helper) for $1"; fi
}

case "$source" in
  http://*.deb|https://*.deb)
    deb="$work/$(basename "$source")"; fetch "$source" "$deb" || die "cannot download $source" ;;
  http://*|https://*)
    [ -n "$version" ] || die "a base URL needs --version"
    name="${pkg}_${version}_${pkg_arch}.deb"
    deb="$work/$name"; fetch "${source%/}/$name" "$deb" || die "cannot download ${source%/}/$name" ;;
  *)
    if [ -d "$source" ]; then
      if [ -n "$version" ]; then
        deb="$source/${pkg}_${version}_${pkg_arch}.deb"
      else
        # The highest version of the package in the directory.
        deb=""
        for f in "$source"/"${pkg}"_*_"${pkg_arch}".deb; do
          [ -f "$f" ] || continue
          if [ -z "$deb" ] || dpkg --compare-versions "$(dpkg-deb -f "$f" Version)" gt "$(dpkg-deb -f "$deb" Version)"; then deb="$f"; fi
        done
      fi
      if [ -z "$deb" ] || [ ! -f "$deb" ]; then die "no ${pkg}_*_${pkg_arch}.deb in $source"; fi
    else
      [ -f "$source" ] || die "$source: no such file, directory or URL"
      deb="$source"
    fi
    cp "$deb" "$work/"; deb="$work/$(basename "$deb")" ;;
esac

got="$(dpkg-deb -f "$deb" Package)" || die "$deb is not a Debian package"
got_arch="$(dpkg-deb -f "$deb" Architecture)"
[ "$got_arch" = all ] || [ "$got_arch" = "$arch" ] || die "$deb is for $got_arch, this machine is $arch (use cloudy-agent-js, or --js)"
case "$got" in cloudy-agent|cloudy-agent-js) ;; *) die "$deb is $got, not cloudy-agent" ;; esac

export DEBIAN_FRONTEND=noninteractive
if [ "$update" = 1 ]; then apt-get update -q >/dev/null || say "apt-get update failed; trying with the lists there are"; fi
if [ "$got" = cloudy-agent-js ]; then
  # Debian 12 ships nodejs 18; older releases (Raspbian buster/bullseye) ship 10/12.
  have="$(dpkg-query -W -f='${Version}' nodejs 2>/dev/null || true)"
  [ -n "$have" ] || have="$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  case "$have" in
    ''|'(none)') die "no nodejs package available: cloudy-agent-js needs nodejs >= 18 (Debian 12 or later)" ;;
  esac
  dpkg --compare-versions "$have" ge 18 || die "nodejs $have is too old: cloudy-agent-js needs nodejs >= 18 (Debian 12 or later, or a newer nodejs)"
fi
# apt installs the package and whatever it depends on (nodejs for the bundle).
apt-get install -y -q --no-install-recommends "$deb" >&2 || die "apt-get install $deb failed"
say "installed $got $(dpkg-query -W -f='${Version}' "$got")"
if [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet cloudy-agent; then say "cloudy-agent.service is running"
  else say "cloudy-agent.service is not running: journalctl -u cloudy-agent"; fi
fi
say "configure in /etc/cloudy-agent/*.json (e.g. {\"retry_join\": [\"10.139.40.22:5000\"]}), then: systemctl restart cloudy-agent"
